/**
 * The Store over etcd v3 (cluster mode), with the same semantics as the SQLite layer.
 *
 * - `revision`/`createdRevision` are etcd's own mod/create revisions (one store-wide counter), so
 *   revisions are not dense: status and event writes advance them too.
 * - Writes to a pod are compare-and-swap transactions on the key's mod revision (read, decide, write
 *   if unchanged, else read again). Each write carries a fresh writeId in the value: if a transaction's
 *   outcome was unknown and the retry's compare fails, finding our writeId proves it committed.
 * - The change feed is an etcd watch on `pods/` (see etcdWatch.ts for resuming without gaps); a
 *   compacted start revision yields a `Resync` with the full state.
 * - Events are keys under `events/` whose id is their create revision; the history is trimmed to
 *   EVENT_HISTORY entries.
 *
 * Keyspace and value schemas: etcdRecords.ts. Retries and errors: etcdCall.ts.
 */
import { type Duration, Effect, Either, Layer, Option, Stream } from "effect"
import type { IKeyValue, ITxnResponse } from "etcd3"
import { Etcd } from "../etcd/client.js"
import type { Pod } from "../spec/Pod.js"
import { makeCaller } from "./etcdCall.js"
import {
  encodeEventBody,
  encodePodValue,
  encodeStatus,
  eventFrom,
  EVENTS,
  newEventKey,
  newWriteId,
  podKey,
  podName,
  PODS,
  publicPod,
  STATUS,
  statusFrom,
  statusKey,
  storedPodFrom
} from "./etcdRecords.js"
import { follow } from "./etcdWatch.js"
import type { NewPodEvent, PodEvent, PodStatus } from "./status.js"
import type { StoreError } from "./Store.js"
import { AlreadyExists, type Change, RevisionConflict, Store, type StoredPod, type WriteOptions } from "./Store.js"

export const EVENT_HISTORY = 10_000
/** etcd's default --max-txn-ops. */
const MAX_TXN_OPS = 128

export interface EtcdStoreOptions {
  /** How long a request keeps being retried while etcd is unavailable (default 30 s). */
  readonly retryFor?: Duration.DurationInput
  /** Give up on one attempt of a request after this long and retry (default 2 s). */
  readonly callTimeout?: Duration.DurationInput
  /** Keep at most this many events (default 10 000). */
  readonly eventHistory?: number
}

type Current = StoredPod & { readonly writeId: string }

/** What a compare-and-swap step decided, given the pod as it is now. */
type Decision<A> =
  | { readonly _tag: "Write"; readonly value: { spec: Pod; restartGeneration: number; node: string | null } }
  | { readonly _tag: "Done"; readonly result: A }

const isCompacted = (e: unknown) => /compacted/i.test(e instanceof Error ? e.message : String(e))

export const make = (options: EtcdStoreOptions = {}) =>
  Effect.gen(function*() {
    const { config, kv } = yield* Etcd
    const where = config.endpoints.join(",")
    const prefix = config.prefix
    const call = makeCaller(config.endpoints, options.retryFor ?? "30 seconds", options.callTimeout)
    const eventHistory = options.eventHistory ?? EVENT_HISTORY

    const decodePods = (op: string, kvs: ReadonlyArray<IKeyValue>) =>
      Effect.forEach(kvs, (x) => storedPodFrom(op, prefix, x.key.toString(), x))

    const readPod = (op: string, name: string) =>
      call(op, podKey(name), (deadline) => kv.get(podKey(name)).options({ deadline }).exec()).pipe(
        Effect.flatMap((res) =>
          res.kvs[0] ? Effect.map(storedPodFrom(op, prefix, podKey(name), res.kvs[0]), Option.some) : Effect.succeedNone
        )
      )

    const readAllPods = (op: string) =>
      call(op, PODS, (deadline) => kv.getAll().prefix(PODS).sort("Key", "Ascend").options({ deadline }).exec()).pipe(
        Effect.flatMap((res) =>
          Effect.map(decodePods(op, res.kvs), (pods) => ({ revision: Number(res.header.revision), pods }))
        )
      )

    const currentRevision = (op: string) =>
      call(op, PODS, (deadline) => kv.get(PODS).options({ deadline }).exec()).pipe(
        Effect.map((res) => Number(res.header.revision))
      )

    /**
     * Decide from the pod as we believe it is, write if the key is unchanged (one transaction whose
     * else-branch reads the key), decide again from what it read when someone else wrote first.
     * `optimistic`: start by assuming the pod is absent (create, and puts that do not depend on a
     * revision: a new pod then costs one round trip); otherwise read it first.
     *
     * The writeId check comes first: a transaction retried after its commit was not acknowledged finds
     * its own write and returns it instead of deciding again.
     */
    const cas = <A, E>(
      op: string,
      name: string,
      optimistic: boolean,
      decide: (cur: Option.Option<Current>) => Effect.Effect<Decision<A>, E>
    ): Effect.Effect<A | StoredPod, E | StoreError> => {
      const key = podKey(name)
      const writeId = newWriteId()
      let known: Option.Option<Option.Option<Current>> = optimistic ? Option.some(Option.none()) : Option.none()
      const step: Effect.Effect<Option.Option<A | StoredPod>, E | StoreError> = Effect.gen(function*() {
        const cur = Option.isSome(known) ? known.value : yield* readPod(op, name)
        if (Option.isSome(cur) && cur.value.writeId === writeId) return Option.some(publicPod(cur.value))
        const decision = yield* decide(cur)
        if (decision._tag === "Done") return Option.some(decision.result)
        const modRevision = Option.match(cur, { onNone: () => 0, onSome: (c) => c.revision })
        const updatedAt = Date.now()
        const value = encodePodValue({ ...decision.value, updatedAt, writeId })
        const res: ITxnResponse = yield* call(op, key, (deadline) =>
          kv.if(key, "Mod", "==", modRevision).options({ deadline }).then(kv.put(key).value(value)).else(kv.get(key))
            .commit())
        if (!res.succeeded) {
          // Transaction responses keep the namespace prefix on keys: name the key ourselves.
          const now = res.responses[0]?.response_range?.kvs[0]
          known = Option.some(now ? Option.some(yield* storedPodFrom(op, prefix, key, now)) : Option.none())
          return Option.none()
        }
        const revision = Number(res.header.revision)
        return Option.some<StoredPod>({
          name,
          spec: decision.value.spec,
          revision,
          createdRevision: Option.match(cur, {
            onNone: () =>
              revision,
            onSome: (c) =>
              c.createdRevision
          }),
          updatedAt,
          restartGeneration: decision.value.restartGeneration,
          node: decision.value.node
        })
      })
      return Effect.gen(function*() {
        while (true) {
          const out = yield* step
          if (Option.isSome(out)) {
            return out.value
          }
        }
      })
    }

    const expect = (name: string, expected: number | undefined, cur: Option.Option<Current>) => {
      const actual = Option.match(cur, {
        onNone: () =>
          null,
        onSome: (c) => c.revision
      })
      return expected !== undefined && (actual ?? 0) !== expected
        ? Effect.fail(new RevisionConflict({ name, expected, actual }))
        : Effect.void
    }

    const put = (pod: Pod, opts?: WriteOptions) =>
      cas("put", pod.name, (opts?.expectRevision ?? 0) === 0, (cur) =>
        Effect.as(expect(pod.name, opts?.expectRevision, cur), {
          _tag: "Write" as const,
          value: {
            spec: pod,
            restartGeneration: Option.match(cur, {
              onNone: () =>
                0,
              onSome: (c) =>
                c.restartGeneration
            }),
            node: Option.match(cur, {
              onNone: () =>
                null,
              onSome: (c) =>
                c.node
            })
          }
        })) as Effect.Effect<StoredPod, StoreError | RevisionConflict>

    const create = (pod: Pod) =>
      cas("create", pod.name, true, (cur) =>
        Option.isSome(cur)
          ? Effect.fail(new AlreadyExists({ name: pod.name, revision: cur.value.revision }))
          : Effect.succeed({
            _tag: "Write" as const,
            value: { spec: pod, restartGeneration: 0, node: null }
          })) as Effect.Effect<
          StoredPod,
          StoreError | AlreadyExists
        >

    /**
     * Delete if unchanged since read. The value is not decoded: a pod whose stored value is corrupted
     * can still be deleted (only its mod revision matters here).
     */
    const del = (name: string, opts?: WriteOptions): Effect.Effect<boolean, StoreError | RevisionConflict> => {
      const key = podKey(name)
      let sent = false
      const step = Effect.gen(function*() {
        const res = yield* call("delete", key, (deadline) =>
          kv.get(key).options({ deadline }).exec())
        const actual = res.kvs[0] ? Number(res.kvs[0].mod_revision) : null
        // Absent after our own delete was sent (outcome unknown, then retried): it is deleted.
        if (actual === null && sent) return Option.some(true)
        const expected = opts?.expectRevision
        if (expected !== undefined && (actual ?? 0) !== expected) {
          return yield* new RevisionConflict({ name, expected, actual })
        }
        if (actual === null) return Option.some(false)
        sent = true
        const done = yield* call("delete", key, (deadline) =>
          kv.if(key, "Mod", "==", actual).options({ deadline }).then(kv.delete().key(key)).commit())
        return done.succeeded ? Option.some(true) : Option.none()
      })
      return Effect.gen(function*() {
        while (true) {
          const out = yield* step
          if (Option.isSome(out)) {
            return out.value
          }
        }
      })
    }

    /** Rewrite an existing pod's bookkeeping, keeping its spec; None if absent. */
    const touch = (
      op: string,
      name: string,
      update: (cur: Current) => { restartGeneration: number; node: string | null },
      expected?: number
    ) =>
      cas<Option.Option<StoredPod>, RevisionConflict>(op, name, false, (cur) =>
        Effect.zipRight(
          expect(name, expected, cur),
          Effect.succeed<Decision<Option.Option<StoredPod>>>(
            Option.match(cur, {
              onNone: () => ({ _tag: "Done", result: Option.none() }),
              onSome: (c) => ({ _tag: "Write", value: { spec: c.spec, ...update(c) } })
            })
          )
        )).pipe(
          Effect.map((r) =>
            Option.isOption(r) ? r : Option.some(r as StoredPod)
          )
        )

    const requestRestart = (name: string) =>
      touch("restart", name, (c) => ({ restartGeneration: c.restartGeneration + 1, node: c.node })).pipe(
        Effect.catchTag("RevisionConflict", Effect.die)
      )

    const bind = (name: string, node: string | null, opts?: WriteOptions) =>
      touch("bind", name, (c) => ({ restartGeneration: c.restartGeneration, node }), opts?.expectRevision)

    /** Is `revision` gone from etcd's history (a read at it says "compacted")? */
    const compacted = (op: string) => (revision: number) =>
      call(op, `${PODS} at revision ${revision}`, (deadline) =>
        kv.get(PODS).revision(revision).options({ deadline }).exec())
        .pipe(
          Effect.as(false),
          Effect.catchIf((e) =>
            isCompacted(e.message), () =>
            Effect.succeed(true))
        )

    const watch = (fromRevision?: number): Stream.Stream<Change, StoreError> =>
      Stream.unwrap(Effect.map(
        fromRevision === undefined ? currentRevision("watch") : Effect.succeed(fromRevision),
        (after) =>
          follow<Change>({
            kv,
            prefix: PODS,
            after,
            where,
            compacted: compacted("watch"),
            decode: (ev) =>
              ev.type === "Delete"
                ? Either.right([{
                  _tag: "PodDeleted",
                  revision: Number(ev.kv.mod_revision),
                  name: podName(ev.kv.key.toString())
                }])
                : Either.map(storedPodFrom("watch", prefix, ev.kv.key.toString(), ev.kv), (p) => [{
                  _tag: "PodPut",
                  revision: p.revision,
                  pod: publicPod(p)
                }]),
            reset: () =>
              Effect.map(readAllPods("watch"), ({ pods, revision }) => ({
                revision,
                items: [{ _tag: "Resync", revision, pods: pods.map(publicPod) }]
              }))
          })
      ))

    const putStatus = (status: PodStatus) =>
      call("putStatus", statusKey(status.name), (deadline) =>
        kv.put(statusKey(status.name)).value(encodeStatus(status)).options({ deadline }).exec()).pipe(Effect.asVoid)

    const getStatus = (name: string) =>
      call("getStatus", statusKey(name), (deadline) =>
        kv.get(statusKey(name)).options({ deadline }).exec()).pipe(
          Effect.flatMap((res) =>
            res.kvs[0]
              ? Effect.map(statusFrom("getStatus", prefix, statusKey(name), res.kvs[0]), Option.some)
              : Effect.succeedNone
          )
        )

    const listStatus = call(
      "listStatus",
      STATUS,
      (deadline) =>
        kv.getAll().prefix(STATUS).sort("Key", "Ascend").options({ deadline }).exec()
    ).pipe(
      Effect.flatMap((res) =>
        Effect.forEach(res.kvs, (x) =>
          statusFrom("listStatus", prefix, x.key.toString(), x))
      )
    )

    const deleteStatus = (name: string) =>
      call("deleteStatus", statusKey(name), (deadline) => kv.delete().key(statusKey(name)).options({ deadline }).exec())
        .pipe(Effect.asVoid)

    const readEvents = (op: string, order: "Ascend" | "Descend", limit?: number) =>
      call(op, EVENTS, (deadline) => {
        const b = kv.getAll().prefix(EVENTS).sort("Create", order).options({ deadline })
        return (limit === undefined ? b : b.limit(limit)).exec()
      }).pipe(
        Effect.flatMap((res) =>
          Effect.map(
            Effect.forEach(res.kvs, (x) => eventFrom(op, prefix, x)),
            (events) => ({ revision: Number(res.header.revision), events })
          )
        )
      )

    let appended = 0
    /** Drop the oldest events beyond the history bound (checked every so often, not per append). */
    const trimEvents = Effect.gen(function*() {
      const count = yield* call("trimEvents", EVENTS, (deadline) =>
        kv.getAll().prefix(EVENTS).options({ deadline }).count())
      const excess = count - eventHistory
      if (excess <= 0) {
        return
      }
      const keys = yield* call("trimEvents", EVENTS, (deadline) =>
        kv.getAll().prefix(EVENTS).sort("Create", "Ascend").limit(excess).options({ deadline }).keys())
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
        const chunk = keys.slice(i, i + MAX_TXN_OPS)
        yield* call("trimEvents", EVENTS, (deadline) =>
          kv.if(chunk[0]!, "Create", ">", 0).options({ deadline }).then(...chunk.map((k) =>
            kv.delete().key(k)
          ))
            .commit())
      }
    })

    const appendEvent = (event: NewPodEvent) =>
      Effect.gen(function*() {
        const key = newEventKey()
        const res = yield* call("appendEvent", key, (deadline) =>
          kv.put(key).value(encodeEventBody(event)).options({ deadline }).exec())
        appended++
        if (appended % Math.max(1, Math.min(500, Math.floor(eventHistory / 10))) === 0) {
          yield* trimEvents.pipe(Effect.catchAll((e) =>
            Effect.logWarning(`could not trim events: ${e.message}`)
          ))
        }
        return { ...event, id: Number(res.header.revision) } as PodEvent
      })

    const events = (afterId?: number): Stream.Stream<PodEvent, StoreError> =>
      Stream.unwrap(Effect.map(
        afterId === undefined ? currentRevision("events") : Effect.succeed(afterId),
        (after) =>
          follow<PodEvent>({
            kv,
            prefix: EVENTS,
            after,
            where,
            compacted: compacted("events"),
            // Deletes are history trims; an event key is written once.
            decode: (ev) =>
              ev.type === "Put" ? Either.map(eventFrom("events", prefix, ev.kv), (e) => [e]) : Either.right([]),
            reset: (since) =>
              Effect.map(readEvents("events", "Ascend"), ({ events, revision }) => ({
                revision,
                items: events.filter((e) =>
                  e.id > since
                )
              }))
          })
      ))

    const recentEvents = (limit: number) =>
      limit <= 0
        ? Effect.succeed([])
        : Effect.map(readEvents("events", "Descend", limit), ({ events }) =>
          [...events].reverse())

    return Store.of({
      put,
      create,
      get: (name) =>
        Effect.map(readPod("get", name), Option.map(publicPod)),
      list: Effect.map(readAllPods("list"), ({ pods }) =>
        pods.map(publicPod)),
      delete: del,
      requestRestart,
      bind,
      revision: currentRevision("revision"),
      watch,
      putStatus,
      getStatus,
      listStatus,
      deleteStatus,
      appendEvent,
      events,
      recentEvents
    })
  })

/** The Store over the `Etcd` connection (its keyspace is the configured prefix). */
export const layerEtcd = (options?: EtcdStoreOptions): Layer.Layer<Store, never, Etcd> =>
  Layer.effect(Store, make(options))
