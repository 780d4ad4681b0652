/**
 * In-memory Store: the same semantics as the SQL layer (revisions, conditional writes, replayable
 * change feed, status, events) for tests and embedding. Nothing survives the process, and it holds
 * only what went through the Store, so it never has an invalid record.
 */
import { Effect, Layer, Option, PubSub, Ref, Stream } from "effect"
import type { Pod } from "../spec/Pod.js"
import type { NewPodEvent, PodEvent, PodStatus } from "./status.js"
import { AlreadyExists, type Change, RevisionConflict, Store, type StoredPod, storedPodAt } from "./Store.js"

const CHANGE_HISTORY = 1000
const EVENT_HISTORY = 10_000

interface State {
  readonly revision: number
  readonly pods: ReadonlyMap<string, StoredPod>
  readonly changes: ReadonlyArray<Change>
  readonly status: ReadonlyMap<string, PodStatus>
  readonly events: ReadonlyArray<PodEvent>
  readonly nextEventId: number
}

export const make = Effect.gen(function*() {
  const state = yield* Ref.make<State>({
    revision: 0,
    pods: new Map(),
    changes: [],
    status: new Map(),
    events: [],
    nextEventId: 1
  })
  const wake = yield* PubSub.sliding<void>(1)
  const notify = PubSub.publish(wake, undefined)

  const commit = (s: State, change: Change, pods: Map<string, StoredPod>): State => ({
    ...s,
    revision: change.revision,
    pods,
    changes: [...s.changes, change].slice(-CHANGE_HISTORY)
  })

  const putWith = <E>(pod: Pod, check: (cur: StoredPod | undefined) => Effect.Effect<void, E>) =>
    Effect.gen(function*() {
      const s = yield* Ref.get(state)
      const cur = s.pods.get(pod.name)
      yield* check(cur)
      const revision = s.revision + 1
      const stored = storedPodAt(pod, revision, cur)
      const pods = new Map(s.pods).set(pod.name, stored)
      yield* Ref.set(state, commit(s, { _tag: "PodPut", revision, pod: stored }, pods))
      yield* notify
      return stored
    })

  const expect = (name: string, expected: number | undefined) => (cur: StoredPod | undefined) =>
    expected !== undefined && (cur?.revision ?? 0) !== expected
      ? Effect.fail(new RevisionConflict({ name, expected, actual: cur?.revision ?? null }))
      : Effect.void

  /** Rewrite an existing pod's bookkeeping (not its spec) as a new revision; None if absent. */
  const withEvent = (s: State, event: NewPodEvent | undefined): State =>
    event === undefined ? s : {
      ...s,
      nextEventId: s.nextEventId + 1,
      events: [...s.events, { ...event, id: s.nextEventId }].slice(-EVENT_HISTORY)
    }

  const touch = (
    name: string,
    update: (cur: StoredPod) => Partial<StoredPod>,
    expected?: number,
    event?: Omit<NewPodEvent, "pod">
  ) =>
    Effect.gen(function*() {
      const s = yield* Ref.get(state)
      const cur = s.pods.get(name)
      yield* expect(name, expected)(cur)
      if (!cur) return Option.none<StoredPod>()
      const revision = s.revision + 1
      const stored: StoredPod = { ...cur, ...update(cur), revision, updatedAt: Date.now() }
      const next = commit(s, { _tag: "PodPut", revision, pod: stored }, new Map(s.pods).set(name, stored))
      yield* Ref.set(state, withEvent(next, event && { ...event, pod: name }))
      yield* notify
      return Option.some(stored)
    })

  const changesAfter = (after: number) =>
    Ref.get(state).pipe(Effect.map((s): { last: number; out: ReadonlyArray<Change> } => {
      if (s.revision <= after) return { last: after, out: [] }
      const oldest = s.changes[0]?.revision
      if (oldest === undefined || oldest > after + 1) {
        return { last: s.revision, out: [{ _tag: "Resync", revision: s.revision, pods: sorted(s.pods), invalid: [] }] }
      }
      return { last: s.revision, out: s.changes.filter((c) => c.revision > after) }
    }))

  const feed = <A>(pull: Effect.Effect<ReadonlyArray<A>>) =>
    Stream.concat(Stream.make(undefined), Stream.fromPubSub(wake)).pipe(
      Stream.mapEffect(() => pull),
      Stream.flattenIterables
    )

  /** Every pod of the batch and its event in one state change (one transaction, as SQLite's). */
  const putAll = (batch: ReadonlyArray<Pod>, event: (stored: StoredPod) => NewPodEvent) =>
    Ref.modify(state, (s) => {
      let next = s
      const out: Array<StoredPod> = []
      for (const pod of batch) {
        const cur = next.pods.get(pod.name)
        const revision = next.revision + 1
        const stored = storedPodAt(pod, revision, cur)
        next = withEvent(
          commit(next, { _tag: "PodPut", revision, pod: stored }, new Map(next.pods).set(pod.name, stored)),
          event(stored)
        )
        out.push(stored)
      }
      return [out, next] as const
    }).pipe(Effect.tap((out) => out.length > 0 ? notify : Effect.void))

  return Store.of({
    put: (pod, opts) => putWith(pod, expect(pod.name, opts?.expectRevision)),
    putAll,
    create: (pod) =>
      putWith(
        pod,
        (cur) => cur ? Effect.fail(new AlreadyExists({ name: pod.name, revision: cur.revision })) : Effect.void
      ),
    get: (name) => Ref.get(state).pipe(Effect.map((s) => Option.fromNullable(s.pods.get(name)))),
    list: Ref.get(state).pipe(Effect.map((s) => ({ pods: sorted(s.pods), invalid: [] }))),
    delete: (name, opts) =>
      Effect.gen(function*() {
        const s = yield* Ref.get(state)
        const cur = s.pods.get(name)
        yield* expect(name, opts?.expectRevision)(cur)
        if (!cur) return false
        const pods = new Map(s.pods)
        pods.delete(name)
        yield* Ref.set(
          state,
          withEvent(
            commit(s, { _tag: "PodDeleted", revision: s.revision + 1, name }, pods),
            opts?.event && { ...opts.event, pod: name }
          )
        )
        yield* notify
        return true
      }),
    requestRestart: (name) =>
      touch(name, (cur) => ({ restartGeneration: cur.restartGeneration + 1 })).pipe(
        Effect.catchTag("RevisionConflict", Effect.die)
      ),
    bind: (name, node, opts) => touch(name, () => ({ node }), opts?.expectRevision, opts?.event),
    revision: Ref.get(state).pipe(Effect.map((s) => s.revision)),
    watch: (fromRevision) =>
      Stream.unwrap(Effect.gen(function*() {
        const cursor = yield* Ref.make(fromRevision ?? (yield* Ref.get(state)).revision)
        return feed(Effect.gen(function*() {
          const { last, out } = yield* changesAfter(yield* Ref.get(cursor))
          yield* Ref.set(cursor, last)
          return out
        }))
      })),
    putStatus: (status) => Ref.update(state, (s) => ({ ...s, status: new Map(s.status).set(status.name, status) })),
    putStatusAndEvent: (status, event) =>
      Ref.modify(state, (s) => {
        const stored: PodEvent = { ...event, id: s.nextEventId }
        return [stored, withEvent({ ...s, status: new Map(s.status).set(status.name, status) }, event)]
      }).pipe(Effect.tap(() => notify)),
    getStatus: (name) => Ref.get(state).pipe(Effect.map((s) => Option.fromNullable(s.status.get(name)))),
    listStatus: Ref.get(state).pipe(
      Effect.map((s) => ({
        statuses: [...s.status.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
        invalid: []
      }))
    ),
    deleteStatus: (name) =>
      Ref.update(state, (s) => {
        const status = new Map(s.status)
        status.delete(name)
        return { ...s, status }
      }),
    appendEvent: (event) =>
      Ref.modify(state, (s) => {
        const stored: PodEvent = { ...event, id: s.nextEventId }
        return [stored, withEvent(s, event)]
      }).pipe(Effect.tap(() => notify)),
    events: (afterId) =>
      Stream.unwrap(Effect.gen(function*() {
        const cursor = yield* Ref.make(afterId ?? (yield* Ref.get(state)).nextEventId - 1)
        return feed(Effect.gen(function*() {
          const after = yield* Ref.get(cursor)
          const evs = (yield* Ref.get(state)).events.filter((e) => e.id > after)
          if (evs.length) yield* Ref.set(cursor, evs[evs.length - 1]!.id)
          return evs
        }))
      })),
    recentEvents: (limit) =>
      Ref.get(state).pipe(Effect.map((s) => ({ events: limit > 0 ? s.events.slice(-limit) : [], invalid: [] }))),
    invalidRecords: Effect.succeed([]),
    removeInvalid: () => Effect.succeed(false)
  })
})

const sorted = (pods: ReadonlyMap<string, StoredPod>): ReadonlyArray<StoredPod> =>
  [...pods.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

export const layerMemory: Layer.Layer<Store> = Layer.effect(Store, make)
