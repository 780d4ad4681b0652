/**
 * The caller's side of an interactive session: raw mode on the caller's terminal (always restored),
 * its window size and resizes, and byte pumps with backpressure. Every endpoint is a Node stream so
 * tests and the web can drive a session without a real TTY; with process.stdin/stdout (a TTY) it is
 * the real thing.
 *
 * Restoring raw mode: the scope's finalizer covers success, failure and interruption; a process
 * `exit` hook covers crashes (uncaught exceptions still emit `exit`); SIGTERM/SIGHUP/SIGINT/SIGQUIT
 * handlers restore and then re-raise the signal when nobody else handles it (so the default action,
 * death, still happens). Node itself also resets the stdio termios at exit. SIGKILL cannot be
 * caught: `stty sane` is the only remedy there, as with every terminal program.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import type * as tty from "node:tty"

export interface WindowSize {
  readonly rows: number
  readonly cols: number
}

/** Where a session reads keystrokes, writes output and learns the window size. */
export interface TerminalIO {
  readonly input: NodeJS.ReadableStream
  readonly output: NodeJS.WritableStream
  /** The current size, if known. Default: the output's, when it is a TTY. */
  readonly size?: () => WindowSize | undefined
  /** Subscribe to size changes; returns the unsubscribe. Default: SIGWINCH, when the output is a TTY. */
  readonly onResize?: (f: (size: WindowSize) => void) => () => void
}

const isTtyInput = (s: NodeJS.ReadableStream): s is tty.ReadStream =>
  (s as Partial<tty.ReadStream>).isTTY === true && typeof (s as Partial<tty.ReadStream>).setRawMode === "function"

const isTtyOutput = (s: NodeJS.WritableStream): s is tty.WriteStream =>
  (s as Partial<tty.WriteStream>).isTTY === true && typeof (s as Partial<tty.WriteStream>).getWindowSize === "function"

const ttySize = (out: tty.WriteStream): WindowSize | undefined => {
  try {
    const [cols, rows] = out.getWindowSize()
    return cols > 0 && rows > 0 ? { rows, cols } : undefined
  } catch {
    return undefined
  }
}

/** The size source of `io`: explicit, else the output TTY's. */
export const windowSize = (io: TerminalIO): WindowSize | undefined =>
  io.size ? io.size() : isTtyOutput(io.output) ? ttySize(io.output) : undefined

/** Subscribe to resizes of `io` (explicit, else SIGWINCH for a TTY output); returns the unsubscribe. */
export const watchResize = (io: TerminalIO, f: (size: WindowSize) => void): () => void => {
  if (io.onResize) return io.onResize(f)
  const out = io.output
  if (!isTtyOutput(out)) return () => {}
  const onWinch = () => {
    const s = ttySize(out)
    if (s) f(s)
  }
  process.on("SIGWINCH", onWinch)
  return () => void process.off("SIGWINCH", onWinch)
}

const RESTORE_SIGNALS: ReadonlyArray<NodeJS.Signals> = ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT"]

/**
 * Raw mode on `input` for the scope (a no-op when it is not a TTY or is raw already: then it is
 * someone else's to restore). Keystrokes such as Ctrl-C and Ctrl-Z become bytes for the session.
 */
export const rawMode = (input: NodeJS.ReadableStream): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => {
      if (!isTtyInput(input) || input.isRaw) return undefined
      input.setRawMode(true)
      let restored = false
      const restore = () => {
        if (restored) return
        restored = true
        try {
          input.setRawMode(false)
        } catch {
          // the terminal is gone (hangup): nothing left to restore
        }
      }
      const handlers = RESTORE_SIGNALS.map((sig) => {
        const h = () => {
          restore()
          // Only us listening: we replaced the default action (death); unhook and re-raise it.
          if (process.listenerCount(sig) === 1) {
            unhook()
            process.kill(process.pid, sig)
          }
        }
        return [sig, h] as const
      })
      const unhook = () => {
        process.off("exit", restore)
        for (const [sig, h] of handlers) process.off(sig, h)
      }
      process.on("exit", restore)
      for (const [sig, h] of handlers) process.on(sig, h)
      return () => {
        restore()
        unhook()
      }
    }),
    (release) => Effect.sync(() => release?.())
  ))

/**
 * The session owns `input` for the scope: listeners already reading it (the REPL's readline and its
 * keypress decoder) are unhooked and put back afterwards — else every keystroke would go both to the
 * session and to the REPL (the original's pitfall 16: iex's reader stealing keystrokes).
 */
export const takeInput = (input: NodeJS.ReadableStream): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => {
      // `readableFlowing` is null for a stream nobody reads yet (process.stdin in a CLI): leave it so,
      // or resuming it afterwards would keep the process alive.
      const flowing = (input as { readableFlowing?: boolean | null }).readableFlowing === true
      const saved = (["data", "keypress"] as const).map((ev) => {
        const ls = input.listeners(ev) as Array<(...args: Array<unknown>) => void>
        for (const l of ls) input.off(ev, l)
        return [ev, ls] as const
      })
      return { flowing, saved }
    }),
    ({ flowing, saved }) =>
      Effect.sync(() => {
        for (const [ev, ls] of saved) for (const l of ls) input.on(ev, l)
        if (flowing) input.resume()
      })
  ))

export type ChunkVerdict = "continue" | "stop"

/**
 * Read `input` until it ends (`"ended"`) or `onChunk` says stop (`"stopped"`). When `busy()` says
 * the far side is full, reading pauses until it is not (polled: node-pty has no drain event), so a
 * large paste waits in the kernel's pipe/tty buffers instead of piling up in memory. Interruption
 * stops reading; the stream is left paused, so a process.stdin no longer keeps the process alive.
 */
export const pumpInput = (
  input: NodeJS.ReadableStream,
  onChunk: (chunk: Uint8Array) => ChunkVerdict,
  busy: () => boolean = () => false
): Effect.Effect<"ended" | "stopped"> =>
  Effect.async<"ended" | "stopped">((resume) => {
    let timer: NodeJS.Timeout | undefined
    let finished = false
    const finish = (r: "ended" | "stopped") => {
      if (finished) return
      finished = true
      cleanup()
      resume(Effect.succeed(r))
    }
    const waitUntilFree = () => {
      timer = setTimeout(() => {
        timer = undefined
        if (finished) return
        if (busy()) return waitUntilFree()
        input.resume()
      }, 5)
    }
    const onData = (d: Buffer | string) => {
      const bytes = typeof d === "string" ? Buffer.from(d, "utf8") : d
      if (onChunk(bytes) === "stop") return finish("stopped")
      if (busy()) {
        input.pause()
        if (!timer) waitUntilFree()
      }
    }
    const onEnd = () => finish("ended")
    const cleanup = () => {
      if (timer) clearTimeout(timer)
      input.off("data", onData)
      input.off("end", onEnd)
      input.off("close", onEnd)
      input.pause()
    }
    input.on("data", onData)
    input.on("end", onEnd)
    input.on("close", onEnd)
    input.resume()
    return Effect.sync(cleanup)
  })

/** Write `bytes`, calling `pause` until the output drained when it is full (backpressure). */
export const writeWithBackpressure = (
  output: NodeJS.WritableStream,
  bytes: Uint8Array,
  pause: () => void,
  resume: () => void
): void => {
  if (output.write(bytes)) return
  pause()
  output.once("drain", resume)
}

/** Write and wait for the output to accept it (a full output delays, never drops). */
export const writeAndDrain = (output: NodeJS.WritableStream, bytes: Uint8Array): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (output.write(bytes)) return resume(Effect.void)
    const done = () => {
      output.off("drain", done)
      output.off("close", done)
      output.off("error", done)
      resume(Effect.void)
    }
    output.once("drain", done)
    output.once("close", done)
    output.once("error", done)
  })
