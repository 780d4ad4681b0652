/**
 * Status changes as a Stream (`Tank.watch`, `tank ps -w`) and waiting for a condition
 * (`Tank.waitFor`, `tank wait`), from any process.
 *
 * Driven by the store's event feed, not by polling statuses: the agent appends an event after each
 * status write that matters (running, exited, backing-off, terminal, removed, ...), carrying that
 * status, and writers of desired state append theirs (applied, deleted, restarting), after which the
 * pod's status is read. A status equal to the last one delivered (one change can come with two
 * events) is not delivered again, so each change arrives once, in the order the store recorded it.
 */
import { Clock, Duration, Effect, Option, Ref, Schema, Stream } from "effect"
import type { PodEvent, PodStatus } from "../store/status.js"
import { isInvalidRecord, Store, type StoreError } from "../store/Store.js"
import { PodNotFound, status, statusAll } from "./Api.js"
import { verdict, type WaitCondition } from "./conditions.js"
import { derive } from "./observed.js"
import { stateText } from "./statusText.js"

/** One change of a pod: its status as readers see it (Api.status), or its removal. */
export type PodChange =
  | { readonly _tag: "Updated"; readonly name: string; readonly status: PodStatus }
  | { readonly _tag: "Removed"; readonly name: string }

const changeOf = (name: string, s: PodStatus | undefined): PodChange =>
  s === undefined ? { _tag: "Removed", name } : { _tag: "Updated", name, status: s }

/** What makes two statuses the same change: everything but when and by whom it was written. */
export const keyOf = (s: PodStatus | undefined): string => {
  if (s === undefined) return ""
  const { agentPid: _pid, updatedAt: _at, ...rest } = s
  return JSON.stringify(rest)
}

/** One pod's status, undefined once it is gone. */
const current = (name: string) => status(name).pipe(Effect.catchTag("PodNotFound", () => Effect.succeed(undefined)))

/** What a watcher knows of a pod: whether it is declared, and its status as last written. */
interface Known {
  readonly declared: boolean
  readonly raw: PodStatus | undefined
}

/** A declared pod the agent has not written about yet (as Api.status shows it). */
const pendingOf = (name: string, revision: number, at: string): PodStatus => ({
  name,
  phase: "pending",
  restarts: 0,
  specRevision: revision,
  updatedAt: at
})

/**
 * Changes of every pod (or of `name`): first the current state of each (for `name`, `Removed` when
 * there is no such pod), then every change as it happens. Endless: take what you need.
 *
 * The state after each event is worked out from the event, not read again (a read made late would
 * show a later state and skip the ones between): the agent's events carry the status written just
 * before them; `applied`/`deleted` change whether the pod is declared (a pod no longer declared reads
 * "terminating", one declared with no status yet "pending"); `removed` is its end. Only events that
 * say neither (the scheduler's) make the watcher read the pod's status.
 */
export const watch = (name?: string): Stream.Stream<PodChange, StoreError, Store> =>
  Stream.unwrap(Effect.gen(function*() {
    const store = yield* Store
    // The feed's start is fixed before the current state is read: nothing between the two is missed
    // (what is seen twice is dropped as unchanged).
    const recent = yield* store.recentEvents(1)
    const after = Math.max(0, ...recent.events.map((e) => e.id), ...recent.invalid.map((r) => r.revision ?? 0))
    const initial: ReadonlyArray<PodChange> = name === undefined
      ? (yield* statusAll).map((s) => changeOf(s.name, s))
      : [changeOf(name, yield* current(name))]
    const known = new Map<string, Known>(
      initial.flatMap((c) =>
        c._tag === "Updated" ? [[c.name, { declared: c.status.phase !== "terminating", raw: c.status }]] : []
      )
    )
    const seen = new Map(initial.map((c) => [c.name, keyOf(c._tag === "Updated" ? c.status : undefined)]))

    const shown = (pod: string, k: Known, at: string) =>
      Effect.gen(function*() {
        if (k.raw !== undefined) {
          const declared = new Set(k.declared ? [pod] : [])
          return derive(k.raw, { declared, nodes: undefined }, yield* Clock.currentTimeMillis)
        }
        if (!k.declared) return undefined
        const stored = yield* store.get(pod).pipe(Effect.catchTag("InvalidRecord", () => Effect.succeed(Option.none())))
        return pendingOf(pod, Option.match(stored, { onNone: () => 0, onSome: (p) => p.revision }), at)
      })

    /** The pod's state after `e`; undefined: the event changes nothing a watcher sees. */
    const step = (e: PodEvent): Effect.Effect<PodChange | undefined, StoreError> =>
      Effect.gen(function*() {
        const k = known.get(e.pod)
        let next: Known
        if (e.status !== undefined) next = { declared: k?.declared ?? true, raw: e.status }
        else if (e.type === "applied") next = { declared: true, raw: k?.raw }
        else if (e.type === "deleted") next = { declared: false, raw: k?.raw }
        else if (e.type === "removed") next = { declared: false, raw: undefined }
        else if (e.type === "restarting") return undefined
        else {
          const s = yield* current(e.pod).pipe(Effect.provideService(Store, store))
          next = { declared: s !== undefined && s.phase !== "terminating", raw: s }
        }
        known.set(e.pod, next)
        return changeOf(e.pod, yield* shown(e.pod, next, e.at))
      })

    const later = store.events(after).pipe(
      // An unreadable event names no pod it can be trusted about.
      Stream.filter((e): e is PodEvent => !isInvalidRecord(e) && (name === undefined || e.pod === name)),
      Stream.mapEffect(step),
      Stream.filter((c): c is PodChange => {
        if (c === undefined) return false
        const key = keyOf(c._tag === "Updated" ? c.status : undefined)
        // A pod never seen that is gone is no change (e.g. events of a pod deleted before we looked).
        if ((seen.get(c.name) ?? "") === key) return false
        seen.set(c.name, key)
        return true
      })
    )
    return Stream.concat(Stream.fromIterable(initial), later)
  }))

export class WaitTimeout extends Schema.TaggedError<WaitTimeout>()("WaitTimeout", {
  pod: Schema.String,
  condition: Schema.String,
  timeout: Schema.String,
  /** The pod's last state in words (stateText), or "deleted". */
  state: Schema.String
}) {
  override get message() {
    return `pod "${this.pod}" is not ${this.condition} after ${this.timeout}: ${this.state}`
  }
}

export class ConditionUnreachable extends Schema.TaggedError<ConditionUnreachable>()("ConditionUnreachable", {
  pod: Schema.String,
  condition: Schema.String,
  /** Why it cannot happen without another apply: the pod's state in words. */
  why: Schema.String
}) {
  override get message() {
    return `pod "${this.pod}" will not become ${this.condition}: ${this.why}`
  }
}

export interface WaitOptions {
  /** Give up after this long (WaitTimeout with the pod's last state). Default: wait as long as it takes. */
  readonly timeout?: Duration.DurationInput
}

/**
 * Wait until `name` meets `condition` (see conditions.ts); succeeds with its last status (undefined
 * for `deleted`). Fails at once with PodNotFound for a pod that does not exist (unless waiting for
 * `deleted`) and with ConditionUnreachable when its state rules the condition out.
 */
export const waitFor = (
  name: string,
  condition: WaitCondition,
  options: WaitOptions = {}
): Effect.Effect<
  PodStatus | undefined,
  PodNotFound | WaitTimeout | ConditionUnreachable | StoreError,
  Store
> =>
  Effect.gen(function*() {
    const store = yield* Store
    const stored = yield* store.get(name).pipe(Effect.catchTag("InvalidRecord", () => Effect.succeed(Option.none())))
    const since = Option.match(stored, { onNone: () => 0, onSome: (p) => p.revision })
    // The last state seen, for the timeout's message.
    const last = yield* Ref.make<PodStatus | undefined>(undefined)
    const outcome = watch(name).pipe(
      Stream.map((c) => (c._tag === "Updated" ? c.status : undefined)),
      Stream.tap((s) => Ref.set(last, s)),
      Stream.map((s) => ({ status: s, verdict: verdict(condition, s, since) })),
      Stream.filter((v) => v.verdict._tag !== "Waiting"),
      Stream.runHead
    )
    const first = yield* current(name)
    if (first === undefined && condition !== "deleted") return yield* new PodNotFound({ pod: name })
    const timeout = options.timeout
    const result = yield* timeout === undefined ? outcome : Effect.timeout(outcome, timeout).pipe(
      Effect.catchTag("TimeoutException", () =>
        Effect.flatMap(Ref.get(last), (s) =>
          new WaitTimeout({
            pod: name,
            condition,
            timeout: Duration.format(Duration.decode(timeout)),
            state: s === undefined ? "deleted" : stateText(s)
          })))
    )
    // The feed is endless: no head means it ended, which only an interruption does.
    if (Option.isNone(result)) return yield* Effect.die(new Error(`the event feed of pod ${name} ended`))
    const v = result.value.verdict
    if (v._tag === "Unreachable") return yield* new ConditionUnreachable({ pod: name, condition, why: v.why })
    return result.value.status
  })
