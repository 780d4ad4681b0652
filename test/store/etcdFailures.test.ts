// The etcd Store under failure: members dying, racing writers in several processes, TLS/auth (corrupted
// values: etcdInvalid.test.ts).
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import type { Change } from "../../src/store/Store.js"
import { startEtcd, startEtcdCluster } from "../support/etcd.js"
import { startCutProxy } from "./cutProxy.js"
import { etcdctl, freshPrefix, leaderIndex, rawOn, storeOn } from "./etcdHelpers.js"
import { pod } from "./suite.js"

const names = (changes: ReadonlyArray<Change>) =>
  changes.map((c) => c._tag === "PodPut" ? c.pod.name : c._tag === "PodDeleted" ? `-${c.name}` : "resync")

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
        const stored = new Set((yield* reader.list).pods.map((p) => p.name))
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
      assert.deepStrictEqual((yield* store.list).pods.map((p) => [p.name, p.revision]), [
        ["before", created.revision - 1],
        ["during", created.revision]
      ])
    }), { timeout: 40_000 })

  it.scopedLive(
    "a write whose answer was lost (committed, connection cut) is reported once, as done",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const proxy = yield* startCutProxy(etcd.endpoints[0]!)
        const prefix = freshPrefix()
        const store = yield* storeOn([proxy.url], prefix)
        const raw = yield* rawOn(etcd.endpoints, prefix)
        const version = (name: string) =>
          Effect.promise(() => raw.kv.get(`pods/${name}`).exec()).pipe(
            Effect.map((r) => Number(r.kvs[0]?.version ?? 0))
          )
        const base = yield* store.put(pod("web"))
        // create-if-absent: the retry's compare fails on our own write; it must not say AlreadyExists.
        yield* proxy.swallowThenCut(300)
        const created = yield* store.create(pod("new"))
        assert.isAbove(proxy.swallowed(), 0, "the answer to the create was dropped")
        assert.strictEqual(Option.getOrThrow(yield* store.get("new")).revision, created.revision)
        assert.strictEqual(yield* version("new"), 1)
        // A conditional put: not a RevisionConflict with itself.
        const before = proxy.swallowed()
        yield* proxy.swallowThenCut(300)
        const updated = yield* store.put(pod("web", "never"), { expectRevision: base.revision })
        assert.isAbove(proxy.swallowed(), before)
        assert.strictEqual(Option.getOrThrow(yield* store.get("web")).revision, updated.revision)
        assert.strictEqual(yield* version("web"), 2)
        // delete: reported as deleted.
        yield* proxy.swallowThenCut(300)
        assert.isTrue(yield* store.delete("web", { expectRevision: updated.revision }))
        assert.isTrue(Option.isNone(yield* store.get("web")))
      }),
    { timeout: 30_000 }
  )

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

  it.scopedLive(
    "writers in separate processes: no write lost, one winner per create, the feed in order",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const prefix = freshPrefix()
        const store = yield* storeOn(etcd.endpoints, prefix)
        const from = yield* store.revision
        const writers = 3
        const perWriter = 30
        const feed = yield* store.watch(from).pipe(
          Stream.take(writers * perWriter + perWriter),
          Stream.runCollect,
          Effect.fork
        )
        const run = promisify(execFile)
        const outputs = yield* Effect.promise(() =>
          Promise.all(
            Array.from({ length: writers }, (_, w) =>
              run(process.execPath, [
                "--import",
                "tsx",
                path.join(import.meta.dirname, "etcdWriter.ts"),
                etcd.endpoints.join(","),
                prefix,
                `w${w}`,
                String(perWriter)
              ], { cwd: path.join(import.meta.dirname, "../..") }))
          )
        )
        const wins = outputs.map((o) => Number(/won (\d+)/.exec(o.stdout)?.[1]))
        assert.strictEqual(wins.reduce((a, b) => a + b, 0), perWriter)
        const { pods } = yield* store.list
        assert.strictEqual(pods.length, writers * perWriter + perWriter)
        const changes = Chunk.toReadonlyArray(yield* Fiber.join(feed).pipe(Effect.timeout("10 seconds")))
        const revs = changes.map((c) => c.revision)
        assert.deepStrictEqual(revs, [...revs].sort((a, b) => a - b))
        assert.deepStrictEqual(new Set(names(changes)), new Set(pods.map((p) => p.name)))
      }),
    { timeout: 60_000 }
  )
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
        const fiber = yield* store.watch(yield* store.revision).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("300 millis")
        const stored = yield* store.put(pod("web"))
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds"))), [
          { _tag: "PodPut", revision: stored.revision, pod: stored }
        ])
        assert.deepStrictEqual((yield* store.list).pods.map((p) => p.name), ["web"])

        const wrong = yield* storeOn(etcd.endpoints, prefix, { retryFor: "1 second" }, auth("nope"))
        const denied = yield* Effect.flip(wrong.list)
        assert.strictEqual(denied._tag, "StoreError")
        assert.match(denied.message, /auth/i)
        const elsewhere = yield* storeOn(etcd.endpoints, "/other/", { retryFor: "1 second" }, auth("tankpw"))
        assert.match((yield* Effect.flip(elsewhere.put(pod("x")))).message, /permission denied/i)
        const watchDenied = yield* Effect.flip(elsewhere.watch(1).pipe(Stream.runDrain))
        assert.match(watchDenied.message, /permission denied/i)
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
