import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import { helperPath } from "../../src/runtime/helper/binary.js"
import { connect } from "../../src/runtime/helper/client.js"
import { capabilitiesFor, DEFAULT_CAPABILITIES } from "../../src/runtime/helper/defaults.js"
import { detachScanner } from "../../src/runtime/helper/detach.js"
import { enterArgs } from "../../src/runtime/helper/enter.js"
import { encodeFrame, encodeResize, encodeStdin, FrameDecoder, MAX_FRAME } from "../../src/runtime/helper/frames.js"
import { tmpDir } from "../support/tmp.js"

describe("Frames", () => {
  it("Frames_decode_splitAcrossChunks", () => {
    const bytes = new Uint8Array([
      ...encodeFrame(3, new TextEncoder().encode("hello")),
      ...encodeFrame(4, new Uint8Array())
    ])
    const d = new FrameDecoder()
    const got = [...bytes].flatMap((b) => d.push(new Uint8Array([b])))
    expect(got.map((f) => [f.type, new TextDecoder().decode(f.payload)])).toEqual([[3, "hello"], [4, ""]])
    expect(d.pending).toBe(0)
  })

  it("Frames_resize_bigEndianRowsCols", () => {
    expect([...encodeResize(40, 300)]).toEqual([1, 0, 0, 0, 4, 0, 40, 1, 44])
  })

  it("Frames_stdin_splitAtMaxFrame", () => {
    const frames = encodeStdin(new Uint8Array(MAX_FRAME * 2 + 1))
    expect(frames.map((f) => f.length - 5)).toEqual([MAX_FRAME, MAX_FRAME, 1])
  })
})

describe("Enter args", () => {
  it("Enter_args_allOptionsBeforeSeparator", () => {
    expect(enterArgs({
      pid: 42,
      startTime: 7,
      argv: ["sh", "-c", "--env"],
      env: ["A=1"],
      cwd: "/srv",
      uid: 1000,
      gid: 100,
      groups: [1, 2],
      capabilities: [],
      cgroupProcs: ["/sys/fs/cgroup/pids/tank/p/cgroup.procs"]
    })).toEqual([
      "enter",
      "--pid",
      "42",
      "--start-time",
      "7",
      "--cgroup-procs",
      "/sys/fs/cgroup/pids/tank/p/cgroup.procs",
      "--cwd",
      "/srv",
      "--uid",
      "1000",
      "--gid",
      "100",
      "--groups",
      "1,2",
      "--caps",
      "",
      "--env",
      "A=1",
      "--",
      "sh",
      "-c",
      "--env"
    ])
  })
})

describe("Default capabilities", () => {
  it("Caps_nonRoot_hasNoEffective", () => {
    expect(capabilitiesFor(1000).effective).toEqual([])
    expect(capabilitiesFor(0).effective).toEqual(DEFAULT_CAPABILITIES)
    expect(capabilitiesFor(0).bounding).toHaveLength(14)
  })
})

describe("Detach keys", () => {
  const run = (chunks: Array<Array<number>>) => {
    const s = detachScanner()
    const fwd: Array<number> = []
    for (const c of chunks) {
      const r = s.push(Uint8Array.from(c))
      fwd.push(...r.forward)
      if (r.detached) return { fwd, detached: true }
    }
    return { fwd, detached: false }
  }

  it("Detach_ctrlPCtrlQ_acrossChunks", () => {
    expect(run([[0x61, 0x10], [0x11, 0x62]])).toEqual({ fwd: [0x61], detached: true })
  })

  it("Detach_prefixThenOther_forwardsBoth", () => {
    expect(run([[0x10], [0x61], [0x10, 0x10, 0x11]])).toEqual({ fwd: [0x10, 0x61, 0x10], detached: true })
    expect(run([[0x10, 0x03]])).toEqual({ fwd: [0x10, 0x03], detached: false })
  })
})

describe("Client errors", () => {
  it.effect("Client_helperNotBuilt_namesThePath", () =>
    Effect.gen(function*() {
      const saved = process.env["TANK_HELPER"]
      process.env["TANK_HELPER"] = "/nonexistent/tank-helper"
      const err = yield* Effect.flip(helperPath).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (saved === undefined) delete process.env["TANK_HELPER"]
          else process.env["TANK_HELPER"] = saved
        }))
      )
      expect(err).toMatchObject({ _tag: "HelperNotBuilt", path: "/nonexistent/tank-helper", reason: "ENOENT" })
    }))

  it.scopedLive("Client_notAMonitor_protocolError_and_missingSocket_monitorGone", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir("tank-native-sock-")
      const sock = path.join(dir, "fake.sock")
      const server = net.createServer((c) => c.end("HTTP/1.1 400 Bad Request\n"))
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(sock, () => resume(Effect.void))),
        () => Effect.sync(() => void server.close())
      )
      const e1 = yield* Effect.flip(connect(sock))
      expect(e1).toMatchObject({ _tag: "HelperProtocolError", received: "HTTP/1.1 400 Bad Request" })
      const e2 = yield* Effect.flip(connect(path.join(dir, "none.sock")))
      expect(e2).toMatchObject({ _tag: "MonitorGone" })
    }))
})
