/**
 * A client of one monitor's control socket (PROTOCOL.md §4): JSON lines, requests matched to
 * replies by id. Closing the scope closes the connection; the monitor and workload are unaffected.
 */
import { Effect, Either, Fiber, Option, Schema, Scope } from "effect"
import type * as net from "node:net"
import { type Attachment, openAttachment } from "./attach.js"
import {
  HelperProtocolError,
  type MonitorBusy,
  MonitorGone,
  MonitorRequestFailed,
  MonitorSetupFailed
} from "./errors.js"
import { greeting } from "./greeting.js"
import { lineSplitter } from "./lines.js"
import { ExitRecord, type Hello, type MonitorState, PROTOCOL_VERSION, Reply } from "./schema.js"
import { openSocket } from "./socket.js"

export type MonitorError = MonitorGone | HelperProtocolError | MonitorRequestFailed

type OkReply = Extract<Reply, { ok: true }>

export interface MonitorClient {
  readonly socketPath: string
  /** What the monitor said on connect. */
  readonly hello: typeof Hello.Type["hello"]
  readonly state: Effect.Effect<MonitorState, MonitorError>
  /** Release the parked workload (sync 3); succeeds once it has exec'd, fails with MonitorSetupFailed. */
  readonly proceed: Effect.Effect<void, MonitorError | MonitorSetupFailed>
  /** Kill the parked workload; its exit record says setup_failed / "aborted". */
  readonly abort: Effect.Effect<void, MonitorError>
  readonly signal: (signal: number) => Effect.Effect<void, MonitorError>
  /** Signal (SIGTERM by default), then SIGKILL after graceMs; resolves with the exit. */
  readonly stop: (graceMs: number, signal?: number) => Effect.Effect<ExitRecord, MonitorError>
  /**
   * Resolves when the workload has exited (at once if it already has). An exit the monitor already
   * pushed on this connection (its `exited` event) is answered here without a round trip; so is
   * `stop` after it (a stop after the exit only returns the exit).
   */
  readonly wait: Effect.Effect<ExitRecord, MonitorError>
  readonly resize: (rows: number, cols: number) => Effect.Effect<void, MonitorError>
  /** Let the monitor exit (only after the workload exited). */
  readonly release: Effect.Effect<void, MonitorError>
  /** A separate connection switched to the attach byte stream; detach by closing its scope. */
  readonly attach: Effect.Effect<Attachment, MonitorError | MonitorBusy, Scope.Scope>
}

interface Pending {
  readonly op: string
  readonly resume: (r: Either.Either<OkReply, MonitorError>) => void
}

class Connection {
  private readonly lines = lineSplitter()
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private closedReason: string | undefined
  private onHello: ((line: string) => void) | undefined
  /** The exit the monitor pushed (its `exited` event), once it has. */
  exited: ExitRecord | undefined

  constructor(readonly socketPath: string, readonly socket: net.Socket) {
    socket.setEncoding("utf8")
    socket.on("data", (d: string) => this.data(d))
    socket.on("error", (e) => this.close(String(e.message)))
    socket.on("close", () => this.close("connection closed"))
  }

  helloLine(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.closedReason) return reject(new Error(this.closedReason))
      this.onHello = resolve
      this.socket.once("close", () => reject(new Error(this.closedReason ?? "closed")))
    })
  }

  private data(d: string) {
    for (const line of this.lines(d)) {
      if (this.onHello) {
        const h = this.onHello
        this.onHello = undefined
        h(line)
        continue
      }
      this.reply(line)
    }
  }

  private reply(line: string) {
    let decoded: Either.Either<Reply, unknown>
    try {
      const json: unknown = JSON.parse(line)
      // Unsolicited events: "exited" carries the same exit record as a `wait` reply, kept so a
      // later `wait` or `stop` needs no round trip; anything else is informational.
      if (typeof json === "object" && json !== null && "event" in json) {
        if ((json as { event: unknown }).event === "exited" && this.exited === undefined) {
          this.exited = Option.getOrUndefined(Schema.decodeUnknownOption(ExitRecord)((json as { exit?: unknown }).exit))
        }
        return
      }
      decoded = Schema.decodeUnknownEither(Reply)(json)
    } catch (e) {
      decoded = Either.left(e)
    }
    if (Either.isLeft(decoded)) {
      const err = new HelperProtocolError({ expected: "a reply line", received: line })
      for (const p of this.pending.values()) p.resume(Either.left(err))
      this.pending.clear()
      return
    }
    const r = decoded.right
    const p = this.pending.get(r.id)
    if (!p) return
    this.pending.delete(r.id)
    if (r.ok) return p.resume(Either.right(r))
    if (r.error.code === "setup_failed" && r.error.setupError) {
      // Carried through as a request failure; `proceed` turns it into MonitorSetupFailed.
      return p.resume(Either.left(
        new MonitorRequestFailed({ op: p.op, code: "setup_failed", message: JSON.stringify(r.error.setupError) })
      ))
    }
    p.resume(Either.left(new MonitorRequestFailed({ op: p.op, code: r.error.code, message: r.error.message })))
  }

  close(reason: string) {
    if (this.closedReason) return
    this.closedReason = reason
    // Built only for requests still waiting: a clean close (the usual case) pays for no error and its stack.
    if (this.pending.size > 0) {
      const err = new MonitorGone({ socketPath: this.socketPath, reason })
      for (const p of this.pending.values()) p.resume(Either.left(err))
      this.pending.clear()
    }
    this.socket.destroy()
  }

  request(op: string, fields: Record<string, unknown> = {}): Effect.Effect<OkReply, MonitorError> {
    return Effect.async<OkReply, MonitorError>((resume) => {
      if (this.closedReason) {
        return resume(Effect.fail(new MonitorGone({ socketPath: this.socketPath, reason: this.closedReason })))
      }
      const id = this.nextId++
      this.pending.set(id, {
        op,
        resume: (r) => resume(Either.isRight(r) ? Effect.succeed(r.right) : Effect.fail(r.left))
      })
      this.socket.write(JSON.stringify({ ...fields, id, op }) + "\n")
      return Effect.sync(() => this.pending.delete(id))
    })
  }
}

const exitOf = (op: string) => (r: OkReply): Effect.Effect<ExitRecord, HelperProtocolError> =>
  r.exit
    ? Effect.succeed(r.exit)
    : Effect.fail(new HelperProtocolError({ expected: `${op} reply with exit`, received: JSON.stringify(r) }))

/**
 * `wait` and `stop` answered from the exit the monitor already pushed on this connection (a round
 * trip less in the teardown); the request only while the workload still runs. Looked up when run,
 * not when built: the push may arrive in between.
 */
const orPushedExit = (
  conn: Connection,
  op: "wait" | "stop",
  params?: Record<string, unknown>
): Effect.Effect<ExitRecord, MonitorError | HelperProtocolError> =>
  Effect.suspend(() =>
    conn.exited !== undefined
      ? Effect.succeed(conn.exited)
      : conn.request(op, params).pipe(Effect.flatMap(exitOf(op)))
  )

const proceedOf = (conn: Connection) =>
  conn.request("proceed").pipe(
    Effect.asVoid,
    Effect.catchIf(
      (e): e is MonitorRequestFailed => e._tag === "MonitorRequestFailed" && e.code === "setup_failed",
      (e) => Effect.fail(new MonitorSetupFailed(JSON.parse(e.message)))
    )
  )

/** The ops over an open connection (its hello accepted, or awaited by the caller before each op). */
const clientOf = (
  socketPath: string,
  conn: Connection,
  hello: typeof Hello.Type["hello"],
  proceed: MonitorClient["proceed"]
): MonitorClient => ({
  socketPath,
  hello,
  state: conn.request("state").pipe(
    Effect.flatMap((r) =>
      r.state
        ? Effect.succeed(r.state)
        : Effect.fail(new HelperProtocolError({ expected: "state reply", received: JSON.stringify(r) }))
    )
  ),
  proceed,
  abort: Effect.asVoid(conn.request("abort")),
  signal: (signal) => Effect.asVoid(conn.request("signal", { signal })),
  stop: (graceMs, signal) => orPushedExit(conn, "stop", signal === undefined ? { graceMs } : { graceMs, signal }),
  wait: orPushedExit(conn, "wait"),
  resize: (rows, cols) => Effect.asVoid(conn.request("resize", { rows, cols })),
  release: Effect.asVoid(conn.request("release")),
  attach: openAttachment(socketPath)
})

/**
 * Connect to a fresh monitor, one just started by this agent, without waiting for its hello: the
 * agent goes on (its record writes) while the monitor accepts, and `proceed` is written at once,
 * its reply trusted only once the hello was read and accepted — a round trip (an event-loop turn
 * for the hello) less on every start. What stays as with `connect`:
 * - a monitor of another protocol version gets no `proceed`: `ready` is its ready line, checked
 *   here before anything is sent (the ready line and the hello come from the same process);
 * - the hello is still checked (version, and the pids of the ready line: another process at the
 *   socket path is refused), and a monitor that dies before it is MonitorGone;
 * - a busy monitor (it read nothing of this connection: it closes it after the busy line, so an
 *   early `proceed` was never seen) is retried by `onBusy`, a full `connect` with its retries, over
 *   which every op then goes.
 * Every op but `proceed` waits for the hello as `connect` does.
 */
export const connectEarly = (
  socketPath: string,
  ready: typeof Hello.Type["hello"],
  onBusy: Effect.Effect<MonitorClient, MonitorGone | MonitorBusy | HelperProtocolError, Scope.Scope>
): Effect.Effect<MonitorClient, MonitorGone | MonitorBusy | HelperProtocolError, Scope.Scope> =>
  Effect.gen(function*() {
    if (ready.protocol !== PROTOCOL_VERSION) {
      return yield* Effect.fail(
        new HelperProtocolError({
          expected: `ready line with protocol ${PROTOCOL_VERSION}`,
          received: JSON.stringify(ready)
        })
      )
    }
    const scope = yield* Effect.scope
    const opened = yield* Effect.acquireRelease(
      openSocket(socketPath).pipe(Effect.map((s) => new Connection(socketPath, s)), Effect.either),
      (c) => Effect.sync(() => Either.isRight(c) && c.right.close("client closed"))
    )
    // A full connect queue (EAGAIN) is busy too: nothing was sent, the retry does it all.
    if (Either.isLeft(opened)) {
      return yield* opened.left._tag === "MonitorBusy" ? onBusy : Effect.fail(opened.left)
    }
    const conn = opened.right
    // Read from now on (no line missed); awaited only by the ops.
    const helloLine = conn.helloLine()
    helloLine.catch(() => undefined)
    /**
     * Right(undefined): this connection's hello accepted; Right(client): busy, the client of a retry.
     * Checked once, in a fiber of the connection's own: an op interrupted while it waits (a bring-up
     * interrupted during `proceed`) must not make the verdict an interruption for every later op —
     * `Effect.cached` kept it so, and the undo's `stop` then "failed" with the interruption and
     * was cut short, leaving the run and its workload behind.
     */
    const verdict = yield* Effect.forkIn(
      Effect.tryPromise({
        try: () => helloLine,
        catch: (e) => new MonitorGone({ socketPath, reason: (e as Error).message })
      }).pipe(
        Effect.flatMap((line) => greeting(socketPath, line)),
        Effect.filterOrFail(
          (h) => h.protocol === ready.protocol && h.pid === ready.pid && h.monitorPid === ready.monitorPid,
          (h) =>
            new HelperProtocolError({
              expected: `hello of monitor ${ready.monitorPid} serving pid ${ready.pid}`,
              received: JSON.stringify({ hello: h })
            })
        ),
        Effect.as(undefined),
        Effect.catchTag("MonitorBusy", () => Scope.extend(onBusy, scope)),
        // A monitor still busy after the retries is alive: the op fails as a `busy` request.
        Effect.catchTag(
          "MonitorBusy",
          (e) => Effect.fail(new MonitorRequestFailed({ op: "connect", code: "busy", message: e.message }))
        )
      ),
      scope
    )
    const checked = Fiber.join(verdict)
    const viaRetry = <A, E>(
      here: Effect.Effect<A, E>,
      there: (c: MonitorClient) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | MonitorError> =>
      Effect.flatMap(checked, (retry) => retry === undefined ? here : there(retry))
    const plain = clientOf(socketPath, conn, ready, Effect.void)
    const client: MonitorClient = {
      socketPath,
      hello: ready,
      state: viaRetry(plain.state, (c) => c.state),
      // Written now; its reply waits for the hello's verdict. On a busy hello the monitor never
      // read it (the connection was closed unread): the retry's connection carries it.
      proceed: Effect.suspend(() => {
        const reply = proceedOf(conn)
        return Effect.zipWith(checked, Effect.either(reply), (retry, r) => ({ retry, r }), { concurrent: true }).pipe(
          Effect.flatMap(({ r, retry }) => retry === undefined ? r : retry.proceed)
        )
      }),
      abort: viaRetry(plain.abort, (c) => c.abort),
      signal: (signal) => viaRetry(plain.signal(signal), (c) => c.signal(signal)),
      stop: (graceMs, signal) => viaRetry(plain.stop(graceMs, signal), (c) => c.stop(graceMs, signal)),
      wait: viaRetry(plain.wait, (c) => c.wait),
      resize: (rows, cols) => viaRetry(plain.resize(rows, cols), (c) => c.resize(rows, cols)),
      release: viaRetry(plain.release, (c) => c.release),
      attach: openAttachment(socketPath)
    }
    return client
  })

/**
 * Connect to a monitor (also how a new agent re-adopts one). MonitorBusy when every connection slot
 * is taken: the monitor is alive, retry later (`retryBusy` in busy.ts).
 */
export const connect = (
  socketPath: string
): Effect.Effect<MonitorClient, MonitorGone | MonitorBusy | HelperProtocolError, Scope.Scope> =>
  Effect.gen(function*() {
    const conn = yield* Effect.acquireRelease(
      openSocket(socketPath).pipe(Effect.map((s) => new Connection(socketPath, s))),
      (c) => Effect.sync(() => c.close("client closed"))
    )
    const line = yield* Effect.tryPromise({
      try: () => conn.helloLine(),
      catch: (e) => new MonitorGone({ socketPath, reason: (e as Error).message })
    })
    const hello = yield* greeting(socketPath, line)
    const client = clientOf(socketPath, conn, hello, proceedOf(conn))
    return client
  })
