/** exec's pure parts: the env merge, the enter options, reading the helper's failure. */
import { describe, expect, it } from "@effect/vitest"
import { enterOptionsFor, helperFailure, Tail } from "../../src/exec/command.js"
import { execEnv } from "../../src/exec/env.js"
import { DEFAULT_CAPABILITIES } from "../../src/runtime/helper/defaults.js"
import { enterArgs } from "../../src/runtime/helper/enter.js"
import type { ContainerRecord } from "../../src/runtime/record.js"

const base = ["PATH=/usr/bin:/bin", "HOME=/root", "FOO=image"]

describe("execEnv", () => {
  it("adds TERM=xterm first for a terminal, only when absent", () => {
    expect(execEnv(base, { tty: true })).toEqual(["TERM=xterm", ...base])
    expect(execEnv([...base, "TERM=vt100"], { tty: true })).toEqual([...base, "TERM=vt100"])
    expect(execEnv(base, { tty: false })).toEqual(base)
  })

  it("merges the caller's env last, per key, in place", () => {
    expect(execEnv(base, { tty: false, env: { FOO: "caller", NEW: "1" } })).toEqual([
      "PATH=/usr/bin:/bin",
      "HOME=/root",
      "FOO=caller",
      "NEW=1"
    ])
    expect(execEnv(base, { tty: true, env: ["TERM=screen", "X=a=b", "junk"] })).toEqual([
      "TERM=screen",
      ...base,
      "X=a=b"
    ])
    expect(execEnv(base, { tty: false, env: { FOO: "" } })).toContain("FOO=")
  })
})

const record: ContainerRecord = {
  name: "app",
  socketPath: "/d/sock/x.sock",
  exitPath: "/d/run/p/c/app/exit.json",
  pid: 4242,
  monitorPid: 4241,
  startTime: 987654,
  env: base,
  cwd: "/srv",
  uid: 1000,
  gid: 1001,
  groups: [1001, 27],
  tty: false,
  cgroupProcs: ["/sys/fs/cgroup/memory/tank/p/app/cgroup.procs", "/sys/fs/cgroup/pids/tank/p/app/cgroup.procs"],
  logPath: "/d/logs/p/app.log"
}

describe("enterOptionsFor", () => {
  it("runs beside the workload: its pid and start time, cgroups, ids, caps, env, cwd", () => {
    const o = enterOptionsFor(record, ["sh", "-c", "id"], { tty: true, env: { A: "1" } })
    expect(o).toEqual({
      pid: 4242,
      startTime: 987654,
      argv: ["sh", "-c", "id"],
      env: ["TERM=xterm", ...base, "A=1"],
      cwd: "/srv",
      uid: 1000,
      gid: 1001,
      groups: [1001, 27],
      capabilities: DEFAULT_CAPABILITIES,
      noNewPrivileges: false,
      cgroupProcs: record.cgroupProcs,
      tty: true
    })
    expect(enterArgs(enterOptionsFor(record, ["sh"], { tty: true }))).toContain("--tty")
    const args = enterArgs(enterOptionsFor(record, ["ls"], { tty: false, cwd: "/tmp" }))
    expect(args).not.toContain("--tty")
    expect(args.slice(0, 5)).toEqual(["enter", "--pid", "4242", "--start-time", "987654"])
    expect(args).toContain("/sys/fs/cgroup/pids/tank/p/app/cgroup.procs")
    expect(args[args.indexOf("--cwd") + 1]).toBe("/tmp")
    expect(args.slice(-2)).toEqual(["--", "ls"])
  })
})

describe("helperFailure", () => {
  const line = JSON.stringify({ error: { step: "exec", errno: 2, message: "find `nope` in PATH" } })
  it("reads the helper's JSON error for 125-127", () => {
    expect(helperFailure(127, `${line}\n`)).toEqual({ step: "exec", errno: 2, message: "find `nope` in PATH" })
    expect(helperFailure(125, `noise\r\n${line}\r\n`)?.step).toBe("exec")
  })
  it("a command's own 127 or any other status is not the helper's failure", () => {
    expect(helperFailure(127, "sh: nope: not found\n")).toBeUndefined()
    expect(helperFailure(1, line)).toBeUndefined()
    expect(helperFailure(null, line)).toBeUndefined()
    expect(helperFailure(126, "")).toBeUndefined()
  })
  it("Tail keeps the last bytes", () => {
    const t = new Tail(8)
    t.push(Buffer.from("0123456789"))
    t.push(Buffer.from("ab"))
    expect(t.text).toBe("456789ab")
  })
})
