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
import { printableText } from "../spec/printable.js"

export type StdStream = "stdout" | "stderr"

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
    return `cannot write to ${this.stream}: ${this.reason}`
  }
}

export type OutputError = OutputClosed | OutputFailed

/** Status of a command whose reader closed the pipe: success, the reader had what it wanted. */
export const EXIT_CLOSED_PIPE = 0

const streamOf = (s: StdStream): NodeJS.WriteStream => s === "stdout" ? process.stdout : process.stderr

/** The first error of each stream: a failed stream fails every later write and flush. */
// Keyed by the stream object, not its name: a startup snapshot (scripts/snapshot.mjs) keeps this
// module's state from its build, where a rehearsal may have written, while process.stdout and stderr
// are new streams in every process; keyed by name, they would count as guarded and go unguarded
// (an EPIPE or ENOSPC then crashed the command with Node's stack trace instead of ending it as below).
const failuresOf = new WeakMap<NodeJS.WriteStream, NodeJS.ErrnoException>()
const guarded = new WeakSet<NodeJS.WriteStream>()
const failures = {
  get: (s: StdStream) => failuresOf.get(streamOf(s)),
  has: (s: StdStream) => failuresOf.has(streamOf(s)),
  set: (s: StdStream, e: NodeJS.ErrnoException) => void failuresOf.set(streamOf(s), e)
}

/**
 * Record the streams' errors instead of letting Node throw them (an unhandled 'error' event on
 * stdout crashes the process with a stack trace). main.ts calls it first thing.
 */
export const guard = (s: StdStream): void => {
  if (guarded.has(streamOf(s))) return
  guarded.add(streamOf(s))
  streamOf(s).on("error", (e: NodeJS.ErrnoException) => {
    if (!failures.has(s)) failures.set(s, e)
  })
}

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

/**
 * Writes `chunks` in order, each once the one before it reached the kernel, then calls `done` with
 * the command's exit code, as `finish` (run.ts) ends an Effect command: 0 once all is written;
 * EXIT_CLOSED_PIPE, quietly, when a reader closed its stream (the rest is not written); 1, after
 * `tank: cannot write to ...` on stderr, for any other write error. For a one-shot command run
 * without Effect's runtime (`tank ps`'s quick path, quickPs.ts): its output is whole in memory, so
 * there is no backpressure to wait for beyond each chunk's own write.
 */
export const writeAll = (
  chunks: ReadonlyArray<readonly [StdStream, string]>,
  done: (code: number) => void
): void => {
  guard("stdout")
  guard("stderr")
  const failed = (s: StdStream, e: NodeJS.ErrnoException) => {
    const error = toError(s, e)
    if (error instanceof OutputClosed) return done(EXIT_CLOSED_PIPE)
    // As run.ts's failure: the message never raw to the terminal; a failing stderr cannot say more.
    process.stderr.write(printableText(`tank: ${error.message}\n`), () => done(1))
  }
  const next = (i: number): void => {
    if (i === chunks.length) return done(0)
    const [s, text] = chunks[i]!
    const before = failures.get(s)
    if (before) return failed(s, before)
    streamOf(s).write(text, (e) => {
      const failure = e ?? failures.get(s)
      if (failure) failed(s, failure)
      else next(i + 1)
    })
  }
  next(0)
}
