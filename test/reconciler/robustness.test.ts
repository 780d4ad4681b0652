import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream, TestClock } from "effect"
import * as Memory from "../../src/store/memory.js"
import type { NewPodEvent, PodStatus } from "../../src/store/status.js"
import { StoreError } from "../../src/store/Store.js"
import { makeFakeRuntime } from "../support/fakeRuntime.js"
import { eventually, phaseIs, podSpec, settle, setup, startReconciler, statusOf, typesOf } from "./harness.js"

describe("Reconciler: robustness", () => {
  it.scoped("status writes that would change nothing are skipped", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.make
      let writes = 0
      const phases: Array<string> = []
      const count = (s: PodStatus) => Effect.sync(() => (writes++, phases.push(s.phase)))
      const store = {
        ...memory,
        putStatus: (s: PodStatus) => Effect.tap(memory.putStatus(s), () => count(s)),
        putStatusAndEvent: (s: PodStatus, e: NewPodEvent) => Effect.tap(memory.putStatusAndEvent(s, e), () => count(s))
      }
      const fake = yield* makeFakeRuntime()
      const { rec } = yield* startReconciler(store, fake)
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      // A start that gets its permit at once writes no "pending" first (one that waits does:
      // reconciler.test.ts "a declared pod not yet acted on shows pending").
      // Nor "pulling" around a pull over at once (progress.ts).
      assert.deepStrictEqual(phases, ["starting", "running"])
      yield* rec.sync
      yield* rec.sync
      yield* TestClock.adjust("1 hour")
      yield* settle
      assert.strictEqual(writes, 2)
      // A new revision of the same spec: one write (specRevision), no restart.
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* settle
      assert.strictEqual(writes, 3)
      assert.strictEqual(fake.stats.starts, 1)
    }))

  it.scoped("a defect in the runtime's start counts as a failed start, retried per policy", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      fake.dieOnStart("web")
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("failed", phaseIs(store, "web", "failed"))
      const s = (yield* statusOf(store, "web"))!
      assert.strictEqual(s.lastExit?.setupError?.step, "internal")
      assert.include(s.lastExit?.setupError?.message, "injected defect")
      yield* TestClock.adjust("10 seconds")
      yield* eventually("running", phaseIs(store, "web", "running"))
    }))

  it.scoped("a spec change during bring-up abandons that bring-up and starts the new spec", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup({ startDelayMs: 5_000 })
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("starting", Effect.sync(() => fake.stats.inFlight === 1))
      yield* store.put(podSpec("web", { restart: "never" }))
      yield* rec.sync
      yield* TestClock.adjust("5 seconds")
      yield* eventually("running", phaseIs(store, "web", "running"))
      assert.strictEqual(fake.stats.starts, 1, "the first bring-up never completed")
      assert.strictEqual(fake.workloads.get("web")?.spec.restart, "never")
      assert.strictEqual(fake.stats.inFlight, 0)
    }))

  it.scoped("a failed change feed is reopened, and the reconciler still converges", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.make
      let opened = 0
      const store = {
        ...memory,
        watch: (from?: number) =>
          ++opened === 1
            ? Stream.fail(new StoreError({ op: "watch", message: "database is locked" }))
            : memory.watch(from)
      }
      const fake = yield* makeFakeRuntime()
      yield* startReconciler(store, fake)
      yield* TestClock.adjust("100 millis")
      yield* settle
      yield* TestClock.adjust("1 second") // the retry delay
      yield* settle
      assert.strictEqual(opened, 2)
      yield* store.put(podSpec("web"))
      yield* TestClock.adjust("100 millis") // debounce
      yield* eventually("running", phaseIs(store, "web", "running"))
    }))

  it.scoped("events carry the run's host pid and restart count", () =>
    Effect.gen(function*() {
      const { fake, rec, store } = yield* setup()
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      const pid = fake.pidOf("web")!
      yield* fake.end("web", { _tag: "Signaled", signal: 9, oomKilled: true })
      yield* eventually("backing off", phaseIs(store, "web", "backing-off"))
      const { events } = yield* store.recentEvents(100)
      const exited = events.find((e) => e.type === "exited")!
      assert.deepStrictEqual([exited.hostPid, exited.restarts, exited.lastExit?.signal, exited.lastExit?.oomKilled], [
        pid,
        0,
        9,
        true
      ])
      assert.strictEqual(exited.message, "killed by SIGKILL (out of memory)")
      const backing = events.find((e) => e.type === "backing-off")!
      assert.deepStrictEqual([backing.hostPid, backing.restarts, backing.delayMs], [undefined, 1, 10_000])
      assert.deepStrictEqual(yield* typesOf(store, "web"), [
        "starting",
        "running",
        "exited",
        "backing-off"
      ])
    }))
})
