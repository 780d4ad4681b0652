/**
 * How the runtime waits for a process to go (monitors.ts `within`): a released monitor is gone a
 * millisecond or two after its reply, so the first checks must come that soon — a flat 50 ms poll
 * added most of a tick to every container stop (issue 21). Time is the TestClock's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, TestClock } from "effect"
import { within } from "../../src/runtime/monitors.js"

/** Move the TestClock on `ms` in steps of `step` ms, letting the poller run between steps. */
const advance = (ms: number, step = 1) =>
  Effect.gen(function*() {
    for (let t = 0; t < ms; t += step) {
      yield* Effect.yieldNow()
      yield* TestClock.adjust(`${step} millis`)
    }
    yield* Effect.yieldNow()
  })

describe("within: polling for a process to go", () => {
  it.effect("sees a condition that turns true after 3 ms within 4 ms, not a poll interval later", () =>
    Effect.gen(function*() {
      // The condition reads the time the clock is being moved to (it cannot run an Effect).
      let elapsed = 0
      const fiber = yield* Effect.fork(within(2_000, () => elapsed >= 3))
      for (let ms = 1; ms <= 4; ms++) {
        elapsed = ms
        yield* advance(1)
      }
      const done = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(done), "still polling 4 ms in")
      assert.isTrue(yield* Fiber.join(fiber))
    }))

  it.effect("a condition already true is one look, answered at once: no repetition, no second look", () =>
    Effect.gen(function*() {
      // The usual stop: the released monitor is gone by the first look. The schedule's repetition
      // (clock reads, its driver) cost 0.1-0.4 ms of every stop for nothing (issue 21).
      let checks = 0
      const fiber = yield* Effect.fork(within(2_000, () => (checks++, true)))
      // No yield to the poller beyond its own start: it must be done without any time passing.
      yield* Effect.yieldNow()
      const done = yield* Fiber.poll(fiber)
      assert.deepStrictEqual(done, Option.some(Exit.succeed(true)))
      assert.strictEqual(checks, 1)
    }))

  it.effect("gives up after `ms`, polling at most every 50 ms meanwhile", () =>
    Effect.gen(function*() {
      let checks = 0
      const fiber = yield* Effect.fork(within(1_000, () => (checks++, false)))
      yield* advance(1_100, 10)
      assert.isFalse(yield* Fiber.join(fiber))
      // 1, 2, 4, 8, 16, 32 ms, then every 50 ms up to 1 s: about 25 checks, not one per millisecond.
      assert.isAtLeast(checks, 20)
      assert.isAtMost(checks, 30)
    }))
})
