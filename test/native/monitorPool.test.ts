/**
 * e2e (root): the spawner's monitor pool (`spawner --monitor-pool N`, PROTOCOL.md §14). A waiting
 * monitor is exec'd ahead of any request and takes the config path of one `monitor --config FILE`
 * request. Attacked here: a waiting monitor serving two configs (concurrent starts), a claimed
 * monitor that does not look like a forked one to the agent (its command line names its config, it
 * outlives the spawner, it holds none of the spawner's descriptors), requests the pool must not
 * serve (a path longer than its room), a waiting monitor killed (the pool stops, monitors still
 * start), and leaks (an unclaimed one dies with its spawner and made nothing).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { helperPath } from "../../src/runtime/helper/binary.js"
import { connect } from "../../src/runtime/helper/client.js"
import { type MonitorHandle, startMonitor } from "../../src/runtime/helper/monitor.js"
import { monitorPidsFor } from "../../src/runtime/steps/monitorsByName.js"
import { alive } from "../support/poll.js"
import { baseConfig, childrenOf, eventually, fdTargets, killAll, poolSpawner, runDir, statOf } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

/** Scheduling policy (stat field 41) and nice value (field 19). */
const schedOf = (pid: number) => {
  const f = statOf(pid)
  return { policy: Number(f[38]), nice: Number(f[16]) }
}
const SCHED_IDLE = 5

const argvOf = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")

/** A waiting monitor: `tank-helper monitor --config pooled` (its room padded with spaces). */
const isWaiting = (pid: number) => {
  try {
    const a = argvOf(pid)
    return a[1] === "monitor" && a[2] === "--config" && a[3]?.trimEnd() === "pooled"
  } catch {
    return false
  }
}

/** The spawner's waiting monitors, once there are `n` of them (and no other child). */
const waiting = (sp: number, n = 1) =>
  eventually(`${n} waiting monitor(s)`, () => {
    const cs = childrenOf(sp).filter(isWaiting)
    return cs.length === n ? cs : undefined
  })

/** A monitor-pool spawner (no sandbox pool) for the scope; its pid. */
const monitorPoolSpawner = (size: number) => poolSpawner({ sandboxPool: 0, monitorPool: size })

/**
 * A monitor of `argv` started through `runLine`, its processes killed when the scope closes; its
 * config file in `configDir` (default: its run dir).
 */
const started = (runLine: Parameters<typeof startMonitor>[2], argv: ReadonlyArray<string>, configDir?: string) =>
  Effect.gen(function*() {
    const lower = yield* busyboxRootfs
    const dir = yield* runDir
    const config = baseConfig(dir, lower, { argv: argv as [string, ...Array<string>] })
    const configPath = path.join(configDir ?? dir, "config.json")
    const h = yield* Effect.acquireRelease(startMonitor(config, configPath, runLine), killAll)
    return { h, configPath, config }
  })

/** Let the parked workload run; its exit code. */
const runOut = (h: MonitorHandle) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* connect(h.socketPath)
    yield* client.proceed
    const exit = yield* client.wait
    yield* client.release
    return exit.reason === "exited" ? exit.exitCode : -1
  }))

describe("tank-helper spawner --monitor-pool", () => {
  it.scoped(
    "a start is the waiting monitor's, named by its config as a forked one is; a new one waits after",
    () =>
      Effect.gen(function*() {
        const { pid: sp, runLine } = yield* monitorPoolSpawner(1)
        const [w] = yield* waiting(sp)
        // Waiting, it holds only its stdio (request pipe, reply pipe, the spawner's stderr), and is
        // idle-class (its exec is made while a start goes on).
        assert.deepStrictEqual(fs.readdirSync(`/proc/${w}/fd`).sort(), ["0", "1", "2"])
        assert.strictEqual(schedOf(w!).policy, SCHED_IDLE)
        const { configPath, h } = yield* started(runLine, ["sh", "-c", "exit 7"])
        assert.strictEqual(h.monitorPid, w, "the waiting monitor took the request")
        assert.strictEqual(statOf(h.pid)[1], String(w), "its workload is its child")
        // Claimed, it and its workload run as a forked monitor would: the spawner's scheduling.
        assert.notStrictEqual(schedOf(sp).policy, SCHED_IDLE)
        assert.deepStrictEqual(schedOf(h.monitorPid), schedOf(sp))
        assert.deepStrictEqual(schedOf(h.pid), schedOf(sp))
        // How an agent finds a monitor it did not record: by `tank-helper monitor --config FILE`.
        const argv = argvOf(w!)
        assert.match(argv[0]!, /tank-helper$/)
        assert.deepStrictEqual(argv.slice(1, 4), ["monitor", "--config", configPath])
        assert.include(monitorPidsFor(configPath), w)
        // Claimed, its stdin is no longer the request pipe; it holds none of the spawner's pipes.
        assert.strictEqual(fs.readlinkSync(`/proc/${w}/fd/0`), "/dev/null")
        const theirs = new Set(fdTargets(sp).filter((t) => /^(pipe|socket):/.test(t)))
        for (const pid of [h.monitorPid, h.pid]) {
          assert.deepStrictEqual(
            fdTargets(pid).filter((t) => theirs.has(t)),
            [],
            `pid ${pid} holds the spawner's pipes`
          )
        }
        // Another waits for the next start: never the one that served this one.
        const [w2] = yield* waiting(sp)
        assert.notStrictEqual(w2, w)
        assert.strictEqual(yield* runOut(h), 7)
      }),
    20_000
  )

  it.scoped("concurrent starts never share a monitor", () =>
    Effect.gen(function*() {
      const { pid: sp, runLine } = yield* monitorPoolSpawner(2)
      yield* waiting(sp, 2)
      const runs = yield* Effect.forEach(
        [1, 2, 3, 4, 5],
        (code) => started(runLine, ["sh", "-c", `exit ${code}`]),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(runs.map((r) => r.h.monitorPid)).size, runs.length)
      for (const r of runs) assert.include(monitorPidsFor(r.configPath), r.h.monitorPid)
      const codes = yield* Effect.forEach(runs, (r) => runOut(r.h), { concurrency: "unbounded" })
      assert.deepStrictEqual(codes, [1, 2, 3, 4, 5])
    }), 30_000)

  it.scoped("a claimed monitor outlives the spawner; an unclaimed one dies with it", () =>
    Effect.gen(function*() {
      const inner = yield* Scope.make()
      const { pid: sp, runLine } = yield* Scope.extend(monitorPoolSpawner(1), inner)
      const [w] = yield* waiting(sp)
      const { h } = yield* started(runLine, ["sh", "-c", "exit 4"])
      assert.strictEqual(h.monitorPid, w)
      const [w2] = yield* waiting(sp)
      yield* Scope.close(inner, Exit.void)
      yield* eventually("the spawner gone", () => alive(sp) ? undefined : true)
      yield* eventually("the unclaimed monitor gone", () => alive(w2!) ? undefined : true)
      assert.isTrue(alive(h.monitorPid), "the claimed monitor lives on (no parent-death signal)")
      assert.strictEqual(yield* runOut(h), 4)
    }), 20_000)

  it.scopedLive(
    "a waiting monitor killed stops the pool: monitors still start, by a fork each",
    () =>
      Effect.gen(function*() {
        const { pid: sp, runLine } = yield* monitorPoolSpawner(1)
        const [w] = yield* waiting(sp)
        process.kill(w!, "SIGKILL")
        yield* eventually("the waiting monitor reaped", () => childrenOf(sp).length === 0 ? true : undefined)
        const { configPath, h } = yield* started(runLine, ["true"])
        assert.notStrictEqual(h.monitorPid, w)
        assert.include(monitorPidsFor(configPath), h.monitorPid)
        assert.strictEqual(yield* runOut(h), 0)
        yield* Effect.sleep("50 millis")
        assert.deepStrictEqual(childrenOf(sp).filter(isWaiting), [], "no new waiting monitor")
      }),
    20_000
  )

  it.scoped(
    "a config path longer than the waiting monitor's room forks; the waiting one still waits",
    () =>
      Effect.gen(function*() {
        const { pid: sp, runLine } = yield* monitorPoolSpawner(1)
        const [w] = yield* waiting(sp)
        const base = yield* runDir
        const deep = path.join(base, ...Array.from({ length: 6 }, (_, i) => `${i}`.padEnd(100, "x")))
        fs.mkdirSync(deep, { recursive: true })
        const { configPath, h } = yield* started(runLine, ["true"], deep)
        assert.isAbove(configPath.length, 511)
        assert.notStrictEqual(h.monitorPid, w)
        assert.include(monitorPidsFor(configPath), h.monitorPid)
        assert.isTrue(isWaiting(w!) && alive(w!), "the waiting monitor still waits")
        assert.strictEqual(yield* runOut(h), 0)
      }),
    20_000
  )

  it.effect("the pool's variable alone does not make a monitor wait for a path", () =>
    Effect.gen(function*() {
      const helper = yield* helperPath
      // Inherited by a monitor started some other way, with a config path of its own: it goes on
      // with that path (here a missing file, said at once), never reads its stdin for another.
      const r = spawnSync(helper, ["monitor", "--config", "/nonexistent/config.json"], {
        env: { ...process.env, TANK_HELPER_POOLED: "1" },
        encoding: "utf8",
        timeout: 5_000
      })
      assert.strictEqual(r.status, 1)
      assert.deepInclude(JSON.parse(r.stdout).error, { step: "read_file", errno: 2 })
    }))
})
