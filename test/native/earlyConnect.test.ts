/**
 * connectEarly (helper/client.ts) against a fake monitor on a unix socket: `proceed` goes out
 * before the hello is read, and its reply is trusted only once the hello was accepted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import { connect, connectEarly } from "../../src/runtime/helper/client.js"
import { MonitorGone } from "../../src/runtime/helper/errors.js"
import { tmpDir } from "../support/tmp.js"

const ready = { protocol: 1, monitorPid: 100, pid: 101 }
const hello = (h: object = ready) => JSON.stringify({ hello: h }) + "\n"

/** A fake monitor: `onConn` gets each connection and the lines it receives, in order. */
const fakeMonitor = (onConn: (c: net.Socket, lines: AsyncIterable<string>) => void) =>
  Effect.gen(function*() {
    const dir = yield* tmpDir("tank-early-")
    const sock = path.join(dir, "m.sock")
    const received: Array<string> = []
    const server = net.createServer((c) => {
      c.setEncoding("utf8")
      const queue: Array<string> = []
      let wake: (() => void) | undefined
      let buf = ""
      c.on("data", (d: string) => {
        buf += d
        let i
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          received.push(line)
          queue.push(line)
          wake?.()
        }
      })
      c.on("error", () => undefined)
      onConn(c, {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            while (queue.length > 0) yield queue.shift()!
            await new Promise<void>((r) => (wake = r))
          }
        }
      })
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(sock, () => resume(Effect.void))),
      () => Effect.sync(() => void server.close())
    )
    return { sock, received }
  })

/** The request's id, to reply to it. */
const idOf = (line: string) => (JSON.parse(line) as { id: number }).id

describe("connectEarly", () => {
  it.scopedLive("ConnectEarly_proceed_writtenBeforeTheHello_replyAfterIt", () =>
    Effect.gen(function*() {
      // This monitor says hello only once it has read `proceed`: a client that waits for the hello
      // first (connect) never gets there.
      const m = yield* fakeMonitor(async (c, lines) => {
        for await (const line of lines) {
          if (JSON.parse(line).op === "proceed") {
            c.write(hello())
            c.write(JSON.stringify({ id: idOf(line), ok: true, status: "running" }) + "\n")
            return
          }
        }
      })
      const client = yield* connectEarly(m.sock, ready, Effect.die("not busy"))
      yield* client.proceed
      expect(m.received.map((l) => JSON.parse(l).op)).toEqual(["proceed"])
      // The old way waits for a hello that never comes.
      const old = yield* connect(m.sock).pipe(Effect.timeout("200 millis"), Effect.flip)
      expect(old._tag).toBe("TimeoutException")
    }))

  it.scopedLive("ConnectEarly_readyOfAnotherProtocol_refusedBeforeAnythingIsSent", () =>
    Effect.gen(function*() {
      let conns = 0
      const m = yield* fakeMonitor(() => void conns++)
      const e = yield* Effect.flip(connectEarly(m.sock, { ...ready, protocol: 2 }, Effect.die("not busy")))
      expect(e).toMatchObject({ _tag: "HelperProtocolError" })
      expect(conns).toBe(0)
    }))

  it.scopedLive("ConnectEarly_helloOfAnotherMonitor_failsProceedThoughItsReplySaysRunning", () =>
    Effect.gen(function*() {
      const m = yield* fakeMonitor(async (c, lines) => {
        c.write(hello({ ...ready, pid: 999 }))
        for await (const line of lines) c.write(JSON.stringify({ id: idOf(line), ok: true, status: "running" }) + "\n")
      })
      const client = yield* connectEarly(m.sock, ready, Effect.die("not busy"))
      const e = yield* Effect.flip(client.proceed)
      expect(e).toMatchObject({ _tag: "HelperProtocolError" })
      expect((e as { received: string }).received).toContain("999")
    }))

  it.scopedLive("ConnectEarly_helloOfAnotherVersion_failsProceed", () =>
    Effect.gen(function*() {
      const m = yield* fakeMonitor(async (c, lines) => {
        c.write(hello({ ...ready, protocol: 2 }))
        for await (const line of lines) c.write(JSON.stringify({ id: idOf(line), ok: true, status: "running" }) + "\n")
      })
      const client = yield* connectEarly(m.sock, ready, Effect.die("not busy"))
      expect(yield* Effect.flip(client.proceed)).toMatchObject({ _tag: "HelperProtocolError" })
      expect(yield* Effect.flip(client.state)).toMatchObject({ _tag: "HelperProtocolError" })
    }))

  it.scopedLive("ConnectEarly_monitorDiesBeforeItsHello_monitorGone", () =>
    Effect.gen(function*() {
      const m = yield* fakeMonitor((c) => void c.destroy())
      const client = yield* connectEarly(m.sock, ready, Effect.die("not busy"))
      expect(yield* Effect.flip(client.proceed)).toBeInstanceOf(MonitorGone)
    }))

  it.scopedLive("ConnectEarly_busy_proceedAndEveryOpGoOverTheRetry", () =>
    Effect.gen(function*() {
      let n = 0
      const m = yield* fakeMonitor(async (c, lines) => {
        if (n++ === 0) {
          // As the monitor does: the busy line instead of the hello, the connection closed unread.
          c.end(JSON.stringify({ id: 0, ok: false, error: { code: "busy", message: "all taken", slots: 40 } }) + "\n")
          return
        }
        c.write(hello())
        for await (const line of lines) {
          const op = JSON.parse(line).op
          c.write(
            JSON.stringify(
              op === "proceed"
                ? { id: idOf(line), ok: true, status: "running" }
                : {
                  id: idOf(line),
                  ok: true,
                  state: { status: "running", pid: 101, monitorPid: 100, startTime: 1, tty: false, attached: false }
                }
            ) + "\n"
          )
        }
      })
      const client = yield* connectEarly(m.sock, ready, connect(m.sock))
      yield* client.proceed
      expect((yield* client.state).status).toBe("running")
      // Only the retry's connection carried requests the monitor answered.
      expect(n).toBe(2)
    }))
  it.scopedLive("ConnectEarly_proceedInterruptedBeforeTheHello_laterOpsStillWork", () =>
    Effect.gen(function*() {
      // The hello comes only when the test says so; every request is answered after it.
      let sayHello: () => void = () => undefined
      const helloSent = new Promise<void>((r) => (sayHello = r))
      const m = yield* fakeMonitor(async (c, lines) => {
        await helloSent
        c.write(hello())
        for await (const line of lines) {
          const op = JSON.parse(line).op
          c.write(
            JSON.stringify(
              op === "proceed" ? { id: idOf(line), ok: true, status: "running" } : {
                id: idOf(line),
                ok: true,
                state: { status: "running", pid: 101, monitorPid: 100, startTime: 1, tty: false, attached: false }
              }
            ) + "\n"
          )
        }
      })
      const client = yield* connectEarly(m.sock, ready, Effect.die("not busy"))
      // A bring-up interrupted while its proceed waits for the hello (Effect.cached kept the
      // verdict as that interruption: the undo's stop then "failed" at once and was cut short).
      const proceeding = yield* Effect.fork(client.proceed)
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(proceeding)
      sayHello()
      const state = yield* client.state.pipe(Effect.timeout("5 seconds"))
      expect(state.status).toBe("running")
    }))
})
