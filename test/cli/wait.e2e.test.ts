/**
 * e2e (root), issue 20: `tank wait` and `tank ps -w` as a user runs them: a real agent (`tank
 * daemon`), real busybox pods from the local test registry, the bundled CLI in subprocesses.
 * - wait --for running returns within a second of the pod running; --for deleted once it is gone;
 * - a crash-looping pod: wait --for ready fails (exit 1) naming its state and last exit;
 * - ps -w --json delivers the pod's changes as they happen, each once and in order;
 * - top lists the pod's processes (from its cgroup) with user, CPU and memory.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { tankEnv } from "../support/tankEnv.js"
import { buildCli, runCli } from "./harness.js"

let cli: ReturnType<typeof buildCli>
beforeAll(() => {
  cli = buildCli()
})
afterAll(() => cli?.cleanup())

const tank = (dataDir: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.promise(() => runCli(cli.entry, ["--data-dir", dataDir, ...args], input !== undefined ? { input } : {}))

/** A long-running `tank ARGS` (the daemon, ps -w): SIGTERMed (then SIGKILLed) at scope end. */
const background = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [cli.entry, ...args], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d))
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      const exited = new Promise<{ code: number | null }>((resolve) => child.on("exit", (code) => resolve({ code })))
      return { child, exited, stdout: () => stdout, stderr: () => stderr }
    }),
    ({ child, exited }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGTERM")
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000)
        await exited
        clearTimeout(t)
      })
  )

const until = (what: string, ok: () => boolean, context: () => string, ms = 30_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

describe("tank wait and ps -w (root, e2e)", () => {
  it.scopedLive(
    "wait for running/deleted, a crash loop fails with its reason, ps -w sees each change once",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const dataDir = env.dataDir
        fs.writeFileSync(
          path.join(dataDir, "config.yaml"),
          "reconciler:\n  stopGracePeriodMs: 1000\n  resyncIntervalMs: 1000\n"
        )
        const scope = { pathPrefixes: [dataDir], processMarkers: [dataDir] }
        const before = yield* leakSnapshot(scope)
        const daemon = yield* background(["daemon", "--stop-pods-on-exit", "--data-dir", dataDir])
        const watcher = yield* background(["--data-dir", dataDir, "ps", "-w", "--json"])
        // The watcher's first output is the (empty) table: from then on it follows the feed.
        yield* until("ps -w to start", () => watcher.stdout().startsWith("[]"), watcher.stderr)

        const spec = {
          name: "web",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
          }]
        }
        const applied = yield* tank(dataDir, ["apply", "-f", "-"], JSON.stringify(spec))
        assert.strictEqual(applied.code, 0, applied.stderr)
        const waited = yield* tank(dataDir, ["wait", "web", "--for", "running", "--timeout", "30s"])
        const returnedAt = Date.now()
        assert.strictEqual(waited.code, 0, waited.stderr + daemon.stderr())
        assert.strictEqual(waited.stdout, "pod/web running\n")
        const ps = JSON.parse((yield* tank(dataDir, ["ps", "--json"])).stdout) as ReadonlyArray<
          { name: string; phase: string; startedAt?: string }
        >
        const web = ps.find((p) => p.name === "web")!
        assert.strictEqual(web.phase, "running")
        const lag = returnedAt - Date.parse(web.startedAt!)
        assert.isBelow(lag, 1000, `wait returned ${lag} ms after the pod started`)
        // top: the pod's processes from its cgroup, with user, CPU and memory.
        const top = yield* tank(dataDir, ["top", "web", "-o", "json"])
        assert.strictEqual(top.code, 0, top.stderr)
        const procs = JSON.parse(top.stdout) as ReadonlyArray<
          { pid: number; uid: number; command: string; rssBytes: number; cpuPercent: number }
        >
        const main = procs.find((p) => p.command.startsWith("sh -c trap"))
        assert.isDefined(main, top.stdout)
        assert.strictEqual(main!.uid, 0)
        assert.isAbove(main!.rssBytes, 0)
        const table = yield* tank(dataDir, ["top", "web"])
        assert.match(table.stdout, /^PID\s+PPID\s+UID\s+%CPU\s+RSS\s+TIME\s+COMMAND\n/)
        assert.match(table.stdout, /\ssh -c trap 'exit 0' TERM; while true; do sleep 1; done$/m)
        const notRunning = yield* tank(dataDir, ["top", "ghost"])
        assert.strictEqual(notRunning.code, 1)
        assert.strictEqual(notRunning.stderr, "tank: pod ghost is not running\n")

        // Already running: met at once; ready too (the run is of the current spec).
        const ready = yield* tank(dataDir, ["wait", "web", "--for", "ready"])
        assert.strictEqual(ready.code, 0, ready.stderr)

        // A pod that crash-loops: never ready; the failure names its state and last exit.
        const loop = {
          name: "loop",
          containers: [{ name: "app", image: env.refs.busybox, command: ["sh", "-c", "sleep 0.2; exit 3"] }]
        }
        assert.strictEqual((yield* tank(dataDir, ["apply", "-f", "-"], JSON.stringify(loop))).code, 0)
        const crash = yield* tank(dataDir, ["wait", "loop", "web", "--for", "exited", "--timeout", "4s"])
        assert.strictEqual(crash.code, 1, crash.stdout)
        assert.match(crash.stderr, /^tank: pod "loop" is not exited after 4s: backing-off: .*last exit code 3/m)
        assert.match(crash.stderr, /^tank: pod "web" is not exited after 4s: running/m)
        const missing = yield* tank(dataDir, ["wait", "ghost", "--for", "running"])
        assert.strictEqual(missing.code, 1)
        assert.strictEqual(missing.stderr, `tank: pod "ghost" not found\n`)

        // Delete both; wait until they are gone.
        assert.strictEqual((yield* tank(dataDir, ["delete", "web", "loop"])).code, 0)
        const gone = yield* tank(dataDir, ["wait", "web", "loop", "--for", "deleted", "--timeout", "30s"])
        assert.strictEqual(gone.code, 0, gone.stderr)
        assert.strictEqual(gone.stdout.split("\n").sort().join("\n"), "\npod/loop deleted\npod/web deleted")

        // What ps -w printed about "web": each change once, in the order they happened.
        yield* until(
          "ps -w to see web removed",
          () => /"name":"web","removed":true/.test(watcher.stdout()),
          watcher.stdout
        )
        const lines = watcher.stdout().split("\n").slice(1).filter((l) => l.trim() !== "")
        const webStates = lines.map((l) => JSON.parse(l) as { name: string; phase?: string; removed?: boolean })
          .filter((c) => c.name === "web")
          .map((c) => c.removed ? "removed" : c.phase!)
        assert.deepStrictEqual(
          webStates.filter((s, i) => s !== webStates[i - 1] || s === "terminating").length,
          webStates.length,
          `no state twice in a row: ${webStates.join(" ")}`
        )
        const order = ["pending", "starting", "running", "terminating", "removed"]
        const seen = order.map((s) => webStates.indexOf(s))
        assert.deepStrictEqual([...seen].sort((a, b) => a - b), seen, `in order: ${webStates.join(" ")}`)
        assert.notInclude(seen, -1, `every state seen: ${webStates.join(" ")}`)

        daemon.child.kill("SIGTERM")
        assert.strictEqual((yield* Effect.promise(() => daemon.exited)).code, 0, daemon.stderr())
        watcher.child.kill("SIGTERM")
        yield* Effect.promise(() => watcher.exited)
        yield* assertNoLeaks(before, scope)
      }),
    120_000
  )
})
