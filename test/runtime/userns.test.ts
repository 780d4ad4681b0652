/**
 * Host id ranges for user-namespaced pods (pure parts and the port over the store's allocations):
 * subuid/subgid entries, whole aligned blocks, one block per pod, sticky, disjoint under races,
 * released, a full pool named.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer } from "effect"
import { idPool, subidEntry } from "../../src/runtime/userns/subid.js"
import { BLOCK, layerAllocations, UserNamespaces } from "../../src/runtime/userns/UserNamespaces.js"
import { layerMemory as allocationsMemory } from "../../src/store/allocationsMemory.js"

describe("subid and the pool", () => {
  it("reads the tank entry; config wins; uid and gid must agree; blocks are aligned", () => {
    assert.deepStrictEqual(subidEntry("alice:100000:65536\ntank:1073741824:1073741824\n", "tank"), {
      start: 1073741824,
      size: 1073741824
    })
    assert.isUndefined(subidEntry("alice:100000:65536\n", "tank"))
    assert.deepStrictEqual(
      idPool({ start: 65536 * 9, size: BLOCK }, { subuid: undefined, subgid: undefined }),
      Either.right({ start: 65536 * 9, size: BLOCK })
    )
    assert.deepStrictEqual(
      idPool(undefined, { subuid: "tank:100000:200000", subgid: "tank:100000:200000" }),
      Either.right({ start: 131072, size: 131072 }) // 100000.. aligned up to 131072; 2 whole blocks fit
    )
    assert.match(
      Either.getLeft(idPool(undefined, { subuid: undefined, subgid: undefined })).pipe((o) =>
        o._tag === "Some" ? o.value : ""
      ),
      /add `tank:START:COUNT` to \/etc\/subuid/
    )
    assert.match(
      Either.getLeft(idPool(undefined, { subuid: "tank:65536:65536", subgid: "tank:131072:65536" })).pipe((o) =>
        o._tag === "Some" ? o.value : ""
      ),
      /differ/
    )
  })
})

const POOL = { start: 65536 * 100, size: 3 * BLOCK }
const ranges = Layer.provide(layerAllocations(Either.right(POOL)), allocationsMemory)

describe("UserNamespaces over allocations", () => {
  it.effect("one block per pod, the same on every ask, disjoint under concurrency, released, a full pool named", () =>
    Effect.gen(function*() {
      const u = yield* UserNamespaces
      const got = yield* Effect.all(["a", "b", "c"].map((p) => u.rangeFor(p)), { concurrency: "unbounded" })
      assert.deepStrictEqual(
        new Set(got.map((r) => r.hostUid)),
        new Set([POOL.start, POOL.start + BLOCK, POOL.start + 2 * BLOCK])
      )
      for (const r of got) assert.deepStrictEqual([r.hostUid === r.hostGid, r.size], [true, BLOCK])
      assert.deepStrictEqual(yield* u.rangeFor("b"), got[1])
      const full = yield* Effect.exit(u.rangeFor("d"))
      assert.isTrue(Exit.isFailure(full))
      assert.match(JSON.stringify(full), /no free range of 65536 host ids for pod \\"d\\"/)
      yield* u.release("b")
      assert.deepStrictEqual((yield* u.rangeFor("d")).hostUid, got[1]!.hostUid)
      assert.deepStrictEqual((yield* u.list).map((x) => x.pod), ["a", "d", "c"])
    }).pipe(Effect.provide(ranges)))

  it.effect("without a pool the ask fails with what to do", () =>
    Effect.gen(function*() {
      const u = yield* UserNamespaces
      const e = yield* Effect.flip(u.rangeFor("a"))
      assert.match(e.message, /subuid/)
    }).pipe(
      Effect.provide(
        Layer.provide(layerAllocations(Either.left("add `tank:START:COUNT` to /etc/subuid")), allocationsMemory)
      )
    ))
})
