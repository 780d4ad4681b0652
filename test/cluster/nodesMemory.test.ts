/**
 * The in-memory Nodes layer: the same answers as the etcd layer (nodes.test.ts) for one process.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { Nodes, type NodeState } from "../../src/cluster/Cluster.js"
import { layerMemory } from "../../src/cluster/nodesMemory.js"
import { info } from "./clusterEtcd.js"

const readiness = (states: ReadonlyArray<NodeState>) => Object.fromEntries(states.map((s) => [s.info.name, s.ready]))

describe("Nodes in memory", () => {
  it.scoped("registered nodes are ready, sorted; closing the registration leaves the record, not ready", () =>
    Effect.gen(function*() {
      const nodes = yield* Nodes
      const scope = yield* Scope.make()
      yield* nodes.register(info("n2"), 10).pipe(Scope.extend(scope))
      yield* nodes.register(info("n1"), 10)
      const states = yield* nodes.list
      assert.deepStrictEqual(states.map((s) => s.info), [info("n1"), info("n2")])
      assert.deepStrictEqual(readiness(states), { n1: true, n2: true })
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(readiness(yield* nodes.list), { n1: true, n2: false })
    }).pipe(Effect.provide(layerMemory)))

  it.scoped("a name held at other addresses is refused; the same machine takes it over, and the old scope no longer owns it", () =>
    Effect.gen(function*() {
      const nodes = yield* Nodes
      const old = yield* Scope.make()
      yield* nodes.register(info("n1", { addresses: ["10.0.0.1"] }), 10).pipe(Scope.extend(old))
      const refused = yield* nodes.register(info("n1", { addresses: ["10.0.0.2"] }), 10).pipe(Effect.flip)
      assert.match(refused.message, /node name "n1" is held by a live agent/)
      yield* nodes.register(info("n1", { addresses: ["10.0.0.1"], agentPid: 7 }), 10)
      yield* Scope.close(old, Exit.void)
      const [n1] = yield* nodes.list
      assert.isTrue(n1!.ready)
      assert.strictEqual(n1!.info.agentPid, 7)
    }).pipe(Effect.provide(layerMemory)))

  it.scoped("markNotReady: ignored while the node is ready, shown while it is down, cleared by registering again", () =>
    Effect.gen(function*() {
      const nodes = yield* Nodes
      const scope = yield* Scope.make()
      yield* nodes.register(info("n1"), 10).pipe(Scope.extend(scope))
      yield* nodes.markNotReady("n1", "2026-11-23T16:00:00.000Z")
      yield* Scope.close(scope, Exit.void)
      assert.isUndefined((yield* nodes.list)[0]!.notReadySince)
      yield* nodes.markNotReady("n1", "2026-11-23T16:00:01.000Z")
      assert.strictEqual((yield* nodes.list)[0]!.notReadySince, "2026-11-23T16:00:01.000Z")
      yield* nodes.register(info("n1"), 10)
      assert.isUndefined((yield* nodes.list)[0]!.notReadySince)
      assert.isTrue((yield* nodes.list)[0]!.ready)
    }).pipe(Effect.provide(layerMemory)))

  it.scoped("remove: refused while ready, then the record is gone", () =>
    Effect.gen(function*() {
      const nodes = yield* Nodes
      const scope = yield* Scope.make()
      yield* nodes.register(info("gone"), 10).pipe(Scope.extend(scope))
      assert.match((yield* Effect.flip(nodes.remove("gone"))).message, /is ready/)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* nodes.remove("gone"))
      assert.deepStrictEqual(yield* nodes.list, [])
      assert.isFalse(yield* nodes.remove("gone"))
    }).pipe(Effect.provide(layerMemory)))

  it.scoped("watch: the list now, then each real change", () =>
    Effect.gen(function*() {
      const nodes = yield* Nodes
      yield* nodes.register(info("n1"), 10)
      const subscribed = yield* Deferred.make<void>()
      const seen = yield* nodes.watch.pipe(
        Stream.map((ss) => ss.map((s) => `${s.info.name}:${s.ready ? "ready" : "down"}`).join(",")),
        Stream.tap(() => Deferred.succeed(subscribed, undefined)),
        Stream.take(3),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(subscribed)
      const scope = yield* Scope.make()
      yield* nodes.register(info("n2"), 10).pipe(Scope.extend(scope))
      // No change: not emitted.
      yield* nodes.markNotReady("n2", "2026-11-23T16:00:00.000Z")
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(seen)), [
        "n1:ready",
        "n1:ready,n2:ready",
        "n1:ready,n2:down"
      ])
    }).pipe(Effect.provide(layerMemory)))
})
