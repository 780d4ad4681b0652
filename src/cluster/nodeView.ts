/**
 * One node's view of a cluster Store: the agent's reconciler sees only the pods bound to this node,
 * as if the store held nothing else. Everything that is not about "which pods are mine" passes
 * through (writes, events, revisions).
 *
 * - `list`/`get`: pods bound here (or pinned here and not bound yet). Unbound pods (not placed yet)
 *   and pods bound elsewhere are hidden.
 * - `watch`: a pod that is bound away (or unbound) after it was visible reads as deleted, so the
 *   reconciler stops it; changes to pods that were never visible are dropped. `Resync` is filtered.
 * - Status: what this node writes carries `node: self`; it reads back only its own statuses (so its
 *   boot-time purge never touches another node's pods), and it never overwrites or deletes a status
 *   another node wrote for a pod that is no longer bound here (a pod that moved keeps the new node's
 *   status while the old node stops and cleans up). A status without a node (the scheduler's note
 *   on a pod it could not place yet) is overwritten by the node the pod lands on.
 *
 * The visible set is shared by every stream of one view: an agent runs one change feed at a time.
 *
 * An unreadable pod record (InvalidRecord) is visible unless its readable bookkeeping binds it to
 * another node: the reconciler never starts an invalid pod, it only keeps running one it already ran,
 * so seeing one that is not ours costs nothing. Unreadable statuses are this node's to repair when
 * they are about a pod it sees.
 */
import { Effect, Layer, Option, Stream } from "effect"
import type { PodStatus } from "../store/status.js"
import { type Change, type InvalidRecord, Store, type StoredPod, type StoreService } from "../store/Store.js"
import { PodOnOtherNode } from "./Cluster.js"

/**
 * Is this pod `self`'s? Bound to it, or pinned to it (`node: self`) and not bound yet: a pinned pod
 * needs no scheduler decision, so it starts even while no scheduler leads.
 */
export const boundTo = (self: string) => (pod: StoredPod): boolean =>
  pod.node === self || (pod.node === null && pod.spec.node === self)

/** Could this unreadable pod record be `self`'s (not known to be bound elsewhere)? */
export const mayBeBoundTo = (self: string) => (record: InvalidRecord): boolean =>
  record.node === undefined || record.node === null || record.node === self

/** Is this status this node's to read and to delete? */
export const ownStatus = (self: string) => (status: PodStatus): boolean => status.node === self

/**
 * Map one change of the whole store to what `self` sees, given the names visible before it.
 * Pure: returns the change to emit (or none) and the visible set after it.
 */
export const viewChange = (
  self: string,
  visible: ReadonlySet<string>,
  change: Change
): { readonly out: Change | undefined; readonly visible: ReadonlySet<string> } => {
  switch (change._tag) {
    case "PodPut": {
      if (boundTo(self)(change.pod)) return { out: change, visible: new Set(visible).add(change.pod.name) }
      if (!visible.has(change.pod.name)) return { out: undefined, visible }
      const next = new Set(visible)
      next.delete(change.pod.name)
      return { out: { _tag: "PodDeleted", revision: change.revision, name: change.pod.name }, visible: next }
    }
    case "PodDeleted": {
      if (!visible.has(change.name)) return { out: undefined, visible }
      const next = new Set(visible)
      next.delete(change.name)
      return { out: change, visible: next }
    }
    case "PodInvalid": {
      if (mayBeBoundTo(self)(change.record)) {
        return { out: change, visible: new Set(visible).add(change.record.key) }
      }
      if (!visible.has(change.record.key)) return { out: undefined, visible }
      const next = new Set(visible)
      next.delete(change.record.key)
      return { out: { _tag: "PodDeleted", revision: change.revision, name: change.record.key }, visible: next }
    }
    case "Resync": {
      const pods = change.pods.filter(boundTo(self))
      const invalid = change.invalid.filter(mayBeBoundTo(self))
      return {
        out: { ...change, pods, invalid },
        visible: new Set([...pods.map((p) => p.name), ...invalid.map((r) => r.key)])
      }
    }
  }
}

/** The view of `store` for node `self`. */
export const make = (self: string, store: StoreService): Effect.Effect<StoreService, never> =>
  Effect.gen(function*() {
    const mine = boundTo(self)
    const maybeMine = mayBeBoundTo(self)
    const own = ownStatus(self)
    // Seeded from the store as it is now; a failure here only means the first feed may miss a
    // "moved away" (the reconciler's periodic resync lists again and catches it).
    const seed = yield* store.list.pipe(Effect.orElseSucceed(() => ({ pods: [], invalid: [] })))
    let visible: ReadonlySet<string> = new Set([
      ...seed.pods.filter(mine).map((p) => p.name),
      ...seed.invalid.filter(maybeMine).map((r) => r.key)
    ])
    /** The pod's record if it is this node's; an unreadable one fails unless bound elsewhere. */
    const getMine = (name: string) =>
      Effect.map(store.get(name), Option.filter(mine)).pipe(
        Effect.catchTag("InvalidRecord", (r) => maybeMine(r) ? Effect.fail(r) : Effect.succeedNone)
      )
    /** Whether this node may write the status (see putStatus). */
    const mayWrite = (status: PodStatus) =>
      Effect.gen(function*() {
        const prior = yield* store.getStatus(status.name).pipe(
          Effect.catchTag("InvalidRecord", () => Effect.succeedNone)
        )
        if (Option.isSome(prior) && !own(prior.value) && prior.value.node !== undefined) {
          const pod = yield* store.get(status.name).pipe(
            Effect.map(Option.map(mine)),
            Effect.catchTag("InvalidRecord", (r) => Effect.succeed(Option.some(maybeMine(r))))
          )
          if (Option.isNone(pod) || !pod.value) return false
        }
        return true
      })
    const view: StoreService = {
      ...store,
      get: getMine,
      list: Effect.map(store.list, ({ invalid, pods }) => ({
        pods: pods.filter(mine),
        invalid: invalid.filter(maybeMine)
      })),
      watch: (fromRevision) =>
        store.watch(fromRevision).pipe(
          Stream.filterMap((change) => {
            const r = viewChange(self, visible, change)
            visible = r.visible
            return Option.fromNullable(r.out)
          })
        ),
      // A pod that moved away is still being stopped here while its new node may already report
      // it: the old node's last words ("stopping") must not overwrite the new node's status.
      // An unreadable prior status is overwritten (this write repairs it); an unreadable pod record
      // counts as ours unless bound elsewhere (we only write statuses of pods we run).
      putStatus: (status) =>
        Effect.flatMap(mayWrite(status), (ok) => ok ? store.putStatus({ ...status, node: self }) : Effect.void),
      // The event is this node's to tell either way (as a lone appendEvent would be); the status
      // goes with it only where putStatus would write it.
      putStatusAndEvent: (status, event) =>
        Effect.flatMap(
          mayWrite(status),
          (ok) => ok ? store.putStatusAndEvent({ ...status, node: self }, event) : store.appendEvent(event)
        ),
      getStatus: (name) => Effect.map(store.getStatus(name), Option.filter(own)),
      listStatus: Effect.map(store.listStatus, ({ invalid, statuses }) => ({
        statuses: statuses.filter(own),
        invalid: invalid.filter((r) => visible.has(r.key))
      })),
      // Read-then-delete is not atomic: a new node writing in between can lose its first status
      // write, which its recorder repeats on the pod's next change or restart. An unreadable status
      // is deleted: whoever owns the pod writes it again.
      deleteStatus: (name) =>
        store.getStatus(name).pipe(
          Effect.catchTag("InvalidRecord", () => Effect.succeedNone),
          Effect.flatMap((s) => Option.isSome(s) && !own(s.value) ? Effect.void : store.deleteStatus(name))
        )
    }
    return view
  })

/** A Store layer that is node `self`'s view of the Store below it. */
export const layer = (self: string): Layer.Layer<Store, never, Store> =>
  Layer.effect(Store, Effect.flatMap(Store, (store) => make(self, store)))

/**
 * Fails with PodOnOtherNode if `pod` is bound (or pinned, until bound) to a node other than `self`
 * (exec, attach, logs and stats only work where the pod runs). Unknown and unplaced pods pass: the
 * local command reports them as it always has.
 */
export const ensureLocal = (
  store: StoreService,
  self: string,
  pod: string
) =>
  store.get(pod).pipe(
    Effect.map((p) => Option.isSome(p) ? p.value.node ?? p.value.spec.node : undefined),
    // An unreadable record: only its bookkeeping, if readable, can say where the pod runs.
    Effect.catchTag("InvalidRecord", (r) => Effect.succeed(r.node ?? undefined)),
    Effect.flatMap((node) =>
      node !== undefined && node !== self ? Effect.fail(new PodOnOtherNode({ pod, node, self })) : Effect.void
    )
  )
