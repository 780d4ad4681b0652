/**
 * Effect's default Clock and Random, made when the command runs rather than when Effect's modules were
 * evaluated. Under a startup snapshot (entry.ts) module evaluation happened at build time: Effect's default
 * Random is seeded then (every run would draw the same jitter), and its nanosecond clock adds the
 * monotonic clock to an origin taken then (after a reboot, span times would be days off).
 */
import { Clock, Effect, Random } from "effect"

const base = /* @__PURE__ */ Clock.make()

/** Wall time from Date.now, steps from the monotonic clock, both anchored at this call. */
const runClock = (): Clock.Clock => {
  const origin = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()
  const nanos = () => origin + process.hrtime.bigint()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => Date.now(),
    unsafeCurrentTimeNanos: nanos,
    currentTimeMillis: Effect.sync(() => Date.now()),
    currentTimeNanos: Effect.sync(nanos),
    sleep: (duration) => base.sleep(duration)
  }
}

/** Runs `effect` with a Clock and a Random made now (Math.random is seeded per process by V8). */
export const withRunServices = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.withClock(runClock()), Effect.withRandom(Random.make(Math.random())))
