/**
 * Driving a real PTY from a test (node-pty): write keystrokes, resize, wait for output. The
 * process is killed (and the PTY closed) when the scope closes.
 */
import { Data, Effect } from "effect"
import type { Scope } from "effect"
import * as pty from "node-pty"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export class PtyTimeout
  extends Data.TaggedError("PtyTimeout")<{ readonly waitingFor: string; readonly output: string }>
{
  override get message() {
    return `timed out waiting for ${this.waitingFor}; output so far:\n${this.output.slice(-3000)}`
  }
}

export interface PtyProcess {
  readonly pid: number
  /** Everything the terminal showed so far. */
  readonly output: () => string
  /** Output position now, to wait only for what comes after it. */
  readonly mark: () => number
  readonly write: (data: string | Buffer) => void
  readonly resize: (cols: number, rows: number) => void
  /** Resolves with the first match of `re` in the output after `from`. */
  readonly waitFor: (re: RegExp, from?: number, timeoutMs?: number) => Effect.Effect<RegExpExecArray, PtyTimeout>
  readonly exit: Effect.Effect<{ exitCode: number; signal: number }>
}

export const spawnPty = (
  file: string,
  args: ReadonlyArray<string>,
  opts: { env?: Record<string, string>; cols?: number; rows?: number } = {}
): Effect.Effect<PtyProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    const p = yield* Effect.acquireRelease(
      Effect.sync(() =>
        pty.spawn(file, [...args], {
          name: "xterm",
          cols: opts.cols ?? 80,
          rows: opts.rows ?? 24,
          cwd: REPO,
          env: opts.env ?? (process.env as Record<string, string>)
        })
      ),
      (p) =>
        Effect.sync(() => {
          try {
            p.kill("SIGKILL")
          } catch {
            // gone already
          }
        })
    )
    let out = ""
    let ended: { exitCode: number; signal: number } | undefined
    const waiters = new Set<() => void>()
    p.onData((d) => {
      out += d
      for (const w of waiters) w()
    })
    p.onExit((e) => {
      ended = { exitCode: e.exitCode, signal: e.signal ?? 0 }
      for (const w of waiters) w()
    })
    const waitFor = (re: RegExp, from = 0, timeoutMs = 20_000) =>
      Effect.async<RegExpExecArray, PtyTimeout>((resume) => {
        const check = () => {
          const m = re.exec(out.slice(from))
          if (m) {
            done()
            resume(Effect.succeed(m))
          }
        }
        const timer = setTimeout(() => {
          done()
          resume(Effect.fail(new PtyTimeout({ waitingFor: String(re), output: out })))
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
        return Effect.sync(done)
      })
    const exit = Effect.async<{ exitCode: number; signal: number }>((resume) => {
      const check = () => {
        if (ended) {
          waiters.delete(check)
          resume(Effect.succeed(ended))
        }
      }
      waiters.add(check)
      check()
      return Effect.sync(() => waiters.delete(check))
    })
    return {
      pid: p.pid,
      output: () => out,
      mark: () => out.length,
      write: (d) => p.write(d),
      resize: (cols, rows) => p.resize(cols, rows),
      waitFor,
      exit
    }
  })

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const REPO = path.resolve(HERE, "../..")
const CLIENT = path.join(HERE, "client.ts")

/**
 * The client in a PTY, wrapped by a shell that prints the terminal settings (`stty -g`) before and
 * after it, and its exit status: what a person's terminal looks like around a tank session.
 */
export const clientInPty = (
  dataDir: string,
  clientArgs: ReadonlyArray<string>,
  size: { cols: number; rows: number } = { cols: 100, rows: 30 }
) =>
  spawnPty("/bin/sh", [
    "-c",
    `echo "@@BEFORE $(stty -g)@@"; ${process.execPath} --import tsx "${CLIENT}" "$@"; ` +
    `echo "@@RC $?@@"; echo "@@AFTER $(stty -g)@@"; sleep 0.3`,
    "sh",
    ...clientArgs
  ], {
    ...size,
    env: { ...(process.env as Record<string, string>), TANK_DATA_DIR: dataDir, TERM: "xterm" }
  })

/** The client's framed result, once it printed it. */
export const resultOf = (p: PtyProcess, from = 0) =>
  p.waitFor(/@@RESULT (.*?)@@/, from, 30_000).pipe(Effect.map((m) => JSON.parse(m[1]!) as unknown))

/** Terminal settings before and after the client (they must be equal). */
export const sttyAround = (p: PtyProcess) =>
  Effect.gen(function*() {
    const before = (yield* p.waitFor(/@@BEFORE (\S+)@@/))[1]!
    const after = (yield* p.waitFor(/@@AFTER (\S+)@@/, 0, 30_000))[1]!
    return { before, after }
  })
