/**
 * e2e (root): the agent's spawner (`tank-helper spawner`, PROTOCOL.md §14) runs the one-shot modes
 * side by side and answers each request by its id; refuses `enter`; a monitor it starts outlives it
 * (live restore) and neither the monitor nor the workload holds any of the spawner's descriptors
 * (its request pipe would let a container ask for root helper modes); a spawner that died is
 * replaced at the next call.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { helperPath } from "../../src/runtime/helper/binary.js"
import { connect } from "../../src/runtime/helper/client.js"
import { startMonitor } from "../../src/runtime/helper/monitor.js"
import { sandbox } from "../../src/runtime/helper/sandbox.js"
import { makeSpawner } from "../../src/runtime/helper/spawner.js"
import { unpinSandbox } from "../../src/runtime/unpin.js"
import { baseConfig, fdTargets, killAll, runDir } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

const ppidOf = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
}

/** Our children running `tank-helper spawner`. */
const spawners = (): Array<number> =>
  fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
      return ppidOf(pid) === process.pid && state !== "Z" &&
        fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("spawner")
    } catch {
      return false
    }
  })

const gone = (pid: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0)
      } catch {
        return true
      }
      await new Promise((r) => setTimeout(r, 10))
    }
    return false
  })

describe("tank-helper spawner", () => {
  it.scoped("runs modes side by side, each reply matched to its request; refuses enter", () =>
    Effect.gen(function*() {
      const helper = yield* helperPath
      const { runLine } = yield* makeSpawner
      const dir = path.join(yield* runDir, "ns")
      yield* Effect.addFinalizer(() => Effect.ignore(unpinSandbox(dir)))
      const [version, sb, enter] = yield* Effect.all([
        runLine(helper, ["version"]),
        sandbox({ dir, net: true, uts: true, ipc: true, hostname: "spawned" }, runLine),
        runLine(helper, ["enter", "--pid", "1", "--", "true"])
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual(JSON.parse(version.line), { protocol: 1 })
      assert.strictEqual(version.code, 0)
      assert.strictEqual(sb.net, path.join(dir, "net"))
      const pins = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(dir))
      assert.strictEqual(pins.length, 4)
      assert.deepInclude(JSON.parse(enter.line).error, { step: "request", errno: 22 })
    }), 20_000)

  it.scoped(
    "a monitor it started outlives it and holds none of its descriptors, nor does the workload",
    () =>
      Effect.gen(function*() {
        const lower = yield* busyboxRootfs
        const dir = yield* runDir
        const config = baseConfig(dir, lower, { argv: ["sh", "-c", "ls -l /proc/self/fd/ > /dev/null; exit 3"] })
        const inner = yield* Scope.make()
        const { runLine } = yield* Scope.extend(makeSpawner, inner)
        const h = yield* Effect.acquireRelease(startMonitor(config, path.join(dir, "config.json"), runLine), killAll)
        const [sp] = spawners()
        assert.isDefined(sp)
        // Answered at its ready line: the monitor is the spawner's own child, no starter process
        // relayed the line and exited (one fork and one hop fewer per start).
        assert.strictEqual(ppidOf(h.monitorPid), sp)
        assert.strictEqual(ppidOf(h.pid), h.monitorPid)
        // Its request, reply and stderr channels (Node gives a child socket pairs).
        const theirs = new Set(fdTargets(sp!).filter((t) => /^(pipe|socket):/.test(t)))
        assert.isAtLeast(theirs.size, 3)
        for (const pid of [h.monitorPid, h.pid]) {
          const leaked = fdTargets(pid).filter((t) => theirs.has(t))
          assert.deepStrictEqual(leaked, [], `pid ${pid} holds the spawner's pipes`)
        }
        yield* Scope.close(inner, Exit.void)
        assert.isTrue(yield* gone(sp!), "the spawner is killed with its scope")
        const client = yield* connect(config.socketPath)
        yield* client.proceed
        const exit = yield* client.wait
        assert.deepInclude(exit, { reason: "exited", exitCode: 3 })
        yield* client.release
        // An error before ready is still answered at the monitor's exit, with its line.
        const bad = baseConfig(yield* runDir, lower, {
          namespaces: { net: { join: "/nonexistent" }, uts: "new", ipc: "new" }
        })
        const failed = yield* Effect.flip(startMonitor(bad, path.join(dir, "bad.json"), (yield* makeSpawner).runLine))
        assert.deepInclude(failed, { _tag: "MonitorSetupFailed", step: "open_ns_net", errno: 2 })
      }),
    20_000
  )

  it.scoped(
    "a spawner that died fails what was in flight and is replaced at the next call",
    () =>
      Effect.gen(function*() {
        const helper = yield* helperPath
        const { runLine } = yield* makeSpawner
        yield* runLine(helper, ["version"])
        const [first] = spawners()
        process.kill(first!, "SIGKILL")
        assert.isTrue(yield* gone(first!))
        // The 'close' event may come after the next call was written: that call fails, the next works.
        const again = yield* runLine(helper, ["version"]).pipe(
          Effect.orElse(() => runLine(helper, ["version"]))
        )
        assert.deepStrictEqual(JSON.parse(again.line), { protocol: 1 })
        const [second] = spawners()
        assert.isDefined(second)
        assert.notStrictEqual(second, first)
      }),
    20_000
  )

  it.scoped("starts at the first call, or earlier when warmed (an agent does at start-up)", () =>
    Effect.gen(function*() {
      const before = spawners().length
      const { warm } = yield* makeSpawner
      assert.strictEqual(spawners().length, before)
      yield* warm
      assert.strictEqual(spawners().length, before + 1)
    }))
})
