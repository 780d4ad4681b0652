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

/**
 * The process has a handler for `signal` (SigCgt in /proc/<pid>/status). Tests whose workload must
 * catch SIGTERM (a `trap`) wait for it: the monitor SIGKILLs at once a PID 1 with no handler for the
 * stop signal, so a stop sent before the trap is set would not test the grace period.
 */
export const catches = (pid: number, signal = 15): boolean => {
  try {
    const m = /\nSigCgt:\s*([0-9a-f]+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(signal - 1)) & 1n) === 1n
  } catch {
    return false
  }
}

export const untilCatches = (pid: number, signal = 15) =>
  until(`pid ${pid} to catch signal ${signal}`, Effect.sync(() => catches(pid, signal)), (c) => c, 20_000, 20)
