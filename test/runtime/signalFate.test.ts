/**
 * signalDropped: when the agent, stopping a workload by signals itself, may send the SIGKILL at once
 * (PID 1 dropped the stop signal) and when it must keep the grace period. The status texts are the
 * kernel's format; the last case reads a real process.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { signalDropped } from "../../src/runtime/signalFate.js"

const status = (o: { cgt?: string; blk?: string; shd?: string; pnd?: string } = {}) =>
  [
    "Name:\tsleep",
    "State:\tS (sleeping)",
    `SigPnd:\t${o.pnd ?? "0000000000000000"}`,
    `ShdPnd:\t${o.shd ?? "0000000000000000"}`,
    `SigBlk:\t${o.blk ?? "0000000000000000"}`,
    "SigIgn:\t0000000000000000",
    `SigCgt:\t${o.cgt ?? "0000000000000000"}`,
    "CapInh:\t0000000000000000",
    ""
  ].join("\n")

const SIGTERM = 15
const bit15 = "0000000000004000"
const nanosleep = "230 0x0 0x0 0x7ffc 0x0 0x0 0x0 0x7ffc 0x7f00"

describe("signalDropped", () => {
  it("no handler, not blocked, not pending, not in sigtimedwait: dropped", () => {
    assert.isTrue(signalDropped(status(), nanosleep, SIGTERM))
    assert.isTrue(signalDropped(status(), "running", SIGTERM))
  })

  it("a handler, a block or a pending signal keeps the grace period", () => {
    assert.isFalse(signalDropped(status({ cgt: bit15 }), nanosleep, SIGTERM))
    assert.isFalse(signalDropped(status({ blk: bit15 }), nanosleep, SIGTERM))
    assert.isFalse(signalDropped(status({ shd: bit15 }), nanosleep, SIGTERM))
    assert.isFalse(signalDropped(status({ pnd: bit15 }), nanosleep, SIGTERM))
    // Another signal's handler says nothing about this one.
    assert.isTrue(signalDropped(status({ cgt: "0000000000000002" }), nanosleep, SIGTERM))
  })

  it("waiting in rt_sigtimedwait (tank-init, tini) keeps it: the kernel unblocks what it awaits", () => {
    assert.isFalse(signalDropped(status(), "128 0x7ffc 0x0 0x0 0x8 0x0 0x0 0x7ffc 0x4000", SIGTERM))
  })

  it("any doubt keeps it: an unreadable file, a missing field", () => {
    assert.isFalse(signalDropped(undefined, nanosleep, SIGTERM))
    assert.isFalse(signalDropped(status(), undefined, SIGTERM))
    assert.isFalse(signalDropped(status().replace(/SigCgt:.*\n/, ""), nanosleep, SIGTERM))
  })

  it("a real process with a SIGTERM handler is not taken for one without (signal 64 too)", async () => {
    const child = spawn("sh", ["-c", "trap 'exit 0' TERM; read x"], { stdio: ["pipe", "ignore", "ignore"] })
    try {
      const read = (f: string) => fs.readFileSync(`/proc/${child.pid}/${f}`, "utf8")
      // The trap is set once the shell waits in read(2) (call 0) for its stdin.
      for (let i = 0; i < 500 && !read("syscall").startsWith("0 "); i++) await new Promise((r) => setTimeout(r, 10))
      assert.isFalse(signalDropped(read("status"), read("syscall"), SIGTERM))
      assert.isTrue(signalDropped(read("status"), read("syscall"), 64))
    } finally {
      child.kill("SIGKILL")
    }
  })
})
