/**
 * Small compositions for the Runtime's finalizers and re-adoption, built on `connect`.
 */
import { Effect, Option } from "effect"
import { connect } from "./client.js"
import { readExitFile } from "./monitor.js"
import type { ExitRecord, MonitorState } from "./schema.js"

/** The monitor's state, or None when no monitor answers on the socket (gone, stale file). */
export const probe = (socketPath: string): Effect.Effect<Option.Option<MonitorState>> =>
  Effect.scoped(Effect.flatMap(connect(socketPath), (c) => c.state)).pipe(
    Effect.map(Option.some),
    Effect.catchAll(() => Effect.succeed(Option.none()))
  )

/**
 * Stop the workload (signal, then SIGKILL after graceMs), let the monitor exit, and return how the
 * workload ended: from the monitor if it answers, else from the exit file, else None. Never fails:
 * meant for finalizers. A parked workload is aborted.
 */
export const stopAndRelease = (
  socketPath: string,
  exitPath: string,
  graceMs: number
): Effect.Effect<Option.Option<ExitRecord>> =>
  Effect.scoped(
    Effect.gen(function*() {
      const c = yield* connect(socketPath)
      const exit = yield* c.stop(graceMs)
      yield* c.release.pipe(Effect.ignore)
      return Option.some(exit)
    })
  ).pipe(Effect.catchAll(() => readExitFile(exitPath)))
