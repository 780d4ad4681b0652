import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, TestClock } from "effect"
import { PULLING_SHOWN_AFTER } from "../../src/reconciler/progress.js"
import { NotFound } from "../../src/reconciler/Reconciler.js"
import { eventsOf, eventually, phaseIs, podSpec, settle, setup, statusOf, typesOf } from "./harness.js"

describe("Reconciler: apply, exit, restart policy", () => {
  it.scoped("apply → running, with status and events", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      const stored = yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("web running", phaseIs(store, "web", "running"))
      const s = (yield* statusOf(store, "web"))!
      assert.strictEqual(s.hostPid, fake.pidOf("web"))
      assert.strictEqual(s.restarts, 0)
      assert.strictEqual(s.specRevision, stored.revision)
      assert.strictEqual(s.agentPid, 4242)
      assert.isDefined(s.startedAt)
      // Bring-up began, the workload runs: a pull over within PULLING_SHOWN_AFTER (here at once)
      // writes no "pulling" (progress.test.ts has one that takes longer).
      assert.deepStrictEqual(yield* typesOf(store, "web"), ["starting", "running"])
      const running = (yield* eventsOf(store, "web")).at(-1)!
      assert.strictEqual(running.hostPid, s.hostPid)
      // A second pass with nothing changed keeps the same run.
      yield* rec.sync
      assert.strictEqual(fake.pidOf("web"), s.hostPid)
      assert.strictEqual(fake.stats.starts, 1)
    }))

  it.scoped("a pull shows pulling once it has lasted PULLING_SHOWN_AFTER, then starting, running", () =>
    Effect.gen(function*() {
      const { rec, store } = yield* setup({ pullDelayMs: 2000 })
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("web starting", phaseIs(store, "web", "starting"))
      yield* TestClock.adjust(Duration.subtract(PULLING_SHOWN_AFTER, Duration.millis(1)))
      yield* settle
      assert.strictEqual((yield* statusOf(store, "web"))?.phase, "starting")
      assert.deepStrictEqual(yield* typesOf(store, "web"), ["starting"])
      yield* TestClock.adjust("1 millis")
      yield* eventually("web pulling", phaseIs(store, "web", "pulling"))
      assert.deepStrictEqual(yield* typesOf(store, "web"), ["starting", "pulling"])
      yield* TestClock.adjust("2 seconds")
      yield* eventually("web running", phaseIs(store, "web", "running"))
      assert.deepStrictEqual(yield* typesOf(store, "web"), ["starting", "pulling", "starting", "running"])
      // The image is there now: the next pod's start shows no pulling, even after the delay.
      yield* store.put(podSpec("api"))
      yield* rec.sync
      yield* eventually("api running", phaseIs(store, "api", "running"))
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.deepStrictEqual(yield* typesOf(store, "api"), ["starting", "running"])
    }))

  it.scoped("a declared pod not yet acted on shows pending", () =>
    Effect.gen(function*() {
      const { rec, store } = yield* setup({ startDelayMs: 1000 }, { startConcurrency: 1 })
      yield* store.put(podSpec("a"))
      yield* store.put(podSpec("b"))
      yield* rec.sync
      yield* eventually("a starting", phaseIs(store, "a", "starting"))
      assert.strictEqual((yield* statusOf(store, "b"))?.phase, "pending")
      yield* TestClock.adjust("1 second")
      yield* eventually("b starting", phaseIs(store, "b", "starting"))
      yield* TestClock.adjust("1 second")
      yield* eventually("b running", phaseIs(store, "b", "running"))
    }))

  it.scoped("always: a clean exit restarts after the base delay", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("web", { restart: "always" }))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      const first = fake.pidOf("web")!
      yield* fake.end("web", { _tag: "Exited", code: 0 })
      yield* eventually("backing off", phaseIs(store, "web", "backing-off"))
      const s = (yield* statusOf(store, "web"))!
      assert.strictEqual(s.restarts, 1)
      assert.strictEqual(s.lastExit?.code, 0)
      assert.strictEqual(s.lastExit?.at, new Date(0).toISOString())
      assert.strictEqual(s.nextRestartAt, new Date(10_000).toISOString())
      assert.isUndefined(s.hostPid)
      assert.include(s.reason, "exited with code 0")
      const backing = (yield* eventsOf(store, "web")).filter((e) => e.type === "backing-off")
      assert.deepStrictEqual(backing.map((e) => e.delayMs), [10_000])
      const exited = (yield* eventsOf(store, "web")).find((e) => e.type === "exited")!
      assert.strictEqual(exited.hostPid, first)
      assert.strictEqual(exited.lastExit?.code, 0)
      yield* TestClock.adjust("10 seconds")
      yield* eventually("running again", phaseIs(store, "web", "running"))
      assert.notStrictEqual(fake.pidOf("web"), first)
      assert.strictEqual((yield* statusOf(store, "web"))?.restarts, 1)
    }))

  it.scoped("on_failure: exit 0 is terminal and stays down; a non-zero exit restarts", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("ok", { restart: "on_failure" }))
      yield* store.put(podSpec("bad", { restart: "on_failure" }))
      yield* rec.sync
      yield* eventually(
        "both running",
        Effect.map(
          Effect.all([phaseIs(store, "ok", "running"), phaseIs(store, "bad", "running")]),
          (xs) => xs.every(Boolean)
        )
      )
      yield* fake.end("ok", { _tag: "Exited", code: 0 })
      yield* fake.end("bad", { _tag: "Exited", code: 3 })
      yield* eventually("ok terminal", phaseIs(store, "ok", "terminal"))
      yield* eventually("bad backing off", phaseIs(store, "bad", "backing-off"))
      const ok = (yield* statusOf(store, "ok"))!
      assert.strictEqual(ok.restarts, 0)
      assert.strictEqual(ok.reason, "exited with code 0; restart policy on_failure")
      assert.isUndefined(ok.nextRestartAt)
      assert.deepStrictEqual((yield* typesOf(store, "ok")).slice(-2), ["exited", "terminal"])
      yield* TestClock.adjust("1 hour")
      yield* rec.sync
      yield* eventually("bad running", phaseIs(store, "bad", "running"))
      assert.strictEqual((yield* statusOf(store, "ok"))?.phase, "terminal")
      assert.isUndefined(fake.pidOf("ok"))
    }))

  it.scoped("never: a kill is terminal; resync and time do not bring it back", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("once", { restart: "never" }))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "once", "running"))
      yield* fake.end("once", { _tag: "Signaled", signal: 9 })
      yield* eventually("terminal", phaseIs(store, "once", "terminal"))
      yield* TestClock.adjust("1 hour")
      yield* rec.sync
      const s = (yield* statusOf(store, "once"))!
      assert.strictEqual(s.phase, "terminal")
      assert.strictEqual(s.lastExit?.signal, 9)
      assert.strictEqual(s.reason, "killed by SIGKILL; restart policy never")
      assert.strictEqual(fake.stats.starts, 1)
    }))

  it.scoped("a terminal pod starts again when its spec changes", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("once", { restart: "never" }))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "once", "running"))
      yield* fake.end("once", { _tag: "Exited", code: 0 })
      yield* eventually("terminal", phaseIs(store, "once", "terminal"))
      yield* store.put(
        podSpec("once", { restart: "never", containers: [{ name: "app", image: "busybox", args: ["x"] }] })
      )
      yield* rec.sync
      yield* eventually("running again", phaseIs(store, "once", "running"))
      assert.strictEqual(fake.stats.starts, 2)
    }))

  it.scoped("crash loop: delays base, 2·base, 4·base, … cap on the TestClock; reset after a stable run", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("loop"))
      yield* rec.sync
      const expected = [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]
      for (const [i, delay] of expected.entries()) {
        yield* eventually(`run ${i} running`, phaseIs(store, "loop", "running"))
        yield* fake.end("loop", { _tag: "Exited", code: 1 })
        yield* eventually(`crash ${i} backing off`, phaseIs(store, "loop", "backing-off"))
        assert.strictEqual((yield* statusOf(store, "loop"))?.restarts, i + 1)
        // Not a millisecond early...
        yield* TestClock.adjust(delay - 1)
        yield* settle
        assert.strictEqual((yield* statusOf(store, "loop"))?.phase, "backing-off")
        assert.isUndefined(fake.pidOf("loop"))
        // ...and right on time.
        yield* TestClock.adjust(1)
      }
      yield* eventually("running after the loop", phaseIs(store, "loop", "running"))
      const delays = (yield* eventsOf(store, "loop")).filter((e) => e.type === "backing-off").map((e) => e.delayMs)
      assert.deepStrictEqual(delays, expected)
      // A run that lasts the stable window (10 min) resets the backoff.
      yield* TestClock.adjust("10 minutes")
      yield* fake.end("loop", { _tag: "Signaled", signal: 11 })
      yield* eventually("backing off", phaseIs(store, "loop", "backing-off"))
      const s = (yield* statusOf(store, "loop"))!
      assert.strictEqual(s.restarts, 1)
      assert.strictEqual((yield* eventsOf(store, "loop")).at(-1)?.delayMs, 10_000)
    }))

  it.scoped("setup failures: phase failed with the reason, retried with backoff", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      fake.failStarts("web", "rootfs", "layer sha256:ab missing", 2)
      yield* store.put(podSpec("web", { restart: "on_failure" }))
      yield* rec.sync
      yield* eventually("failed", phaseIs(store, "web", "failed"))
      let s = (yield* statusOf(store, "web"))!
      assert.deepStrictEqual(s.lastExit?.setupError, { step: "rootfs", message: "layer sha256:ab missing" })
      assert.strictEqual(s.reason, "failed to start at step rootfs: layer sha256:ab missing; restarting in 10 s")
      assert.strictEqual(s.nextRestartAt, new Date(10_000).toISOString())
      yield* TestClock.adjust("10 seconds")
      yield* eventually("failed twice", Effect.map(statusOf(store, "web"), (x) => x?.restarts === 2))
      s = (yield* statusOf(store, "web"))!
      assert.strictEqual(s.phase, "failed")
      assert.strictEqual(s.nextRestartAt, new Date(30_000).toISOString())
      yield* TestClock.adjust("20 seconds")
      yield* eventually("running", phaseIs(store, "web", "running"))
      assert.isUndefined((yield* statusOf(store, "web"))?.reason)
      assert.deepStrictEqual((yield* typesOf(store, "web")).filter((t) => t === "failed"), ["failed", "failed"])
    }))

  it.scoped("never + setup failure: failed for good, with the reason", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      fake.failStarts("web", "pull", "manifest unknown", 5)
      yield* store.put(podSpec("web", { restart: "never" }))
      yield* rec.sync
      yield* eventually("terminal event", Effect.map(typesOf(store, "web"), (ts) => ts.includes("terminal")))
      const s = (yield* statusOf(store, "web"))!
      assert.strictEqual(s.phase, "failed")
      assert.isUndefined(s.nextRestartAt)
      assert.strictEqual(s.reason, "failed to start at step pull: manifest unknown; restart policy never")
      yield* TestClock.adjust("1 hour")
      yield* rec.sync
      assert.strictEqual(fake.log.filter((l) => l.startsWith("fail")).length, 1)
    }))
})

describe("Reconciler: spec changes, deletes, restart()", () => {
  it.scoped("spec change → old run stopped first, then a new run (new pid), restarts reset", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      yield* fake.end("web", { _tag: "Exited", code: 1 })
      yield* TestClock.adjust("10 seconds")
      yield* eventually("running again", phaseIs(store, "web", "running"))
      const old = fake.pidOf("web")!
      assert.strictEqual((yield* statusOf(store, "web"))?.restarts, 1)
      const rev = yield* store.put(podSpec("web", { containers: [{ name: "app", image: "busybox", env: { A: "1" } }] }))
      yield* rec.sync
      yield* eventually(
        "new run",
        Effect.map(statusOf(store, "web"), (s) => s?.phase === "running" && s.hostPid !== old)
      )
      const s = (yield* statusOf(store, "web"))!
      assert.strictEqual(s.hostPid, fake.pidOf("web"))
      assert.strictEqual(s.restarts, 0)
      assert.strictEqual(s.specRevision, rev.revision)
      const stopAt = fake.log.indexOf(`stop web ${old}`)
      const startAt = fake.log.indexOf(`start web ${s.hostPid}`)
      assert.isTrue(stopAt >= 0 && stopAt < startAt, fake.log.join("\n"))
      assert.deepStrictEqual((yield* typesOf(store, "web")).slice(-4), ["stopping", "stopped", "starting", "running"])
      assert.strictEqual(fake.workloads.get("web")?.spec.containers[0]?.env["A"], "1")
    }))

  it.scoped("a new revision of an identical spec keeps the run and updates specRevision", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      const again = yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("revision", Effect.map(statusOf(store, "web"), (s) => s?.specRevision === again.revision))
      assert.strictEqual(fake.stats.starts, 1)
      assert.strictEqual((yield* statusOf(store, "web"))?.phase, "running")
    }))

  it.scoped("delete → stopped, then purged, status removed", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("web"))
      yield* store.put(podSpec("db"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      const pid = fake.pidOf("web")!
      yield* store.delete("web")
      yield* rec.sync
      assert.isUndefined(fake.workloads.get("web"))
      const stopAt = fake.log.indexOf(`stop web ${pid}`)
      assert.isTrue(stopAt >= 0 && fake.log.indexOf("purge web") > stopAt, fake.log.join("\n"))
      assert.notInclude(fake.log, "purge db")
      assert.isUndefined(yield* statusOf(store, "web"))
      // "removed" once the status is gone: what watchers in other processes learn it from.
      assert.deepStrictEqual((yield* typesOf(store, "web")).slice(-3), ["terminating", "stopped", "removed"])
      assert.isDefined(fake.pidOf("db"))
      // Re-applying the name starts a fresh pod.
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running again", phaseIs(store, "web", "running"))
      assert.notStrictEqual(fake.pidOf("web"), pid)
    }))

  it.scoped("deletes that arrive while others wait out their grace period start at once, not after", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup({ stopDelayMs: 10_000 })
      const names = ["a", "b", "c", "d", "e", "f"]
      for (const n of names) yield* store.put(podSpec(n))
      yield* rec.sync
      yield* eventually(
        "all running",
        Effect.map(Effect.forEach(names, (n) => phaseIs(store, n, "running")), (l) => l.every(Boolean))
      )
      // The first three, then (while their stops take their 10 s) the other three, each by its pass.
      for (const n of names.slice(0, 3)) yield* store.delete(n)
      yield* Effect.fork(rec.sync)
      yield* eventually("first round terminating", phaseIs(store, "c", "terminating"))
      yield* TestClock.adjust("3 seconds")
      for (const n of names.slice(3)) yield* store.delete(n)
      yield* Effect.fork(rec.sync)
      yield* eventually("second round terminating too", phaseIs(store, "f", "terminating"))
      // 10 s after the second round began, all six are gone (one grace period each, overlapping).
      yield* TestClock.adjust("10 seconds")
      yield* eventually("all six gone", Effect.map(store.listStatus, (l) => l.statuses.length === 0))
      for (const n of names) assert.include(fake.log, `purge ${n}`)
      // A pass that starts something still waits for every deletion under way.
      yield* store.put(podSpec("g"))
      yield* rec.sync
      yield* eventually("g running", phaseIs(store, "g", "running"))
      yield* store.delete("g")
      yield* Effect.fork(rec.sync)
      yield* eventually("g terminating", phaseIs(store, "g", "terminating"))
      yield* store.put(podSpec("h"))
      yield* Effect.fork(rec.sync)
      yield* settle
      assert.notInclude(fake.log.join(","), "start h", "h waits for g's stop")
      yield* TestClock.adjust("10 seconds")
      yield* eventually("h started after g is gone", Effect.sync(() => fake.log.some((l) => l.startsWith("start h"))))
      assert.isTrue(fake.log.indexOf("purge g") < fake.log.findIndex((l) => l.startsWith("start h")))
    }))

  it.scoped("delete of a backing-off pod cancels the restart", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      yield* fake.end("web", { _tag: "Exited", code: 1 })
      yield* eventually("backing off", phaseIs(store, "web", "backing-off"))
      yield* store.delete("web")
      yield* rec.sync
      yield* TestClock.adjust("1 minute")
      yield* rec.sync
      assert.strictEqual(fake.stats.starts, 1)
      assert.include(fake.log, "purge web")
      assert.isUndefined(yield* statusOf(store, "web"))
    }))

  it.scoped("restart(): restarts now and resets the backoff; unknown pod → NotFound", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("web"))
      yield* rec.sync
      for (let i = 0; i < 3; i++) {
        yield* eventually("running", phaseIs(store, "web", "running"))
        yield* fake.end("web", { _tag: "Signaled", signal: 9 })
        yield* eventually("backing off", phaseIs(store, "web", "backing-off"))
        yield* TestClock.adjust(10_000 * 2 ** i)
      }
      yield* eventually("running", phaseIs(store, "web", "running"))
      const before = fake.pidOf("web")!
      assert.strictEqual((yield* statusOf(store, "web"))?.restarts, 3)
      yield* rec.restart("web")
      yield* eventually(
        "restarted",
        Effect.map(statusOf(store, "web"), (s) => s?.phase === "running" && s.hostPid !== before)
      )
      assert.strictEqual((yield* statusOf(store, "web"))?.restarts, 0)
      assert.include(yield* typesOf(store, "web"), "restarting")
      assert.include(fake.log, `stop web ${before}`)
      // The next crash backs off from the base again.
      yield* fake.end("web", { _tag: "Exited", code: 2 })
      yield* eventually("backing off", phaseIs(store, "web", "backing-off"))
      assert.strictEqual((yield* eventsOf(store, "web")).at(-1)?.delayMs, 10_000)
      // Restarting a backing-off pod starts it right away.
      yield* rec.restart("web")
      yield* eventually("running", phaseIs(store, "web", "running"))
      const nope = yield* Effect.exit(rec.restart("nope"))
      assert.deepStrictEqual(nope, Exit.fail(new NotFound({ pod: "nope" })))
    }))
})
