// The etcd Store beyond the shared suite: disconnects, compaction, losing a member, races, corruption.
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"
import type { Change } from "../../src/store/Store.js"
import { startEtcd, startEtcdCluster } from "../support/etcd.js"
import { etcdctl, freshPrefix, leaderIndex, rawOn, storeOn, storeOnClient } from "./etcdHelpers.js"
import { pod } from "./suite.js"

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
        const fiber = yield* store.watch(old).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("300 millis")
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
        const got = yield* watching.watch().pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("200 millis")
        yield* writer.put(pod("b"))
        yield* Effect.sleep("200 millis")
        yield* m0!.kill
        yield* writer.delete("a")
        yield* writer.put(pod("c"))
        yield* etcdctl([m1!.clientUrl], "compact", String(yield* writer.revision))
        yield* m0!.start
        yield* Effect.sleep("500 millis")
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
        assert.deepStrictEqual(evs.map((e) => e.id), [e2.id, e3.id])
        assert.deepStrictEqual(evs.map((e) => e.type), ["running", "exited"])
        assert.deepStrictEqual((yield* b.recentEvents(2)).map((e) => e.id), [e2.id, e3.id])
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
      const kept = yield* store.recentEvents(100)
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
        yield* Effect.sleep("100 millis")
        assert.strictEqual(yield* watchers, idle + 2)
        yield* store.put(pod(`w${i}`))
        yield* store.appendEvent({ at: new Date().toISOString(), pod: `w${i}`, type: "applied" })
        yield* Fiber.join(fiber)
      }
      const interrupted = yield* store.watch().pipe(Stream.runDrain, Effect.fork)
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(interrupted)
      yield* Effect.sleep("200 millis")
      assert.strictEqual(yield* watchers, idle)
    }), { timeout: 30_000 })
})

describe("Store (etcd): failures and races", () => {
  it.scopedLive(
    "killing the leader of a 3-member cluster mid-stream loses no acknowledged write; the writer carries on",
    () =>
      Effect.gen(function*() {
        const cluster = yield* startEtcdCluster(3)
        const prefix = freshPrefix()
        const writer = yield* storeOn(cluster.endpoints, prefix)
        const acked: Array<string> = []
        const total = 150
        const writing = yield* Effect.gen(function*() {
          for (let i = 0; i < total; i++) {
            yield* writer.put(pod(`p${i}`))
            acked.push(`p${i}`)
          }
        }).pipe(Effect.fork)
        yield* Effect.sleep("300 millis")
        const leader = yield* leaderIndex(cluster)
        const before = acked.length
        yield* cluster.members[leader]!.kill
        yield* Fiber.join(writing).pipe(Effect.timeout("40 seconds"))
        assert.isBelow(before, total, "the leader died while the writer was still writing")
        assert.strictEqual(acked.length, total)
        const reader = yield* storeOn(cluster.members.filter((m) => m.running()).map((m) => m.clientUrl), prefix)
        const stored = new Set((yield* reader.list).map((p) => p.name))
        assert.deepStrictEqual(acked.filter((n) => !stored.has(n)), [])
        assert.strictEqual(stored.size, total)
      }),
    { timeout: 90_000 }
  )

  it.scopedLive("a write made while the only member is down waits for it and lands once", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const store = yield* storeOn(etcd.endpoints, freshPrefix())
      yield* store.put(pod("before"))
      yield* etcd.members[0]!.kill
      const writing = yield* store.create(pod("during")).pipe(Effect.fork)
      yield* Effect.sleep("1500 millis")
      yield* etcd.members[0]!.start
      const created = yield* Fiber.join(writing).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(created.name, "during")
      assert.deepStrictEqual((yield* store.list).map((p) => [p.name, p.revision]), [
        ["before", created.revision - 1],
        ["during", created.revision]
      ])
    }), { timeout: 40_000 })

  it.scopedLive("two clients racing conditional writes: exactly one wins each race", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const a = yield* storeOn(etcd.endpoints, prefix)
      const b = yield* storeOn(etcd.endpoints, prefix)
      const rounds = 30
      // create-if-absent
      const creates = yield* Effect.forEach(
        Array.from({ length: rounds }, (_, i) => i),
        (i) =>
          Effect.all([Effect.either(a.create(pod(`c${i}`))), Effect.either(b.create(pod(`c${i}`, "never")))], {
            concurrency: 2
          }),
        { concurrency: 4 }
      )
      for (const [x, y] of creates) {
        assert.strictEqual([x, y].filter((r) => r._tag === "Right").length, 1)
        const loser = x._tag === "Left" ? x.left : y._tag === "Left" ? y.left : undefined
        assert.strictEqual(loser?._tag, "AlreadyExists")
      }
      // put with expectRevision from the same base
      const base = yield* a.put(pod("shared"))
      let wins = 0
      let rev = base.revision
      for (let i = 0; i < rounds; i++) {
        const [x, y] = yield* Effect.all([
          Effect.either(a.put(pod("shared", "never"), { expectRevision: rev })),
          Effect.either(b.bind("shared", `n${i}`, { expectRevision: rev }))
        ], { concurrency: 2 })
        const won = [x, y].filter((r) => r._tag === "Right")
        assert.strictEqual(won.length, 1)
        for (const r of [x, y]) if (r._tag === "Left") assert.strictEqual(r.left._tag, "RevisionConflict")
        wins++
        rev = Option.getOrThrow(yield* a.get("shared")).revision
      }
      assert.strictEqual(wins, rounds)
    }), { timeout: 30_000 })

  it.scopedLive("a corrupted value in etcd is a StoreError naming the key", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const store = yield* storeOn(etcd.endpoints, prefix)
      const raw = yield* rawOn(etcd.endpoints, prefix)
      yield* store.put(pod("good"))
      const from = yield* store.revision
      const watching = yield* store.watch(from).pipe(Stream.runCollect, Effect.flip, Effect.fork)
      yield* Effect.sleep("200 millis")
      yield* Effect.promise(() => raw.kv.put("pods/bad").value("{\"spec\": 42}").exec())
      const err = yield* Effect.flip(store.get("bad"))
      assert.strictEqual(err._tag, "StoreError")
      assert.include(err.message, `${prefix}pods/bad`)
      const listErr = yield* Effect.flip(store.list)
      assert.include(listErr.message, `${prefix}pods/bad`)
      const watchErr = yield* Fiber.join(watching).pipe(Effect.timeout("5 seconds"))
      assert.include(watchErr.message, `${prefix}pods/bad`)
      // A spec stored under another pod's name is corruption too.
      yield* Effect.promise(() =>
        raw.kv.put("pods/bad").value(JSON.stringify({
          spec: { name: "other", restart: "always", containers: [{ name: "app", image: "busybox" }] },
          restartGeneration: 0,
          node: null,
          updatedAt: 0,
          writeId: "x"
        })).exec()
      )
      const nameErr = yield* Effect.flip(store.get("bad"))
      assert.include(nameErr.message, "other")
      yield* Effect.promise(() => raw.kv.put("status/web").value("not json").exec())
      assert.include((yield* Effect.flip(store.getStatus("web"))).message, `${prefix}status/web`)
      assert.isTrue(Option.isSome(yield* store.get("good")))
    }), { timeout: 30_000 })
})

describe("Store (etcd): TLS and authentication", () => {
  it.scopedLive(
    "over TLS with client certificates and a password user limited to its prefix",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd({ tls: true })
        const tls = etcd.tls!
        const ctl = (...args: Array<string>) =>
          etcdctl(etcd.endpoints, "--cacert", tls.ca, "--cert", tls.cert, "--key", tls.key, ...args)
        const prefix = "/tank-tls/"
        yield* ctl("user", "add", "root:rootpw")
        yield* ctl("user", "add", "tank:tankpw")
        yield* ctl("role", "add", "tank")
        yield* ctl("role", "grant-permission", "tank", "--prefix=true", "readwrite", prefix)
        yield* ctl("user", "grant-role", "tank", "tank")
        yield* ctl("auth", "enable")
        const auth = (password: string) => ({ tls, auth: { username: "tank", password } })

        const store = yield* storeOn(etcd.endpoints, prefix, undefined, auth("tankpw"))
        const fiber = yield* store.watch().pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("300 millis")
        const stored = yield* store.put(pod("web"))
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds"))), [
          { _tag: "PodPut", revision: stored.revision, pod: stored }
        ])
        assert.deepStrictEqual((yield* store.list).map((p) => p.name), ["web"])

        const wrong = yield* storeOn(etcd.endpoints, prefix, { retryFor: "1 second" }, auth("nope"))
        const denied = yield* Effect.flip(wrong.list)
        assert.strictEqual(denied._tag, "StoreError")
        assert.match(denied.message, /auth/i)
        const elsewhere = yield* storeOn(etcd.endpoints, "/other/", { retryFor: "1 second" }, auth("tankpw"))
        assert.match((yield* Effect.flip(elsewhere.put(pod("x")))).message, /permission denied/i)
        // Without the client certificate the server refuses the connection.
        const noCert = yield* storeOn(etcd.endpoints, prefix, { retryFor: "1 second", callTimeout: "1 second" }, {
          tls: { ca: tls.ca },
          auth: { username: "tank", password: "tankpw" }
        })
        assert.strictEqual((yield* Effect.flip(noCert.list))._tag, "StoreError")
      }),
    { timeout: 30_000 }
  )
})
