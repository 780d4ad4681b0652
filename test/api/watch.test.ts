/**
 * Api watch/waitFor (src/api/watch.ts) over the real memory and SQLite stores, with the agent's part
 * played by the writes it makes (a status, then its event). Timeouts run on the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { verdict } from "../../src/api/conditions.js"
import { waitFor, watch } from "../../src/api/watch.js"
import { layerMemory } from "../../src/store/memory.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { Phase, PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"

const spec = (name: string) => ({ name, containers: [{ name: "app", image: "busybox" }] })

const sqliteFile = Layer.unwrapScoped(
  Effect.map(tmpDir("tank-watch-"), (dir) => layerSqlite(path.join(dir, "tank.db"), { pollInterval: "10 millis" }))
).pipe(Layer.orDie)

/** What the agent does on a phase change: the status, then the event (written all at once: a watcher reads late). */
const agentWrites = (name: string, phase: Phase, over: Partial<PodStatus> = {}) =>
  Effect.gen(function*() {
    const store = yield* Store
    const pod = yield* Api.get(name)
    const stored = yield* store.get(pod.name)
    const revision = stored._tag === "Some" ? stored.value.revision : 0
    const status: PodStatus = {
      name,
      phase,
      restarts: 0,
      specRevision: revision,
      updatedAt: new Date().toISOString(),
      ...over
    }
    yield* store.putStatus(status)
    // As the agent's recorder does: the event carries the status it follows.
    yield* store.appendEvent({
      at: new Date().toISOString(),
      pod: name,
      type: phase === "running" ? "running" : "exited",
      status
    })
  })

const show = (c: { readonly _tag: string; readonly name: string; readonly status?: PodStatus }) =>
  c._tag === "Removed" ? `${c.name} removed` : `${c.name} ${c.status!.phase}`

describe.each([["memory", layerMemory], ["sqlite", sqliteFile]] as const)("watch (%s store)", (_, layer) => {
  it.live("delivers the current state, then each change once and in order; removal too", () =>
    Effect.gen(function*() {
      yield* Api.apply(spec("a"))
      yield* Api.apply(spec("b"))
      const fiber = yield* watch().pipe(
        Stream.take(7),
        Stream.interruptAfter("2 seconds"),
        Stream.runCollect,
        Effect.fork
      )
      yield* Effect.sleep("50 millis")
      yield* agentWrites("a", "starting")
      // The same status written again with another event: not a change.
      yield* agentWrites("a", "starting")
      yield* agentWrites("a", "running", { hostPid: 42 })
      yield* agentWrites("b", "failed", { reason: "image: not found" })
      const store = yield* Store
      yield* Api.remove("a")
      yield* store.deleteStatus("a")
      yield* store.appendEvent({ at: new Date().toISOString(), pod: "a", type: "removed" })
      const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber)).map(show)
      assert.deepStrictEqual(got, [
        "a pending",
        "b pending",
        "a starting",
        "a running",
        "b failed",
        "a terminating",
        "a removed"
      ])
    }).pipe(Effect.provide(layer)))

  it.live("watch(name) follows one pod only, starting with Removed for a pod that does not exist", () =>
    Effect.gen(function*() {
      const fiber = yield* watch("web").pipe(
        Stream.take(3),
        Stream.interruptAfter("2 seconds"),
        Stream.runCollect,
        Effect.fork
      )
      yield* Effect.sleep("50 millis")
      yield* Api.apply(spec("other"))
      yield* Api.apply(spec("web"))
      yield* agentWrites("other", "running")
      yield* agentWrites("web", "running")
      const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber)).map(show)
      // "applied" makes it pending; the other pod's changes are not delivered.
      assert.deepStrictEqual(got, ["web removed", "web pending", "web running"])
    }).pipe(Effect.provide(layer)))

  it.live("waitFor running returns once the agent reports it; deleted once the status is gone", () =>
    Effect.gen(function*() {
      yield* Api.apply(spec("web"))
      const fiber = yield* Effect.fork(waitFor("web", "running"))
      yield* Effect.sleep("30 millis")
      yield* agentWrites("web", "starting")
      yield* agentWrites("web", "running", { hostPid: 7 })
      const s = yield* Fiber.join(fiber)
      assert.strictEqual(s?.hostPid, 7)

      const gone = yield* Effect.fork(waitFor("web", "deleted"))
      yield* Api.remove("web")
      const store = yield* Store
      yield* store.deleteStatus("web")
      yield* store.appendEvent({ at: new Date().toISOString(), pod: "web", type: "removed" })
      assert.isUndefined(yield* Fiber.join(gone))
      // Already gone: met at once.
      assert.isUndefined(yield* waitFor("web", "deleted"))
    }).pipe(Effect.provide(layer)))
})

describe("waitFor failures", () => {
  it.effect("a missing pod fails at once with PodNotFound, worded once", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(waitFor("ghost", "running"))
      assert.strictEqual(e._tag, "PodNotFound")
      assert.strictEqual(e.message, `pod "ghost" not found`)
    }).pipe(Effect.provide(layerMemory)))

  it.effect("a terminal pod cannot become running: ConditionUnreachable with its state", () =>
    Effect.gen(function*() {
      yield* Api.apply(spec("job"))
      yield* agentWrites("job", "terminal", { lastExit: { code: 3, at: new Date().toISOString() }, reason: "exited" })
      const e = yield* Effect.flip(waitFor("job", "running"))
      assert.strictEqual(e._tag, "ConditionUnreachable")
      assert.include(e.message, `pod "job" will not become running: terminal: exited (last exit code 3)`)
      // ... but it has exited.
      const s = yield* waitFor("job", "exited")
      assert.strictEqual(s?.lastExit?.code, 3)
    }).pipe(Effect.provide(layerMemory)))

  it.effect("a crash-looping pod times out (TestClock) naming its last state and exit", () =>
    Effect.gen(function*() {
      yield* Api.apply(spec("loop"))
      const fiber = yield* Effect.fork(waitFor("loop", "ready", { timeout: "60 seconds" }))
      yield* TestClock.adjust("1 second")
      yield* agentWrites("loop", "backing-off", {
        restarts: 4,
        reason: "exited with code 3",
        lastExit: { code: 3, at: new Date().toISOString() }
      })
      yield* TestClock.adjust(Duration.seconds(59))
      const e = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(e._tag, "WaitTimeout")
      assert.strictEqual(
        e.message,
        `pod "loop" is not ready after 1m: backing-off: exited with code 3 (restarts 4; last exit code 3)`
      )
    }).pipe(Effect.provide(layerMemory)))
})

describe("verdict (pure)", () => {
  const st = (phase: Phase, over: Partial<PodStatus> = {}): PodStatus => ({
    name: "p",
    phase,
    restarts: 0,
    specRevision: 5,
    updatedAt: "2026-01-01T00:00:00Z",
    ...over
  })
  it("ready needs the run of the spec stored when the wait began, every container up", () => {
    assert.strictEqual(verdict("ready", st("running"), 5)._tag, "Met")
    assert.strictEqual(verdict("ready", st("running"), 6)._tag, "Waiting")
    assert.strictEqual(verdict("running", st("running"), 6)._tag, "Met")
    assert.strictEqual(
      verdict(
        "ready",
        st("running", {
          containers: [{ name: "a", state: "running", restarts: 0 }, { name: "b", state: "backing-off", restarts: 1 }]
        }),
        5
      )._tag,
      "Waiting"
    )
    // Running, but its readiness probe has not passed (readers fill `ready` from the probes).
    assert.strictEqual(
      verdict("ready", st("running", { ready: false, readyReason: "probe failed" }), 5)._tag,
      "Waiting"
    )
    assert.strictEqual(verdict("ready", st("running", { ready: true }), 5)._tag, "Met")
  })
  it("a terminal status of an older spec is not the new run's", () => {
    assert.strictEqual(verdict("exited", st("terminal"), 6)._tag, "Waiting")
    assert.strictEqual(verdict("running", st("terminal"), 6)._tag, "Waiting")
    assert.strictEqual(verdict("running", st("terminal"), 5)._tag, "Unreachable")
    assert.strictEqual(verdict("exited", undefined)._tag, "Unreachable")
    assert.strictEqual(verdict("deleted", undefined)._tag, "Met")
  })
})
