/**
 * `events(options)`: the reconciler's pod events from the Store's event log, from any process (the
 * SQLite store sees other processes' appends; see Store.events).
 *
 * - no `since`, no `follow`: the most recent `limit` events (default 100);
 * - `since`: the kept events at or after that time (the store keeps a bounded history);
 * - `follow`: then every new event as it is appended, without gap or repeat (the live feed resumes
 *   from the id of the last event read). `follow` alone starts at now.
 *
 * An event whose stored record cannot be read is skipped and handed to `onInvalid` (default: a
 * warning in the log), so one bad record never ends the stream.
 */
import { Effect, Schema, Stream } from "effect"
import type { PodEvent } from "../store/status.js"
import type { InvalidRecord, StoreError } from "../store/Store.js"
import { isInvalidRecord, Store } from "../store/Store.js"
import { isTimeError, parseTime } from "./time.js"

export class EventsError extends Schema.TaggedError<EventsError>()("EventsError", { reason: Schema.String }) {
  override get message() {
    return `events: ${this.reason}`
  }
}

export interface EventsOptions {
  readonly since?: Date | string
  readonly follow?: boolean
  /** Only this pod's events. */
  readonly pod?: string
  /** Without `since`: how many recent events (default 100; 0 with follow). */
  readonly limit?: number
  /** Told of each unreadable event skipped (default: logs a warning naming it). */
  readonly onInvalid?: (record: InvalidRecord) => Effect.Effect<void>
}

/** More than the store keeps: "everything there is". */
const ALL = 1_000_000

export const events = (options: EventsOptions = {}): Stream.Stream<PodEvent, StoreError | EventsError, Store> =>
  Stream.unwrap(Effect.gen(function*() {
    const store = yield* Store
    let since: Date | undefined
    if (typeof options.since === "string") {
      const t = parseTime(options.since)
      if (isTimeError(t)) return yield* new EventsError({ reason: `since: ${t.error}` })
      since = t
    } else {
      since = options.since
    }
    const follow = options.follow === true
    const limit = since !== undefined ? ALL : options.limit ?? (follow ? 0 : 100)
    const onInvalid = options.onInvalid ??
      ((r: InvalidRecord) => Effect.logWarning(`${r.message} (skipped; tank doctor lists and removes it)`))
    const { events: recent, invalid } = limit > 0 ? yield* store.recentEvents(limit) : { events: [], invalid: [] }
    yield* Effect.forEach(invalid, onInvalid, { discard: true })
    // Resume the live feed right after what was read (readable or not), or from the newest event.
    const lastId = Math.max(...recent.map((e) => e.id), ...invalid.map((r) => r.revision ?? 0))
    const after = recent.length + invalid.length > 0 && Number.isFinite(lastId) ? lastId : undefined
    const sinceIso = since?.toISOString()
    const wanted = (e: PodEvent) =>
      (options.pod === undefined || e.pod === options.pod) && (sinceIso === undefined || e.at >= sinceIso)
    const history = Stream.fromIterable(recent.filter(wanted))
    if (!follow) return history
    const live = store.events(after).pipe(
      Stream.tap((e) => isInvalidRecord(e) ? onInvalid(e) : Effect.void),
      Stream.filter((e): e is PodEvent => !isInvalidRecord(e) && wanted(e))
    )
    return Stream.concat(history, live)
  }))
