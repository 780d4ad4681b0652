import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, TestClock } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import * as Memory from "../../src/store/memory.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store, type StoreService } from "../../src/store/Store.js"
import { makeFakeRuntime } from "../support/fakeRuntime.js"
import { tmpDir } from "../support/tmp.js"
import { eventsOf, eventually, phaseIs, podSpec, settle, startReconciler, statusOf, typesOf } from "./harness.js"

const allRunning = (store: StoreService, names: ReadonlyArray<string>) =>
  Effect.map(Effect.all(names.map((n) => phaseIs(store, n, "running"))), (xs) => xs.every(Boolean))

describe("Reconciler: live restore", () => {
  it.scoped("a second reconciler adopts the first one's runs after a keepOnClose shutdown", () =>
    Effect.gen(function*() {
      const store = yield* Memory.make
      const fake = yield* makeFakeRuntime()
      const a = yield* startReconciler(store, fake)
      for (const name of ["web", "db", "gone", "changed", "loop"]) yield* store.put(podSpec(name))
      yield* store.put(podSpec("once", { restart: "never" }))
      yield* a.rec.sync
      const names = ["web", "db", "gone", "changed", "loop", "once"]
      yield* eventually("all running", allRunning(store, names))
      // web crashes once and comes back (restarts 1); once ends for good; loop is backing off at shutdown.
      yield* fake.end("web", { _tag: "Exited", code: 1 })
      yield* TestClock.adjust("10 seconds")
      yield* eventually("web back", phaseIs(store, "web", "running"))
      yield* fake.end("once", { _tag: "Exited", code: 0 })
      yield* eventually("once terminal", phaseIs(store, "once", "terminal"))
      yield* fake.end("loop", { _tag: "Signaled", signal: 9 })
      yield* eventually("loop backing off", phaseIs(store, "loop", "backing-off"))
      yield* TestClock.adjust("2 seconds") // 8 s of its 10 s backoff left
      const pids = new Map(["web", "db", "gone", "changed"].map((n) => [n, fake.pidOf(n)!]))
      const startsBefore = fake.stats.starts

      yield* a.close
      // Pods keep running; nothing was stopped; statuses still say running.
      assert.deepStrictEqual(fake.log.filter((l) => l.startsWith("stop")), [])
      for (const [name, pid] of pids) {
        assert.include(fake.log, `keep ${name} ${pid}`)
        assert.strictEqual(fake.pidOf(name), pid)
        const s = (yield* statusOf(store, name))!
        assert.deepStrictEqual([s.phase, s.hostPid], ["running", pid])
      }

      // While no agent runs: db exits, gone is deleted, changed gets a new spec, debris appears.
      yield* fake.end("db", { _tag: "Exited", code: 3 })
      yield* store.delete("gone")
      yield* store.put(podSpec("changed", { containers: [{ name: "app", image: "busybox", args: ["v2"] }] }))
      fake.debris.add("ghost")

      const b = yield* startReconciler(store, fake, { agentPid: 5353 })
      // web: adopted, same pid, restart count kept, no new start.
      const web = (yield* statusOf(store, "web"))!
      assert.deepStrictEqual([web.phase, web.hostPid, web.restarts, web.agentPid], [
        "running",
        pids.get("web"),
        1,
        5353
      ])
      assert.include(fake.log, `adopt web ${pids.get("web")}`)
      assert.strictEqual((yield* typesOf(store, "web")).at(-1), "adopted")
      // db exited while no agent ran: handled per policy (always → back off).
      yield* eventually("db backing off", phaseIs(store, "db", "backing-off"))
      const db = (yield* statusOf(store, "db"))!
      assert.deepStrictEqual([db.restarts, db.lastExit?.code], [1, 3])
      // once stays terminal.
      assert.strictEqual((yield* statusOf(store, "once"))?.phase, "terminal")
      // gone (deleted while down, known by its status): purged like any delete, status removed;
      // ghost (debris nobody knows): swept only.
      assert.include(fake.log, "purge gone")
      assert.notInclude(fake.log, "sweep gone")
      assert.include(fake.log, "sweep ghost")
      assert.isUndefined(yield* statusOf(store, "gone"))
      assert.isFalse(fake.workloads.has("gone"))
      // changed: the old run stopped, a new one started from the new spec.
      yield* eventually(
        "changed running anew",
        Effect.map(statusOf(store, "changed"), (s) => s?.phase === "running" && s.hostPid !== pids.get("changed"))
      )
      assert.include(fake.log, `stop changed ${pids.get("changed")}`)
      assert.deepStrictEqual(fake.workloads.get("changed")?.spec.containers[0]?.args, ["v2"])
      assert.strictEqual(fake.stats.starts, startsBefore + 1)
      // loop: its backoff carries over: 8 s left, not 10, not 0; restart count kept.
      yield* b.rec.sync
      yield* TestClock.adjust(8_000 - 1)
      yield* settle
      assert.strictEqual((yield* statusOf(store, "loop"))?.phase, "backing-off")
      yield* TestClock.adjust(1)
      yield* eventually("loop running", phaseIs(store, "loop", "running"))
      assert.strictEqual((yield* statusOf(store, "loop"))?.restarts, 1)
      // The adopted run is supervised as before: its next crash backs off from its kept count.
      yield* fake.end("web", { _tag: "Exited", code: 1 })
      yield* eventually("web backing off", phaseIs(store, "web", "backing-off"))
      assert.strictEqual((yield* statusOf(store, "web"))?.restarts, 2)
      assert.strictEqual((yield* eventsOf(store, "web")).at(-1)?.delayMs, 20_000)
    }))

  it.scoped("a deletion under way when the agent shuts down completes: stopped, purged, status gone", () =>
    Effect.gen(function*() {
      const store = yield* Memory.make
      const fake = yield* makeFakeRuntime({ stopDelayMs: 5_000 })
      const a = yield* startReconciler(store, fake)
      yield* store.put(podSpec("gone"))
      yield* store.put(podSpec("stays"))
      yield* a.rec.sync
      yield* eventually("running", allRunning(store, ["gone", "stays"]))
      yield* store.delete("gone")
      yield* Effect.fork(a.rec.sync) // a pass now (it waits for the stop)
      yield* eventually("terminating", phaseIs(store, "gone", "terminating"))
      // With the deadline of its grace period (the reconciler's default 10 s, from the TestClock's 0).
      assert.strictEqual((yield* statusOf(store, "gone"))?.graceDeadline, new Date(10_000).toISOString())
      // The agent leaves (live restore) while the stop takes its grace period.
      const closing = yield* Effect.fork(a.close)
      yield* settle
      assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "the shutdown waits for the deletion")
      yield* TestClock.adjust("5 seconds")
      yield* eventually("closed", Effect.map(Fiber.poll(closing), Option.isSome))
      assert.include(fake.log, "purge gone")
      assert.isUndefined(yield* statusOf(store, "gone"))
      // The other pod is left running for the next agent, as always.
      assert.include(fake.log, `keep stays ${fake.pidOf("stays")}`)
    }))

  it.scoped("stopPodsOnExit: shutdown stops every pod cleanly, concurrently", () =>
    Effect.gen(function*() {
      const store = yield* Memory.make
      const fake = yield* makeFakeRuntime({ stopDelayMs: 5_000 })
      const a = yield* startReconciler(store, fake, { stopPodsOnExit: true })
      yield* store.put(podSpec("a"))
      yield* store.put(podSpec("b"))
      yield* store.put(podSpec("c", { restart: "never" }))
      yield* a.rec.sync
      yield* eventually("running", allRunning(store, ["a", "b", "c"]))
      yield* fake.end("c", { _tag: "Exited", code: 0 })
      yield* eventually("c terminal", phaseIs(store, "c", "terminal"))
      // Concurrent starts take their pids in no set order.
      const pids = { a: fake.pidOf("a"), b: fake.pidOf("b") }
      const closing = yield* Effect.fork(a.close)
      yield* settle
      assert.strictEqual((yield* statusOf(store, "a"))?.phase, "stopping")
      // Each stop takes its 5 s grace period; together they take 5 s, not 10.
      yield* TestClock.adjust("5 seconds")
      yield* eventually("closed", Effect.map(Fiber.poll(closing), Option.isSome))
      assert.strictEqual(fake.workloads.size, 0)
      assert.deepStrictEqual(fake.log.filter((l) => l.startsWith("stop")).sort(), [
        `stop a ${pids.a}`,
        `stop b ${pids.b}`
      ])
      for (const name of ["a", "b"]) {
        const s = (yield* statusOf(store, name))!
        assert.strictEqual(s.phase, "pending")
        assert.isUndefined(s.hostPid)
        assert.deepStrictEqual((yield* typesOf(store, name)).slice(-2), ["stopping", "stopped"])
      }
      assert.strictEqual((yield* statusOf(store, "c"))?.phase, "terminal")
      // The next agent starts them again.
      yield* startReconciler(store, fake)
      yield* eventually("running again", allRunning(store, ["a", "b"]))
      assert.strictEqual((yield* statusOf(store, "c"))?.phase, "terminal")
    }))
})

describe("Reconciler: changes made by another process", () => {
  it.scopedLive(
    "a pod written to the SQLite file by a separate process is picked up promptly",
    () =>
      Effect.gen(function*() {
        const dir = yield* tmpDir("tank-reconciler-")
        const file = path.join(dir, "tank.db")
        const store = yield* Layer.build(layerSqlite(file, { pollInterval: "20 millis" })).pipe(
          Effect.map((ctx) => Context.get(ctx, Store)),
          Effect.orDie
        )
        const fake = yield* makeFakeRuntime()
        yield* startReconciler(store, fake, { debounceMs: 20 })
        const script = path.join(import.meta.dirname, "../store/writer.ts")
        yield* Effect.promise(() =>
          promisify(execFile)(process.execPath, ["--import", "tsx", script, file, "ext", "3"], {
            cwd: path.join(import.meta.dirname, "../..")
          })
        )
        const written = Date.now()
        const names = ["ext-0", "ext-1", "ext-2"]
        while (!(yield* Effect.all(names.map((n) => phaseIs(store, n, "running")))).every(Boolean)) {
          if (Date.now() - written > 2_000) assert.fail(`not running within 2 s: ${fake.log.join(", ")}`)
          yield* Effect.sleep("5 millis")
        }
        // "Within a fraction of a second": the feed polls every 20 ms, the debounce is 20 ms.
        assert.isBelow(Date.now() - written, 1_000)
        assert.deepStrictEqual([...fake.workloads.keys()].sort(), names)
      }),
    { timeout: 30_000 }
  )
})
