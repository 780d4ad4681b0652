/**
 * Retrying while a monitor is busy: every connection slot it offers is taken (PROTOCOL.md §4). The
 * monitor is alive; a slot frees up when a client leaves. Never read busy as "monitor gone".
 */
import { Effect, Schedule } from "effect"
import type { MonitorBusy } from "./errors.js"

export const isBusy = (e: unknown): e is MonitorBusy =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "MonitorBusy"

/** Clients (exec, attach): every 500 ms, for up to 10 s. */
export const clientBusySchedule = Schedule.spaced("500 millis").pipe(Schedule.upTo("10 seconds"))

/**
 * The agent (its connections normally get the monitor's reserved slots, so this is the fallback):
 * 100 ms doubling to 1 s, for up to 10 s.
 */
export const agentBusySchedule = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("1 second")),
  Schedule.upTo("10 seconds")
)

/**
 * Run `eff` again while it fails with MonitorBusy, on `schedule`. `onBusy` runs once, at the first
 * busy reply (to say "busy, retrying"). Other failures, and the last MonitorBusy once the schedule
 * is exhausted, pass through.
 */
export const retryBusy = <X>(
  schedule: Schedule.Schedule<X, unknown>,
  onBusy: (e: MonitorBusy) => Effect.Effect<void> = () => Effect.void
) =>
<A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    let told = false
    return Effect.retry(eff, {
      schedule,
      while: (e: E) => {
        if (!isBusy(e)) return Effect.succeed(false)
        if (told) return Effect.succeed(true)
        told = true
        return Effect.as(onBusy(e), true)
      }
    })
  })
