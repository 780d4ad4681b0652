/**
 * The state of stdout and stderr every writer shares (stdio.ts says how a command writes), and
 * `writeAll`, the writer of a one-shot command whose output is whole in memory. Free of Effect's
 * runtime: `tank ps`'s quick paths (quickPs.ts, quickPsLite.ts) end through it.
 */
import { printableText } from "../spec/printable.js"

export type StdStream = "stdout" | "stderr"

/** Status of a command whose reader closed the pipe: success, the reader had what it wanted. */
export const EXIT_CLOSED_PIPE = 0

/** The message of a failed write (stdio.ts's OutputFailed). */
export const cannotWrite = (stream: StdStream, reason: string): string => `cannot write to ${stream}: ${reason}`

export const streamOf = (s: StdStream): NodeJS.WriteStream => s === "stdout" ? process.stdout : process.stderr

/** The first error of each stream: a failed stream fails every later write and flush. */
// Keyed by the stream object, not its name: a startup snapshot (scripts/snapshot.mjs) keeps this
// module's state from its build, where a rehearsal may have written, while process.stdout and stderr
// are new streams in every process; keyed by name, they would count as guarded and go unguarded
// (an EPIPE or ENOSPC then crashed the command with Node's stack trace instead of ending it as below).
const failuresOf = new WeakMap<NodeJS.WriteStream, NodeJS.ErrnoException>()
const guarded = new WeakSet<NodeJS.WriteStream>()
export const failures = {
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
    // EPIPE is stdio.ts's OutputClosed, anything else its OutputFailed, with the same message.
    if (e.code === "EPIPE") return done(EXIT_CLOSED_PIPE)
    // As run.ts's failure: the message never raw to the terminal; a failing stderr cannot say more.
    process.stderr.write(printableText(`tank: ${cannotWrite(s, e.message)}\n`), () => done(1))
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
