/**
 * How a command writes to stdout and stderr: every byte reaches the reader, at the reader's pace.
 *
 * - `write` waits while the stream holds more than its high-water mark (backpressure: a slow reader
 *   such as `| (sleep 2; wc -l)` slows the command down instead of the command buffering without
 *   bound), and fails once the stream has failed.
 * - `flush` waits until everything written so far — by `write` or anyone else — has reached the
 *   kernel. main.ts flushes before the process exits, so nothing is dropped at exit.
 * - A reader that went away (EPIPE, e.g. `| head -c 1`) is OutputClosed: the command ends quietly
 *   with status 0 (the reader stopped early on purpose, as `head` does; under `set -o pipefail` a
 *   non-zero status would fail the pipeline for it). Any other write error is OutputFailed: a
 *   message on stderr and status 1.
 */
import { Data, Effect } from "effect"
import { cannotWrite, failures, guard, type StdStream, streamOf } from "./stdWrite.js"

// The streams' state, and the plain writer of a one-shot command, are free of Effect (stdWrite.ts:
// ps's quick paths write through it).
export { EXIT_CLOSED_PIPE, guard, type StdStream, writeAll } from "./stdWrite.js"

/** The reader of `stream` closed it (EPIPE). Not an error of the command's: it ends quietly. */
export class OutputClosed extends Data.TaggedError("OutputClosed")<{ readonly stream: StdStream }> {
  override get message(): string {
    return `${this.stream} was closed by its reader`
  }
}

/** Writing to `stream` failed (ENOSPC, EIO, ...): what was written is incomplete. */
export class OutputFailed extends Data.TaggedError("OutputFailed")<{
  readonly stream: StdStream
  readonly code: string
  readonly reason: string
}> {
  override get message(): string {
    return cannotWrite(this.stream, this.reason)
  }
}

export type OutputError = OutputClosed | OutputFailed

const toError = (s: StdStream, e: NodeJS.ErrnoException): OutputError =>
  e.code === "EPIPE"
    ? new OutputClosed({ stream: s })
    : new OutputFailed({ stream: s, code: e.code ?? "unknown", reason: e.message })

export const isOutputClosed = (e: unknown): e is OutputClosed => e instanceof OutputClosed
export const isOutputFailed = (e: unknown): e is OutputFailed => e instanceof OutputFailed

/** Write `data`; returns once the stream can take more (at once while below its high-water mark). */
export const write = (s: StdStream, data: string | Uint8Array): Effect.Effect<void, OutputError> =>
  Effect.async<void, OutputError>((resume) => {
    guard(s)
    const before = failures.get(s)
    if (before) return resume(Effect.fail(toError(s, before)))
    const w = streamOf(s)
    let done = false
    const finish = (e?: NodeJS.ErrnoException | null) => {
      if (done) return
      done = true
      w.off("drain", onDrain)
      w.off("error", onError)
      resume(e ? Effect.fail(toError(s, e)) : Effect.void)
    }
    const onDrain = () => finish()
    const onError = (e: NodeJS.ErrnoException) => finish(e)
    const more = w.write(data, (e) => {
      if (e) {
        if (!failures.has(s)) failures.set(s, e)
        finish(e)
      }
    })
    if (more) return finish()
    w.on("drain", onDrain)
    w.on("error", onError)
    return Effect.sync(() => {
      done = true
      w.off("drain", onDrain)
      w.off("error", onError)
    })
  })

/** Wait until everything written to `s` so far has been handed to the kernel. */
export const flush = (s: StdStream): Effect.Effect<void, OutputError> =>
  Effect.async<void, OutputError>((resume) => {
    guard(s)
    const before = failures.get(s)
    if (before) return resume(Effect.fail(toError(s, before)))
    const w = streamOf(s)
    if (w.writableLength === 0) return resume(Effect.void)
    // Callbacks run in write order: this one's comes after every earlier chunk is written.
    w.write("", (e) => {
      const failed = e ?? failures.get(s)
      resume(failed ? Effect.fail(toError(s, failed)) : Effect.void)
    })
  })
