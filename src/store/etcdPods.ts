/**
 * Desired pods in etcd: reads, and writes as compare-and-swap transactions on the key's mod revision.
 *
 * Every write decides from the pod as it believes it is and commits only if the key is unchanged (the
 * transaction's else-branch reads the key, so a lost race costs no extra round trip before deciding
 * again). Each write carries a fresh writeId in the value: when a transaction's outcome was unknown
 * (the connection dropped after commit; the etcd3 client or our retry sent it again) and the compare
 * then fails, finding our own writeId proves it committed, so the write is reported once, correctly.
 *
 * A value that cannot be read (an InvalidRecord) can still be replaced by a put (a re-apply repairs
 * it, keeping what of its bookkeeping is readable) and deleted; reads of it fail with the record.
 */
import { Effect, Either, Option } from "effect"
import type { Pod } from "../spec/Pod.js"
import type { EtcdEnv } from "./etcdCall.js"
import {
  encodeEventBody,
  encodePodValue,
  newEventKey,
  newWriteId,
  podKey,
  PODS,
  publicPod,
  storedPodFrom,
  type UnreadablePod
} from "./etcdRecords.js"
import {
  AlreadyExists,
  type BindOptions,
  type DeleteOptions,
  type InvalidRecord,
  type PodList,
  RevisionConflict,
  type StoredPod,
  type StoreError,
  type WriteOptions
} from "./Store.js"

type Valid = StoredPod & { readonly writeId: string }
/** The pod as it is in etcd: readable (Right) or not (Left). */
type Current = Either.Either<Valid, UnreadablePod>
type Bookkeeping = { readonly restartGeneration: number; readonly node: string | null }

/** What a compare-and-swap step decided, given the pod as it is now. */
type Decision<A> =
  | {
    readonly _tag: "Write"
    readonly spec: Pod
    readonly keep: Bookkeeping
    /** Other keys put in the same transaction (fixed across retries: written once or not at all). */
    readonly also?: ReadonlyArray<readonly [key: string, value: string]>
  }
  | { readonly _tag: "Done"; readonly result: A }

const revisionOf = (cur: Option.Option<Current>): number | null =>
  Option.match(cur, { onNone: () => null, onSome: (c) => Either.isRight(c) ? c.right.revision : c.left.revision })

const expect = (name: string, expected: number | undefined, cur: Option.Option<Current>) => {
  const actual = revisionOf(cur)
  return expected !== undefined && (actual ?? 0) !== expected
    ? Effect.fail(new RevisionConflict({ name, expected, actual }))
    : Effect.void
}

const repeatUntilSome = <A, E>(step: Effect.Effect<Option.Option<A>, E>): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    while (true) {
      const out = yield* step
      if (Option.isSome(out)) return out.value
    }
  })

export const makePods = ({ call, kv, prefix }: EtcdEnv) => {
  const readPod = (op: string, name: string): Effect.Effect<Option.Option<Current>, StoreError> =>
    call(op, podKey(name), (deadline) => kv.get(podKey(name)).options({ deadline }).exec()).pipe(
      Effect.map((res) => {
        const found = res.kvs[0]
        return found ? Option.some(storedPodFrom(prefix, podKey(name), found)) : Option.none()
      })
    )

  const readAll = (op: string): Effect.Effect<PodList & { readonly revision: number }, StoreError> =>
    call(op, PODS, (deadline) => kv.getAll().prefix(PODS).sort("Key", "Ascend").options({ deadline }).exec()).pipe(
      Effect.map((res) => {
        const pods: Array<StoredPod> = []
        const invalid: Array<InvalidRecord> = []
        for (const x of res.kvs) {
          const p = storedPodFrom(prefix, x.key.toString(), x)
          if (Either.isRight(p)) pods.push(publicPod(p.right))
          else invalid.push(p.left.record)
        }
        return { revision: Number(res.header.revision), pods, invalid }
      })
    )

  /**
   * `optimistic`: start by assuming the pod is absent (create, and puts that do not depend on a
   * revision: a new pod costs one round trip); otherwise read it first.
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
    return repeatUntilSome(Effect.gen(function*() {
      const cur = Option.isSome(known) ? known.value : yield* readPod(op, name)
      if (Option.isSome(cur) && Either.isRight(cur.value) && cur.value.right.writeId === writeId) {
        return Option.some<A | StoredPod>(publicPod(cur.value.right))
      }
      const decision = yield* decide(cur)
      if (decision._tag === "Done") return Option.some<A | StoredPod>(decision.result)
      const updatedAt = Date.now()
      const value = encodePodValue({ spec: decision.spec, ...decision.keep, updatedAt, writeId })
      const res = yield* call(op, key, (deadline) =>
        kv.if(key, "Mod", "==", revisionOf(cur) ?? 0).options({ deadline })
          .then(kv.put(key).value(value), ...(decision.also ?? []).map(([k, v]) => kv.put(k).value(v)))
          .else(kv.get(key))
          .commit())
      if (!res.succeeded) {
        // Transaction responses keep the namespace prefix on keys: name the key ourselves.
        const now = res.responses[0]?.response_range?.kvs[0]
        known = Option.some(now ? Option.some(storedPodFrom(prefix, key, now)) : Option.none())
        return Option.none()
      }
      const revision = Number(res.header.revision)
      return Option.some<A | StoredPod>({
        name,
        spec: decision.spec,
        revision,
        createdRevision: Option.match(cur, {
          onNone: () => revision,
          onSome: (c) => Either.isRight(c) ? c.right.createdRevision : c.left.createdRevision
        }),
        updatedAt,
        ...decision.keep
      })
    }))
  }

  const kept = (cur: Option.Option<Current>): Bookkeeping =>
    Option.match(cur, {
      onNone: () => ({ restartGeneration: 0, node: null }),
      onSome: (c) => {
        const b = Either.isRight(c) ? c.right : c.left
        return { restartGeneration: b.restartGeneration, node: b.node }
      }
    })

  const put = (pod: Pod, opts?: WriteOptions): Effect.Effect<StoredPod, StoreError | RevisionConflict> =>
    cas<never, RevisionConflict>(
      "put",
      pod.name,
      (opts?.expectRevision ?? 0) === 0,
      (cur) =>
        Effect.as(expect(pod.name, opts?.expectRevision, cur), {
          _tag: "Write",
          spec: pod,
          keep: kept(cur)
        })
    )

  const create = (pod: Pod): Effect.Effect<StoredPod, StoreError | AlreadyExists> =>
    cas<never, AlreadyExists>("create", pod.name, true, (cur) =>
      Option.isSome(cur)
        ? Effect.fail(new AlreadyExists({ name: pod.name, revision: revisionOf(cur) ?? 0 }))
        : Effect.succeed({ _tag: "Write", spec: pod, keep: kept(cur) }))

  /**
   * Delete if unchanged since read. The value is not decoded: a pod whose stored value is corrupted
   * can still be deleted (only its mod revision matters). The event, if any, is put in the delete's
   * transaction.
   */
  const del = (name: string, opts?: DeleteOptions): Effect.Effect<boolean, StoreError | RevisionConflict> => {
    const key = podKey(name)
    // The event key is drawn once: a retried transaction writes the same key, never a second event.
    const event = opts?.event && { key: newEventKey(), body: encodeEventBody({ ...opts.event, pod: name }) }
    let sent = false
    return repeatUntilSome(Effect.gen(function*() {
      const res = yield* call("delete", key, (deadline) => kv.get(key).options({ deadline }).exec())
      const actual = res.kvs[0] ? Number(res.kvs[0].mod_revision) : null
      // Absent after our own delete was sent (outcome unknown, then retried): it is deleted.
      if (actual === null && sent) return Option.some(true)
      const expected = opts?.expectRevision
      if (expected !== undefined && (actual ?? 0) !== expected) {
        return yield* new RevisionConflict({ name, expected, actual })
      }
      if (actual === null) return Option.some(false)
      sent = true
      const done = yield* call(
        "delete",
        key,
        (deadline) =>
          kv.if(key, "Mod", "==", actual).options({ deadline })
            .then(kv.delete().key(key), ...(event ? [kv.put(event.key).value(event.body)] : []))
            .commit()
      )
      return done.succeeded ? Option.some(true) : Option.none()
    }))
  }

  /** Rewrite an existing pod's bookkeeping, keeping its spec; None if absent, its record if unreadable. */
  const touch = (
    op: string,
    name: string,
    update: (cur: Valid) => Bookkeeping,
    expected?: number,
    also?: ReadonlyArray<readonly [string, string]>
  ) =>
    cas<Option.Option<StoredPod>, RevisionConflict | InvalidRecord>(op, name, false, (cur) =>
      Effect.zipRight(
        expect(name, expected, cur),
        Option.match(cur, {
          onNone: () => Effect.succeed<Decision<Option.Option<StoredPod>>>({ _tag: "Done", result: Option.none() }),
          onSome: (c) =>
            Either.isRight(c)
              ? Effect.succeed<Decision<Option.Option<StoredPod>>>({
                _tag: "Write",
                spec: c.right.spec,
                keep: update(c.right),
                ...(also ? { also } : {})
              })
              : Effect.fail(c.left.record)
        })
      )).pipe(Effect.map((r) => Option.isOption(r) ? r : Option.some(r)))

  const requestRestart = (name: string): Effect.Effect<Option.Option<StoredPod>, StoreError | InvalidRecord> =>
    touch("restart", name, (c) => ({ restartGeneration: c.restartGeneration + 1, node: c.node })).pipe(
      // No expected revision: a conflict cannot happen.
      Effect.catchTag("RevisionConflict", Effect.die)
    )

  const bind = (name: string, node: string | null, opts?: BindOptions) =>
    touch(
      "bind",
      name,
      (c) => ({ restartGeneration: c.restartGeneration, node }),
      opts?.expectRevision,
      // The event key is drawn once: a retried transaction writes the same key, never a second event.
      opts?.event ? [[newEventKey(), encodeEventBody({ ...opts.event, pod: name })]] : undefined
    )

  return {
    get: (name: string): Effect.Effect<Option.Option<StoredPod>, StoreError | InvalidRecord> =>
      Effect.flatMap(readPod("get", name), (cur) =>
        Option.match(cur, {
          onNone: () => Effect.succeedNone,
          onSome: (c) =>
            Either.isRight(c) ? Effect.succeed(Option.some(publicPod(c.right))) : Effect.fail(c.left.record)
        })),
    readRaw: readPod,
    readAll,
    put,
    create,
    delete: del,
    requestRestart,
    bind
  }
}
