/**
 * e2e (root): attach to a tty workload (input, output, resize), one attacher at a time, stop with
 * a grace period against a PID 1 that ignores SIGTERM, and a monitor that outlives its starter.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"
import { Schema } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { helperPathCandidate } from "../../src/runtime/helper/binary.js"
import { connect } from "../../src/runtime/helper/client.js"
import { MonitorConfig } from "../../src/runtime/helper/schema.js"
import { untilCatches } from "../support/poll.js"
import { baseConfig, killAll, readLog, runDir, startRun } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

const decoder = new TextDecoder()

describe("Attach", () => {
  it.scopedLive("Attach_tty_inputOutputResize_secondRefused", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sh"], tty: true, env: ["PATH=/bin", "TERM=dumb"] })
      yield* run.client.proceed
      const att = yield* run.client.attach
      expect(att.tty).toBe(true)
      const collected = yield* Effect.fork(
        att.output.pipe(Stream.map((o) => decoder.decode(o.data)), Stream.runCollect)
      )
      const refused = yield* Effect.flip(Effect.scoped(run.client.attach))
      expect(refused).toMatchObject({ _tag: "MonitorRequestFailed", code: "already_attached" })
      yield* att.resize(33, 99)
      yield* att.write("stty size; echo sum=$((40+2)); exit 3\n")
      const exit = yield* att.exit
      expect(Option.getOrThrow(exit)).toMatchObject({ reason: "exited", exitCode: 3 })
      const text = Chunk.toReadonlyArray(yield* Fiber.join(collected)).join("")
      expect(text).toContain("33 99\r\n")
      expect(text).toContain("sum=42\r\n")
      expect(yield* run.client.wait).toMatchObject({ reason: "exited", exitCode: 3 })
    }))

  it.scopedLive("Attach_detachAndReattach_logKeepsOutput", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sh"], tty: true, env: ["PATH=/bin", "TERM=dumb"] })
      yield* run.client.proceed
      yield* Effect.scoped(Effect.gen(function*() {
        const a = yield* run.client.attach
        yield* a.write("echo first-attach\n")
        yield* a.output.pipe(
          Stream.map((o) => decoder.decode(o.data)),
          Stream.mapAccum("", (acc, s) => [acc + s, acc + s]),
          Stream.takeUntil((acc) => acc.includes("first-attach\r\n")),
          Stream.runDrain
        )
      })) // detached: the workload keeps running
      expect(yield* run.client.state).toMatchObject({ status: "running", attached: false })
      const b = yield* run.client.attach
      yield* b.write("echo second; exit 0\n")
      expect(Option.getOrThrow(yield* b.exit)).toMatchObject({ reason: "exited", exitCode: 0 })
      const lines = readLog(run.config.log.path).map((l) => l.text)
      expect(lines.some((l) => l.endsWith("first-attach"))).toBe(true)
      expect(lines).toContain("second")
    }))

  it.scopedLive("Attach_pipes_stdinAndSeparateStreams", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sh", "-c", "read x; echo got=$x; echo warn >&2"], openStdin: true })
      yield* run.client.proceed
      const att = yield* run.client.attach
      expect(att.tty).toBe(false)
      const out = yield* Effect.fork(Stream.runCollect(att.output))
      yield* att.write("hello\n")
      yield* att.closeStdin
      yield* att.exit
      const got = Chunk.toReadonlyArray(yield* Fiber.join(out)).map((o) => [o.stream, decoder.decode(o.data)])
      expect(got).toEqual([["stdout", "got=hello\n"], ["stderr", "warn\n"]])
    }))
  it.scopedLive("Attach_largeInput_slowReader_nothingDropped", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      // The workload reads nothing for a second while 3 MiB arrive (3x the monitor's stdin buffer).
      const run = yield* startRun(lower, { argv: ["sh", "-c", "sleep 1; wc -c"], openStdin: true })
      yield* run.client.proceed
      const att = yield* run.client.attach
      const out = yield* Effect.fork(Stream.runCollect(att.output))
      const size = 3 * 1024 * 1024
      yield* att.write(new Uint8Array(size).fill(0x61))
      yield* att.closeStdin
      yield* att.exit
      const text = Chunk.toReadonlyArray(yield* Fiber.join(out)).map((o) => decoder.decode(o.data)).join("")
      expect(text.trim()).toBe(String(size))
    }), { timeout: 30_000 })
})

describe("Stop", () => {
  it.scopedLive("Stop_handlerIgnoringTerm_killedAfterGrace", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      // A handler that does nothing: SIGTERM is delivered and changes nothing, so only the SIGKILL
      // at the end of the grace period stops it.
      const run = yield* startRun(lower, { argv: ["sh", "-c", "trap : TERM; while true; do sleep 0.05; done"] })
      yield* run.client.proceed
      yield* untilCatches(run.handle.pid)
      const t0 = Date.now()
      const exit = yield* run.client.stop(400)
      const took = Date.now() - t0
      expect(exit).toMatchObject({ reason: "signaled", signal: 9 })
      expect(took).toBeGreaterThanOrEqual(380)
      expect(took).toBeLessThan(5000)
    }))

  it.scopedLive("Stop_pid1WithoutHandler_killedWithoutWaitingTheGrace", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      // sleep as PID 1 has no SIGTERM handler: the kernel drops the signal, so the monitor sends
      // the SIGKILL at once instead of after 60 s of a stop that cannot happen otherwise.
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      yield* run.client.proceed
      const t0 = Date.now()
      const exit = yield* run.client.stop(60_000)
      expect(exit).toMatchObject({ reason: "signaled", signal: 9 })
      expect(Date.now() - t0).toBeLessThan(30_000)
    }))

  it.scopedLive("Stop_handledTerm_exitsCleanlyBeforeGrace", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done"] })
      yield* run.client.proceed
      yield* Effect.sleep("200 millis") // let the trap be installed
      const exit = yield* run.client.stop(10_000)
      expect(exit).toMatchObject({ reason: "exited", exitCode: 0 })
    }))

  it.scopedLive("Stop_enforcedAfterClientDisconnects", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sh", "-c", "trap : TERM; while true; do sleep 0.05; done"] })
      yield* run.client.proceed
      yield* untilCatches(run.handle.pid) // the trap: only the deadline's SIGKILL stops it
      // Ask for a stop on a connection that goes away immediately.
      yield* Effect.scoped(Effect.gen(function*() {
        const c = yield* connect(run.config.socketPath)
        yield* Effect.fork(c.stop(300))
        yield* Effect.sleep("50 millis")
      }))
      expect(yield* run.client.wait).toMatchObject({ reason: "signaled", signal: 9 })
    }))
})

describe("Monitor lifetime", () => {
  it.scopedLive("Monitor_survivesStarterDeath_reconnects", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const dir = yield* runDir
      const config = baseConfig(dir, lower, { argv: ["sh", "-c", "sleep 0.3; echo alive; exit 4"] })
      const cfgPath = path.join(dir, "config.json")
      const encoded = yield* Schema.encode(MonitorConfig)(config)
      fs.writeFileSync(cfgPath, JSON.stringify(encoded))
      // The "agent": a shell that starts the monitor, then is SIGKILLed with its whole group.
      const starter = spawn("sh", ["-c", `${helperPathCandidate()} monitor --config ${cfgPath}; sleep 1000`], {
        detached: true,
        stdio: ["ignore", "pipe", "inherit"]
      })
      const ready = yield* Effect.promise(() =>
        new Promise<{ monitorPid: number; pid: number }>((resolve) =>
          starter.stdout!.once("data", (d: Buffer) => resolve(JSON.parse(d.toString())))
        )
      )
      yield* Effect.addFinalizer(() =>
        killAll({ ...ready, protocol: 1, startTime: 0, socketPath: "", exitPath: "", configPath: "" })
      )
      process.kill(-starter.pid!, "SIGKILL")
      yield* Effect.sleep("100 millis")
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${ready.monitorPid}/status`, "utf8"))![1])
      expect(ppid).not.toBe(starter.pid)
      // A new "agent" re-adopts it twice: state, then proceed/wait on another connection.
      const first = yield* Effect.scoped(Effect.flatMap(connect(config.socketPath), (c) => c.state))
      expect(first).toMatchObject({ status: "parked", pid: ready.pid, monitorPid: ready.monitorPid })
      const c2 = yield* connect(config.socketPath)
      yield* c2.proceed
      expect(yield* c2.wait).toMatchObject({ reason: "exited", exitCode: 4 })
      yield* c2.release
      yield* Effect.sleep("100 millis")
      expect(fs.existsSync(config.socketPath)).toBe(false)
      expect(JSON.parse(fs.readFileSync(config.exitPath, "utf8"))).toMatchObject({ exitCode: 4 })
    }))
})

describe("Monitor cgroup", () => {
  it.scopedLive("Monitor_movesItselfIntoMonitorCgroup_workloadIntoPodCgroup", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const mk = (name: string) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            const d = `/sys/fs/cgroup/pids/tank-native-${name}-${process.pid}`
            fs.mkdirSync(d)
            return d
          }),
          (d) =>
            Effect.promise(async () => {
              for (let i = 0; i < 100; i++) {
                try {
                  return fs.rmdirSync(d)
                } catch {
                  await new Promise((r) => setTimeout(r, 20))
                }
              }
            })
        )
      const mon = yield* mk("mon")
      const pod = yield* mk("pod")
      const run = yield* startRun(lower, {
        argv: ["sleep", "1000"],
        cgroupProcs: [path.join(pod, "cgroup.procs")],
        monitorCgroupProcs: [path.join(mon, "cgroup.procs")]
      })
      const procs = (d: string) => fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").trim().split("\n").map(Number)
      expect(procs(mon)).toEqual([run.handle.monitorPid])
      expect(procs(pod)).toEqual([run.handle.pid])
      yield* run.client.abort
      yield* run.client.wait
      yield* run.client.release
    }))
})
