/**
 * NodeView over the in-memory store: what one node's reconciler sees of a cluster store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"
import * as NodeView from "../../src/cluster/nodeView.js"
import { decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import { make as memoryStore } from "../../src/store/memory.js"
import type { PodStatus } from "../../src/store/status.js"
import { type Change, InvalidRecord, type StoredPod } from "../../src/store/Store.js"

const pod = (name: string, extra: object = {}): Pod => {
  const r = decodePodEither({ name, containers: [{ name: "app", image: "busybox" }], ...extra })
  if (r._tag === "Left") throw r.left
  return r.right
}

const stored = (name: string, node: string | null, revision = 1): StoredPod => ({
  name,
  spec: pod(name),
  revision,
  createdRevision: 1,
  updatedAt: 0,
  restartGeneration: 0,
  node
})

const status = (name: string, extra: Partial<PodStatus> = {}): PodStatus => ({
  name,
  phase: "running",
  restarts: 0,
  specRevision: 1,
  updatedAt: new Date(0).toISOString(),
  ...extra
})

const summary = (c: Change) =>
  c._tag === "PodPut"
    ? `put ${c.pod.name}`
    : c._tag === "PodDeleted"
    ? `deleted ${c.name}`
    : c._tag === "PodInvalid"
    ? `invalid ${c.record.key}`
    : `resync ${c.pods.map((p) => p.name).join(",")}`

describe("viewChange (pure)", () => {
  it("a put bound here is shown and becomes visible", () => {
    const r = NodeView.viewChange("n1", new Set(), { _tag: "PodPut", revision: 2, pod: stored("a", "n1") })
    assert.strictEqual(r.out?._tag, "PodPut")
    assert.deepStrictEqual([...r.visible], ["a"])
  })
  it("a put bound elsewhere: dropped if never visible, a deletion if it was (moved away)", () => {
    const never = NodeView.viewChange("n1", new Set(), { _tag: "PodPut", revision: 2, pod: stored("a", "n2") })
    assert.isUndefined(never.out)
    const moved = NodeView.viewChange("n1", new Set(["a"]), { _tag: "PodPut", revision: 3, pod: stored("a", "n2") })
    assert.deepStrictEqual(moved.out, { _tag: "PodDeleted", revision: 3, name: "a" })
    assert.strictEqual(moved.visible.size, 0)
    const unbound = NodeView.viewChange("n1", new Set(["a"]), { _tag: "PodPut", revision: 4, pod: stored("a", null) })
    assert.strictEqual(unbound.out?._tag, "PodDeleted")
  })
  it("a pod pinned here counts as ours before the scheduler binds it; pinned elsewhere does not", () => {
    const pinned = { ...stored("a", null), spec: pod("a", { node: "n1" }) }
    assert.isTrue(NodeView.boundTo("n1")(pinned))
    assert.isFalse(NodeView.boundTo("n2")(pinned))
    assert.isFalse(NodeView.boundTo("n1")({ ...pinned, node: "n2" }), "the binding wins once written")
    assert.strictEqual(
      NodeView.viewChange("n1", new Set(), { _tag: "PodPut", revision: 2, pod: pinned }).out?._tag,
      "PodPut"
    )
  })
  it("deletions only of visible pods; resync filtered and resets the visible set", () => {
    assert.isUndefined(NodeView.viewChange("n1", new Set(), { _tag: "PodDeleted", revision: 2, name: "a" }).out)
    assert.strictEqual(
      NodeView.viewChange("n1", new Set(["a"]), { _tag: "PodDeleted", revision: 2, name: "a" }).out?._tag,
      "PodDeleted"
    )
    const r = NodeView.viewChange("n1", new Set(["old"]), {
      _tag: "Resync",
      revision: 9,
      pods: [stored("a", "n1"), stored("b", "n2"), stored("c", null)],
      invalid: []
    })
    assert.deepStrictEqual(r.out?._tag === "Resync" && r.out.pods.map((p) => p.name), ["a"])
    assert.deepStrictEqual([...r.visible], ["a"])
  })
  it("an unreadable pod record is shown unless its bookkeeping binds it elsewhere", () => {
    const bad = (key: string, node?: string | null) =>
      new InvalidRecord({
        kind: "pod",
        key,
        where: `etcd key pods/${key}`,
        reason: "not JSON",
        revision: 3,
        ...(node !== undefined ? { node } : {})
      })
    const change = (node?: string | null): Change => ({ _tag: "PodInvalid", revision: 3, record: bad("a", node) })
    // Unknown node, unbound, or ours: visible (a node that runs it keeps it; others never start it).
    for (const node of [undefined, null, "n1"]) {
      const r = NodeView.viewChange("n1", new Set(), change(node))
      assert.strictEqual(r.out?._tag, "PodInvalid")
      assert.deepStrictEqual([...r.visible], ["a"])
    }
    // Bound elsewhere: hidden, and a pod that was visible here reads as deleted (it moved away).
    assert.isUndefined(NodeView.viewChange("n1", new Set(), change("n2")).out)
    assert.strictEqual(NodeView.viewChange("n1", new Set(["a"]), change("n2")).out?._tag, "PodDeleted")
    const r = NodeView.viewChange("n1", new Set(), {
      _tag: "Resync",
      revision: 9,
      pods: [],
      invalid: [bad("x"), bad("y", "n2"), bad("z", "n1")]
    })
    assert.deepStrictEqual(r.out?._tag === "Resync" && r.out.invalid.map((i) => i.key), ["x", "z"])
    assert.deepStrictEqual([...r.visible].sort(), ["x", "z"])
  })
})

describe("NodeView over the memory store", () => {
  it.scoped("list/get show only pods bound here; the feed turns a move away into a deletion", () =>
    Effect.gen(function*() {
      const store = yield* memoryStore
      yield* store.put(pod("a"))
      yield* store.put(pod("b"))
      yield* store.put(pod("c"))
      yield* store.bind("a", "n1")
      yield* store.bind("b", "n2")
      const view = yield* NodeView.make("n1", store)
      assert.deepStrictEqual((yield* view.list).pods.map((p) => p.name), ["a"])
      assert.isTrue(Option.isSome(yield* view.get("a")))
      assert.isTrue(Option.isNone(yield* view.get("b")))
      assert.isTrue(Option.isNone(yield* view.get("c")))
      // Writes pass through to the whole store.
      assert.strictEqual((yield* store.list).pods.length, 3)

      const from = yield* store.revision
      const feed = yield* view.watch(from).pipe(Stream.take(4), Stream.runCollect, Effect.fork)
      yield* store.bind("c", "n1") // c arrives
      yield* store.bind("b", "n3") // never ours: dropped
      yield* store.bind("a", "n2") // a moves away
      yield* store.delete("b") // never ours: dropped
      yield* store.put(pod("c")) // c changes
      yield* store.delete("c") // c deleted
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(feed)).map(summary)
      assert.deepStrictEqual(seen, ["put c", "deleted a", "put c", "deleted c"])
      assert.deepStrictEqual(yield* view.list, { pods: [], invalid: [] })
    }))

  it.scoped("statuses: stamped with this node, read back only if ours, another node's never overwritten or deleted", () =>
    Effect.gen(function*() {
      const store = yield* memoryStore
      yield* store.put(pod("a"))
      yield* store.bind("a", "n1")
      const n1 = yield* NodeView.make("n1", store)
      const n2 = yield* NodeView.make("n2", store)
      yield* n1.putStatus(status("a", { hostPid: 11 }))
      assert.strictEqual(Option.getOrThrow(yield* store.getStatus("a")).node, "n1")
      assert.deepStrictEqual((yield* n1.listStatus).statuses.map((s) => s.name), ["a"])
      assert.deepStrictEqual(yield* Effect.map(n2.listStatus, (l) => l.statuses), [])
      assert.isTrue(Option.isNone(yield* n2.getStatus("a")))

      // a moves to n2; n2 reports it; n1, still stopping its copy, must not clobber or remove that.
      yield* store.bind("a", "n2")
      yield* n2.putStatus(status("a", { hostPid: 22 }))
      yield* n1.putStatus(status("a", { phase: "stopping", hostPid: 11 }))
      yield* n1.deleteStatus("a")
      const now = Option.getOrThrow(yield* store.getStatus("a"))
      assert.strictEqual(now.node, "n2")
      assert.strictEqual(now.hostPid, 22)

      // Its own status n2 deletes; an unstamped status (the scheduler's "lost") is taken over by the pod's node.
      yield* n2.deleteStatus("a")
      assert.isTrue(Option.isNone(yield* store.getStatus("a")))
      yield* store.putStatus(status("a", { phase: "lost" }))
      yield* n1.deleteStatus("a")
      assert.isTrue(Option.isSome(yield* store.getStatus("a")), "n1 does not delete a status it did not write")
      yield* n2.putStatus(status("a"))
      assert.strictEqual(Option.getOrThrow(yield* store.getStatus("a")).node, "n2")
    }))

  it.scoped("ensureLocal: refuses a pod bound to another node, naming it; unknown and unbound pods pass", () =>
    Effect.gen(function*() {
      const store = yield* memoryStore
      yield* store.put(pod("a"))
      yield* store.put(pod("b"))
      yield* store.bind("a", "n2")
      const err = yield* Effect.flip(NodeView.ensureLocal(store, "n1", "a"))
      assert.strictEqual(err._tag, "PodOnOtherNode")
      assert.include(err.message, `runs on node "n2"`)
      yield* NodeView.ensureLocal(store, "n2", "a")
      yield* NodeView.ensureLocal(store, "n1", "b")
      yield* NodeView.ensureLocal(store, "n1", "nope")
    }))
})
