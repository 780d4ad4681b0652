/**
 * The etcd Nodes layer against a real etcd (Debian's etcd-server on loopback): registration, readiness
 * from the lease, expiry when the agent dies, revoke on close, registering again after the lease is
 * lost (revoked, or etcd down for longer than the TTL), the name guard, markNotReady and the watch.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { Nodes, type NodeState } from "../../src/cluster/Cluster.js"
import { ALIVE, HEARTBEAT, layerEtcd } from "../../src/cluster/nodesEtcd.js"
import { Etcd } from "../../src/etcd/client.js"
import { startEtcd } from "../support/etcd.js"
import { clientLayer, eventually, info, leaseOf, revokeLease } from "./clusterEtcd.js"

let n = 0
/** An agent's connection: its own etcd client, Nodes over it; a fresh prefix per test. */
const agent = (endpoints: ReadonlyArray<string>, prefix: string) =>
  Layer.build(layerEtcd.pipe(Layer.provideMerge(clientLayer(endpoints, prefix))))
const freshPrefix = () => `/t${process.pid}-${++n}/`

const readiness = (states: ReadonlyArray<NodeState>) => Object.fromEntries(states.map((s) => [s.info.name, s.ready]))
const listNodes = Effect.flatMap(Nodes, (nodes) => nodes.list)

describe("Nodes on etcd", () => {
  it.scopedLive("registered nodes list as ready with their records, sorted by name", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const ctx = yield* agent(etcd.endpoints, freshPrefix())
      const nodes = Effect.provide(Nodes, ctx)
      yield* Effect.flatMap(nodes, (x) => x.register(info("n2", { labels: { disk: "ssd" } }), 5))
      yield* Effect.flatMap(nodes, (x) => x.register(info("n1", { addresses: ["10.9.0.1", "fd00::1"] }), 5))
      const states = yield* Effect.provide(listNodes, ctx)
      assert.deepStrictEqual(states.map((s) => s.info.name), ["n1", "n2"])
      assert.deepStrictEqual(states.map((s) => s.ready), [true, true])
      assert.deepStrictEqual(states[0]!.info, info("n1", { addresses: ["10.9.0.1", "fd00::1"] }))
      assert.deepStrictEqual(states[1]!.info.labels, { disk: "ssd" })
      assert.isUndefined(states[0]!.notReadySince)
    }))

  it.scopedLive("closing the registration's scope revokes the lease: not ready at once, the record stays", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const ctx = yield* agent(etcd.endpoints, freshPrefix())
      const scope = yield* Scope.make()
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n1"), 30)).pipe(Scope.extend(scope), Effect.provide(ctx))
      assert.deepStrictEqual(readiness(yield* Effect.provide(listNodes, ctx)), { n1: true })
      const t0 = Date.now()
      yield* Scope.close(scope, Exit.void)
      // The TTL is 30 s: only the revoke can make it not ready this soon.
      const states = yield* Effect.provide(listNodes, ctx)
      assert.deepStrictEqual(readiness(states), { n1: false })
      assert.isBelow(Date.now() - t0, 5000)
      assert.strictEqual(states[0]!.info.name, "n1")
    }))

  it.scopedLive("an agent killed with SIGKILL reads as not ready once its lease expires (TTL 2 s)", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const ctx = yield* agent(etcd.endpoints, prefix)
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, [
            "--import",
            "tsx",
            path.join(import.meta.dirname, "fixtures/registerNode.ts"),
            etcd.endpoints[0]!,
            prefix,
            "doomed",
            "2"
          ], { stdio: ["ignore", "pipe", "inherit"] })
        ),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      yield* Effect.async<void>((resume) => {
        child.stdout!.on("data", (b: Buffer) => {
          if (b.toString().includes("registered")) resume(Effect.void)
        })
      }).pipe(Effect.timeout("30 seconds"), Effect.orDie)
      const watched = yield* Effect.flatMap(Nodes, (x) =>
        x.watch.pipe(
          Stream.takeUntil((states) => readiness(states).doomed === false),
          Stream.runCollect,
          Effect.fork
        )).pipe(Effect.provide(ctx))
      assert.deepStrictEqual(readiness(yield* Effect.provide(listNodes, ctx)), { doomed: true })
      // Kept alive well past the TTL while the process lives.
      yield* Effect.sleep("3 seconds")
      assert.deepStrictEqual(readiness(yield* Effect.provide(listNodes, ctx)), { doomed: true })
      const killedAt = Date.now()
      child.kill("SIGKILL")
      const seen = yield* Fiber.join(watched).pipe(Effect.timeout("15 seconds"), Effect.orDie)
      const after = Date.now() - killedAt
      // Not before the TTL could have run out, and not long after (etcd checks expiry every 500 ms).
      assert.isAbove(after, 500)
      assert.isBelow(after, 6000)
      assert.deepStrictEqual(Chunk.toReadonlyArray(seen).map(readiness), [{ doomed: true }, { doomed: false }])
    }))

  it.scopedLive("a lease revoked from outside is replaced: the node is ready again under a new lease", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const ctx = yield* agent(etcd.endpoints, freshPrefix())
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n1"), 3)).pipe(Effect.provide(ctx))
      const first = yield* Effect.provide(leaseOf(`${ALIVE}n1`), ctx)
      assert.notStrictEqual(first, "0")
      const seen = yield* Effect.flatMap(Nodes, (x) =>
        x.watch.pipe(
          Stream.map(readiness),
          Stream.take(3),
          Stream.runCollect,
          Effect.fork
        )).pipe(Effect.provide(ctx))
      yield* Effect.sleep("200 millis")
      yield* Effect.provide(revokeLease(first), ctx)
      const states = yield* Fiber.join(seen).pipe(Effect.timeout("10 seconds"), Effect.orDie)
      assert.deepStrictEqual(Chunk.toReadonlyArray(states), [{ n1: true }, { n1: false }, { n1: true }])
      const second = yield* Effect.provide(leaseOf(`${ALIVE}n1`), ctx)
      assert.notStrictEqual(second, "0")
      assert.notStrictEqual(second, first)
    }))

  it.scopedLive(
    "etcd down for longer than the TTL: the agent registers again once it is back",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const ctx = yield* agent(etcd.endpoints, freshPrefix())
        yield* Effect.flatMap(Nodes, (x) => x.register(info("n1"), 2)).pipe(Effect.provide(ctx))
        const first = yield* Effect.provide(leaseOf(`${ALIVE}n1`), ctx)
        yield* etcd.members[0]!.kill
        // The client gives a lease up after 2 TTLs without an answer.
        yield* Effect.sleep("5 seconds")
        yield* etcd.members[0]!.start
        yield* eventually(
          "n1 ready under a new lease",
          Effect.provide(
            Effect.all([listNodes, leaseOf(`${ALIVE}n1`)]).pipe(
              Effect.map(([states, lease]) => readiness(states).n1 === true && lease !== first && lease !== "0"),
              Effect.catchAllCause(() => Effect.succeed(false))
            ),
            ctx
          ),
          20_000
        )
        // And it stays ready: the new lease is kept alive.
        yield* Effect.sleep("3 seconds")
        assert.deepStrictEqual(readiness(yield* Effect.provide(listNodes, ctx)), { n1: true })
      }),
    60_000
  )

  it.scopedLive(
    "registering while etcd is unreachable fails soon with a ClusterError naming the node",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const ctx = yield* agent(etcd.endpoints, freshPrefix())
        yield* etcd.members[0]!.kill
        const t0 = Date.now()
        const err = yield* Effect.flatMap(Nodes, (x) => x.register(info("n1"), 5)).pipe(
          Effect.provide(ctx),
          Effect.flip
        )
        assert.strictEqual(err._tag, "ClusterError")
        assert.match(err.op, /n1/)
        assert.isBelow(Date.now() - t0, 30_000)
        yield* etcd.members[0]!.start
        // Nothing half-registered is left (the client's circuit breaker may refuse calls for a moment).
        yield* eventually(
          "an empty registry readable",
          Effect.provide(listNodes, ctx).pipe(
            Effect.map((ns) => ns.length === 0),
            Effect.catchTag("ClusterError", () => Effect.succeed(false))
          ),
          20_000
        )
        assert.strictEqual(yield* Effect.provide(leaseOf(`${ALIVE}n1`), ctx), "0")
      }),
    60_000
  )

  it.scopedLive("a name held by a live agent elsewhere is refused; the same machine takes it over", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const prefix = freshPrefix()
      const a = yield* agent(etcd.endpoints, prefix)
      const b = yield* agent(etcd.endpoints, prefix)
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n1", { addresses: ["10.9.0.1"] }), 10)).pipe(
        Effect.provide(a)
      )
      const refused = yield* Effect.flatMap(Nodes, (x) => x.register(info("n1", { addresses: ["10.9.0.2"] }), 10))
        .pipe(Effect.provide(b), Effect.flip)
      assert.strictEqual(refused._tag, "ClusterError")
      assert.match(refused.message, /node name "n1" is held by a live agent .* at 10\.9\.0\.1/)
      // A restarted agent on the same machine (same address) replaces the old registration.
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n1", { addresses: ["10.9.0.1"], agentPid: 4242 }), 10))
        .pipe(Effect.provide(b))
      const states = yield* Effect.provide(listNodes, a)
      assert.strictEqual(states[0]!.info.agentPid, 4242)
      assert.isTrue(states[0]!.ready)
    }))

  it.scopedLive("markNotReady shows on a node that is not ready, is ignored while ready, null clears it", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const ctx = yield* agent(etcd.endpoints, freshPrefix())
      const scope = yield* Scope.make()
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n1"), 10)).pipe(Scope.extend(scope), Effect.provide(ctx))
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n2"), 10)).pipe(Effect.provide(ctx))
      yield* Scope.close(scope, Exit.void)
      const mark = (name: string, since: string | null) =>
        Effect.flatMap(Nodes, (x) => x.markNotReady(name, since)).pipe(Effect.provide(ctx))
      yield* mark("n1", "2026-11-23T16:00:00.000Z")
      yield* mark("n2", "2026-11-23T16:00:00.000Z")
      let states = yield* Effect.provide(listNodes, ctx)
      assert.strictEqual(states[0]!.notReadySince, "2026-11-23T16:00:00.000Z")
      assert.isFalse(states[0]!.ready)
      assert.isUndefined(states[1]!.notReadySince)
      yield* mark("n1", null)
      states = yield* Effect.provide(listNodes, ctx)
      assert.isUndefined(states[0]!.notReadySince)
    }))

  it.scopedLive("heartbeats: at registration, then every TTL/3; the last one outlives the node; remove drops it", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const ctx = yield* agent(etcd.endpoints, freshPrefix())
      const nodes = yield* Effect.provide(Nodes, ctx)
      const beat = Effect.map(nodes.list, (l) => l.find((s) => s.info.name === "n1")?.lastHeartbeat)
      const scope = yield* Scope.make()
      const t0 = Date.now()
      yield* nodes.register(info("n1"), 3).pipe(Scope.extend(scope))
      const first = yield* beat
      assert.isDefined(first)
      assert.isAtLeast(Date.parse(first!), t0 - 1000)
      // TTL 3 s: a heartbeat every second.
      yield* eventually("a later heartbeat", Effect.map(beat, (b) => b !== first), 5_000)
      yield* Scope.close(scope, Exit.void)
      const last = yield* beat
      yield* Effect.sleep("1500 millis")
      const after = (yield* nodes.list).find((s) => s.info.name === "n1")!
      assert.isFalse(after.ready)
      assert.strictEqual(after.lastHeartbeat, last, "no heartbeat once the registration ended; the last one stays")
      assert.isTrue(yield* nodes.remove("n1"))
      const { kv } = yield* Effect.provide(Etcd, ctx)
      assert.isNull(yield* Effect.promise(() => kv.get(`${HEARTBEAT}n1`).string()))
    }))

  it.scopedLive("remove: refused while the node is ready; afterwards its record and mark are gone", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const ctx = yield* agent(etcd.endpoints, freshPrefix())
      const nodes = yield* Effect.provide(Nodes, ctx)
      const scope = yield* Scope.make()
      yield* nodes.register(info("gone"), 10).pipe(Scope.extend(scope))
      yield* nodes.register(info("kept"), 10)
      const refused = yield* Effect.flip(nodes.remove("gone"))
      assert.match(refused.message, /node "gone" is ready .* stop that agent/)
      yield* Scope.close(scope, Exit.void)
      yield* nodes.markNotReady("gone", "2026-11-23T16:00:00.000Z")
      assert.isTrue(yield* nodes.remove("gone"))
      assert.deepStrictEqual((yield* nodes.list).map((s) => s.info.name), ["kept"])
      assert.isFalse(yield* nodes.remove("gone"))
      // Registering the name again starts afresh: no mark from before.
      yield* nodes.register(info("gone"), 10)
      assert.deepStrictEqual(readiness(yield* nodes.list), { gone: true, kept: true })
    }))

  it.scopedLive("watch: the list now, then after every registration, expiry and mark (only real changes)", () =>
    Effect.gen(function*() {
      const etcd = yield* startEtcd()
      const ctx = yield* agent(etcd.endpoints, freshPrefix())
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n1"), 10)).pipe(Effect.provide(ctx))
      const seen = yield* Effect.flatMap(Nodes, (x) =>
        x.watch.pipe(
          Stream.map((states) =>
            states.map((s) => `${s.info.name}:${s.ready ? "ready" : "down"}${s.notReadySince ? "@" : ""}`).join(",")
          ),
          Stream.take(4),
          Stream.runCollect,
          Effect.fork
        )).pipe(Effect.provide(ctx))
      yield* Effect.sleep("300 millis")
      const scope = yield* Scope.make()
      yield* Effect.flatMap(Nodes, (x) => x.register(info("n2"), 10)).pipe(Scope.extend(scope), Effect.provide(ctx))
      yield* Effect.sleep("300 millis")
      yield* Scope.close(scope, Exit.void)
      yield* Effect.sleep("300 millis")
      yield* Effect.flatMap(Nodes, (x) => x.markNotReady("n2", new Date().toISOString())).pipe(Effect.provide(ctx))
      const out = yield* Fiber.join(seen).pipe(Effect.timeout("10 seconds"), Effect.orDie)
      assert.deepStrictEqual(Chunk.toReadonlyArray(out), [
        "n1:ready",
        "n1:ready,n2:ready",
        "n1:ready,n2:down",
        "n1:ready,n2:down@"
      ])
    }))
})
