/**
 * e2e (root), issue 19: the SQLite file is locked by another writer for 10 s (a plain process holding
 * BEGIN IMMEDIATE) while a real agent runs a pod that keeps exiting (status and events to write), and
 * the CLI applies one pod and deletes another. Nothing fails: the CLI commands wait for the lock and
 * succeed, the agent logs no lost write, every event of the restarting pod is there (its restart
 * counts contiguous), and everything converges once the lock goes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { buildCli, runCli } from "../cli/harness.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"
import { exited } from "./fixtures/agentProcess.js"

const root = path.join(import.meta.dirname, "../..")
const LOCK_MS = 10_000

const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)

describe("the store file locked by another writer for 10 s (root)", () => {
  it.scopedLive(
    "the agent and the CLI wait and carry on; no write is lost",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        fs.writeFileSync(
          path.join(env.dataDir, "config.yaml"),
          JSON.stringify({
            reconciler: { resyncIntervalMs: 500, stopGracePeriodMs: 1000, backoffBaseMs: 200, backoffCapMs: 400 },
            host: { dns: ["10.0.0.1"] }
          })
        )
        const leakOpts = { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] }
        const before = yield* leakSnapshot(leakOpts)
        const cli = buildCli()
        yield* Effect.addFinalizer(() => Effect.sync(cli.cleanup))
        const specs = `${env.dataDir}-specs`
        fs.mkdirSync(specs)
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(specs, { recursive: true, force: true })))
        const specFile = (name: string, command: ReadonlyArray<string>) => {
          const f = path.join(specs, `${name}.json`)
          fs.writeFileSync(f, JSON.stringify({ name, containers: [{ name: "app", image: env.refs.busybox, command }] }))
          return f
        }
        const tank = (...args: Array<string>) =>
          Effect.promise(() => runCli(cli.entry, [...args, "--data-dir", env.dataDir], { timeoutMs: 60_000 }))

        let agentLog = ""
        const agent = spawn(
          process.execPath,
          ["--import", "tsx", path.join(import.meta.dirname, "fixtures/agent.ts")],
          {
            cwd: root,
            env: { ...process.env, TANK_DATA_DIR: env.dataDir },
            stdio: ["ignore", "ignore", "pipe"]
          }
        )
        agent.stderr!.setEncoding("utf8").on("data", (d: string) => {
          agentLog += d
          process.stderr.write(d)
        })
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            if (agent.exitCode !== null || agent.signalCode !== null) return
            agent.kill("SIGTERM")
            await exited(agent)
          })
        )
        const applied = yield* tank(
          "apply",
          "-f",
          specFile("old", ["sleep", "3600"]),
          "-f",
          specFile("flappy", ["sh", "-c", "sleep 0.3; exit 3"])
        )
        assert.strictEqual(applied.code, 0, applied.stderr)
        const store = Context.get(yield* Layer.build(layerSqlite(env.config.storeFile)), Store)
        const status = (name: string) => Effect.map(store.getStatus(name), Option.getOrUndefined)
        const old = yield* until("old running", status("old"), running, 40_000)
        yield* until("flappy restarting", status("flappy"), (s) => (s?.restarts ?? 0) >= 1, 40_000)

        // The lock: a plain better-sqlite3 process in BEGIN IMMEDIATE for 10 s.
        const holder = spawn(
          process.execPath,
          [path.join(import.meta.dirname, "../store/holdLock.mjs"), env.config.storeFile, String(LOCK_MS)],
          { stdio: ["ignore", "pipe", "inherit"] }
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => holder.kill("SIGKILL")))
        let releasedAt = Number.NaN
        holder.stdout!.on("data", (d: Buffer) => String(d).includes("released") && (releasedAt = Date.now()))
        yield* Effect.async<void>((resume) => {
          holder.stdout!.setEncoding("utf8").on("data", (d: string) => d.includes("locked") && resume(Effect.void))
        })
        const lockedAt = Date.now()
        // While it holds: a new pod and a delete from the CLI; the flapping pod's writes from the agent.
        const [add, del] = yield* Effect.all([
          tank("apply", "-f", specFile("new", ["sleep", "3600"])),
          tank("delete", "old")
        ], { concurrency: 2 })
        const waited = Date.now() - lockedAt
        assert.strictEqual(yield* Effect.promise(() => exited(holder)), 0, "the lock holder committed")
        assert.strictEqual(add.code, 0, `apply during the lock: ${add.stderr}`)
        assert.strictEqual(del.code, 0, `delete during the lock: ${del.stderr}`)
        assert.isAtLeast(waited, LOCK_MS - 1000, "the CLI waited for the lock")

        yield* until("new running", status("new"), running, 40_000)
        yield* until("old gone", status("old"), (s) => s === undefined, 30_000)
        assert.isFalse(alive(old!.hostPid), "old's workload stopped")
        assert.strictEqual(agent.exitCode, null, "the agent kept running")
        // Every exit of the flapping pod is an event (restart counts contiguous), the locked time included.
        const flappy = store.recentEvents(1000).pipe(Effect.map((l) => l.events.filter((e) => e.pod === "flappy")))
        const seen = (es: ReadonlyArray<{ readonly at: string; readonly type: string }>) =>
          JSON.stringify(es.map((e) => [e.at, e.type]))
        // The flapping pod's worker was held on a write by the lock (its exit, or its restart's
        // status): what it had to record landed as soon as the lock went, not dropped.
        // Polled until the window's end: a check made once, a second after the release, could come
        // before a write that still lands within it (the worker retries every ≤ 200 ms).
        const inWindow = (es: ReadonlyArray<{ readonly at: string }>) =>
          es.some((e) => Date.parse(e.at) >= releasedAt - 200 && Date.parse(e.at) < releasedAt + 3000)
        const held = yield* until(
          "flappy's held write",
          flappy,
          (es) => inWindow(es) || Date.now() > releasedAt + 3500,
          10_000
        )
        assert.isTrue(
          inWindow(held),
          `flappy's held write recorded right after the lock (${releasedAt}): ${seen(held)}`
        )
        // And it flaps on: an exit after the lock.
        const after = yield* until(
          "flappy exits after the lock",
          flappy,
          (es) => es.some((e) => e.type === "exited" && Date.parse(e.at) >= releasedAt - 200),
          15_000
        )
        const flaps = after.filter((e) => e.type === "exited")
        const counts = flaps.map((e) => e.restarts!)
        for (let i = 1; i < counts.length; i++) {
          assert.strictEqual(counts[i], counts[i - 1]! + 1, `flappy's exits contiguous: ${counts.join(",")}`)
        }
        assert.notMatch(agentLog, /not written|not deleted|stayed locked|database is locked/, "no write lost")

        const end = yield* tank("delete", "new", "flappy")
        assert.strictEqual(end.code, 0, end.stderr)
        yield* until("all gone", Effect.map(store.listStatus, (l) => l.statuses), (l) => l.length === 0, 30_000)
        agent.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => exited(agent)), 0)
        yield* assertNoLeaks(before, leakOpts)
      }),
    { timeout: 150_000 }
  )
})
