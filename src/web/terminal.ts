/**
 * The browser terminal: a WebSocket bridged to `exec` (a new process on a PTY, like
 * `tank exec -it`) or `attach` (the `tty: true` main process, like `tank attach`), through the same
 * functions the CLI uses, with Node streams in place of the caller's terminal.
 *
 * Frames: binary = terminal bytes, both ways. Text = JSON control messages:
 *   client → server  {"type":"resize","cols":C,"rows":R}   {"type":"ack","bytes":N} (flow.ts)
 *   server → client  {"type":"ready"}  {"type":"exit","code":N}|{"type":"exit","signal":N}
 *                    {"type":"detached"}  {"type":"error","message":"..."}
 * The session ends when the command ends, on detach (Ctrl-P Ctrl-Q, attach only: it is then
 * plain input to an exec, as with kubectl), or when the socket closes: an exec is hung up
 * (SIGHUP to its session), an attach just lets go (the container keeps running).
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import { Effect, Either, Runtime, Schema } from "effect"
import { PassThrough, Writable } from "node:stream"
import type { TankConfig } from "../config/Config.js"
import { attach } from "../exec/Attach.js"
import { execInteractive } from "../exec/Exec.js"
import type { WindowSize } from "../exec/terminal.js"
import { makeFlow } from "./flow.js"

const Dimension = Schema.Number.pipe(Schema.int(), Schema.between(1, 1000))

export const ControlMessage = Schema.Union(
  Schema.Struct({ type: Schema.Literal("resize"), cols: Dimension, rows: Dimension }),
  Schema.Struct({ type: Schema.Literal("ack"), bytes: Schema.Number.pipe(Schema.int(), Schema.positive()) })
)
const decodeControl = Schema.decodeUnknownEither(Schema.parseJson(ControlMessage))

export interface TerminalRequest {
  readonly pod: string
  readonly mode: "exec" | "attach"
  readonly container: string | undefined
  /** exec only: the command (default `sh`). */
  readonly command: ReadonlyArray<string>
  readonly size: WindowSize
}

/** The query of `GET /api/pods/:name/terminal` (`mode`, `container`, `cmd` repeated, `cols`, `rows`). */
export const terminalRequest = (pod: string, params: URLSearchParams): TerminalRequest | string => {
  const mode = params.get("mode") ?? "exec"
  if (mode !== "exec" && mode !== "attach") return `mode: must be "exec" or "attach" (got ${JSON.stringify(mode)})`
  const dim = (k: "cols" | "rows", dflt: number) => {
    const v = params.get(k)
    if (v === null) return dflt
    const n = Number(v)
    return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : `${k}: must be a whole number from 1 to 1000 (got ${v})`
  }
  const cols = dim("cols", 80)
  const rows = dim("rows", 24)
  if (typeof cols === "string") return cols
  if (typeof rows === "string") return rows
  const command = params.getAll("cmd").filter((s) => s.length > 0)
  return {
    pod,
    mode,
    container: params.get("container") || undefined,
    command: command.length > 0 ? command : ["sh"],
    size: { rows, cols }
  }
}

type Outcome =
  | { readonly type: "exit"; readonly code: number }
  | { readonly type: "exit"; readonly signal: number }
  | { readonly type: "detached" }
  | { readonly type: "error"; readonly message: string }

export const terminalSession = (
  req: TerminalRequest
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | TankConfig> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const socket = yield* request.upgrade
    const send = yield* socket.writer
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const flow = makeFlow()
    let size = req.size
    const resizeListeners = new Set<(s: WindowSize) => void>()
    const input = new PassThrough()
    const output = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        runFork(send(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
        flow.sent(chunk.length, () => callback())
      }
    })
    const onFrame = (data: string | Uint8Array) => {
      if (typeof data !== "string") {
        input.write(data)
        return
      }
      const msg = decodeControl(data)
      if (Either.isLeft(msg)) return // an unknown control message is ignored, like an unknown escape
      if (msg.right.type === "ack") return flow.ack(msg.right.bytes)
      size = { rows: msg.right.rows, cols: msg.right.cols }
      for (const f of resizeListeners) f(size)
    }
    const io = {
      size: () => size,
      onResize: (f: (s: WindowSize) => void) => {
        resizeListeners.add(f)
        return () => void resizeListeners.delete(f)
      }
    }
    const running: Effect.Effect<Outcome, { readonly message: string }, TankConfig> = req.mode === "attach"
      ? attach(req.pod, { input, output, ...io, ...(req.container ? { container: req.container } : {}) }).pipe(
        Effect.map((r): Outcome =>
          r === "detached" ? { type: "detached" } : "exited" in r
            ? { type: "exit", code: r.exited }
            : { type: "exit", signal: r.signaled }
        )
      )
      : execInteractive(req.pod, req.command, {
        stdin: input,
        stdout: output,
        tty: true,
        ...io,
        ...(req.container ? { container: req.container } : {})
      }).pipe(
        Effect.map((r): Outcome =>
          "exited" in r ? { type: "exit", code: r.exited } : { type: "exit", signal: r.signaled }
        )
      )
    const session = running.pipe(Effect.catchAll((e) => Effect.succeed<Outcome>({ type: "error", message: e.message })))
    const finish = Effect.gen(function*() {
      yield* send(JSON.stringify({ type: "ready" }))
      const outcome = yield* session
      // What the command wrote last may still wait for the client's acks: it goes first.
      yield* Effect.async<void>((resume) => void output.end(() => resume(Effect.void))).pipe(
        Effect.timeout("5 seconds"),
        Effect.ignore
      )
      yield* send(JSON.stringify(outcome))
      yield* send(new Socket.CloseEvent(1000, outcome.type))
    })
    // The socket closing first (the page left) interrupts the session: exec hangs up, attach lets go.
    yield* Effect.raceFirst(finish, socket.runRaw(onFrame).pipe(Effect.ignore))
    return HttpServerResponse.empty()
  }).pipe(
    Effect.scoped,
    Effect.catchAll((e) => Effect.succeed(HttpServerResponse.text(`terminal: ${e.message}\n`, { status: 400 })))
  )
