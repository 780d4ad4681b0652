/**
 * The node registry on etcd (keys in Cluster.ts): `nodes/<name>` the record (no lease, so a dead
 * node stays listed), `alive/<name>` on the agent's lease (present = ready), and `notready/<name>`
 * the time the scheduler leader first saw the node not ready (written by the leader only, so agents
 * never race it), and `heartbeat/<name>` the time of the agent's last heartbeat (no lease, so readers
 * can say how long a dead node has been silent; written at registration and every TTL/3).
 *
 * Registering grants a lease and keeps it alive for as long as the scope lives. The lease can still
 * be lost (revoked from outside, or etcd unreachable for longer than the TTL so the client gives up);
 * then a new lease is granted and the keys written again, retrying until etcd answers. Closing the
 * scope revokes the lease, so a cleanly stopped agent reads as not ready at once.
 */
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Layer,
  Option,
  Queue,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import type { IKeyValue, Lease, Namespace, Watcher } from "etcd3"
import { randomUUID } from "node:crypto"
import { Etcd } from "../etcd/client.js"
import { ClusterError, NodeInfo, Nodes, type NodeState } from "./Cluster.js"
import { nodeStates, sameNodes, stillReady } from "./nodeStates.js"

export const NODES = "nodes/"
export const ALIVE = "alive/"
export const NOT_READY = "notready/"
export const HEARTBEAT = "heartbeat/"

/** One etcd round trip may not take longer than this (a dead endpoint must not hang a caller). */
const CALL_TIMEOUT = Duration.seconds(5)

const decodeInfo = Schema.decodeUnknownOption(Schema.parseJson(NodeInfo))
const encodeInfo = Schema.encodeSync(Schema.parseJson(NodeInfo))

const messageOf = (e: unknown) => e instanceof Error ? e.message : String(e)

/** A promise-returning etcd call as an Effect, bounded in time, failing with a ClusterError naming `op`. */
export const call = <A>(op: string, f: () => Promise<A>): Effect.Effect<A, ClusterError> =>
  Effect.tryPromise({ try: f, catch: (e) => new ClusterError({ op, message: messageOf(e), cause: e }) }).pipe(
    Effect.timeoutFail({
      duration: CALL_TIMEOUT,
      onTimeout: () => new ClusterError({ op, message: `etcd did not answer within ${Duration.format(CALL_TIMEOUT)}` })
    })
  )

const nameOf = (kv: IKeyValue, prefix: string) => kv.key.toString().slice(prefix.length)

/** The registry as one consistent read, and the etcd revision it was read at. */
const readAll = (kv: Namespace) =>
  Effect.gen(function*() {
    const nodes = yield* call("list nodes", () => kv.getAll().prefix(NODES).exec())
    const revision = nodes.header.revision
    const [alive, marks, beats] = yield* Effect.all([
      call("list alive", () => kv.getAll().prefix(ALIVE).revision(revision).exec()),
      call("list notready", () => kv.getAll().prefix(NOT_READY).revision(revision).exec()),
      call("list heartbeats", () => kv.getAll().prefix(HEARTBEAT).revision(revision).exec())
    ], { concurrency: 3 })
    const records = new Map<string, NodeInfo>()
    for (const item of nodes.kvs) {
      // A record this version cannot read is skipped rather than failing every reader.
      Option.map(decodeInfo(item.value.toString()), (info) => records.set(nameOf(item, NODES), info))
    }
    const states = nodeStates(
      records,
      new Set(alive.kvs.map((k) => nameOf(k, ALIVE))),
      new Map(marks.kvs.map((k) => [nameOf(k, NOT_READY), k.value.toString()])),
      new Map(beats.kvs.map((k) => [nameOf(k, HEARTBEAT), k.value.toString()]))
    )
    return { states, revision: Number(revision) }
  })

/** Fires once when the lease is lost (etcd says it is gone, or keep-alives failed past its TTL). */
const lostSignal = (lease: Lease) =>
  Effect.gen(function*() {
    const lost = yield* Deferred.make<string>()
    lease.on("lost", (err) => Deferred.unsafeDone(lost, Effect.succeed(messageOf(err))))
    return lost
  })

const revokeQuietly = (lease: Lease) => call("revoke lease", () => lease.revoke()).pipe(Effect.ignore)

/** Revoke a lease we no longer use (gone already is fine), then forget it (not before: see `held`). */
const drop = (held: Set<Lease>, lease: Lease) =>
  revokeQuietly(lease).pipe(Effect.zipRight(Effect.sync(() => held.delete(lease))))

const make = Effect.gen(function*() {
  const { kv } = yield* Etcd

  /** Record that the agent is alive now (not watched: readers see it on their next list). */
  const heartbeat = (name: string) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => call(`put ${HEARTBEAT}${name}`, () => kv.put(HEARTBEAT + name).value(new Date(now).toISOString()).exec())
    )

  /**
   * Grant a lease and write the node's keys under it. The lease joins `held` at once (a granted lease
   * keeps itself alive until revoked, even if we stopped waiting for the grant); it is revoked and
   * dropped if any step fails or is interrupted.
   */
  const grantAndWrite = (info: NodeInfo, ttlSeconds: number, instance: string, held: Set<Lease>) =>
    Effect.gen(function*() {
      const lease = kv.lease(ttlSeconds)
      held.add(lease)
      const lost = yield* lostSignal(lease)
      yield* Effect.gen(function*() {
        yield* call(`grant lease for node ${info.name}`, () => lease.grant())
        // The alive key first: readers list records, so a new node appears once, already ready.
        yield* call(`put ${ALIVE}${info.name}`, () => lease.put(ALIVE + info.name).value(instance).exec())
        yield* call(`put ${NODES}${info.name}`, () => kv.put(NODES + info.name).value(encodeInfo(info)).exec())
        // Ready again: a not-ready mark from before would make the next outage count from then.
        yield* call(`delete ${NOT_READY}${info.name}`, () => kv.delete().key(NOT_READY + info.name).exec())
        yield* heartbeat(info.name)
      }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : drop(held, lease)))
      return { lease, lost }
    })

  /**
   * Refuse a name a live agent on another machine holds: two machines under one name would each run
   * the other's pods. The same addresses mean the same machine (an agent restarted before its old
   * lease ran out): that registration is taken over.
   */
  const checkName = (info: NodeInfo) =>
    Effect.gen(function*() {
      const alive = yield* call(`get ${ALIVE}${info.name}`, () => kv.get(ALIVE + info.name).exists())
      if (!alive) return
      const raw = yield* call(`get ${NODES}${info.name}`, () => kv.get(NODES + info.name).string())
      const other = Option.flatMap(Option.fromNullable(raw), decodeInfo)
      if (Option.isNone(other)) return
      const shared = other.value.addresses.some((a) => info.addresses.includes(a))
      if (!shared && (other.value.addresses.length > 0 || info.addresses.length > 0)) {
        return yield* new ClusterError({
          op: `register node ${info.name}`,
          message: `node name "${info.name}" is held by a live agent (pid ${other.value.agentPid}) at ${
            other.value.addresses.join(", ") || "no address"
          }: choose another node.name`
        })
      }
    })

  const register = (info: NodeInfo, ttlSeconds: number): Effect.Effect<void, ClusterError, Scope.Scope> =>
    Effect.gen(function*() {
      const instance = randomUUID()
      /** Every lease of this registration not yet revoked: revoked when the scope closes. */
      const held = new Set<Lease>()
      yield* Effect.addFinalizer(() =>
        Effect.forEach([...held], (l) => drop(held, l), { concurrency: "unbounded", discard: true })
      )
      yield* checkName(info)
      const first = yield* grantAndWrite(info, ttlSeconds, instance, held).pipe(
        Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.intersect(Schedule.recurs(3))))
      )
      // Keep it registered: wait for the lease to be lost, then register again (until etcd answers).
      const keep = (lease: Lease, lost: Deferred.Deferred<string>): Effect.Effect<never> =>
        Effect.gen(function*() {
          const why = yield* Deferred.await(lost)
          yield* Effect.logWarning(`node ${info.name}: lease lost (${why}); registering again`)
          // The client may have given up on a lease etcd still holds: revoke it for good measure.
          yield* Effect.fork(drop(held, lease))
          const next = yield* grantAndWrite(info, ttlSeconds, instance, held).pipe(
            Effect.tapError((e) => Effect.logWarning(`node ${info.name}: registering again failed: ${e.message}`)),
            Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("2 seconds"))))
          )
          yield* Effect.logInfo(`node ${info.name}: registered again`)
          return yield* keep(next.lease, next.lost)
        }).pipe(Effect.orDie)
      yield* Effect.forkScoped(keep(first.lease, first.lost))
      // Heartbeats as often as the lease's keep-alives; a failed one is retried by the next (a node
      // that cannot reach etcd loses its lease anyway, which is what readers go by).
      yield* Effect.forkScoped(
        heartbeat(info.name).pipe(
          Effect.catchAll((e) => Effect.logDebug(`node ${info.name}: heartbeat not written: ${e.message}`)),
          Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1000, (ttlSeconds * 1000) / 3)))),
          Effect.delay(Duration.millis(Math.max(1000, (ttlSeconds * 1000) / 3)))
        )
      )
    })

  const list = readAll(kv).pipe(Effect.map((r) => r.states))

  /** Watch the three prefixes from just after `revision`; any event (or a reconnect) pokes `poke`. */
  const watchers = (revision: number, poke: Queue.Queue<void>, failed: Deferred.Deferred<never, ClusterError>) =>
    Effect.forEach([NODES, ALIVE, NOT_READY], (prefix) =>
      Effect.acquireRelease(
        call(`watch ${prefix}`, () => kv.watch().prefix(prefix).startRevision(String(revision + 1)).create()),
        (w: Watcher) => call(`cancel watch ${prefix}`, () => w.cancel()).pipe(Effect.ignore)
      ).pipe(Effect.tap((w) =>
        Effect.sync(() => {
          w.on("data", () => Queue.unsafeOffer(poke, undefined))
          w.on("connected", () => Queue.unsafeOffer(poke, undefined))
          w.on("error", (e) =>
            Deferred.unsafeDone(
              failed,
              Effect.fail(new ClusterError({ op: `watch ${prefix}`, message: messageOf(e), cause: e }))
            ))
        })
      )), { discard: true })

  const watch: Stream.Stream<ReadonlyArray<NodeState>, ClusterError> = Stream.unwrapScoped(
    Effect.gen(function*() {
      const first = yield* readAll(kv)
      const poke = yield* Queue.sliding<void>(1)
      const failed = yield* Deferred.make<never, ClusterError>()
      yield* watchers(first.revision, poke, failed)
      const later = Stream.fromQueue(poke).pipe(
        Stream.mapEffect(() => list),
        Stream.interruptWhen(Deferred.await(failed))
      )
      return Stream.concat(Stream.make(first.states), later).pipe(Stream.changesWith(sameNodes))
    })
  )

  // Marked only while the alive key is absent (one transaction): a leader acting on a list read just
  // before the node registered again must not leave a stale mark on a ready node.
  const markNotReady = (name: string, since: string | null) =>
    since === null
      ? call(`delete ${NOT_READY}${name}`, () => kv.delete().key(NOT_READY + name).exec()).pipe(Effect.asVoid)
      : call(
        `put ${NOT_READY}${name}`,
        () => kv.if(ALIVE + name, "Version", "==", 0).then(kv.put(NOT_READY + name).value(since)).commit()
      ).pipe(Effect.asVoid)

  const remove = (name: string) =>
    Effect.gen(function*() {
      const res = yield* call(
        `remove node ${name}`,
        () =>
          kv.if(ALIVE + name, "Version", "==", 0)
            .then(kv.delete().key(NODES + name), kv.delete().key(NOT_READY + name), kv.delete().key(HEARTBEAT + name))
            .else(kv.get(ALIVE + name))
            .commit()
      )
      if (!res.succeeded) return yield* stillReady(name)
      return Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0
    })

  return Nodes.of({ register, list, watch, markNotReady, remove })
})

/** Nodes over the process's etcd connection. */
export const layerEtcd: Layer.Layer<Nodes, never, Etcd> = Layer.effect(Nodes, make)
