/**
 * e2e (root): the monitor's connection slots and socket ownership (PROTOCOL.md §4), with real
 * unix-socket connections. A client holding every general slot gets the next client a `busy` reply
 * (read as MonitorBusy, never as "gone"), while the agent — named by `agentPidFile`, checked by
 * SO_PEERCRED — still gets in; a monitor only ever removes its own socket file; op names a client
 * sends are escaped in error replies.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { openAttachment } from "../../src/runtime/helper/attach.js"
import { connect } from "../../src/runtime/helper/client.js"
import { startRun } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

const GENERAL = 32
const RESERVED = 8

/** `n` real connections from this process, each with the first line the monitor sent; closed with the scope. */
const hold = (socketPath: string, n: number) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      Promise.all(Array.from({ length: n }, () =>
        new Promise<{ socket: net.Socket; first: string }>((resolve, reject) => {
          const socket = net.createConnection(socketPath)
          let buf = ""
          socket.setEncoding("utf8")
          socket.on("data", (d: string) => {
            buf += d
            const nl = buf.indexOf("\n")
            if (nl >= 0) resolve({ socket, first: buf.slice(0, nl) })
          })
          socket.once("error", reject)
        })))
    ),
    (held) =>
      Effect.sync(() => held.forEach((h) => h.socket.destroy()))
  )

/**
 * Another process playing the agent: it writes its pid to `pidFile` (as the agent lock does), opens
 * `n` connections and prints the first line of each, in order.
 */
const agentConnects = (socketPath: string, pidFile: string, n: number) =>
  Effect.promise(() =>
    new Promise<Array<string>>((resolve, reject) => {
      const script = `
        const fs = require("node:fs"), net = require("node:net")
        fs.writeFileSync(${JSON.stringify(pidFile)}, process.pid + "\\n")
        const firsts = []
        const one = (i) => {
          if (i === ${n}) { process.stdout.write(JSON.stringify(firsts), () => process.exit(0)); return }
          const s = net.createConnection(${JSON.stringify(socketPath)})
          let buf = ""
          s.setEncoding("utf8")
          s.on("data", (d) => {
            buf += d
            if (buf.includes("\\n") && firsts.length === i) { firsts.push(buf.split("\\n")[0]); one(i + 1) }
          })
        }
        one(0)`
      const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] })
      let out = ""
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
      child.on("close", () => {
        clearTimeout(timer)
        try {
          resolve(JSON.parse(out) as Array<string>)
        } catch (e) {
          reject(new Error(`agent child printed ${JSON.stringify(out)}: ${String(e)}`))
        }
      })
    })
  )

const isHello = (line: string) => "hello" in (JSON.parse(line) as object)

describe("Monitor connection slots", () => {
  it.scopedLive("Slots_generalFull_clientGetsBusy_agentGetsReservedSlots", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, (dir) => ({
        argv: ["sleep", "1000"],
        agentPidFile: path.join(dir, "agent.lock")
      }))
      yield* run.client.proceed
      // The harness's client holds one general slot; fill the others.
      const held = yield* hold(run.config.socketPath, GENERAL - 1)
      expect(held.every((h) => isHello(h.first))).toBe(true)

      // A 33rd client: refused with `busy`, naming the slots — MonitorBusy, not MonitorGone.
      const [extra] = yield* hold(run.config.socketPath, 1)
      expect(JSON.parse(extra!.first)).toEqual({
        id: 0,
        ok: false,
        error: { code: "busy", message: `all ${GENERAL} connection slots are taken`, slots: GENERAL }
      })
      expect(yield* Effect.flip(Effect.scoped(connect(run.config.socketPath)))).toMatchObject({
        _tag: "MonitorBusy",
        slots: GENERAL
      })
      expect(yield* Effect.flip(Effect.scoped(openAttachment(run.config.socketPath)))).toMatchObject({
        _tag: "MonitorBusy",
        slots: GENERAL
      })

      // The agent (pid in agentPidFile) still gets in: its reserved slots, then busy naming all of them.
      const agent = yield* agentConnects(run.config.socketPath, run.config.agentPidFile!, RESERVED + 1)
      expect(agent.slice(0, RESERVED).every(isHello)).toBe(true)
      expect(JSON.parse(agent[RESERVED]!)).toMatchObject({
        error: { code: "busy", slots: GENERAL + RESERVED }
      })

      // A client leaving frees its slot for the next one; the workload never noticed any of this.
      held[0]!.socket.destroy()
      yield* Effect.sleep("100 millis")
      expect(yield* Effect.scoped(Effect.flatMap(connect(run.config.socketPath), (c) => c.state))).toMatchObject({
        status: "running",
        pid: run.handle.pid
      })
    }))

  it.scopedLive("Slots_withoutAgentPidFile_noReservedSlots", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      yield* hold(run.config.socketPath, GENERAL - 1)
      const pidFile = path.join(run.dir, "not-configured.lock")
      const agent = yield* agentConnects(run.config.socketPath, pidFile, 1)
      expect(JSON.parse(agent[0]!)).toMatchObject({ error: { code: "busy", slots: GENERAL } })
    }))
})

describe("Monitor socket ownership", () => {
  it.scopedLive("Socket_oldMonitorExiting_leavesNewMonitorsSocket", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const old = yield* startRun(lower, { argv: ["sleep", "1000"], lingerMs: 200 })
      yield* old.client.proceed
      const socketPath = old.config.socketPath
      const oldIno = fs.statSync(socketPath).ino
      // Someone removes the old monitor's socket file (as an agent once did), and a new monitor for
      // the same container binds the path.
      fs.unlinkSync(socketPath)
      const fresh = yield* startRun(lower, { argv: ["sleep", "1000"], socketPath })
      yield* fresh.client.proceed
      expect(fs.statSync(socketPath).ino).not.toBe(oldIno)
      // The old workload ends; its monitor lingers 200 ms, then exits: it must not take the new socket.
      process.kill(old.handle.pid, "SIGKILL")
      yield* Effect.promise(async () => {
        for (let i = 0; i < 100 && fs.existsSync(`/proc/${old.handle.monitorPid}`); i++) {
          await new Promise((r) => setTimeout(r, 50))
        }
      })
      expect(fs.existsSync(`/proc/${old.handle.monitorPid}`)).toBe(false)
      expect(fs.existsSync(socketPath)).toBe(true)
      const state = yield* Effect.scoped(Effect.flatMap(connect(socketPath), (c) => c.state))
      expect(state).toMatchObject({ status: "running", pid: fresh.handle.pid })
    }))

  it.scopedLive("Socket_liveButFullMonitor_notDisplacedByASecond", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      yield* hold(run.config.socketPath, GENERAL - 1)
      const second = yield* Effect.flip(startRun(lower, { argv: ["true"], socketPath: run.config.socketPath }))
      expect(second).toMatchObject({ _tag: "MonitorSetupFailed", step: "socket", errno: 98 })
      expect(yield* run.client.state).toMatchObject({ status: "parked" })
    }))
})

describe("Monitor error replies", () => {
  it.scopedLive("UnknownOp_invalidUtf8AndControlBytes_escaped", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      const [conn] = yield* hold(run.config.socketPath, 1)
      const socket = conn!.socket
      // A raw 0xff (not UTF-8) and an escape sequence (ESC as \u001b, which JSON allows).
      const request = Buffer.concat([
        Buffer.from(`{"id":7,"op":"x`),
        Buffer.from([0xff]),
        Buffer.from(`\\u001b[31mred\\u0007"}\n`)
      ])
      const reply = yield* Effect.promise(() =>
        new Promise<Buffer>((resolve) => {
          socket.removeAllListeners("data")
          socket.setEncoding("binary" as BufferEncoding)
          let buf = ""
          socket.on("data", (d: string) => {
            buf += d
            if (buf.includes("\n")) resolve(Buffer.from(buf.slice(0, buf.indexOf("\n")), "binary"))
          })
          socket.write(request)
        })
      )
      // Valid UTF-8 JSON whose message shows the bytes escaped, with no control character left.
      const text = new TextDecoder("utf-8", { fatal: true }).decode(reply)
      const parsed = JSON.parse(text) as { id: number; error: { code: string; message: string } }
      expect(parsed.id).toBe(7)
      expect(parsed.error.code).toBe("unknown_op")
      expect(parsed.error.message).toBe("unknown op \"x\\xff\\x1b[31mred\\x07\"")
      // eslint-disable-next-line no-control-regex
      expect(parsed.error.message).not.toMatch(/[\x00-\x1f\x7f]/)
    }))
})
