/**
 * The Store over etcd v3 (cluster mode), with the same semantics as the SQLite layer.
 *
 * - `revision`/`createdRevision` are etcd's own mod/create revisions (one store-wide counter), so
 *   revisions are not dense: status and event writes advance them too.
 * - Pod writes are compare-and-swap transactions (etcdPods.ts); status and events: etcdObserved.ts.
 * - The change feed is an etcd watch on `pods/` that resumes from the last event it delivered after a
 *   disconnect (etcdWatch.ts); a start revision that has been compacted yields a `Resync` with the
 *   full state.
 * - Requests are retried while etcd is briefly unavailable, errors name endpoints and keys
 *   (etcdCall.ts); every value read back is decoded with Schema (etcdRecords.ts), and one that cannot
 *   be is an InvalidRecord, isolated from the others.
 */
import { type Duration, Effect, Either, Layer, Option, type Stream } from "effect"
import { Etcd } from "../etcd/client.js"
import { type EtcdEnv, makeCaller } from "./etcdCall.js"
import { makeObserved } from "./etcdObserved.js"
import { makePods } from "./etcdPods.js"
import { podName, PODS, publicPod, storedPodFrom } from "./etcdRecords.js"
import { follow } from "./etcdWatch.js"
import { type Change, type RecordKind, Store, type StoreError } from "./Store.js"

export const EVENT_HISTORY = 10_000

export interface EtcdStoreOptions {
  /** How long a request keeps being retried while etcd is unavailable (default 30 s). */
  readonly retryFor?: Duration.DurationInput
  /** Give up on one attempt of a request after this long and retry (default 2 s). */
  readonly callTimeout?: Duration.DurationInput
  /** Keep at most this many events (default 10 000). */
  readonly eventHistory?: number
}

export const make = (options: EtcdStoreOptions = {}) =>
  Effect.gen(function*() {
    const { config, kv } = yield* Etcd
    const env: EtcdEnv = {
      kv,
      prefix: config.prefix,
      where: config.endpoints.join(","),
      call: makeCaller(config.endpoints, options.retryFor ?? "30 seconds", options.callTimeout)
    }
    const { call, prefix, where } = env

    const currentRevision = (op: string) =>
      call(op, PODS, (deadline) => kv.get(PODS).options({ deadline }).exec()).pipe(
        Effect.map((res) => Number(res.header.revision))
      )

    /** Is `revision` gone from etcd's history (a read at it says "compacted")? */
    const compacted = (op: string) => (revision: number) =>
      call(op, `${PODS} at revision ${revision}`, (deadline) =>
        kv.get(PODS).revision(revision).options({ deadline }).exec()).pipe(
          Effect.as(false),
          Effect.catchIf((e) =>
            /compacted/i.test(e.message), () =>
            Effect.succeed(true)),
          // Nothing has happened after the cursor yet: certainly not compacted.
          Effect.catchIf((e) => /future revision/i.test(e.message), () => Effect.succeed(false))
        )

    const pods = makePods(env)
    const observed = makeObserved(env, {
      eventHistory: options.eventHistory ?? EVENT_HISTORY,
      currentRevision,
      compacted
    })

    const watch = (fromRevision?: number): Stream.Stream<Change, StoreError> =>
      follow<Change>({
        kv,
        prefix: PODS,
        after: fromRevision === undefined ? currentRevision("watch") : Effect.succeed(fromRevision),
        where,
        compacted: compacted("watch"),
        decode: (ev): Either.Either<ReadonlyArray<Change>, StoreError> =>
          ev.type === "Delete"
            ? Either.right([{
              _tag: "PodDeleted",
              revision: Number(ev.kv.mod_revision),
              name: podName(ev.kv.key.toString())
            }])
            : Either.right([
              Either.match(storedPodFrom(prefix, ev.kv.key.toString(), ev.kv), {
                onRight: (p): Change => ({ _tag: "PodPut", revision: p.revision, pod: publicPod(p) }),
                onLeft: (u): Change => ({ _tag: "PodInvalid", revision: u.revision, record: u.record })
              })
            ]),
        reset: () =>
          Effect.map(pods.readAll("watch"), ({ invalid, pods, revision }) => ({
            revision,
            items: [{ _tag: "Resync", revision, pods, invalid }]
          }))
      })

    const invalidRecords = Effect.gen(function*() {
      const all = yield* pods.readAll("doctor")
      const statuses = yield* observed.listStatus
      const events = yield* observed.invalidEvents
      return [...all.invalid, ...statuses.invalid, ...events]
    })

    /** Delete the key only if it still holds the unreadable value read (same mod revision). */
    const removeInvalid = (kind: RecordKind, key: string): Effect.Effect<boolean, StoreError> => {
      if (kind !== "pod") return observed.removeInvalid(kind, key)
      return Effect.gen(function*() {
        const cur = yield* pods.readRaw("doctor", key)
        if (Option.isNone(cur) || Either.isRight(cur.value)) return false
        return yield* pods.delete(key, { expectRevision: cur.value.left.revision }).pipe(
          Effect.catchTag("RevisionConflict", () => Effect.succeed(false))
        )
      })
    }

    return Store.of({
      get: pods.get,
      list: Effect.map(pods.readAll("list"), ({ invalid, pods }) => ({ pods, invalid })),
      put: pods.put,
      // Pod by pod, each put then its event, as an apply wrote them before there was a batch.
      putAll: (batch, event) =>
        Effect.forEach(batch, (pod) =>
          pods.put(pod).pipe(
            // Unconditional: a conflict cannot happen, and would be a bug.
            Effect.catchTag("RevisionConflict", (e) => Effect.die(e)),
            Effect.tap((stored) => observed.appendEvent(event(stored)))
          )),
      create: pods.create,
      delete: pods.delete,
      requestRestart: pods.requestRestart,
      bind: pods.bind,
      revision: currentRevision("revision"),
      watch,
      putStatus: observed.putStatus,
      putStatusAndEvent: observed.putStatusAndEvent,
      getStatus: observed.getStatus,
      listStatus: observed.listStatus,
      deleteStatus: observed.deleteStatus,
      appendEvent: observed.appendEvent,
      events: observed.events,
      recentEvents: observed.recentEvents,
      invalidRecords,
      removeInvalid
    })
  })

/** The Store over the `Etcd` connection (its keyspace is the configured prefix). */
export const layerEtcd = (options?: EtcdStoreOptions): Layer.Layer<Store, never, Etcd> =>
  Layer.effect(Store, make(options))
