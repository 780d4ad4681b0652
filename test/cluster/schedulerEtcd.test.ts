/**
 * The scheduler as agents run it, all on one real etcd: three agents, each with its own connection,
 * registering its node and campaigning to run `runScheduler` (Store, Nodes and Election on etcd).
 * No containers run (that is the e2e suite's part): this checks placement, failover of the scheduler
 * itself, and what happens to the pods of a node whose agent stops.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import { Election, Nodes } from "../../src/cluster/Cluster.js"
import { layerEtcdWith as electionEtcd } from "../../src/cluster/electionEtcd.js"
import { layerEtcd as nodesEtcd } from "../../src/cluster/nodesEtcd.js"
import { runScheduler } from "../../src/cluster/scheduler.js"
import { decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import { layerEtcd as storeEtcd } from "../../src/store/etcd.js"
import { Store } from "../../src/store/Store.js"
import { startEtcd } from "../support/etcd.js"
import { clientLayer, eventually, info } from "./clusterEtcd.js"

const spec = (name: string, over: Record<string, unknown> = {}): Pod => {
  const r = decodePodEither({ name, containers: [{ name: "app", image: "busybox" }], ...over })
  if (r._tag === "Left") throw new Error(r.left.message)
  return r.right
}

/** One agent's cluster half: registered, campaigning; leading runs the scheduler. Stopped by closing `scope`. */
const agent = (endpoints: ReadonlyArray<string>, prefix: string, name: string, leading: Set<string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const ctx = yield* Layer.build(
      Layer.mergeAll(storeEtcd(), nodesEtcd, electionEtcd({ ttlSeconds: 2, candidate: name })).pipe(
        Layer.provideMerge(clientLayer(endpoints, prefix))
      )
    ).pipe(Scope.extend(scope))
    yield* Effect.flatMap(Nodes, (n) => n.register(info(name, { addresses: [`10.1.0.${name.at(-1)}`] }), 2)).pipe(
      Effect.provide(ctx),
      Scope.extend(scope)
    )
    const whileLeader = Effect.acquireRelease(
      Effect.sync(() => leading.add(name)),
      () => Effect.sync(() => leading.delete(name))
    )
      .pipe(Effect.zipRight(runScheduler({ lostAfterSeconds: 1, self: name, resyncIntervalMs: 500 })))
    yield* Effect.forkIn(Effect.flatMap(Election, (e) => e.lead(whileLeader)).pipe(Effect.provide(ctx)), scope)
    return { name, scope, ctx }
  })

describe("scheduler on etcd, run by the elected agent", () => {
  it.scopedLive(
    "places pods on all three nodes; when the leading agent stops, another leads and its pods move or are lost",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const prefix = `/s${process.pid}/`
        const leading = new Set<string>()
        const agents = yield* Effect.forEach(["n1", "n2", "n3"], (n) => agent(etcd.endpoints, prefix, n, leading))
        yield* Effect.addFinalizer(() =>
          Effect.forEach(agents, (a) => Scope.close(a.scope, Exit.void), { discard: true })
        )
        const store = yield* Effect.provide(Store, agents[2]!.ctx)
        for (let i = 0; i < 6; i++) yield* store.put(spec(`r${i}`, { reschedule: true }))
        for (let i = 0; i < 3; i++) yield* store.put(spec(`s${i}`))
        const bindings = store.list.pipe(Effect.map(({ pods }) => new Map(pods.map((p) => [p.name, p.node]))))
        yield* eventually("all bound", Effect.map(bindings, (b) => [...b.values()].every((n) => n !== null)))
        const before = yield* bindings
        assert.deepStrictEqual(new Set(before.values()), new Set(["n1", "n2", "n3"]))
        assert.strictEqual(leading.size, 1)
        const leader = [...leading][0]!
        const onLeader = [...before].filter(([, n]) => n === leader).map(([p]) => p)
        assert.isAbove(onLeader.length, 0)

        // The leading agent stops (its lease revoked on the way out).
        yield* Scope.close(agents.find((a) => a.name === leader)!.scope, Exit.void)
        yield* eventually("another leader", Effect.sync(() => leading.size === 1 && !leading.has(leader)))
        yield* eventually(
          "its reschedulable pods moved",
          Effect.map(bindings, (b) => onLeader.filter((p) => p.startsWith("r")).every((p) => b.get(p) !== leader)),
          15_000
        )
        const lostOnes = onLeader.filter((p) => p.startsWith("s"))
        assert.isAbove(lostOnes.length, 0)
        yield* eventually(
          "its other pods reported lost",
          Effect.forEach(lostOnes, (p) => store.getStatus(p)).pipe(
            Effect.map((ss) => ss.every((s) => Option.isSome(s) && s.value.phase === "lost" && s.value.node === leader))
          ),
          15_000
        )
        const after = yield* bindings
        for (const p of lostOnes) assert.strictEqual(after.get(p), leader)
        // Pods elsewhere did not move.
        for (const [p, n] of before) if (n !== leader) assert.strictEqual(after.get(p), n)
      }),
    90_000
  )
})
