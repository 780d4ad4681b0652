/**
 * The etcd Election against a real etcd: one leader among several contenders, hand-over when the
 * leader resigns (its `lead` interrupted), and leadership ending when the leader's lease is revoked
 * or etcd stops answering (whileLeader interrupted).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Ref } from "effect"
import { Election } from "../../src/cluster/Cluster.js"
import { layerEtcdWith } from "../../src/cluster/electionEtcd.js"
import { Etcd } from "../../src/etcd/client.js"
import { startEtcd } from "../support/etcd.js"
import { clientLayer, eventually, revokeLease } from "./clusterEtcd.js"

let n = 0
const freshPrefix = () => `/e${process.pid}-${++n}/`

interface Board {
  /** Who leads now (whileLeader running). */
  readonly leaders: Ref.Ref<ReadonlyArray<string>>
  /** The most leaders ever at once. */
  readonly most: Ref.Ref<number>
  /** Every time a whileLeader ended, by candidate. */
  readonly ended: Ref.Ref<ReadonlyArray<string>>
}

const board = Effect.all({
  leaders: Ref.make<ReadonlyArray<string>>([]),
  most: Ref.make(0),
  ended: Ref.make<ReadonlyArray<string>>([])
})

/** What a leader does: be on the board until interrupted. */
const leading = (b: Board, who: string) =>
  Effect.acquireRelease(
    Ref.updateAndGet(b.leaders, (xs) => [...xs, who]).pipe(
      Effect.flatMap((xs) => Ref.update(b.most, (m) => Math.max(m, xs.length)))
    ),
    () =>
      Ref.update(b.leaders, (xs) => xs.filter((x) => x !== who)).pipe(
        Effect.zipRight(Ref.update(b.ended, (xs) => [...xs, who]))
      )
  ).pipe(Effect.zipRight(Effect.never))

/** A contender with its own etcd connection (as a separate agent would have), campaigning at once. */
const contender = (endpoints: ReadonlyArray<string>, prefix: string, who: string, b: Board, ttlSeconds = 10) =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(
      layerEtcdWith({ ttlSeconds, candidate: who }).pipe(Layer.provideMerge(clientLayer(endpoints, prefix)))
    )
    const fiber = yield* Effect.forkScoped(
      Effect.flatMap(Election, (e) => e.lead(leading(b, who))).pipe(Effect.provide(ctx))
    )
    return { fiber, ctx }
  })

/** The current leader's lease and value, read from etcd (lowest create revision under the election). */
const leaderKey = Effect.gen(function*() {
  const { kv } = yield* Etcd
  const res = yield* Effect.promise(() => kv.getAll().prefix("election/scheduler/").sort("Create", "Ascend").exec())
  return res.kvs.map((k) => ({ lease: k.lease, value: k.value.toString() }))
})

const leadersNow = (b: Board) => Ref.get(b.leaders)

describe("Election on etcd", () => {
  it.scopedLive("three contenders: exactly one leads, and it stays that way", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const b = yield* board
      const cs = yield* Effect.forEach(["a", "b", "c"], (who) => contender(etcd.endpoints, prefix, who, b))
      yield* eventually("a leader", Effect.map(leadersNow(b), (xs) => xs.length === 1))
      const first = (yield* leadersNow(b))[0]!
      yield* Effect.sleep("2 seconds")
      assert.deepStrictEqual(yield* leadersNow(b), [first])
      assert.strictEqual(yield* Ref.get(b.most), 1)
      // etcd agrees: three campaign keys, the leader's first.
      const keys = yield* Effect.provide(leaderKey, cs[0]!.ctx)
      assert.strictEqual(keys.length, 3)
      assert.strictEqual(keys[0]!.value, first)
      // Every contender reads the same leader.
      for (const c of cs) {
        assert.deepStrictEqual(
          yield* Effect.flatMap(Election, (e) => e.leader).pipe(Effect.provide(c.ctx)),
          Option.some(first)
        )
      }
    }))

  it.scopedLive("the leader resigns when its lead is interrupted: another takes over at once, not after the TTL", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const b = yield* board
      const cs = new Map<string, Fiber.RuntimeFiber<never, unknown>>()
      for (const who of ["a", "b", "c"]) cs.set(who, (yield* contender(etcd.endpoints, prefix, who, b, 30)).fiber)
      yield* eventually("a leader", Effect.map(leadersNow(b), (xs) => xs.length === 1))
      const first = (yield* leadersNow(b))[0]!
      const t0 = Date.now()
      yield* Fiber.interrupt(cs.get(first)!)
      assert.deepStrictEqual(yield* Ref.get(b.ended), [first])
      yield* eventually("another leader", Effect.map(leadersNow(b), (xs) => xs.length === 1 && xs[0] !== first), 10_000)
      // The TTL is 30 s: only the resignation (lease revoked) explains a hand-over this fast.
      assert.isBelow(Date.now() - t0, 5000)
      assert.strictEqual(yield* Ref.get(b.most), 1)
    }))

  it.scopedLive("a leader whose lease is revoked stops leading (whileLeader interrupted); the next one leads", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const b = yield* board
      const a = yield* contender(etcd.endpoints, prefix, "a", b, 30)
      yield* eventually("a leads", Effect.map(leadersNow(b), (xs) => xs.length === 1 && xs[0] === "a"))
      yield* contender(etcd.endpoints, prefix, "b", b, 30)
      yield* eventually("b campaigns", Effect.map(Effect.provide(leaderKey, a.ctx), (ks) => ks.length === 2))
      const [leader] = yield* Effect.provide(leaderKey, a.ctx)
      assert.strictEqual(leader!.value, "a")
      yield* Effect.provide(revokeLease(leader!.lease), a.ctx)
      yield* eventually("a stopped", Effect.map(Ref.get(b.ended), (xs) => xs.includes("a")), 5000)
      yield* eventually("b leads", Effect.map(leadersNow(b), (xs) => xs.length === 1 && xs[0] === "b"), 5000)
      assert.strictEqual(yield* Ref.get(b.most), 1)
      // a campaigns again with a new lease, behind b.
      yield* eventually(
        "a back in line",
        Effect.map(Effect.provide(leaderKey, a.ctx), (ks) => ks.map((k) => k.value).join() === "b,a")
      )
    }))

  it.scopedLive(
    "etcd stops answering: the leader stops before its lease could expire; a leader again once it is back",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const prefix = freshPrefix()
        const b = yield* board
        yield* contender(etcd.endpoints, prefix, "a", b, 2)
        yield* eventually("a leads", Effect.map(leadersNow(b), (xs) => xs.length === 1))
        const t0 = Date.now()
        yield* etcd.members[0]!.kill
        yield* eventually("a stopped", Effect.map(Ref.get(b.ended), (xs) => xs.includes("a")), 5000)
        // 3/4 of the 2 s TTL plus one check period; never later than the TTL itself.
        assert.isBelow(Date.now() - t0, 2000)
        yield* etcd.members[0]!.start
        yield* eventually("a leads again", Effect.map(leadersNow(b), (xs) => xs.length === 1), 20_000)
      }),
    60_000
  )
})
