import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { defaultConfig } from "../../src/reconciler/Reconciler.js"
import { Runtime, type StartOptions } from "../../src/runtime/Runtime.js"
import type { Pod } from "../../src/spec/Pod.js"
import * as Memory from "../../src/store/memory.js"
import type { NewPodEvent, PodStatus } from "../../src/store/status.js"
import { makeFakeRuntime } from "../support/fakeRuntime.js"
import { eventually, phaseIs, podSpec, settle, setup, startReconciler, statusOf, typesOf } from "./harness.js"

describe("Reconciler: triggers and scale", () => {
  it.scoped("the change feed triggers a pass at once, bursts coalesce: 20 pods in at most two passes, bring-ups in parallel", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.make
      let passes = 0 // every pass starts with one list
      const store = { ...memory, list: Effect.tap(memory.list, () => Effect.sync(() => passes++)) }
      const fake = yield* makeFakeRuntime({ startDelayMs: 1000 })
      yield* startReconciler(store, fake, { startConcurrency: 8 })
      yield* TestClock.adjust("100 millis") // the boot pass
      yield* settle
      const before = passes
      for (let i = 0; i < 20; i++) yield* store.put(podSpec(`pod-${String(i).padStart(2, "0")}`))
      const names = Array.from({ length: 20 }, (_, i) => `pod-${String(i).padStart(2, "0")}`)
      const allRunning = Effect.map(
        Effect.map(store.listStatus, (l) => l.statuses),
        (ss) => ss.filter((s) => s.phase === "running").length === 20
      )
      // A change after a quiet spell is acted on at once; the rest of the burst waits out the window.
      yield* settle
      assert.isAbove(fake.stats.inFlight, 0)
      yield* TestClock.adjust("100 millis")
      yield* eventually("8 in flight", Effect.sync(() => fake.stats.inFlight === 8))
      // Three waves of at most 8 bring-ups of 1 s each.
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      yield* eventually("all running", allRunning)
      assert.isAtMost(passes - before, 2, "20 writes, at most two passes")
      assert.strictEqual(fake.stats.maxInFlight, 8)
      assert.strictEqual(fake.stats.starts, 20)
      assert.deepStrictEqual([...fake.workloads.keys()].sort(), names)
    }))

  it.scoped("by default, a change right after a pass is acted on within 10 ms", () =>
    Effect.gen(function*() {
      const store = yield* Memory.make
      const fake = yield* makeFakeRuntime()
      // The default debounce (the harness sets its own).
      yield* startReconciler(store, fake, { debounceMs: defaultConfig.debounceMs })
      yield* TestClock.adjust("1 second") // the boot pass, long past
      yield* settle
      yield* store.put(podSpec("first"))
      yield* eventually("first running", phaseIs(store, "first", "running"))
      // Just after that pass (e.g. an apply just after a delete finished): held back at most 10 ms.
      yield* TestClock.adjust("1 millis")
      yield* store.put(podSpec("second"))
      yield* settle
      yield* TestClock.adjust("10 millis")
      yield* eventually("second running", phaseIs(store, "second", "running"))
    }))

  it.scoped("an apply right after a deletion ended is acted on at once; a re-apply during a deletion starts afresh after it", () =>
    Effect.gen(function*() {
      const store = yield* Memory.make
      const fake = yield* makeFakeRuntime({ stopDelayMs: 1000 })
      yield* startReconciler(store, fake, { debounceMs: defaultConfig.debounceMs })
      yield* TestClock.adjust("1 second") // the boot pass, long past
      yield* store.put(podSpec("first"))
      yield* eventually("first running", phaseIs(store, "first", "running"))
      yield* TestClock.adjust("1 second")
      yield* store.delete("first")
      yield* eventually("first terminating", phaseIs(store, "first", "terminating"))
      // The deletion ends 1 s after its pass: no pass of its own then (nothing was re-applied), so
      // an apply at that very moment is not held back by a debounce window.
      yield* TestClock.adjust("1 second")
      yield* eventually("first gone", Effect.map(statusOf(store, "first"), (s) => s === undefined))
      yield* store.put(podSpec("second"))
      yield* eventually("second started without the clock moving", phaseIs(store, "second", "running"))
      // A re-apply while its deletion is under way: left to the deletion's end, which triggers a pass.
      const pid = fake.pidOf("second")
      yield* TestClock.adjust("1 second")
      yield* store.delete("second")
      yield* eventually("second terminating", phaseIs(store, "second", "terminating"))
      yield* TestClock.adjust("100 millis")
      yield* store.put(podSpec("second"))
      yield* settle
      yield* TestClock.adjust("900 millis")
      yield* eventually("second running again", phaseIs(store, "second", "running"))
      assert.notStrictEqual(fake.pidOf("second"), pid)
      assert.strictEqual(fake.stats.starts, 3)
    }))

  it.scoped("a periodic resync converges even without the change feed", () =>
    Effect.gen(function*() {
      const store = yield* Memory.make
      // A store whose change feed never says anything: only the resync can notice.
      const deaf = { ...store, watch: () => Stream.never }
      const fake = yield* makeFakeRuntime()
      yield* startReconciler(deaf, fake, { resyncIntervalMs: 5_000 })
      yield* TestClock.adjust("100 millis") // the boot pass, before the pod exists
      yield* settle
      yield* store.put(podSpec("web"))
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.strictEqual(fake.stats.starts, 0)
      yield* TestClock.adjust("5 seconds")
      yield* eventually("running", phaseIs(store, "web", "running"))
    }))

  it.scoped("observed is exactly what was written to the store", () =>
    Effect.gen(function*() {
      const { rec, store } = yield* setup()
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      const obs = yield* rec.observed
      assert.deepStrictEqual(obs, [Option.getOrThrow(yield* store.getStatus("web"))])
    }))
})

describe("Reconciler: a start's status writes", () => {
  it.scoped("the bring-up begins while `starting` is written; every later write comes after it", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.make
      const written = yield* Deferred.make<void>()
      // The `starting` write (the status with its event) hangs until the test lets it through.
      const held = (s: PodStatus) => s.phase === "starting" ? Deferred.await(written) : Effect.void
      const store = {
        ...memory,
        putStatus: (s: PodStatus) => Effect.zipRight(held(s), memory.putStatus(s)),
        putStatusAndEvent: (s: PodStatus, e: NewPodEvent) => Effect.zipRight(held(s), memory.putStatusAndEvent(s, e))
      }
      const fake = yield* makeFakeRuntime()
      const real = Context.get(yield* Layer.build(fake.layer), Runtime)
      const begun: Array<string> = []
      const runtime = {
        ...real,
        start: (pod: Pod, opts?: StartOptions) =>
          Effect.zipRight(Effect.sync(() => begun.push(pod.name)), real.start(pod, opts))
      }
      yield* startReconciler(store, { ...fake, layer: Layer.succeed(Runtime, runtime) })
      yield* TestClock.adjust("1 second")
      yield* store.put(podSpec("web"))
      yield* TestClock.adjust("1 second")
      yield* eventually("bring-up begun", Effect.sync(() => begun.length === 1))
      yield* settle
      // Nothing after `starting` overtook it: no status, no event of the start yet.
      assert.isUndefined(yield* statusOf(store, "web"))
      assert.deepStrictEqual((yield* typesOf(store, "web")).filter((t) => t !== "applied"), [])
      yield* Deferred.succeed(written, undefined)
      yield* eventually("running", phaseIs(store, "web", "running"))
      assert.deepStrictEqual((yield* typesOf(store, "web")).filter((t) => t !== "applied"), ["starting", "running"])
    }))
})

describe("Reconciler: a start's writes", () => {
  it.scoped("each status of a start and of a delete goes with its event in one store write", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.make
      const writes: Array<string> = []
      const log = (line: string) => Effect.sync(() => void writes.push(line))
      const store = {
        ...memory,
        putStatus: (s: PodStatus) => Effect.tap(memory.putStatus(s), () => log(`status ${s.phase}`)),
        appendEvent: (e: NewPodEvent) => Effect.tap(memory.appendEvent(e), () => log(`event ${e.type}`)),
        putStatusAndEvent: (s: PodStatus, e: NewPodEvent) =>
          Effect.tap(memory.putStatusAndEvent(s, e), () => log(`status ${s.phase} + event ${e.type}`))
      }
      const fake = yield* makeFakeRuntime()
      const { rec } = yield* startReconciler(store, fake)
      yield* store.put(podSpec("web"))
      yield* rec.sync
      yield* eventually("running", phaseIs(store, "web", "running"))
      assert.deepStrictEqual(writes, ["status starting + event starting", "status running + event running"])
      // The event carries the status written with it (what watchers deliver).
      const running = (yield* memory.recentEvents(1)).events[0]!
      assert.strictEqual(running.status?.phase, "running")
      assert.strictEqual(running.status?.hostPid, Option.getOrThrow(yield* memory.getStatus("web")).hostPid)
      writes.length = 0
      yield* store.delete("web")
      yield* rec.sync
      yield* eventually("removed", Effect.map(statusOf(store, "web"), (s) => s === undefined))
      assert.deepStrictEqual(writes.slice(0, 2), ["status terminating + event terminating", "event stopped"])
    }))
})

describe("Reconciler: stops before starts", () => {
  it.scoped("in one pass, deletes and the old halves of replaces finish before any pod starts", () =>
    Effect.gen(function*() {
      // "gone" takes longer to stop than "changed": the new "changed" must still wait for it.
      const { fake, rec, store } = yield* setup({ stopDelayMs: (name) => name === "gone" ? 8_000 : 5_000 })
      yield* store.put(podSpec("gone"))
      yield* store.put(podSpec("changed"))
      yield* rec.sync
      yield* eventually(
        "running",
        Effect.map(
          Effect.map(store.listStatus, (l) => l.statuses),
          (ss) => ss.filter((s) => s.phase === "running").length === 2
        )
      )
      yield* store.delete("gone")
      yield* store.put(podSpec("changed", { restart: "on_failure" }))
      yield* store.put(podSpec("fresh"))
      const pass = yield* Effect.fork(rec.sync)
      yield* settle
      const stops = fake.log.filter((l) => l.startsWith("stop"))
      assert.deepStrictEqual(stops.map((l) => l.split(" ")[1]).sort(), ["changed", "gone"])
      assert.strictEqual(fake.stats.starts, 2, "nothing starts while stops are in progress")
      assert.strictEqual(yield* statusOf(store, "fresh"), undefined)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      assert.strictEqual(fake.stats.starts, 2, "changed has stopped, but gone has not: no start yet")
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(pass)
      yield* eventually(
        "changed and fresh running",
        Effect.map(
          Effect.all([phaseIs(store, "changed", "running"), phaseIs(store, "fresh", "running")]),
          (xs) => xs.every(Boolean)
        )
      )
      const order = fake.log.filter((l) => /^(stop|start)/.test(l)).slice(2)
      assert.deepStrictEqual(order.slice(0, 2).map((l) => l.split(" ")[0]), ["stop", "stop"])
      assert.deepStrictEqual(order.slice(2).map((l) => l.split(" ").slice(0, 2).join(" ")).sort(), [
        "start changed",
        "start fresh"
      ])
    }))
})
