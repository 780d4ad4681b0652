/**
 * A CPU profile of this process's main thread between `start` and `stop` (open the file in Chrome's
 * DevTools), through the inspector: the benches profile only the runs they measure, not their set-up.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as inspector from "node:inspector"

/** `what`: what the profile covers, for the line printed beside its path. */
export const makeProfiler = (what: string) => {
  const session = new inspector.Session()
  const post = (method: string, params?: object) =>
    Effect.async<unknown>((resume) =>
      session.post(method, params ?? {}, (err, res) => resume(err ? Effect.die(err) : Effect.succeed(res)))
    )
  return {
    start: Effect.suspend(() => {
      session.connect()
      return post("Profiler.enable").pipe(
        Effect.zipRight(post("Profiler.setSamplingInterval", { interval: 200 })),
        Effect.zipRight(post("Profiler.start"))
      )
    }),
    stop: (file: string) =>
      post("Profiler.stop").pipe(
        Effect.tap((res) =>
          Effect.sync(() => fs.writeFileSync(file, JSON.stringify((res as { profile: unknown }).profile)))
        ),
        Effect.tap(() => Effect.sync(() => (session.disconnect(), console.log(`(CPU profile of ${what}: ${file})`))))
      )
  }
}
