// Unreadable etcd values (written with a raw client behind the Store's back) are isolated InvalidRecords,
// with the same semantics as unreadable SQLite rows (invalidSuite.ts).
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { type EtcdCluster, startEtcd } from "../support/etcd.js"
import { freshPrefix, rawOn, storeOn } from "./etcdHelpers.js"
import { type Corrupt, invalidSuite } from "./invalidSuite.js"
import { pod } from "./suite.js"

let scope: Scope.CloseableScope
let etcd: EtcdCluster

beforeAll(async () => {
  scope = await Effect.runPromise(Scope.make())
  etcd = await Effect.runPromise(startEtcd().pipe(Scope.extend(scope)))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const etcdEnv = Effect.gen(function*() {
  const prefix = freshPrefix()
  const store = yield* storeOn(etcd.endpoints, prefix)
  const raw = yield* rawOn(etcd.endpoints, prefix)
  const put = (key: string, value: string | Buffer) => Effect.promise(() => raw.kv.put(key).value(value).exec())
  let n = 0
  const corrupt: Corrupt = {
    podRaw: (name, text) => Effect.asVoid(put(`pods/${name}`, text)),
    // The value as the Store writes it, around a spec that does not validate.
    podSpec: (name, spec) =>
      Effect.asVoid(
        put(`pods/${name}`, JSON.stringify({ spec, restartGeneration: 0, node: null, updatedAt: 0, writeId: "w" }))
      ),
    status: (name, text) => Effect.asVoid(put(`status/${name}`, text)),
    event: (text) => Effect.asVoid(put(`events/ffff${String(n++).padStart(12, "0")}`, text))
  }
  return { store, corrupt, put, prefix }
})

invalidSuite("etcd", etcdEnv)

describe("Store (etcd): values behind the Store's back", () => {
  it.scopedLive(
    "a value over 1 MiB is reported too large, with the key, without being parsed",
    () =>
      Effect.gen(function*() {
        const { prefix, put, store } = yield* etcdEnv
        yield* store.put(pod("good"))
        yield* put("pods/big", Buffer.alloc(1_200_000, "x"))
        const { invalid, pods } = yield* store.list
        assert.deepStrictEqual(pods.map((p) => p.name), ["good"])
        assert.strictEqual(invalid.length, 1)
        assert.include(invalid[0]!.message, `etcd key ${prefix}pods/big`)
        assert.include(invalid[0]!.reason, "too large: 1200000 bytes (the limit is 1048576)")
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "an unreadable value whose bookkeeping is readable keeps its node binding (for the node views)",
    () =>
      Effect.gen(function*() {
        const { put, store } = yield* etcdEnv
        yield* put(
          "pods/b",
          JSON.stringify({ spec: { name: "b" }, restartGeneration: 3, node: "n2", updatedAt: 0, writeId: "w" })
        )
        const [r] = (yield* store.list).invalid
        assert.strictEqual(r!.node, "n2")
        // A re-apply keeps what of the bookkeeping was readable.
        const repaired = yield* store.put(pod("b"))
        assert.deepStrictEqual([repaired.node, repaired.restartGeneration], ["n2", 3])
      }),
    { timeout: 30_000 }
  )
})
