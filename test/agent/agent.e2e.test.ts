/**
 * The declarative loop end to end (root): the real agent (store, reconciler, runtime, native
 * monitors) converging real busybox pods from a local registry.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import { podLayout } from "../../src/runtime/layout.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { type TankEnv, tankEnv } from "../support/tankEnv.js"

const root = path.join(import.meta.dirname, "../..")
const fast = { backoffBaseMs: 300, backoffCapMs: 2_000, stableWindowMs: 60_000, resyncIntervalMs: 1_000 }

const agentIn = (env: TankEnv, extra: Partial<Agent.AgentOptions> = {}) =>
  Layer.build(Agent.layer({
    config: { ...env.config, reconciler: { ...env.config.reconciler, ...fast } },
    ...extra
  })).pipe(Effect.map((ctx) => Context.get(ctx, Store)))

const status = (store: Store["Type"], name: string) => store.getStatus(name).pipe(Effect.map(Option.getOrUndefined))

const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)

const sleeper = (env: TankEnv, name: string, extra: object = {}) => ({
  name,
  containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }],
  ...extra
})

const withStore = <A, E>(store: Store["Type"], eff: Effect.Effect<A, E, Store>) =>
  Effect.provideService(eff, Store, store)

describe("Agent (live, root)", () => {
  it.scopedLive(
    "apply → running; spec change → new host pid; delete → process and resources gone",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const store = yield* agentIn(env)
        const t0 = Date.now()
        yield* withStore(store, Api.apply(sleeper(env, "web")))
        const s1 = yield* until("running", status(store, "web"), running)
        const latency = Date.now() - t0
        assert.isBelow(latency, 10_000)
        yield* withStore(store, Api.apply(sleeper(env, "web", { restart: "never" })))
        const s2 = yield* until("replaced", status(store, "web"), (s) => running(s) && s!.hostPid !== s1!.hostPid)
        assert.isFalse(alive(s1!.hostPid), "old workload stopped before the new one runs")
        yield* withStore(store, Api.remove("web"))
        yield* until("gone", status(store, "web"), (s) => s === undefined)
        yield* until("process gone", Effect.sync(() => alive(s2!.hostPid)), (a) => !a)
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, "web").run))
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "restart policies: never → terminal, on_failure keeps exit 0 down, always restarts with growing backoff",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const store = yield* agentIn(env)
        const once = (name: string, restart: string, code: number) => ({
          name,
          restart,
          containers: [{ name: "app", image: env.refs.busybox, command: ["sh", "-c", `sleep 0.2; exit ${code}`] }]
        })
        yield* withStore(
          store,
          Api.applyAll([once("nev", "never", 3), once("onf", "on_failure", 0), once("alw", "always", 1)])
        )
        const nev = yield* until("never terminal", status(store, "nev"), (s) => s?.phase === "terminal")
        assert.strictEqual(nev!.lastExit?.code, 3)
        assert.strictEqual(nev!.restarts, 0)
        const onf = yield* until("on_failure terminal", status(store, "onf"), (s) => s?.phase === "terminal")
        assert.strictEqual(onf!.lastExit?.code, 0)
        yield* until("always restarted 3 times", status(store, "alw"), (s) => (s?.restarts ?? 0) >= 3)
        const delays = (yield* store.recentEvents(500)).events.filter((e) =>
          e.pod === "alw" && e.type === "backing-off"
        ).map((
          e
        ) => e.delayMs)
        assert.deepStrictEqual(delays.slice(0, 3), [300, 600, 1200])
        // A terminal pod stays down across resyncs until its spec changes.
        yield* Effect.sleep("1500 millis")
        assert.strictEqual((yield* status(store, "nev"))!.phase, "terminal")
        yield* withStore(store, Api.apply(once("nev", "never", 4)))
        yield* until("new spec runs again", status(store, "nev"), (s) => s?.lastExit?.code === 4)
        for (const n of ["nev", "onf", "alw"]) yield* withStore(store, Api.remove(n))
        yield* until("all gone", Effect.map(store.listStatus, (l) => l.statuses), (l) => l.length === 0)
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "a pod applied by another process is picked up quickly; 20 pods at once converge",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const store = yield* agentIn(env)
        const spec = JSON.stringify(sleeper(env, "ext"))
        const t0 = Date.now()
        yield* Effect.promise(() =>
          promisify(execFile)(process.execPath, [
            "--import",
            "tsx",
            "-e",
            `import { Effect } from "effect"; import { Tank } from "./src/index.ts"; await Effect.runPromise(Tank.apply(${spec}))`
          ], { cwd: root, env: { ...process.env, TANK_DATA_DIR: env.dataDir } })
        )
        yield* until("external pod running", status(store, "ext"), running)
        assert.isBelow(Date.now() - t0, 15_000)
        const names = Array.from({ length: 20 }, (_, i) => `many-${i}`)
        const t1 = Date.now()
        yield* withStore(store, Api.applyAll(names.map((n) => sleeper(env, n))))
        yield* until(
          "20 running",
          Effect.map(store.listStatus, (l) => l.statuses),
          (l) => names.every((n) => running(l.find((s) => s.name === n))),
          60_000
        )
        yield* Effect.logInfo(`20 pods running after ${Date.now() - t1} ms`)
        for (const n of [...names, "ext"]) {
          yield* withStore(store, Api.remove(n))
        }
        yield* until("all gone", Effect.map(store.listStatus, (l) => l.statuses), (l) => l.length === 0, 60_000)
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "boot seed is create-if-absent; a second agent on the same data dir is refused",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const seedWeb = { ...sleeper(env, "seeded"), restart: "always" }
        yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* agentIn({ ...env, config: { ...env.config, seed: [seedWeb, { name: "bad!" }] } })
          yield* until("seeded pod running", status(store, "seeded"), running)
          yield* withStore(store, Api.apply({ ...seedWeb, restart: "never" }))
          const err = yield* Effect.flip(Layer.build(Agent.layer({ config: env.config })))
          assert.include(String((err as Error).message ?? err), `pid ${process.pid}`)
        }))
        // The next boot seeds again: the runtime change (restart: never) must survive.
        yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* agentIn({ ...env, config: { ...env.config, seed: [seedWeb] } })
          const pod = yield* withStore(store, Api.get("seeded"))
          assert.strictEqual(pod.restart, "never")
          yield* withStore(store, Api.remove("seeded"))
          yield* until("gone", status(store, "seeded"), (s) => s === undefined)
        }))
      }),
    { timeout: 60_000 }
  )
})

describe("Agent process (live restore, root)", () => {
  const startAgent = (dataDir: string): ChildProcess =>
    spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "fixtures/agent.ts")], {
      cwd: root,
      env: { ...process.env, TANK_DATA_DIR: dataDir },
      stdio: ["ignore", "ignore", "inherit"]
    })
  const exited = (p: ChildProcess) =>
    new Promise<number | null>((r) => p.exitCode !== null ? r(p.exitCode) : p.on("exit", r))

  it.scopedLive(
    "agent SIGKILL then restart re-adopts the same workloads; with stopPodsOnExit a graceful exit stops all",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        fs.writeFileSync(
          path.join(env.dataDir, "config.yaml"),
          JSON.stringify({ reconciler: { ...fast, stopGracePeriodMs: 1000 }, host: { dns: ["10.0.0.1"] } })
        )
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const sqlite = yield* Layer.build(layerSqlite(env.config.storeFile))
        const client = Context.get(sqlite, Store)
        const a1 = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() => Effect.sync(() => a1.kill("SIGKILL")))
        yield* withStore(client, Api.applyAll([sleeper(env, "keep1"), sleeper(env, "keep2")]))
        const s1 = yield* until(
          "both running",
          Effect.map(client.listStatus, (l) => l.statuses),
          (l) => l.filter(running).length === 2,
          30_000
        )
        const pids = Object.fromEntries(s1.map((s) => [s.name, s.hostPid]))
        a1.kill("SIGKILL")
        yield* Effect.promise(() => exited(a1))
        assert.isTrue(alive(pids.keep1) && alive(pids.keep2), "pods outlive a killed agent")
        // While no agent runs: change one pod's spec; delete none.
        yield* withStore(client, Api.apply(sleeper(env, "keep2", { restart: "on_failure" })))
        fs.writeFileSync(
          path.join(env.dataDir, "config.yaml"),
          JSON.stringify({ reconciler: { ...fast, stopGracePeriodMs: 1000 }, stopPodsOnExit: true })
        )
        const a2 = startAgent(env.dataDir)
        yield* Effect.addFinalizer(() => Effect.sync(() => a2.kill("SIGKILL")))
        const s2 = yield* until(
          "re-adopted",
          Effect.map(client.listStatus, (l) => l.statuses),
          (l) =>
            running(l.find((s) => s.name === "keep1")) && running(l.find((s) => s.name === "keep2")) &&
            l.find((s) => s.name === "keep2")!.hostPid !== pids.keep2,
          30_000
        )
        assert.strictEqual(s2.find((s) => s.name === "keep1")!.hostPid, pids.keep1, "same workload, not restarted")
        assert.strictEqual(s2.find((s) => s.name === "keep1")!.restarts, 0)
        a2.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => exited(a2)), 0)
        for (const s of s2) assert.isFalse(alive(s.hostPid), `${s.name} stopped with the agent`)
        yield* withStore(client, Effect.all([Api.remove("keep1"), Api.remove("keep2")]))
        // Nothing of the pods' runs remains (volumes/logs are removed by a later agent's sweep).
        const a3 = startAgent(env.dataDir)
        yield* until(
          "swept",
          Effect.sync(() => fs.existsSync(podLayout(env.dataDir, "keep1").run)),
          (e) => !e,
          20_000
        )
        a3.kill("SIGTERM")
        yield* Effect.promise(() => exited(a3))
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 120_000 }
  )
})
