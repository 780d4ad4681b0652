/**
 * The attach byte stream (PROTOCOL.md §6) on its own connection: after the attach reply every byte
 * is a frame. Output is a Stream that ends with the workload (or the connection); input is bytes and
 * resizes. Detaching is closing the scope; the Ctrl-P Ctrl-Q key is the caller's business.
 */
import { Deferred, Effect, Either, Option, Queue, Schema, Stream } from "effect"
import type { Scope } from "effect"
import type * as net from "node:net"
import { HelperProtocolError, type MonitorBusy, MonitorGone, MonitorRequestFailed } from "./errors.js"
import { encodeFrame, encodeResize, encodeStdin, FrameDecoder, FrameIn, FrameOut } from "./frames.js"
import { greeting } from "./greeting.js"
import { ExitRecord, Reply } from "./schema.js"
import { openSocket } from "./socket.js"

export interface AttachOutput {
  readonly stream: "stdout" | "stderr" | "tty"
  readonly data: Uint8Array
}

export interface Attachment {
  readonly tty: boolean
  /** Workload output from the moment of attach; ends when the workload exits or the link drops. */
  readonly output: Stream.Stream<AttachOutput>
  readonly write: (bytes: Uint8Array | string) => Effect.Effect<void>
  readonly resize: (rows: number, cols: number) => Effect.Effect<void>
  /** Close the workload's stdin pipe (non-tty with openStdin). */
  readonly closeStdin: Effect.Effect<void>
  /** Some(exit) once the workload exited while attached, None if the connection ended first. */
  readonly exit: Effect.Effect<Option.Option<ExitRecord>>
}

const streamName = (t: number): AttachOutput["stream"] | undefined =>
  t === FrameOut.stdout ? "stdout" : t === FrameOut.stderr ? "stderr" : t === FrameOut.tty ? "tty" : undefined

type HandshakeError = MonitorGone | MonitorBusy | HelperProtocolError | MonitorRequestFailed

/** Reads the two JSON lines (hello, attach reply), then hands every further byte to frames. */
const handshake = (socketPath: string, socket: net.Socket) =>
  Effect.async<{ tty: boolean; rest: Buffer }, HandshakeError>((resume) => {
    let buf = Buffer.alloc(0)
    const lines: Array<string> = []
    const fail = (e: HandshakeError) => {
      cleanup()
      resume(Effect.fail(e))
    }
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      let nl: number
      while (lines.length < 2 && (nl = buf.indexOf(10)) >= 0) {
        lines.push(buf.subarray(0, nl).toString("utf8"))
        buf = buf.subarray(nl + 1)
        if (lines.length === 1) {
          const hello = greeting(socketPath, lines[0]!)
          if (Either.isLeft(hello)) return fail(hello.left)
          socket.write(JSON.stringify({ id: 1, op: "attach" }) + "\n")
        }
      }
      if (lines.length < 2) return
      const reply = safeParse(lines[1]!)
      if (!Schema.is(Reply)(reply)) {
        return fail(new HelperProtocolError({ expected: "attach reply", received: lines[1]! }))
      }
      if (!reply.ok) return fail(new MonitorRequestFailed({ op: "attach", ...reply.error }))
      // Hold further data until the frame reader is listening: data emitted with no listener is lost.
      socket.pause()
      cleanup()
      resume(Effect.succeed({ tty: reply.tty === true, rest: buf }))
    }
    const onClose = () => fail(new MonitorGone({ socketPath, reason: "closed during attach" }))
    const cleanup = () => {
      socket.off("data", onData)
      socket.off("close", onClose)
    }
    socket.on("data", onData)
    socket.on("close", onClose)
  })

/**
 * Detach: half-close and wait (briefly) until the monitor has closed its side, so that once the
 * scope is closed the monitor no longer counts us as the attacher and a new attach succeeds.
 */
const detach = (socket: net.Socket) =>
  Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.void)
    }
    const timer = setTimeout(done, 1000)
    socket.once("close", done)
    socket.resume() // drain whatever is still in flight so 'close' can come
    socket.end()
  })

const safeParse = (s: string): unknown => {
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}

export const openAttachment = (
  socketPath: string
): Effect.Effect<Attachment, HandshakeError, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(openSocket(socketPath), detach)
    const { rest, tty } = yield* handshake(socketPath, socket)
    const queue = yield* Queue.unbounded<AttachOutput | null>()
    const exit = yield* Deferred.make<Option.Option<ExitRecord>>()
    const decoder = new FrameDecoder()
    const end = (e: Option.Option<ExitRecord>) => {
      Deferred.unsafeDone(exit, Effect.succeed(e))
      Queue.unsafeOffer(queue, null)
    }
    const onData = (d: Buffer) => {
      for (const f of decoder.push(d)) {
        const name = streamName(f.type)
        if (name) Queue.unsafeOffer(queue, { stream: name, data: f.payload })
        else if (f.type === FrameOut.exit) {
          const rec = Schema.decodeUnknownOption(ExitRecord)(safeParse(Buffer.from(f.payload).toString("utf8")))
          end(rec)
        }
      }
    }
    socket.on("data", onData)
    socket.on("close", () => end(Option.none()))
    if (rest.length > 0) onData(rest)
    socket.resume()
    const send = (b: Uint8Array) => Effect.sync(() => void (socket.writable && socket.write(b)))
    return {
      tty,
      output: Stream.fromQueue(queue).pipe(
        Stream.takeWhile((x): x is AttachOutput => x !== null),
        Stream.map((x) => x as AttachOutput)
      ),
      write: (bytes) =>
        Effect.forEach(encodeStdin(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes), send, {
          discard: true
        }),
      resize: (rows, cols) => send(encodeResize(rows, cols)),
      closeStdin: send(encodeFrame(FrameIn.stdinEof)),
      exit: Deferred.await(exit)
    }
  })
