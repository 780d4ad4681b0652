/**
 * Cluster mode end to end (root): a 3-member etcd cluster on loopback and 3 agents as separate
 * processes (own data dirs, node names n1..n3), converging real busybox pods from a local registry.
 *
 * One scenario, in order: placement on all three nodes and pinned pods; losing the etcd leader while
 * pods are being applied (no write lost, the agents carry on); losing an agent (its lease expires, its reschedulable pods
 * run elsewhere, the others are reported lost); the node coming back (it stops what moved away and
 * keeps what stayed); delete leaves nothing on any node; no leaks.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { Nodes, type NodeState } from "../../src/cluster/Cluster.js"
import * as NodesEtcd from "../../src/cluster/nodesEtcd.js"
import type * as Config from "../../src/config/Config.js"
import * as EtcdClient from "../../src/etcd/client.js"
import { runsDir } from "../../src/runtime/layout.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import { storeLayer } from "../../src/store/fromConfig.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store, type StoredPod } from "../../src/store/Store.js"
import { startEtcdCluster } from "../support/etcd.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { alive, until as poll } from "../support/poll.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../support/tankEnv.js"
import { tmpDir } from "../support/tmp.js"

/** Cluster convergence takes longer: 30 s, polled every 100 ms. */
const until = <A>(what: string, get: Effect.Effect<A, unknown>, pred: (a: A) => boolean, ms = 30_000) =>
  poll(what, get, pred, ms, 100)

const root = path.join(import.meta.dirname, "../..")
const agentScript = path.join(root, "test/agent/fixtures/agent.ts")
const NODES = ["n1", "n2", "n3"] as const
const fast = { backoffBaseMs: 300, backoffCapMs: 2_000, stableWindowMs: 60_000, resyncIntervalMs: 1_000 }

/** The client URL of the member that leads the etcd cluster now (etcd's JSON gateway). */
const etcdLeader = (urls: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    for (const url of urls) {
      const res = await fetch(`${url}/v3/maintenance/status`, { method: "POST", body: "{}" })
      const body = (await res.json()) as { header: { member_id: string }; leader: string }
      if (body.header.member_id === body.leader) return url
    }
    throw new Error("no etcd member says it leads")
  })

const exited = (p: ChildProcess) =>
  new Promise<void>((r) => p.exitCode !== null || p.signalCode !== null ? r() : p.once("exit", () => r()))

describe("cluster mode (live, root): 3 etcd members, 3 agents", () => {
  it.scopedLive(
    "placement on every node, pinned pod, etcd member loss, agent loss with rescheduling, delete everywhere",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcdCluster(3)
        const first = yield* tankEnv()
        const prefix = `/tank-e2e-${process.pid}/`
        // Three machines in one: n1 uses tankEnv's data dir, n2 and n3 their own (same registry).
        const envs: Array<TankEnv> = [first]
        for (const _ of NODES.slice(1)) {
          const dataDir = yield* tmpDir("tank-e2e-")
          envs.push({ ...first, dataDir, config: { ...first.config, dataDir, storeFile: `${dataDir}/tank.db` } })
        }
        const dataDirs = envs.map((e) => e.dataDir)
        // Whatever a failed run left in n2/n3 (tankEnv sweeps n1's) goes before their dirs do.
        for (const env of envs.slice(1)) {
          yield* Effect.addFinalizer(() =>
            Effect.gen(function*() {
              const runtime = yield* Runtime
              for (const pod of yield* runtime.leftovers) yield* runtime.sweep(pod)
            }).pipe(Effect.provide(runtimeLayer(env)), Effect.scoped, Effect.ignore)
          )
        }
        // Monitors name their data dir on their command line: count only ours (other suites run in parallel).
        const leakOpts = { pathPrefixes: dataDirs, processMarkers: dataDirs }
        const before = yield* leakSnapshot(leakOpts)

        const agentConfig = (i: number) => ({
          store: { etcd: { endpoints: etcd.endpoints, prefix, insecure: true } }, // loopback etcd without TLS
          node: { name: NODES[i], labels: { rack: `r${i + 1}` }, leaseTtlSeconds: 2, lostAfterSeconds: 2 },
          reconciler: { ...fast, stopGracePeriodMs: 1_000 },
          host: { dns: ["10.0.0.1"] },
          stopPodsOnExit: true
        })
        envs.forEach((env, i) =>
          fs.writeFileSync(path.join(env.dataDir, "config.yaml"), JSON.stringify(agentConfig(i)))
        )
        const agents: Array<ChildProcess | undefined> = [undefined, undefined, undefined]
        // Agents log to files (every binding is a line); a failing run prints their tails.
        const logDir = yield* tmpDir("tank-e2e-logs-")
        const logOf = (i: number) => path.join(logDir, `${NODES[i]}.log`)
        yield* Effect.addFinalizer((exit) =>
          Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => {
            for (const i of [0, 1, 2]) {
              const text = fs.existsSync(logOf(i)) ? fs.readFileSync(logOf(i), "utf8") : ""
              process.stderr.write(
                `--- agent ${NODES[i]} (last lines) ---\n${text.split("\n").slice(-40).join("\n")}\n`
              )
            }
          })
        )
        const startAgent = (i: number) =>
          Effect.sync(() => {
            const log = fs.openSync(logOf(i), "a")
            const p = spawn(process.execPath, ["--import", "tsx", agentScript], {
              cwd: root,
              env: {
                ...process.env,
                TANK_DATA_DIR: dataDirs[i],
                TANK_CONFIG: "",
                TANK_ETCD_ENDPOINTS: "",
                TANK_NODE_NAME: ""
              },
              stdio: ["ignore", log, log]
            })
            fs.closeSync(log)
            agents[i] = p
          })
        const stopAgent = (i: number, signal: NodeJS.Signals) =>
          Effect.promise(async () => {
            const p = agents[i]
            if (!p) return
            p.kill(signal)
            await exited(p)
            agents[i] = undefined
          })
        // Agents go first when the test ends (SIGTERM: they stop their pods), then etcd and the dirs.
        yield* Effect.addFinalizer(() =>
          Effect.forEach([0, 1, 2], (i) =>
            stopAgent(i, "SIGTERM").pipe(
              Effect.timeout("15 seconds"),
              Effect.catchAll(() => stopAgent(i, "SIGKILL"))
            ), { concurrency: 3, discard: true })
        )

        // The test's own client: the same config an operator's `tank` would use.
        const clientConfig: Config.TankConfigShape = {
          ...first.config,
          etcd: { endpoints: etcd.endpoints as [string, ...Array<string>], prefix },
          node: { ...first.config.node, name: "client" }
        }
        const ctx = yield* Layer.build(
          Layer.merge(
            storeLayer(clientConfig),
            NodesEtcd.layerEtcd.pipe(Layer.provide(EtcdClient.layer(clientConfig.etcd!)))
          )
        )
        const store = Context.get(ctx, Store)
        const nodes = Context.get(ctx, Nodes)
        const api = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
        const snapshot = Effect.all({
          pods: Effect.map(store.list, (l) => l.pods),
          statuses: Effect.map(store.listStatus, (l) => l.statuses)
        })
        type Snap = { readonly pods: ReadonlyArray<StoredPod>; readonly statuses: ReadonlyArray<PodStatus> }
        const statusOf = (s: Snap, name: string) => s.statuses.find((x) => x.name === name)
        const bindingOf = (s: Snap, name: string) => s.pods.find((p) => p.name === name)?.node ?? null
        /** Running where it is bound, with a live workload. */
        const runsOnItsNode = (s: Snap, name: string) => {
          const st = statusOf(s, name)
          const node = bindingOf(s, name)
          return node !== null && st?.phase === "running" && st.node === node && alive(st.hostPid)
        }
        const readyNodes = (l: ReadonlyArray<NodeState>) => l.filter((n) => n.ready).map((n) => n.info.name).sort()

        const sleeper = (name: string, extra: object = {}) => ({
          name,
          containers: [{ name: "app", image: first.refs.busybox, command: ["sleep", "3600"] }],
          ...extra
        })

        // --- three agents register; pods land on all three and run -----------------------------
        const t0 = Date.now()
        yield* Effect.forEach([0, 1, 2], startAgent, { discard: true })
        yield* until("3 nodes ready", nodes.list, (l) => readyNodes(l).join() === "n1,n2,n3")
        const free = Array.from({ length: 9 }, (_, i) => `p${i}`)
        yield* api(Api.applyAll([
          ...free.map((n) => sleeper(n, { reschedule: true })),
          sleeper("pin2", { node: "n2" }),
          sleeper("stay3", { node: "n3" })
        ]))
        const all = [...free, "pin2", "stay3"]
        const placed = yield* until(
          "every pod running on its node",
          snapshot,
          (s) => all.every((n) => runsOnItsNode(s, n)),
          45_000
        )
        yield* Effect.logInfo(`3 agents up and 11 pods running after ${Date.now() - t0} ms`)
        const used = new Set(free.map((n) => bindingOf(placed, n)))
        assert.deepStrictEqual([...used].sort(), ["n1", "n2", "n3"], "unpinned pods spread over all three nodes")
        assert.strictEqual(bindingOf(placed, "pin2"), "n2")
        assert.strictEqual(bindingOf(placed, "stay3"), "n3")
        const pids = new Map(all.map((n) => [n, statusOf(placed, n)!.hostPid!]))
        // Every workload is a distinct process: no pod runs twice.
        assert.strictEqual(new Set(pids.values()).size, all.length)

        // --- the etcd leader dies while pods are being applied: no write lost, the agents carry on --
        const leader = yield* etcdLeader(etcd.members.map((m) => m.clientUrl))
        const victim = etcd.members.find((m) => m.clientUrl === leader)!
        const during = Array.from({ length: 5 }, (_, i) => `during-${i}`)
        const writer = yield* Effect.fork(
          Effect.forEach(
            during,
            (n) => api(Api.apply(sleeper(n, { reschedule: true }))).pipe(Effect.zipLeft(Effect.sleep("100 millis"))),
            {
              discard: true
            }
          )
        )
        yield* Effect.sleep("150 millis")
        yield* victim.kill
        yield* Fiber.join(writer)
        yield* api(Api.apply(sleeper("after-kill", { reschedule: true })))
        const added = [...during, "after-kill"]
        const afterKill = yield* until(
          "pods applied around the kill run",
          snapshot,
          (s) => added.every((n) => runsOnItsNode(s, n)),
          45_000
        )
        assert.deepStrictEqual(afterKill.pods.map((p) => p.name).sort(), [...all, ...added].sort(), "no write lost")
        for (const n of all) assert.strictEqual(statusOf(afterKill, n)?.hostPid, pids.get(n), `${n} undisturbed`)
        for (const n of added) pids.set(n, statusOf(afterKill, n)!.hostPid!)
        all.push(...added)
        yield* victim.start

        // --- agent n3 dies: its lease expires, reschedulable pods move, the pinned one is lost ---
        const onN3 = all.filter((n) => bindingOf(afterKill, n) === "n3")
        const moving = onN3.filter((n) => n !== "stay3")
        assert.isAbove(moving.length, 0, "some reschedulable pod ran on n3")
        const t1 = Date.now()
        yield* stopAgent(2, "SIGKILL")
        const moved = yield* until(
          "n3's pods rescheduled or lost",
          snapshot,
          (s) =>
            moving.every((n) => bindingOf(s, n) !== "n3" && runsOnItsNode(s, n)) &&
            statusOf(s, "stay3")?.phase === "lost",
          30_000
        )
        yield* Effect.logInfo(`n3 killed → its pods rescheduled/lost after ${Date.now() - t1} ms`)
        assert.deepStrictEqual(readyNodes(yield* nodes.list), ["n1", "n2"])
        assert.strictEqual(bindingOf(moved, "stay3"), "n3", "a pod that may not move stays bound to its node")
        for (const n of moving) assert.notStrictEqual(statusOf(moved, n)!.hostPid, pids.get(n), `${n} runs anew`)
        for (const n of all.filter((x) => !onN3.includes(x))) {
          assert.strictEqual(statusOf(moved, n)?.hostPid, pids.get(n), `${n} (not on n3) undisturbed`)
        }

        // --- n3 comes back: it stops what moved away and keeps what stayed ------------------------
        yield* startAgent(2)
        yield* until("n3 ready again", nodes.list, (l) => readyNodes(l).join() === "n1,n2,n3")
        const back = yield* until("stay3 running again on n3", snapshot, (s) => runsOnItsNode(s, "stay3"))
        assert.strictEqual(statusOf(back, "stay3")!.hostPid, pids.get("stay3"), "re-adopted, not restarted")
        yield* until(
          "n3's old copies of moved pods stopped",
          Effect.sync(() => moving.filter((n) => alive(pids.get(n)))),
          (l) => l.length === 0,
          20_000
        )
        for (const n of moving) assert.isTrue(runsOnItsNode(yield* snapshot, n), `${n} still runs on its new node`)

        // --- delete everything: nothing remains on any node ---------------------------------------
        const lastPids = (yield* store.listStatus).statuses.map((s) => s.hostPid)
        yield* Effect.forEach(all, (n) => api(Api.remove(n)), { discard: true })
        yield* until(
          "all statuses gone",
          Effect.map(store.listStatus, (l) => l.statuses),
          (l) => l.length === 0,
          30_000
        )
        yield* until("all workloads gone", Effect.sync(() => lastPids.filter(alive)), (l) => l.length === 0)
        for (const dir of dataDirs) {
          const run = runsDir(dir)
          const left = fs.existsSync(run) ? fs.readdirSync(run) : []
          assert.deepStrictEqual(left, [], `nothing left running under ${run}`)
        }
        yield* Effect.forEach([0, 1, 2], (i) => stopAgent(i, "SIGTERM"), { concurrency: 3, discard: true })
        yield* assertNoLeaks(before, leakOpts)
      }),
    { timeout: 150_000 }
  )
})
