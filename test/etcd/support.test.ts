/** The etcd test support itself: a 3-member cluster keeps serving writes with one member down. */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { Etcd, layer } from "../../src/etcd/client.js"
import { startEtcdCluster } from "../support/etcd.js"

describe("etcd test cluster", () => {
  it.scopedLive("3 members; a write succeeds with one killed; it rejoins", () =>
    Effect.gen(function*() {
      const c = yield* startEtcdCluster(3)
      const [first, ...rest] = c.endpoints
      const etcd = Context.get(yield* Layer.build(layer({ endpoints: [first!, ...rest], prefix: "/t/" })), Etcd)
      yield* Effect.promise(() => etcd.kv.put("a").value("1").exec())
      yield* c.members[0]!.kill
      assert.isFalse(c.members[0]!.running())
      yield* Effect.promise(() => etcd.kv.put("b").value("2").exec())
      assert.strictEqual(yield* Effect.promise(() => etcd.kv.get("b").string()), "2")
      yield* c.members[0]!.start
      assert.strictEqual(yield* Effect.promise(() => etcd.kv.get("a").string()), "1")
    }), { timeout: 30_000 })
})
