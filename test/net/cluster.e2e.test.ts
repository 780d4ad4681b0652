/**
 * Address pools in cluster mode (root): three agents (three nodes, in-process, each with its own data
 * dir) on a 3-member etcd allocate from one pool for pods the scheduler spreads over them, and never
 * hand out the same address. Their pods are macvlans on a test LAN (test/support/lan.ts); the hub
 * plays every node's host.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Api from "../../src/api/Api.js"
import type * as Config from "../../src/config/Config.js"
import { resolveNetwork } from "../../src/config/network.js"
import * as EtcdClient from "../../src/etcd/client.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import { Allocations } from "../../src/store/Allocations.js"
import { layerEtcd as allocationsEtcd } from "../../src/store/allocationsEtcd.js"
import { storeLayer } from "../../src/store/fromConfig.js"
import { Store } from "../../src/store/Store.js"
import { startEtcdCluster } from "../support/etcd.js"
import { makeLan } from "../support/lan.js"
import { until } from "../support/poll.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../support/tankEnv.js"
import { tmpDir } from "../support/tmp.js"
import { fast, startAgent } from "./support.js"

describe("address pools on a 3-member etcd (live, root)", () => {
  it.scopedLive(
    "3 agents allocating for 30 pods spread over them never hand out one address twice",
    () =>
      Effect.gen(function*() {
        const lan = yield* makeLan
        const etcd = yield* startEtcdCluster(3)
        const first = yield* tankEnv()
        const envs: Array<TankEnv> = [first]
        for (let i = 1; i < 3; i++) {
          const dataDir = yield* tmpDir("tank-e2e-")
          const env = { ...first, dataDir, config: { ...first.config, dataDir, storeFile: `${dataDir}/tank.db` } }
          envs.push(env)
          yield* Effect.addFinalizer(() =>
            Effect.gen(function*() {
              const runtime = yield* Runtime
              for (const pod of yield* runtime.leftovers) yield* runtime.sweep(pod)
            }).pipe(Effect.provide(runtimeLayer(env)), Effect.scoped, Effect.ignore)
          )
        }
        const etcdConfig = {
          endpoints: etcd.endpoints as [string, ...Array<string>],
          prefix: `/tank-net-${process.pid}/`,
          insecure: true
        }
        const configs = envs.map((env, i): Config.TankConfigShape => ({
          ...env.config,
          etcd: { ...etcdConfig, endpoints: [etcd.endpoints[i]!, ...etcd.endpoints.filter((_, j) => j !== i)] },
          node: { ...env.config.node, name: `n${i + 1}`, leaseTtlSeconds: 3 },
          host: { uplink: lan.parent, dns: [] },
          network: resolveNetwork({
            pools: [{
              name: "lan",
              subnet: "10.250.0.0/24",
              gateway: "10.250.0.1",
              range: "10.250.0.100-10.250.0.200"
            }],
            dns: { enabled: false },
            probeMs: 0
          }),
          reconciler: { ...env.config.reconciler, ...fast, stopGracePeriodMs: 1_000 }
        }))
        const agents = []
        for (const c of configs) agents.push(yield* startAgent(c, lan, []))
        const client = Context.get(yield* Layer.build(storeLayer(configs[0]!)), Store)
        const api = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, client)
        yield* api(Api.applyAll(Array.from({ length: 30 }, (_, i) => ({
          name: `p${i}`,
          network: { nics: [{ name: "eth0", address: { pool: "lan" } }] },
          containers: [{ name: "app", image: first.refs.busybox, command: ["sleep", "3600"] }]
        }))))
        const statuses = yield* until(
          "30 running",
          api(Api.statusAll),
          (all) => all.filter((s) => s.phase === "running").length === 30,
          120_000,
          250
        )
        const nodes = new Set(statuses.map((s) => s.node))
        assert.isAbove(nodes.size, 1, `pods on ${[...nodes].join(", ")}`)
        const ips = statuses.map((s) => s.addresses?.[0]?.split("/")[0])
        assert.strictEqual(new Set(ips).size, 30, ips.join(" "))
        const held = yield* Effect.flatMap(Allocations, (a) => a.list).pipe(
          Effect.provide(allocationsEtcd.pipe(Layer.provide(EtcdClient.layer(etcdConfig))))
        )
        assert.strictEqual(held.length, 30)
        assert.strictEqual(new Set(held.map((a) => a.address)).size, 30)
        yield* api(Effect.forEach(statuses, (s) => Api.remove(s.name), { discard: true }))
        yield* until("all gone", api(Api.statusAll), (all) => all.length === 0, 120_000, 250)
        for (const a of agents) yield* a.stop
      }),
    { timeout: 300_000 }
  )
})
