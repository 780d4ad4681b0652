/**
 * The liveness probe's timing (src/probes/liveness.ts) on the TestClock: initial delay, period,
 * failure threshold with the count reset by a success, and the timeout counted as a failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Ref, TestClock } from "effect"
import { Schema } from "effect"
import { type ProbeOutcome, readinessLoop, untilStarted, untilUnhealthy } from "../../src/probes/timing.js"
import { Probe } from "../../src/spec/probes.js"

const probe = (over: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Probe)({ exec: { command: ["true"] }, ...over })

/** A check that answers from `script` (then fails forever), noting the virtual time of each call. */
const scripted = (script: ReadonlyArray<boolean>, took = 0) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make<Array<number>>([])
    const check = Effect.gen(function*() {
      const at = yield* TestClock.currentTimeMillis
      const n = (yield* Ref.getAndUpdate(calls, (c) => [...c, at])).length
      if (took > 0) yield* Effect.sleep(took)
      return { ok: script[n] ?? false, detail: `call ${n + 1}` } satisfies ProbeOutcome
    })
    return { calls, check }
  })

describe("liveness probe timing", () => {
  it.effect("the docs' example: first probe after initialDelaySeconds, every periodSeconds, unhealthy at the 3rd failure in a row", () =>
    Effect.gen(function*() {
      // Healthy for 6 probes (5 s .. 30 s), then the file is gone.
      const { calls, check } = yield* scripted([true, true, true, true, true, true])
      const fiber = yield* Effect.fork(untilUnhealthy(probe({ initialDelaySeconds: 5, periodSeconds: 5 }), check))
      yield* TestClock.adjust("44 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 second")
      const bad = yield* Fiber.join(fiber)
      assert.deepStrictEqual(bad, { ok: false, detail: "call 9", failures: 3 })
      assert.deepStrictEqual(yield* Ref.get(calls), [5, 10, 15, 20, 25, 30, 35, 40, 45].map((s) => s * 1000))
    }))

  it.effect("a success resets the failure count", () =>
    Effect.gen(function*() {
      const { calls, check } = yield* scripted([false, false, true, false, false])
      const fiber = yield* Effect.fork(untilUnhealthy(probe({ periodSeconds: 1, failureThreshold: 3 }), check))
      yield* TestClock.adjust("10 seconds")
      const bad = yield* Fiber.join(fiber)
      assert.strictEqual(bad.detail, "call 6")
      assert.deepStrictEqual(yield* Ref.get(calls), [0, 1000, 2000, 3000, 4000, 5000])
    }))

  it.effect("a probe slower than timeoutSeconds fails (and is interrupted)", () =>
    Effect.gen(function*() {
      const { check } = yield* scripted([true, true, true], 3000)
      const fiber = yield* Effect.fork(
        untilUnhealthy(probe({ periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 1 }), check)
      )
      yield* TestClock.adjust("2 seconds")
      const bad = yield* Fiber.join(fiber)
      assert.deepStrictEqual(bad, { ok: false, detail: "no answer within 2s (timeoutSeconds)", failures: 1 })
    }))

  it.effect("readiness: ready after successThreshold successes in a row, unready after failureThreshold failures", () =>
    Effect.gen(function*() {
      const { check } = yield* scripted([false, true, true, true, false, true, false, false, true, true])
      const flips = yield* Ref.make<Array<string>>([])
      const fiber = yield* Effect.fork(
        readinessLoop(
          probe({ periodSeconds: 1, successThreshold: 2, failureThreshold: 2 }),
          check,
          (ready, r, n) =>
            Effect.flatMap(
              TestClock.currentTimeMillis,
              (at) =>
                Ref.update(flips, (f) => [...f, `${at / 1000}s ${ready ? "ready" : "unready"} (${r.detail}, ${n})`])
            )
        )
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(yield* Ref.get(flips), [
        "2s ready (call 3, 2)", // calls 2 and 3 succeed
        "7s unready (call 8, 2)", // call 5 fails alone, then 7 and 8 in a row
        "9s ready (call 10, 2)"
      ])
    }))

  it.effect("startup: resolves at the first success, or unhealthy after failureThreshold failures in a row", () =>
    Effect.gen(function*() {
      const slow = yield* scripted([false, false, false, true])
      const started = yield* Effect.fork(untilStarted(probe({ periodSeconds: 2, failureThreshold: 5 }), slow.check))
      yield* TestClock.adjust("6 seconds")
      assert.deepStrictEqual(yield* Fiber.join(started), { started: true })
      assert.deepStrictEqual(yield* Ref.get(slow.calls), [0, 2000, 4000, 6000])
      const never = yield* scripted([])
      const failed = yield* Effect.fork(untilStarted(probe({ periodSeconds: 2, failureThreshold: 3 }), never.check))
      yield* TestClock.adjust("4 seconds")
      assert.deepStrictEqual(yield* Fiber.join(failed), { ok: false, detail: "call 3", failures: 3, started: false })
    }))

  it.effect("readiness and startup report each failure while not ready (the status says why, with the latest output)", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<string>>([])
      const note = (tag: string) => (r: ProbeOutcome) => Ref.update(seen, (xs) => [...xs, `${tag} ${r.detail}`])
      // fail, pass (ready), fail, fail (unready at 2 in a row), fail, pass...
      const r = yield* scripted([false, true, false, false, false, true])
      const fiber = yield* Effect.fork(
        readinessLoop(probe({ periodSeconds: 1, failureThreshold: 2 }), r.check, () => Effect.void, note("readiness"))
      )
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.interrupt(fiber)
      const s = yield* scripted([false, false, true])
      yield* untilStarted(probe({ periodSeconds: 1, failureThreshold: 5 }), s.check, note("startup")).pipe(
        Effect.fork,
        Effect.zipLeft(TestClock.adjust("2 seconds")),
        Effect.flatMap(Fiber.join)
      )
      assert.deepStrictEqual(yield* Ref.get(seen), [
        "readiness call 1", // not ready yet
        "readiness call 4", // the flip to unready: failures go on being reported from here
        "readiness call 5",
        "startup call 1",
        "startup call 2"
      ])
    }))
})
