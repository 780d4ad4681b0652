// The etcd Store's change and event feeds: disconnects, backlogs, compaction, trimming, cleanup.
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Option, Schedule, Stream } from "effect"
import type { Change } from "../../src/store/Store.js"
import { startEtcd, startEtcdCluster } from "../support/etcd.js"
import { etcdctl, freshPrefix, rawOn, storeOn, storeOnClient } from "./etcdHelpers.js"
import { pod } from "./suite.js"

/** Poll `get` until it returns `expected` (fails with the last value after 5 s). */
const settles = (get: Effect.Effect<number>, expected: number) =>
  get.pipe(
    Effect.filterOrFail((n) => n === expected, (n) => `expected ${expected}, still ${n}`),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds"))),
    Effect.orDieWith((e) => new Error(e))
  )

const names = (changes: ReadonlyArray<Change>) =>
  changes.map((c) => c._tag === "PodPut" ? c.pod.name : c._tag === "PodDeleted" ? `-${c.name}` : "resync")

describe("Store (etcd): change feed", () => {
  it.scopedLive(
    "a watch cut off from its member resumes where it was: every write made meanwhile arrives once, in order",
    () =>
      Effect.gen(function*() {
        const cluster = yield* startEtcdCluster(3)
        const prefix = freshPrefix()
        const [m0, m1, m2] = cluster.members
        // The watcher talks to m0 only, so killing m0 certainly cuts its watch.
        const watching = yield* storeOn([m0!.clientUrl], prefix)
        const writer = yield* storeOn([m1!.clientUrl, m2!.clientUrl], prefix)
        const from = yield* writer.revision
        const total = 60
        const got = yield* watching.watch(from).pipe(Stream.take(total), Stream.runCollect, Effect.fork)
        for (let i = 0; i < 20; i++) yield* writer.put(pod(`a${i}`))
        yield* Effect.sleep("200 millis")
        yield* m0!.kill
        for (let i = 0; i < 20; i++) yield* writer.put(pod(`b${i}`))
        yield* Effect.sleep("300 millis")
        yield* m0!.start
        for (let i = 0; i < 20; i++) yield* writer.put(pod(`c${i}`))
        const changes = Chunk.toReadonlyArray(yield* Fiber.join(got).pipe(Effect.timeout("20 seconds")))
        const expected = ["a", "b", "c"].flatMap((p) => Array.from({ length: 20 }, (_, i) => `${p}${i}`))
        assert.deepStrictEqual(names(changes), expected)
        const revs = changes.map((c) => c.revision)
        assert.deepStrictEqual(revs, [...revs].sort((a, b) => a - b))
        assert.strictEqual(new Set(revs).size, total)
        // Nothing more (no duplicate replay) is pending after the 60.
        const extra = yield* watching.watch(revs[revs.length - 1]).pipe(
          Stream.take(1),
          Stream.runCollect,
          Effect.timeout("500 millis"),
          Effect.option
        )
        assert.isTrue(Option.isNone(extra))
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a watch cut off while catching up on a backlog resumes from the last event it delivered",
    () =>
      Effect.gen(function*() {
        // The etcd3 Watcher alone would resume after the revision in its "created" response and skip
        // the backlog (seen: 0 of 500 delivered); the Store must deliver all of it.
        const cluster = yield* startEtcdCluster(3)
        const prefix = freshPrefix()
        const [m0, m1] = cluster.members
        const writer = yield* storeOn([m1!.clientUrl], prefix)
        const raw = yield* rawOn([m0!.clientUrl], prefix)
        const watching = yield* storeOnClient(raw)
        const from = yield* writer.revision
        const backlog = 500
        for (let i = 0; i < backlog; i++) yield* writer.put(pod(`p${i}`))
        const got = yield* watching.watch(from).pipe(Stream.take(backlog + 1), Stream.runCollect, Effect.fork)
        // Watchers on one client share a stream and attach one at a time: when this one is connected,
        // the Store's is too, and etcd sends the backlog only on its next sync (every 100 ms).
        const probe = raw.kv.watch().key("probe").watcher()
        yield* Effect.async<void>((resume) => {
          probe.once("connected", () => resume(m0!.kill))
        })
        yield* Effect.sleep("300 millis")
        yield* m0!.start
        yield* writer.put(pod("after"))
        const changes = Chunk.toReadonlyArray(yield* Fiber.join(got).pipe(Effect.timeout("20 seconds")))
        assert.deepStrictEqual(names(changes), [...Array.from({ length: backlog }, (_, i) => `p${i}`), "after"])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a watch from a compacted revision starts with a Resync holding the full state, then follows",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const store = yield* storeOn(etcd.endpoints, freshPrefix())
        const old = yield* store.revision
        yield* store.put(pod("a"))
        yield* store.put(pod("b"))
        yield* store.delete("a")
        yield* store.put(pod("c"))
        const now = yield* store.revision
        yield* etcdctl(etcd.endpoints, "compact", String(now))
        const resynced = yield* Deferred.make<void>()
        const fiber = yield* store.watch(old).pipe(
          Stream.tap((c) => c._tag === "Resync" ? Deferred.succeed(resynced, undefined) : Effect.void),
          Stream.take(2),
          Stream.runCollect,
          Effect.fork
        )
        yield* Deferred.await(resynced).pipe(Effect.timeout("10 seconds"))
        const d = yield* store.put(pod("d"))
        const [first, second] = Chunk.toReadonlyArray(yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds")))
        assert.strictEqual(first!._tag, "Resync")
        if (first!._tag === "Resync") {
          assert.strictEqual(first!.revision, now)
          assert.deepStrictEqual(first!.pods.map((p) => p.name), ["b", "c"])
        }
        assert.deepStrictEqual(second, { _tag: "PodPut", revision: d.revision, pod: d })
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "compaction while a watch is disconnected: it resumes with a Resync, then follows",
    () =>
      Effect.gen(function*() {
        const cluster = yield* startEtcdCluster(3)
        const prefix = freshPrefix()
        const [m0, m1, m2] = cluster.members
        const watching = yield* storeOn([m0!.clientUrl], prefix)
        const writer = yield* storeOn([m1!.clientUrl, m2!.clientUrl], prefix)
        yield* writer.put(pod("a"))
        const resynced = yield* Deferred.make<void>()
        const got = yield* watching.watch().pipe(
          Stream.tap((c) => c._tag === "Resync" ? Deferred.succeed(resynced, undefined) : Effect.void),
          Stream.take(3),
          Stream.runCollect,
          Effect.fork
        )
        yield* Effect.sleep("200 millis")
        yield* writer.put(pod("b"))
        yield* Effect.sleep("200 millis")
        yield* m0!.kill
        yield* writer.delete("a")
        yield* writer.put(pod("c"))
        yield* etcdctl([m1!.clientUrl], "compact", String(yield* writer.revision))
        yield* m0!.start
        // Only after the Resync: a write made before the watch is back would be part of it.
        yield* Deferred.await(resynced).pipe(Effect.timeout("15 seconds"))
        yield* writer.put(pod("d"))
        const changes = Chunk.toReadonlyArray(yield* Fiber.join(got).pipe(Effect.timeout("20 seconds")))
        assert.deepStrictEqual(names(changes), ["b", "resync", "d"])
        const resync = changes[1]!
        if (resync._tag === "Resync") assert.deepStrictEqual(resync.pods.map((p) => p.name), ["b", "c"])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "events(afterId) from any client, live; a compacted history is read from what is kept",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const prefix = freshPrefix()
        const a = yield* storeOn(etcd.endpoints, prefix)
        const b = yield* storeOn(etcd.endpoints, prefix)
        const at = new Date().toISOString()
        const e1 = yield* a.appendEvent({ at, pod: "web", type: "starting" })
        const e2 = yield* a.appendEvent({ at, pod: "web", type: "running", hostPid: 7 })
        yield* etcdctl(etcd.endpoints, "compact", String(yield* a.revision))
        const fiber = yield* b.events(e1.id).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("300 millis")
        const e3 = yield* a.appendEvent({ at, pod: "web", type: "exited" })
        const evs = Chunk.toReadonlyArray(yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds")))
        assert.deepStrictEqual(evs.map((e) => "id" in e ? e.id : e), [e2.id, e3.id])
        assert.deepStrictEqual(evs.map((e) => "type" in e ? e.type : e), ["running", "exited"])
        assert.deepStrictEqual((yield* b.recentEvents(2)).events.map((e) => e.id), [e2.id, e3.id])
      }),
    { timeout: 30_000 }
  )

  it.scopedLive("the event history is bounded", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const store = yield* storeOn(etcd.endpoints, freshPrefix(), { eventHistory: 20 })
      const at = new Date().toISOString()
      const ids: Array<number> = []
      for (let i = 0; i < 45; i++) ids.push((yield* store.appendEvent({ at, pod: `p${i}`, type: "applied" })).id)
      const { events: kept } = yield* store.recentEvents(100)
      assert.isAtMost(kept.length, 22)
      assert.isAtLeast(kept.length, 20)
      assert.deepStrictEqual(kept.map((e) => e.id), ids.slice(-kept.length))
    }), { timeout: 30_000 })
})

describe("Store (etcd): resources", () => {
  it.scopedLive("a watch stream that ends cancels its etcd watcher", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const store = yield* storeOn(etcd.endpoints, freshPrefix())
      const watchers = Effect.promise(async () => {
        const text = await (await fetch(`${etcd.endpoints[0]}/metrics`)).text()
        const line = text.split("\n").find((l) => l.startsWith("etcd_debugging_mvcc_watcher_total "))
        return Number(line?.split(" ")[1])
      })
      const idle = yield* watchers
      for (let i = 0; i < 5; i++) {
        const fiber = yield* Effect.all([
          store.watch().pipe(Stream.take(1), Stream.runDrain),
          store.events().pipe(Stream.take(1), Stream.runDrain)
        ], { concurrency: 2 }).pipe(Effect.fork)
        yield* settles(watchers, idle + 2)
        yield* store.put(pod(`w${i}`))
        yield* store.appendEvent({ at: new Date().toISOString(), pod: `w${i}`, type: "applied" })
        yield* Fiber.join(fiber)
      }
      const interrupted = yield* store.watch().pipe(Stream.runDrain, Effect.fork)
      yield* settles(watchers, idle + 1)
      yield* Fiber.interrupt(interrupted)
      yield* settles(watchers, idle)
    }), { timeout: 30_000 })
})
