/**
 * One agent in cluster mode, in-process, against a real etcd (root, real busybox pods): it registers
 * its node, runs only the pods bound (or pinned) to it, stops a pod that is bound away without
 * clobbering the new node's status, and revokes its lease when it stops; started before etcd is up,
 * it waits for it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import * as fs from "node:fs"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import { Nodes } from "../../src/cluster/Cluster.js"
import * as NodesEtcd from "../../src/cluster/nodesEtcd.js"
import type * as Config from "../../src/config/Config.js"
import * as EtcdClient from "../../src/etcd/client.js"
import { storeLayer } from "../../src/store/fromConfig.js"
import { Store } from "../../src/store/Store.js"
import { startEtcd } from "../support/etcd.js"
import { alive, until } from "../support/poll.js"
import { tankEnv } from "../support/tankEnv.js"

const fast = { backoffBaseMs: 300, backoffCapMs: 2_000, stableWindowMs: 60_000, resyncIntervalMs: 1_000 }

describe("Agent in cluster mode (live, root, real etcd)", () => {
  it.scopedLive(
    "registers its node; runs only its pods; a pod bound away stops here and keeps the new node's status",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const etcd = yield* startEtcd()
        const config: Config.TankConfigShape = {
          ...env.config,
          etcd: { endpoints: etcd.endpoints as [string, ...Array<string>], prefix: "/agent-test/" },
          node: {
            ...env.config.node,
            name: "solo",
            labels: { disk: "ssd" },
            capacity: { cpu: 3000, memory: 2 ** 31, pods: 7 },
            leaseTtlSeconds: 3
          },
          reconciler: { ...env.config.reconciler, ...fast, stopGracePeriodMs: 1_000 }
        }
        const client = yield* Layer.build(
          Layer.merge(storeLayer(config), NodesEtcd.layerEtcd.pipe(Layer.provide(EtcdClient.layer(config.etcd!))))
        )
        const store = Context.get(client, Store)
        const nodes = Context.get(client, Nodes)
        const api = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
        const status = (name: string) => store.getStatus(name).pipe(Effect.map(Option.getOrUndefined))
        const sleeper = (name: string, extra: object = {}) => ({
          name,
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }],
          ...extra
        })

        const agentScope = yield* Scope.make()
        yield* Effect.addFinalizer(() => Scope.close(agentScope, Exit.void))
        yield* Layer.buildWithScope(Agent.layer({ config }), agentScope)

        const [me] = yield* until("registered", nodes.list, (l) => l.some((n) => n.ready))
        assert.strictEqual(me!.info.name, "solo")
        assert.deepStrictEqual(me!.info.labels, { disk: "ssd" })
        assert.deepStrictEqual(me!.info.capacity, { cpu: 3000, memory: 2 ** 31, pods: 7 })
        assert.strictEqual(me!.info.agentPid, process.pid)
        for (const a of me!.info.addresses) assert.notMatch(a, /^(127\.|::1$|fe80:)/)

        // "mine" is scheduled here (the only node); "pinned" names a node that does not exist.
        yield* api(Api.applyAll([sleeper("mine"), sleeper("pinned", { node: "elsewhere" })]))
        const s1 = yield* until("mine running", status("mine"), (s) => s?.phase === "running" && alive(s.hostPid))
        assert.strictEqual(s1!.node, "solo")
        assert.strictEqual(Option.getOrThrow(yield* store.get("mine")).node, "solo")
        yield* Effect.sleep("1500 millis") // a resync or two: the pinned pod must not start here
        assert.notStrictEqual((yield* status("pinned"))?.phase, "running")
        assert.isFalse(fs.existsSync(`${env.dataDir}/run/pinned`))

        // Bound away to another ready node (as an operator's re-pin or a rescheduling would): it stops
        // here; the other node's status, written meanwhile, survives this node's cleanup.
        yield* nodes.register({ ...me!.info, name: "other", addresses: [], agentPid: 1 }, 30)
        yield* store.bind("mine", "other")
        yield* store.putStatus({
          name: "mine",
          phase: "running",
          restarts: 0,
          specRevision: s1!.specRevision,
          hostPid: 1,
          node: "other",
          updatedAt: new Date().toISOString()
        })
        yield* until("stopped here", Effect.sync(() => alive(s1!.hostPid)), (a) => !a)
        yield* until("run dir gone", Effect.sync(() => fs.existsSync(`${env.dataDir}/run/mine`)), (e) => !e)
        yield* Effect.sleep("500 millis")
        const after = yield* status("mine")
        assert.strictEqual(after?.node, "other", "the new node's status is neither overwritten nor deleted")
        assert.strictEqual(after?.hostPid, 1)

        // A clean stop revokes the lease at once: the node reads not ready without waiting for the TTL.
        yield* api(Effect.all([Api.remove("mine"), Api.remove("pinned")]))
        yield* Scope.close(agentScope, Exit.void)
        const states = yield* nodes.list
        assert.deepStrictEqual(states.map((n) => [n.info.name, n.ready]).sort(), [["other", true], ["solo", false]])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an agent started before etcd is up waits for it, then registers and converges",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const etcd = yield* startEtcd()
        yield* etcd.members[0]!.kill
        const config: Config.TankConfigShape = {
          ...env.config,
          etcd: { endpoints: etcd.endpoints as [string, ...Array<string>], prefix: "/agent-late/" },
          node: { ...env.config.node, name: "late", leaseTtlSeconds: 3 },
          reconciler: { ...env.config.reconciler, ...fast, stopGracePeriodMs: 1_000 }
        }
        const agent = yield* Effect.forkScoped(Layer.build(Agent.layer({ config })))
        yield* Effect.sleep("2500 millis")
        yield* etcd.members[0]!.start
        yield* Fiber.join(agent)
        const client = yield* Layer.build(
          Layer.merge(storeLayer(config), NodesEtcd.layerEtcd.pipe(Layer.provide(EtcdClient.layer(config.etcd!))))
        )
        const nodes = Context.get(client, Nodes)
        const store = Context.get(client, Store)
        yield* until("registered", nodes.list, (l) => l.some((n) => n.info.name === "late" && n.ready))
        yield* Effect.provideService(
          Api.apply({ name: "w", containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }] }),
          Store,
          store
        )
        yield* until("running", store.getStatus("w"), (s) => Option.isSome(s) && s.value.phase === "running")
        yield* Effect.provideService(Api.remove("w"), Store, store)
        yield* until("gone", store.getStatus("w"), Option.isNone)
      }),
    { timeout: 90_000 }
  )
})
