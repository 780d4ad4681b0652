/**
 * Waiting on the real world in live tests: poll a value until it satisfies a predicate, and tell a
 * running process from a gone (or zombie) one.
 */
import { Effect } from "effect"
import * as fs from "node:fs"

/** Poll `get` until `pred` holds; die after `ms` showing the last value seen. */
export const until = <A>(
  what: string,
  get: Effect.Effect<A, unknown>,
  pred: (a: A) => boolean,
  ms = 20_000,
  everyMs = 50
) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    for (;;) {
      const a = yield* get
      if (pred(a)) return a
      if (Date.now() - t0 > ms) return yield* Effect.dieMessage(`timed out waiting for ${what}: ${JSON.stringify(a)}`)
      yield* Effect.sleep(`${everyMs} millis`)
    }
  })

/** The process exists and is not a zombie. */
export const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}
