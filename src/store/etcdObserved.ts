/**
 * Observed state in etcd: pod status under `status/`, and pod events under `events/` (one key each,
 * its id the key's create revision, so ids increase store-wide and a watch from `afterId` replays
 * exactly the later ones). The event history is trimmed to a bound every so often.
 */
import { Effect, Either, Option, type Stream } from "effect"
import type { EtcdEnv } from "./etcdCall.js"
import {
  encodeEventBody,
  encodeStatus,
  eventFrom,
  EVENTS,
  newEventKey,
  STATUS,
  statusFrom,
  statusKey
} from "./etcdRecords.js"
import { follow } from "./etcdWatch.js"
import type { NewPodEvent, PodEvent, PodStatus } from "./status.js"
import type { InvalidRecord, StatusList, StoreError } from "./Store.js"

/** An event's id, readable or not (an unreadable one's is its key's create revision too). */
const idOf = (e: PodEvent | InvalidRecord): number => "id" in e ? e.id : e.revision ?? 0

/** etcd's default --max-txn-ops. */
const MAX_TXN_OPS = 128

export interface ObservedOptions {
  readonly eventHistory: number
  readonly currentRevision: (op: string) => Effect.Effect<number, StoreError>
  readonly compacted: (op: string) => (revision: number) => Effect.Effect<boolean, StoreError>
}

export const makeObserved = (env: EtcdEnv, options: ObservedOptions) => {
  const { call, kv, prefix, where } = env

  const putStatus = (status: PodStatus) =>
    call(
      "putStatus",
      statusKey(status.name),
      (deadline) => kv.put(statusKey(status.name)).value(encodeStatus(status)).options({ deadline }).exec()
    ).pipe(Effect.asVoid)

  const getStatus = (name: string) =>
    call("getStatus", statusKey(name), (deadline) => kv.get(statusKey(name)).options({ deadline }).exec()).pipe(
      Effect.flatMap((res) => {
        const found = res.kvs[0]
        return found ? Effect.map(statusFrom(prefix, statusKey(name), found), Option.some) : Effect.succeedNone
      })
    )

  const listStatus = call(
    "listStatus",
    STATUS,
    (deadline) => kv.getAll().prefix(STATUS).sort("Key", "Ascend").options({ deadline }).exec()
  ).pipe(
    Effect.map((res): StatusList => {
      const statuses: Array<PodStatus> = []
      const invalid: Array<InvalidRecord> = []
      for (const x of res.kvs) {
        Either.match(statusFrom(prefix, x.key.toString(), x), {
          onLeft: (r) => invalid.push(r),
          onRight: (s) => statuses.push(s)
        })
      }
      return { statuses, invalid }
    })
  )

  const deleteStatus = (name: string) =>
    call("deleteStatus", statusKey(name), (deadline) => kv.delete().key(statusKey(name)).options({ deadline }).exec())
      .pipe(Effect.asVoid)

  const readEvents = (op: string, order: "Ascend" | "Descend", limit?: number) =>
    call(op, EVENTS, (deadline) => {
      const range = kv.getAll().prefix(EVENTS).sort("Create", order).options({ deadline })
      return (limit === undefined ? range : range.limit(limit)).exec()
    }).pipe(
      Effect.map((res) => {
        const events: Array<PodEvent> = []
        const invalid: Array<InvalidRecord> = []
        for (const x of res.kvs) {
          Either.match(eventFrom(prefix, x.key.toString(), x), {
            onLeft: (r) => invalid.push(r),
            onRight: (e) => events.push(e)
          })
        }
        return { revision: Number(res.header.revision), events, invalid }
      })
    )

  /** Drop the oldest events beyond the bound. */
  const trimEvents = Effect.gen(function*() {
    const count = yield* call(
      "trimEvents",
      EVENTS,
      (deadline) => kv.getAll().prefix(EVENTS).options({ deadline }).count()
    )
    const excess = count - options.eventHistory
    if (excess <= 0) return
    const keys = yield* call(
      "trimEvents",
      EVENTS,
      (deadline) => kv.getAll().prefix(EVENTS).sort("Create", "Ascend").limit(excess).options({ deadline }).keys()
    )
    for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
      const chunk = keys.slice(i, i + MAX_TXN_OPS)
      // The compare only makes it a transaction (one round trip for the chunk); if another process
      // trimmed the first key already, skipping this chunk is fine.
      yield* call(
        "trimEvents",
        EVENTS,
        (deadline) =>
          kv.if(chunk[0]!, "Create", ">", 0).options({ deadline }).then(...chunk.map((k) => kv.delete().key(k)))
            .commit()
      )
    }
  })

  // Checked every so often by each process, not on every append.
  const trimEvery = Math.max(1, Math.min(500, Math.floor(options.eventHistory / 10)))
  let appended = 0

  const appendEvent = (event: NewPodEvent) =>
    Effect.gen(function*() {
      const key = newEventKey()
      const res = yield* call("appendEvent", key, (deadline) =>
        kv.put(key).value(encodeEventBody(event)).options({ deadline }).exec())
      if (++appended % trimEvery === 0) {
        yield* trimEvents.pipe(Effect.catchAll((e) =>
          Effect.logWarning(`could not trim events: ${e.message}`)
        ))
      }
      const stored: PodEvent = { ...event, id: Number(res.header.revision) }
      return stored
    })

  /**
   * The status and the event in one transaction (one revision: the event's id). Its key is drawn
   * once, and the put only happens while the key is new: a retried call whose first attempt
   * committed writes nothing again, and the event's id is then the key's create revision.
   */
  const putStatusAndEvent = (status: PodStatus, event: NewPodEvent) =>
    Effect.gen(function*() {
      const key = newEventKey()
      const statusValue = encodeStatus(status)
      const eventValue = encodeEventBody(event)
      const res = yield* call("putStatus", statusKey(status.name), (deadline) =>
        kv.if(key, "Create", "==", 0).options({ deadline })
          .then(kv.put(statusKey(status.name)).value(statusValue), kv.put(key).value(eventValue))
          .else(kv.get(key))
          .commit())
      const id = res.succeeded
        ? Number(res.header.revision)
        : Number(res.responses[0]?.response_range?.kvs[0]?.create_revision ?? res.header.revision)
      if (++appended % trimEvery === 0) {
        yield* trimEvents.pipe(Effect.catchAll((e) =>
          Effect.logWarning(`could not trim events: ${e.message}`)
        ))
      }
      const stored: PodEvent = { ...event, id }
      return stored
    })

  const events = (afterId?: number): Stream.Stream<PodEvent | InvalidRecord, StoreError> =>
    follow<PodEvent | InvalidRecord>({
      kv,
      prefix: EVENTS,
      after: afterId === undefined ? options.currentRevision("events") : Effect.succeed(afterId),
      where,
      compacted: options.compacted("events"),
      // Deletes are history trims; an event key is written once.
      decode: (ev) =>
        ev.type === "Put"
          ? Either.right([Either.merge(eventFrom(prefix, ev.kv.key.toString(), ev.kv))])
          : Either.right([]),
      reset: (since) =>
        Effect.map(readEvents("events", "Ascend"), ({ events, invalid, revision }) => ({
          revision,
          items: [...events, ...invalid].filter((e) => idOf(e) > since)
            .sort((a, b) => idOf(a) - idOf(b))
        }))
    })

  const recentEvents = (limit: number) =>
    limit <= 0
      ? Effect.succeed({ events: [], invalid: [] })
      : Effect.map(readEvents("events", "Descend", limit), ({ events, invalid }) => ({
        events: [...events].reverse(),
        invalid: [...invalid].reverse()
      }))

  /** Every unreadable event (a full read of the history: for repair, not for the hot path). */
  const invalidEvents = Effect.map(readEvents("doctor", "Ascend"), ({ invalid }) => invalid)

  /** Delete an unreadable status or event if it is still the value read (same mod revision). */
  const removeInvalid = (kind: "status" | "event", name: string): Effect.Effect<boolean, StoreError> => {
    const key = kind === "status" ? statusKey(name) : name
    if (kind === "event" && !key.startsWith(EVENTS)) return Effect.succeed(false)
    return Effect.gen(function*() {
      const res = yield* call("doctor", key, (deadline) => kv.get(key).options({ deadline }).exec())
      const found = res.kvs[0]
      if (found === undefined) return false
      const bad = kind === "status"
        ? Either.isLeft(statusFrom(prefix, key, found))
        : Either.isLeft(eventFrom(prefix, key, found))
      if (!bad) return false
      const done = yield* call(
        "doctor",
        key,
        (deadline) =>
          kv.if(key, "Mod", "==", Number(found.mod_revision)).options({ deadline }).then(kv.delete().key(key)).commit()
      )
      return done.succeeded
    })
  }

  return {
    putStatus,
    putStatusAndEvent,
    getStatus,
    listStatus,
    deleteStatus,
    appendEvent,
    events,
    recentEvents,
    invalidEvents,
    removeInvalid
  }
}
