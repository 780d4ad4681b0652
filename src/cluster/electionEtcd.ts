/**
 * Leader election on etcd, the way etcd's own Go client does it (concurrency.Election): every
 * candidate writes `election/<name>/<lease id hex>` under a lease of its own; the key with the lowest
 * create revision leads; the others each wait for the deletion of the key just before theirs.
 *
 * Leadership is tied to the campaign's lease. It ends, and `whileLeader` is interrupted, when:
 * - etcd says the lease is gone (revoked, or expired while we could not reach etcd),
 * - the leader's key is deleted,
 * - no keep-alive has been answered for 3/4 of the TTL: etcd may expire the lease any moment now and
 *   elect someone else, so stop acting before that can happen rather than after (two leaders for a
 *   while is worse than none for a while).
 * Then the campaign starts again with a new lease. Interrupting `lead` revokes the lease (resigns), so
 * the next candidate takes over at once instead of after a TTL.
 */
import { Deferred, Effect, Layer, Option, Schedule, type Scope } from "effect"
import type { Namespace, Watcher } from "etcd3"
import * as os from "node:os"
import { Etcd } from "../etcd/client.js"
import type { ClusterError } from "./Cluster.js"
import { Election } from "./Cluster.js"
import { call } from "./nodesEtcd.js"

export interface ElectionOptions {
  /** The campaign lease's TTL: how long a dead leader keeps the post at most. Default 10. */
  readonly ttlSeconds?: number
  /** What the leader's key holds (the node name), so others can tell who leads. Default host:pid. */
  readonly candidate?: string
  /** The election (keys `election/<name>/`). Default "scheduler". */
  readonly name?: string
}

const messageOf = (e: unknown) => e instanceof Error ? e.message : String(e)

/** A watcher on one key or prefix, cancelled with the scope; `done` fires on the first matching event. */
const watchFor = (
  kv: Namespace,
  op: string,
  build: (kv: Namespace) => Promise<Watcher>,
  done: Deferred.Deferred<string>,
  event: "delete",
  why: string
) =>
  Effect.acquireRelease(
    call(op, () => build(kv)),
    (w) => call(`cancel ${op}`, () => w.cancel()).pipe(Effect.ignore)
  ).pipe(Effect.tap((w) =>
    Effect.sync(() => {
      w.on(event, () => Deferred.unsafeDone(done, Effect.succeed(why)))
      w.on("error", (e) => Deferred.unsafeDone(done, Effect.succeed(`${op}: ${messageOf(e)}`)))
    })
  ))

export const make = (options: ElectionOptions = {}) =>
  Effect.gen(function*() {
    const { kv } = yield* Etcd
    const ttl = options.ttlSeconds ?? 10
    const candidate = options.candidate ?? `${os.hostname()}:${process.pid}`
    const prefix = `election/${options.name ?? "scheduler"}/`

    /** A lease kept alive for the scope, and a signal that fires when leadership under it must end. */
    const session = Effect.gen(function*() {
      const lost = yield* Deferred.make<string>()
      let lastAnswer = Date.now()
      // The lease object keeps itself alive once granted, even if we stop waiting for the grant: it is
      // revoked with the scope whatever happens after its creation.
      const lease = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const l = kv.lease(ttl)
          l.on("lost", (e) => Deferred.unsafeDone(lost, Effect.succeed(`lease lost: ${messageOf(e)}`)))
          l.on("keepaliveSucceeded", () => {
            lastAnswer = Date.now()
          })
          return l
        }),
        (l) => call("revoke campaign lease", () => l.revoke()).pipe(Effect.ignore)
      )
      yield* call("grant campaign lease", () => lease.grant())
      lastAnswer = Date.now()
      const deadline = ttl * 750
      yield* Effect.forkScoped(
        Effect.suspend(() =>
          Date.now() - lastAnswer > deadline
            ? Deferred.succeed(lost, `no keep-alive answered for ${deadline} ms`)
            : Effect.void
        ).pipe(Effect.repeat(Schedule.spaced(Math.max(50, Math.floor(deadline / 6)))))
      )
      return { lease, lost }
    })

    /** Wait until no candidate created before `created` is left. */
    const waitElected = (created: number, lost: Deferred.Deferred<string>) =>
      Effect.gen(function*() {
        for (;;) {
          const before = yield* call(
            "campaign",
            () =>
              kv.getAll().prefix(prefix).maxCreateRevision(String(created - 1)).sort("Create", "Descend").limit(1)
                .exec()
          )
          const ahead = before.kvs[0]
          if (ahead === undefined) return
          const gone = yield* Deferred.make<string>()
          yield* Effect.scoped(Effect.gen(function*() {
            yield* watchFor(
              kv,
              "watch the candidate ahead",
              (k) =>
                k.watch().key(ahead.key).startRevision(String(Number(before.header.revision) + 1)).only("delete")
                  .create(),
              gone,
              "delete",
              "ahead resigned"
            )
            yield* Effect.raceFirst(Deferred.await(gone), Deferred.await(lost))
          }))
          if (yield* Deferred.isDone(lost)) return
        }
      })

    const campaignOnce = <E, R>(whileLeader: Effect.Effect<void, E, R>) =>
      Effect.scoped(Effect.gen(function*() {
        const { lease, lost } = yield* session
        const id = yield* call("grant campaign lease", () => lease.grant())
        const key = prefix + BigInt(id).toString(16)
        const res = yield* call(
          "campaign",
          () => kv.if(key, "Create", "==", 0).then(kv.put(key).value(candidate).lease(id)).else(kv.get(key)).commit()
        )
        const created = res.succeeded
          ? Number(res.header.revision)
          : Number(res.responses[0]?.response_range.kvs[0]?.create_revision ?? res.header.revision)
        // Our key gone (deleted by hand, or with the lease) means someone else may lead now.
        yield* watchFor(
          kv,
          "watch the campaign key",
          (k) => k.watch().key(key).startRevision(String(Number(res.header.revision) + 1)).only("delete").create(),
          lost,
          "delete",
          "campaign key deleted"
        )
        yield* waitElected(created, lost)
        if (yield* Deferred.isDone(lost)) {
          yield* Effect.logWarning(`election ${prefix}: ${yield* Deferred.await(lost)} before being elected`)
          return
        }
        yield* Effect.logDebug(`election ${prefix}: ${candidate} leads`)
        const outcome = yield* Effect.raceFirst(
          Effect.scoped(whileLeader).pipe(Effect.exit, Effect.map(Option.some)),
          Deferred.await(lost).pipe(Effect.as(Option.none()))
        )
        if (Option.isNone(outcome)) {
          yield* Effect.logWarning(`election ${prefix}: ${candidate} lost leadership (${yield* Deferred.await(lost)})`)
        } else if (outcome.value._tag === "Failure") {
          yield* Effect.logWarning(`election ${prefix}: the leader's work failed; resigning`, outcome.value.cause)
        }
      }))

    const lead = <E, R>(
      whileLeader: Effect.Effect<void, E, R>
    ): Effect.Effect<never, ClusterError, Exclude<R, Scope.Scope>> =>
      campaignOnce(whileLeader).pipe(
        Effect.tapError((e) => Effect.logWarning(`election ${prefix}: ${e.message}; campaigning again`)),
        // Whatever ended this round (leadership lost, work ended, etcd unreachable), pause a little
        // before the next, so a broken etcd or a failing leader does not spin.
        Effect.zipRight(Effect.sleep("200 millis")),
        Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
        Effect.forever
      ) as Effect.Effect<never, ClusterError, Exclude<R, Scope.Scope>>

    const leader = call(
      "read the election",
      () => kv.getAll().prefix(prefix).sort("Create", "Ascend").limit(1).exec()
    ).pipe(Effect.map((res) => Option.fromNullable(res.kvs[0]?.value.toString())))

    return Election.of({ lead, leader })
  })

/** Election over the process's etcd connection, with explicit options. */
export const layerEtcdWith = (options: ElectionOptions): Layer.Layer<Election, never, Etcd> =>
  Layer.effect(Election, make(options))

/** Election with the defaults (TTL 10 s, candidate host:pid). */
export const layerEtcd: Layer.Layer<Election, never, Etcd> = layerEtcdWith({})
