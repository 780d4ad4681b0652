/**
 * attach: take over the terminal of a `tty: true` container's main process, through its monitor's
 * socket (PROTOCOL.md §6) — no agent round trip, so it works from the CLI, the REPL or any script.
 *
 * The caller's terminal goes raw for the session (restored in every path), the window size is sent
 * on attach and follows SIGWINCH. Ctrl-P Ctrl-Q (or `detachKeys`) detaches on this side: the monitor
 * just sees the connection close; the workload keeps running and can be re-attached, same process,
 * same shell state. When the main process ends during the session, attach returns how it ended; the
 * agent's Runtime sees the same exit through its own monitor connection and the reconciler applies
 * the restart policy. The monitor serves one attacher at a time: a second gets AlreadyAttached.
 */
import { Deferred, Effect, Option, Stream } from "effect"
import type { TankConfig } from "../config/Config.js"
import type { Attachment } from "../runtime/helper/attach.js"
import { openAttachment } from "../runtime/helper/attach.js"
import type { ExitRecord } from "../runtime/helper/schema.js"
import { DEFAULT_DETACH_KEYS, detachKeys, parseDetachKeys } from "./detachKeys.js"
import { AlreadyAttached, type ContainerNotFound, NotATty, NotRunning, type PodMonitorBusy } from "./errors.js"
import { findTarget, whileBusy } from "./target.js"
import { pumpInput, rawMode, takeInput, type TerminalIO, watchResize, windowSize, writeAndDrain } from "./terminal.js"

export type AttachResult = { readonly exited: number } | { readonly signaled: number } | "detached"

export interface AttachOptions {
  /** Default: the pod's first container. */
  readonly container?: string
  /** Keystrokes (default process.stdin) and the terminal output goes to (default process.stdout). */
  readonly input?: NodeJS.ReadableStream
  readonly output?: NodeJS.WritableStream
  /** Docker notation ("ctrl-p,ctrl-q", the default) or the bytes; "" / [] disables detaching. */
  readonly detachKeys?: string | ReadonlyArray<number>
  /** The window size and its changes (default: the output's, following SIGWINCH). */
  readonly size?: TerminalIO["size"]
  readonly onResize?: TerminalIO["onResize"]
}

export type AttachError = NotRunning | ContainerNotFound | NotATty | AlreadyAttached | PodMonitorBusy

const keysOf = (k: AttachOptions["detachKeys"]): ReadonlyArray<number> => {
  if (k === undefined) return DEFAULT_DETACH_KEYS
  if (typeof k !== "string") return k
  if (k === "") return []
  const parsed = parseDetachKeys(k)
  // A bad key spec is a programming error of the caller (the CLI validates user input first).
  if (typeof parsed === "string") throw new Error(parsed)
  return parsed
}

const resultOf = (pod: string, container: string, exit: Option.Option<ExitRecord>) => {
  if (Option.isNone(exit)) {
    return Effect.fail(new NotRunning({ pod, container, reason: "the connection to its monitor was lost" }))
  }
  const r = exit.value
  return r.reason === "exited"
    ? Effect.succeed<AttachResult>({ exited: r.exitCode })
    : r.reason === "signaled"
    ? Effect.succeed<AttachResult>({ signaled: r.signal })
    : Effect.fail(new NotRunning({ pod, container, reason: `setup failed: ${r.setupError.message}` }))
}

export const attach = (
  pod: string,
  options: AttachOptions = {}
): Effect.Effect<AttachResult, AttachError, TankConfig> =>
  Effect.gen(function*() {
    const keys = keysOf(options.detachKeys)
    const target = yield* findTarget(pod, { container: options.container, askMonitor: false })
    const c = target.container
    if (!c.tty) return yield* new NotATty({ pod, container: c.name })
    const io: TerminalIO = {
      input: options.input ?? process.stdin,
      output: options.output ?? process.stdout,
      ...(options.size ? { size: options.size } : {}),
      ...(options.onResize ? { onResize: options.onResize } : {})
    }
    return yield* Effect.scoped(Effect.gen(function*() {
      const a: Attachment = yield* openAttachment(c.socketPath).pipe(
        whileBusy(pod, c.name),
        Effect.catchTags({
          MonitorGone: () => Effect.fail(new NotRunning({ pod, container: c.name, reason: "its monitor is gone" })),
          HelperProtocolError: (e) => Effect.fail(new NotRunning({ pod, container: c.name, reason: e.message })),
          MonitorRequestFailed: (e) =>
            Effect.fail(
              e.code === "already_attached"
                ? new AlreadyAttached({ pod, container: c.name })
                : new NotRunning({
                  pod,
                  container: c.name,
                  reason: e.code === "exited" ? "its workload exited" : e.message
                })
            )
        })
      )
      yield* takeInput(io.input)
      yield* rawMode(io.input)
      const size = windowSize(io)
      if (size) yield* a.resize(size.rows, size.cols)
      const unwatch = watchResize(io, (s) => Effect.runSync(a.resize(s.rows, s.cols)))
      yield* Effect.addFinalizer(() => Effect.sync(unwatch))

      // Output first (in order, waiting for a slow terminal), then the workload's end.
      const outputDone = yield* Effect.forkScoped(
        Stream.runForEach(a.output, (o) => writeAndDrain(io.output, o.data))
      )
      const done = yield* Deferred.make<AttachResult, NotRunning>()
      const scanner = detachKeys(keys)
      // Writing to the attach socket is synchronous (the socket buffers): keystrokes stay in order.
      const send = (bytes: Uint8Array) => {
        if (bytes.length > 0) Effect.runSync(a.write(bytes))
      }
      yield* Effect.forkScoped(
        pumpInput(io.input, (chunk) => {
          const step = scanner.push(chunk)
          send(step.forward)
          if (step.detached) {
            Deferred.unsafeDone(done, Effect.succeed("detached"))
            return "stop"
          }
          return "continue"
        }).pipe(
          // The caller's input ended (e.g. stdin at EOF): send what was held, keep watching output.
          Effect.tap((why) => why === "ended" ? Effect.sync(() => send(scanner.flush())) : Effect.void)
        )
      )
      yield* Effect.forkScoped(
        a.exit.pipe(
          Effect.flatMap((exit) =>
            Effect.zipRight(
              outputDone.await,
              Effect.flatMap(Effect.exit(resultOf(pod, c.name, exit)), (r) => Deferred.done(done, r))
            )
          )
        )
      )
      return yield* Deferred.await(done)
    }))
  })
