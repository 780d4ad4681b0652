/**
 * e2e (root), issue 24 item 2: an agent restarting while a client holds every general connection
 * slot of a pod's monitor. The real agent runs as its own process; the slots are held with real
 * unix-socket connections from this process. The new agent must adopt the pod (same workload pid,
 * an `adopted` event), no second monitor may appear, and exec must work — while busy it says so and
 * retries, and it works once the slots are released.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import * as Config from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import { podLayout } from "../../src/runtime/layout.js"
import { readRecord, viewOf } from "../../src/runtime/record.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { buildCli, runCli } from "../cli/harness.js"
import { fillSlots, monitorsOf } from "../support/monitorSlots.js"
import { alive, until } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"
import { exited, startAgent } from "./fixtures/agentProcess.js"

const GENERAL_SLOTS = 32

const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)

describe("Agent restart with a monitor's slots full (root)", () => {
  it.scopedLive(
    "adopts the pod (same pid, adopted event), no second monitor; exec says busy, retries, then works",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        fs.writeFileSync(
          path.join(env.dataDir, "config.yaml"),
          JSON.stringify({
            reconciler: { resyncIntervalMs: 1000, stopGracePeriodMs: 1000 },
            host: { dns: ["10.0.0.1"] }
          })
        )
        const store = Context.get(yield* Layer.build(layerSqlite(env.config.storeFile)), Store)
        const withStore = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
        const a1 = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() => Effect.sync(() => a1.kill("SIGKILL")))
        yield* withStore(Api.apply({
          name: "held",
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        }))
        const before = yield* until(
          "running",
          store.getStatus("held").pipe(Effect.map(Option.getOrUndefined)),
          running,
          30_000
        )
        const layout = podLayout(env.dataDir, "held")
        const record = viewOf(Option.getOrThrow(yield* readRecord("held", layout.record))).containers[0]!
        const configFile = layout.container("app").config
        assert.deepStrictEqual(monitorsOf(configFile), [record.monitorPid])

        // The agent's own connection is in a reserved slot: all 32 general ones are ours to take.
        const held = yield* fillSlots(record.socketPath)
        assert.strictEqual(held.count, GENERAL_SLOTS)

        // The agent restarts (live restore) while every general slot stays held.
        a1.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => exited(a1)), 0)
        assert.isTrue(alive(before!.hostPid), "the pod outlives its agent")
        // Whatever the old agent's leaving freed is taken too: the new agent finds no general slot.
        const more = yield* fillSlots(record.socketPath)
        assert.strictEqual(held.count + more.count, GENERAL_SLOTS)
        const lastId = Math.max(0, ...(yield* store.recentEvents(200)).events.map((e) => e.id))
        const a2 = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            if (a2.exitCode !== null) return
            a2.kill("SIGTERM")
            await exited(a2)
          })
        )
        const adopted = yield* until(
          "adopted event",
          Effect.map(store.recentEvents(200), (r) => r.events),
          (es) => es.some((e) => e.pod === "held" && e.type === "adopted" && e.id > lastId),
          30_000
        )
        const after = Option.getOrUndefined(yield* store.getStatus("held"))
        assert.strictEqual(after?.phase, "running")
        assert.strictEqual(after?.hostPid, before!.hostPid, "same workload")
        assert.strictEqual(after?.restarts, 0)
        const since = adopted.filter((e) => e.pod === "held" && e.id > lastId)
        assert.isFalse(since.some((e) => e.type === "exited" || e.type === "starting"), JSON.stringify(since))
        assert.isTrue(alive(before!.hostPid))
        // Still the one monitor, still holding its socket file.
        yield* Effect.sleep("1 second")
        assert.deepStrictEqual(monitorsOf(configFile), [record.monitorPid])
        assert.isTrue(fs.existsSync(record.socketPath))

        // exec while the slots are held: it says the monitor is busy and retries; once a slot is
        // free, it runs.
        const cli = buildCli()
        yield* Effect.addFinalizer(() => Effect.sync(cli.cleanup))
        const execWhileBusy = yield* Effect.fork(
          Effect.promise(() => runCli(cli.entry, ["--data-dir", env.dataDir, "exec", "held", "--", "echo", "inside"]))
        )
        yield* Effect.sleep("2 seconds")
        held.release()
        more.release()
        const r = yield* execWhileBusy.await.pipe(Effect.flatten)
        assert.strictEqual(r.code, 0, r.stderr)
        assert.strictEqual(r.stdout, "inside\n")
        assert.match(
          r.stderr,
          /monitor of pod held \(container app\) is busy \(all 32 connection slots are taken\), retrying/
        )

        const out = yield* execCapture("held", ["cat", "/proc/1/cmdline"]).pipe(
          Effect.provide(Layer.succeed(Config.TankConfig, env.config))
        )
        assert.strictEqual(out.stdout.replace(/\0/g, " ").trim(), "sleep 3600")
        assert.deepStrictEqual(monitorsOf(configFile), [record.monitorPid])

        yield* withStore(Api.remove("held"))
        yield* until("deleted", store.getStatus("held"), Option.isNone, 20_000)
        yield* until(
          "workload and monitor gone",
          Effect.sync(() => alive(before!.hostPid) || alive(record.monitorPid)),
          (a) => !a
        )
        assert.isFalse(fs.existsSync(record.socketPath))
      }),
    { timeout: 120_000 }
  )
})
