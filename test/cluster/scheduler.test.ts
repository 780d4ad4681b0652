/**
 * The scheduler loop over the in-memory Store and the in-memory Nodes layer, on the TestClock: it
 * binds what the change feeds bring, writes events and statuses, marks nodes not ready, and acts on
 * the grace period only once the clock has passed it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Scope, TestClock } from "effect"
import { type NodeInfo, Nodes } from "../../src/cluster/Cluster.js"
import { layerMemory as nodesMemory } from "../../src/cluster/nodesMemory.js"
import { runScheduler } from "../../src/cluster/scheduler.js"
import { decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"
import { layerMemory as storeMemory } from "../../src/store/memory.js"
import { Store } from "../../src/store/Store.js"

const GiB = 1024 ** 3
const LOST_AFTER = 30

const spec = (name: string, over: Record<string, unknown> = {}): Pod => {
  const r = decodePodEither({ name, containers: [{ name: "app", image: "busybox" }], ...over })
  if (r._tag === "Left") throw new Error(r.left.message)
  return r.right
}

const info = (name: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  name,
  addresses: [`10.0.0.${name.length}`],
  capacity: { cpu: 4000, memory: 8 * GiB, pods: 110 },
  labels: {},
  agentPid: 1,
  registeredAt: "2026-11-23T00:00:00.000Z",
  ...over
})

const START = Date.parse("2026-11-23T16:00:00.000Z")

/**
 * Store, Nodes and the scheduler running, as the elected agent would run it. The clock is set first:
 * moving it later would run every periodic pass in between.
 */
const cluster = Effect.gen(function*() {
  yield* TestClock.setTime(START)
  const ctx = yield* Layer.build(Layer.merge(storeMemory, nodesMemory))
  yield* Effect.forkScoped(runScheduler({ lostAfterSeconds: LOST_AFTER, self: "n1" }).pipe(Effect.provide(ctx)))
  const store = yield* Effect.provide(Store, ctx)
  const nodes = yield* Effect.provide(Nodes, ctx)
  /** Register a node; close the returned scope to take it down (as a stopped agent would). */
  const up = (i: NodeInfo) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* nodes.register(i, 10).pipe(Scope.extend(scope))
      return scope
    })
  const down = (scope: Scope.CloseableScope) => Scope.close(scope, Exit.void)
  const bindings = store.list.pipe(Effect.map(({ pods }) => Object.fromEntries(pods.map((p) => [p.name, p.node]))))
  const events = (type: string) =>
    store.recentEvents(1000).pipe(
      Effect.map(({ events }) => events.filter((e) => e.type === type).map((e) => `${e.pod}: ${e.message}`))
    )
  return { store, nodes, up, down, bindings, events }
})

/** Let the loop's fibers run until `check` holds (everything is in memory; no real time passes). */
const settle = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      if (yield* check) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`never settled: ${what}`)
  })

/** Let the loop run a while, then check nothing changed (for "does not act yet"). */
const idle = Effect.repeatN(Effect.yieldNow(), 500)

describe("runScheduler", () => {
  it.scoped("binds pods as they are applied and as nodes appear, with a scheduled event naming the node", () =>
    Effect.gen(function*() {
      const c = yield* cluster
      yield* c.store.put(spec("early"))
      yield* settle("early reported unschedulable", Effect.map(c.store.getStatus("early"), Option.isSome))
      const early = Option.getOrThrow(yield* c.store.getStatus("early"))
      assert.strictEqual(early.phase, "unschedulable")
      assert.strictEqual(early.reason, "no nodes registered")
      assert.deepStrictEqual(yield* c.events("unschedulable"), ["early: no nodes registered"])
      // An unschedulable pod deleted: its status goes with it (nobody else wrote it, nobody else removes it).
      yield* c.store.put(spec("fleeting"))
      yield* settle("fleeting pending", Effect.map(c.store.getStatus("fleeting"), Option.isSome))
      yield* c.store.delete("fleeting")
      yield* settle("fleeting's status removed", Effect.map(c.store.getStatus("fleeting"), Option.isNone))
      yield* c.up(info("a"))
      yield* c.up(info("b", { capacity: { cpu: 8000, memory: 16 * GiB, pods: 110 } }))
      yield* settle("early bound", Effect.map(c.bindings, (b) => b.early !== null))
      yield* c.store.put(spec("web"))
      yield* c.store.put(spec("db", { nodeSelector: { disk: "ssd" } }))
      yield* c.store.put(spec("pinned", { node: "a" }))
      yield* settle("web and pinned bound", Effect.map(c.bindings, (b) => b.web !== null && b.pinned !== null))
      const b = yield* c.bindings
      assert.strictEqual(b.pinned, "a")
      assert.strictEqual(b.db, null)
      // Binds of one pass run concurrently: their events come in any order.
      assert.deepStrictEqual([...yield* c.events("scheduled")].sort(), [
        `early: bound to node ${b.early} (placed)`,
        "pinned: bound to node a (pinned to node a)",
        `web: bound to node ${b.web} (placed)`
      ])
      // The selector's node arrives: db goes there.
      yield* c.up(info("c", { labels: { disk: "ssd" } }))
      yield* settle("db bound", Effect.map(c.bindings, (x) => x.db === "c"))
    }))

  it.scoped("a node that goes down is marked at once; its pods move or are lost only after the grace period", () =>
    Effect.gen(function*() {
      const c = yield* cluster
      const a = yield* c.up(info("a"))
      yield* c.store.put(spec("mover", { node: "a" }))
      yield* settle("mover pinned on a", Effect.map(c.bindings, (b) => b.mover === "a"))
      // Unpinned but reschedulable, and a plain pod, both on a.
      yield* c.store.put(spec("mover", { reschedule: true }))
      yield* c.store.put(spec("stayer"))
      yield* settle("stayer on a", Effect.map(c.bindings, (b) => b.stayer === "a"))
      yield* c.up(info("b"))
      yield* c.down(a)
      yield* settle(
        "a marked not ready",
        Effect.map(
          c.nodes.list,
          (ns) => ns.find((n) => n.info.name === "a")?.notReadySince === "2026-11-23T16:00:00.000Z"
        )
      )
      yield* TestClock.adjust(`${LOST_AFTER - 1} seconds`)
      yield* idle
      assert.deepStrictEqual(yield* c.bindings, { mover: "a", stayer: "a" })
      assert.deepStrictEqual(yield* c.events("lost"), [])
      yield* TestClock.adjust("1 second")
      yield* settle("mover moved", Effect.map(c.bindings, (b) => b.mover === "b"))
      yield* settle(
        "stayer lost",
        Effect.map(c.store.getStatus("stayer"), (s) => Option.isSome(s) && s.value.phase === "lost")
      )
      const lost = Option.getOrThrow(yield* c.store.getStatus("stayer"))
      assert.strictEqual(lost.node, "a")
      assert.strictEqual(lost.reason, "node a not ready since 2026-11-23T16:00:00.000Z")
      assert.strictEqual((yield* c.bindings).stayer, "a")
      assert.deepStrictEqual(yield* c.events("lost"), ["stayer: node a not ready since 2026-11-23T16:00:00.000Z"])
      assert.include(
        (yield* c.events("scheduled")).at(-1)!,
        "mover: moved from node a to node b (node a not ready since 2026-11-23T16:00:00.000Z: moved)"
      )
      // Reported once per outage, however many passes follow.
      yield* TestClock.adjust("1 minute")
      yield* idle
      assert.strictEqual((yield* c.events("lost")).length, 1)
      // Deleting a lost pod removes its status: its node's agent is not there to do it.
      yield* c.store.put(spec("gone"))
      yield* c.store.bind("gone", "a")
      yield* TestClock.adjust("1 second")
      yield* settle(
        "gone lost",
        Effect.map(c.store.getStatus("gone"), (s) => Option.isSome(s) && s.value.phase === "lost")
      )
      yield* c.store.delete("gone")
      yield* settle("gone's status removed", Effect.map(c.store.getStatus("gone"), Option.isNone))
      // The node comes back: the mark is gone, the lost pod is still bound there for its agent to run.
      yield* c.up(info("a"))
      const back = (yield* c.nodes.list).find((n) => n.info.name === "a")!
      assert.isTrue(back.ready)
      assert.isUndefined(back.notReadySince)
    }))

  it.scoped("the grace period counts from the recorded mark, so a new leader does not restart it", () =>
    Effect.gen(function*() {
      const ctx = yield* Layer.build(Layer.merge(storeMemory, nodesMemory))
      const store = yield* Effect.provide(Store, ctx)
      const nodes = yield* Effect.provide(Nodes, ctx)
      yield* TestClock.setTime(START)
      const scope = yield* Scope.make()
      yield* nodes.register(info("a"), 10).pipe(Scope.extend(scope))
      yield* nodes.register(info("b"), 10)
      yield* store.put(spec("p", { reschedule: true }))
      yield* store.bind("p", "a")
      yield* Scope.close(scope, Exit.void)
      // A previous leader marked a down 25 s before this one starts.
      yield* nodes.markNotReady("a", "2026-11-23T15:59:35.000Z")
      yield* Effect.forkScoped(runScheduler({ lostAfterSeconds: LOST_AFTER, self: "b" }).pipe(Effect.provide(ctx)))
      yield* idle
      assert.strictEqual(Option.getOrThrow(yield* store.get("p")).node, "a")
      yield* TestClock.adjust("5 seconds")
      yield* settle(
        "p moved after the remaining 5 s",
        Effect.map(store.get("p"), (p) => Option.getOrThrow(p).node === "b")
      )
    }))

  it.scoped("a spec change that no longer suits the node moves the pod; one that suits none unbinds it", () =>
    Effect.gen(function*() {
      const c = yield* cluster
      yield* c.up(info("a", { labels: { zone: "x" } }))
      yield* c.up(info("b", { labels: { zone: "y" } }))
      yield* c.store.put(spec("p", { nodeSelector: { zone: "x" } }))
      yield* settle("p on a", Effect.map(c.bindings, (b) => b.p === "a"))
      yield* c.store.put(spec("p", { nodeSelector: { zone: "y" } }))
      yield* settle("p on b", Effect.map(c.bindings, (b) => b.p === "b"))
      yield* c.store.put(spec("p", { node: "a" }))
      yield* settle("p pinned to a", Effect.map(c.bindings, (b) => b.p === "a"))
      yield* c.store.put(spec("p", { nodeSelector: { zone: "nowhere" } }))
      yield* settle("p unbound", Effect.map(c.bindings, (b) => b.p === null))
      const s = Option.getOrThrow(yield* c.store.getStatus("p"))
      assert.strictEqual(s.phase, "unschedulable")
      assert.match(s.reason!, /^node a does not match nodeSelector zone=nowhere; 0\/2 nodes fit/)
      assert.isUndefined(s.node)
    }))

  it.scoped("a node goes down: 'unknown' events for its pods; a reschedulable pod that fits nowhere else turns unschedulable there", () =>
    Effect.gen(function*() {
      const c = yield* cluster
      yield* c.up(info("a", { labels: { zone: "a" } }))
      const b = yield* c.up(info("b", { labels: { zone: "b" } }))
      // Only b has zone=b: when b is lost, "picky" fits nowhere else. "easy" moves to a.
      yield* c.store.put(spec("picky", { reschedule: true, nodeSelector: { zone: "b" } }))
      yield* c.store.put(spec("easy", { reschedule: true }))
      yield* settle("picky on b", Effect.map(c.bindings, (x) => x.picky === "b" && x.easy !== null))
      yield* c.store.bind("easy", "b")
      yield* settle("easy on b", Effect.map(c.bindings, (x) => x.easy === "b"))
      // b's agent had reported picky running.
      yield* c.store.putStatus({
        name: "picky",
        phase: "running",
        restarts: 0,
        specRevision: 1,
        node: "b",
        hostPid: 4242,
        updatedAt: "2026-11-23T16:00:00.000Z"
      })
      yield* c.down(b)
      yield* settle("unknown events", Effect.map(c.events("unknown"), (e) => e.length === 2))
      assert.deepStrictEqual([...yield* c.events("unknown")].sort(), [
        "easy: node b is not ready (last heartbeat 2026-11-23T16:00:00.000Z): what runs there is unknown",
        "picky: node b is not ready (last heartbeat 2026-11-23T16:00:00.000Z): what runs there is unknown"
      ])
      yield* TestClock.adjust(`${LOST_AFTER} seconds`)
      yield* settle("easy moved to a", Effect.map(c.bindings, (x) => x.easy === "a"))
      yield* settle(
        "picky unschedulable",
        Effect.map(c.store.getStatus("picky"), (st) => Option.isSome(st) && st.value.phase === "unschedulable")
      )
      const st = Option.getOrThrow(yield* c.store.getStatus("picky"))
      const why = "node b not ready since 2026-11-23T16:00:00.000Z; 0/2 nodes fit: " +
        "1 is the node it leaves; 1 not matching nodeSelector zone=b"
      assert.strictEqual(st.reason, why)
      // Still bound to b (where it may still run), with b's name on the status as for a lost pod.
      assert.strictEqual((yield* c.bindings).picky, "b")
      assert.strictEqual(st.node, "b")
      assert.isUndefined(st.hostPid)
      assert.deepStrictEqual(yield* c.events("unschedulable"), [`picky: ${why}`])
      // Once: later passes write nothing more.
      yield* TestClock.adjust("1 minute")
      yield* idle
      assert.strictEqual((yield* c.events("unschedulable")).length, 1)
      // A node with zone=b appears: picky moves there.
      yield* c.up(info("b2", { labels: { zone: "b" } }))
      yield* settle("picky on b2", Effect.map(c.bindings, (x) => x.picky === "b2"))
    }))

  it.scoped("a pod pinned to a node that is not registered is unschedulable naming it, then runs when it registers", () =>
    Effect.gen(function*() {
      const c = yield* cluster
      yield* c.up(info("n1"))
      yield* c.store.put(spec("pinned", { node: "n9" }))
      yield* settle(
        "pinned unschedulable",
        Effect.map(c.store.getStatus("pinned"), (s) => Option.isSome(s) && s.value.phase === "unschedulable")
      )
      const s = Option.getOrThrow(yield* c.store.getStatus("pinned"))
      assert.strictEqual(s.reason, "pinned to node n9, which is not registered (registered: n1)")
      assert.isUndefined(s.node)
      assert.strictEqual((yield* c.bindings).pinned, null)
      yield* c.up(info("n9"))
      yield* settle("pinned bound to n9", Effect.map(c.bindings, (x) => x.pinned === "n9"))
    }))

  it.scoped("a pod changed between the read and the bind is not bound on stale grounds: the next pass decides again", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const base = yield* Layer.build(Layer.merge(storeMemory, nodesMemory))
      const inner = yield* Effect.provide(Store, base)
      // The memory store, with another client's write landing just before the scheduler's first bind.
      let raced = false
      const racing = Layer.succeed(Store, {
        ...inner,
        bind: (name, node, options) =>
          Effect.suspend(() => {
            if (raced) return inner.bind(name, node, options)
            raced = true
            return inner.put(spec(name, { nodeSelector: { zone: "y" } })).pipe(
              Effect.zipRight(inner.bind(name, node, options))
            )
          })
      })
      const nodes = yield* Effect.provide(Nodes, base)
      yield* nodes.register(info("a", { labels: { zone: "x" } }), 10)
      yield* nodes.register(info("b", { labels: { zone: "y" } }), 10)
      yield* inner.put(spec("p"))
      yield* Effect.forkScoped(
        runScheduler({ lostAfterSeconds: LOST_AFTER, self: "a" }).pipe(
          Effect.provide(Layer.merge(Layer.succeedContext(base), racing))
        )
      )
      yield* settle("p bound", Effect.map(inner.get("p"), (p) => Option.getOrThrow(p).node !== null))
      assert.isTrue(raced)
      // The first decision (a, the emptiest for a selector-less pod) hit the conflict; the spec now wants zone y.
      assert.strictEqual(Option.getOrThrow(yield* inner.get("p")).node, "b")
      const scheduled = (yield* inner.recentEvents(100)).events.filter((e) => e.type === "scheduled")
      assert.deepStrictEqual(scheduled.map((e) => e.message), ["bound to node b (placed)"])
    }))

  it.scoped("many pods applied at once are all bound, spread over the nodes", () =>
    Effect.gen(function*() {
      const c = yield* cluster
      for (const n of ["a", "b", "c"]) yield* c.up(info(n))
      for (let i = 0; i < 60; i++) yield* c.store.put(spec(`p${i}`))
      yield* settle("all bound", Effect.map(c.bindings, (b) => Object.values(b).every((n) => n !== null)))
      const per = Object.values(yield* c.bindings).reduce<Record<string, number>>(
        (acc, n) => ({ ...acc, [n!]: (acc[n!] ?? 0) + 1 }),
        {}
      )
      assert.deepStrictEqual(per, { a: 20, b: 20, c: 20 })
      assert.strictEqual((yield* c.events("scheduled")).length, 60)
    }))
})
