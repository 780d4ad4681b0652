/**
 * Nodes and Election on a 3-member etcd cluster, losing one member at a time: a registered node stays
 * ready and the leader keeps leading (no lease runs out while a quorum is left).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref, Stream } from "effect"
import { Election, Nodes } from "../../src/cluster/Cluster.js"
import { layerEtcdWith as electionEtcd } from "../../src/cluster/electionEtcd.js"
import { layerEtcd as nodesEtcd } from "../../src/cluster/nodesEtcd.js"
import { startEtcdCluster } from "../support/etcd.js"
import { clientLayer, eventually, info } from "./clusterEtcd.js"

describe("Nodes and Election on a 3-member etcd cluster", () => {
  it.scopedLive(
    "killing one member at a time: the node never reads not ready and the leader never stops",
    () =>
      Effect.gen(function*() {
        const cluster = yield* startEtcdCluster(3)
        const prefix = `/c${process.pid}/`
        const ctx = yield* Layer.build(
          Layer.merge(nodesEtcd, electionEtcd({ ttlSeconds: 3, candidate: "n1" })).pipe(
            Layer.provideMerge(clientLayer(cluster.endpoints, prefix))
          )
        )
        // An observer with its own connection, as `tank nodes` on another machine would be.
        const observer = yield* Layer.build(nodesEtcd.pipe(Layer.provideMerge(clientLayer(cluster.endpoints, prefix))))
        yield* Effect.flatMap(Nodes, (n) => n.register(info("n1"), 3)).pipe(Effect.provide(ctx))
        const leads = yield* Ref.make(0)
        const stops = yield* Ref.make(0)
        yield* Effect.forkScoped(
          Effect.flatMap(Election, (e) =>
            e.lead(
              Effect.acquireRelease(Ref.update(leads, (x) => x + 1), () => Ref.update(stops, (x) => x + 1)).pipe(
                Effect.zipRight(Effect.never)
              )
            )).pipe(Effect.provide(ctx))
        )
        yield* eventually("leading", Effect.map(Ref.get(leads), (x) => x === 1))
        const notReady = yield* Ref.make(0)
        const watching = yield* Effect.flatMap(Nodes, (n) =>
          n.watch.pipe(
            Stream.runForEach((states) =>
              states.some((s) => !s.ready) ? Ref.update(notReady, (x) => x + 1) : Effect.void
            ),
            Effect.retry({ times: 100 }),
            Effect.forkScoped
          )).pipe(Effect.provide(observer))
        for (const m of cluster.members) {
          yield* m.kill
          // Longer than the 3 s TTL: the lease lives only if keep-alives reach the other members.
          yield* Effect.sleep("4 seconds")
          yield* m.start
          yield* Effect.sleep("500 millis")
        }
        const list = yield* Effect.flatMap(Nodes, (n) => n.list).pipe(Effect.provide(observer))
        assert.deepStrictEqual(list.map((s) => [s.info.name, s.ready]), [["n1", true]])
        assert.strictEqual(yield* Ref.get(notReady), 0)
        assert.strictEqual(yield* Ref.get(leads), 1)
        assert.strictEqual(yield* Ref.get(stops), 0)
        yield* Fiber.interrupt(watching)
      }),
    90_000
  )
})
