/**
 * The Store: desired pods and observed status. One Tag, several layers (SQLite file, bring-your-own
 * SqlClient, in-memory); the same test suite runs against each.
 *
 * Every pod record carries a revision taken from one store-wide counter (like etcd's), so writes that
 * could lose an update can be made conditional on the revision they read, and the change feed can
 * resume from a revision.
 */
import type { Effect, Option, Stream } from "effect"
import { Context, Schema } from "effect"
import type { Pod } from "../spec/Pod.js"
import { printable } from "../spec/printable.js"
import type { NewPodEvent, PodEvent, PodStatus } from "./status.js"
import { MAX_RECORD_BYTES } from "./tables.js"

export interface StoredPod {
  readonly name: string
  readonly spec: Pod
  /** Store-wide revision of the write that produced this record. */
  readonly revision: number
  /** Revision at which this name was (last) created. */
  readonly createdRevision: number
  /** Epoch millis of the write. */
  readonly updatedAt: number
  /** Bumped by `requestRestart`: the agent restarts the pod when this changes (spec untouched). */
  readonly restartGeneration: number
  /**
   * The node the pod is bound to (cluster mode: written by the scheduler with `bind`), or null when
   * not placed. A `put` keeps the binding; single-machine agents ignore it.
   */
  readonly node: string | null
}

/**
 * The record a put of `pod` at `revision` makes over `cur`, what its name held (none: a creation):
 * the creation revision, restart generation and node binding carry over. Pure (but for the clock);
 * the memory store's and SQLite's batched writes build their records with it.
 */
export const storedPodAt = (
  pod: Pod,
  revision: number,
  cur: Pick<StoredPod, "createdRevision" | "restartGeneration" | "node"> | undefined
): StoredPod => ({
  name: pod.name,
  spec: pod,
  revision,
  createdRevision: cur?.createdRevision ?? revision,
  updatedAt: Date.now(),
  restartGeneration: cur?.restartGeneration ?? 0,
  node: cur?.node ?? null
})

/** The kinds of stored records: desired pods, observed statuses, pod events. */
export const RecordKind = Schema.Literal("pod", "status", "event")
export type RecordKind = typeof RecordKind.Type

/**
 * A stored record that cannot be read back as what it should be: not JSON, failing validation, too
 * large to parse, or a pod whose spec names another pod than its key. Written behind the Store's
 * back (another writer's bug, a downgrade, disk damage), never by the Store itself.
 *
 * Readers isolate such a record instead of failing: lists carry it next to the good ones (`invalid`),
 * single reads fail with it, the change feed reports it (`PodInvalid`). `removeInvalid` deletes it.
 */
export class InvalidRecord extends Schema.TaggedError<InvalidRecord>()("InvalidRecord", {
  kind: RecordKind,
  /** What identifies it in its table: the pod name (pods, status), the event's own key (events). */
  key: Schema.String,
  /** Where it is, for people: `pods row "web"`, `etcd key /tank/pods/web`. Already printable. */
  where: Schema.String,
  /** Why it cannot be read. Already printable. */
  reason: Schema.String,
  /** Pods: the store revision of the write that stored it; events: the event id. When readable. */
  revision: Schema.optional(Schema.Number),
  /** Pods: the node it is bound to (null: unbound), when that part of the record is readable. */
  node: Schema.optional(Schema.NullOr(Schema.String))
}) {
  override get message() {
    return `${this.where}${
      this.revision !== undefined ? ` (revision ${this.revision})` : ""
    } is invalid: ${this.reason}`
  }
}

export const isInvalidRecord = (u: unknown): u is InvalidRecord => u instanceof InvalidRecord

export { MAX_RECORD_BYTES } from "./tables.js"

/** The reason for a record over `MAX_RECORD_BYTES`, without reading it. */
export const tooLarge = (bytes: number): string =>
  `too large: ${bytes} bytes (the limit is ${MAX_RECORD_BYTES}); not parsed`

/** A reason from whatever a decoder failed with, bounded and printable (it may quote the garbage). */
export const reasonOf = (cause: unknown): string =>
  printable(
    cause instanceof Error || (typeof cause === "object" && cause !== null && "message" in cause)
      ? String((cause as { message: unknown }).message)
      : String(cause),
    600
  )

export interface PodList {
  /** The readable pods, sorted by name. */
  readonly pods: ReadonlyArray<StoredPod>
  /** Pods rows that cannot be read, sorted by name. */
  readonly invalid: ReadonlyArray<InvalidRecord>
}

export interface StatusList {
  readonly statuses: ReadonlyArray<PodStatus>
  readonly invalid: ReadonlyArray<InvalidRecord>
}

export interface EventList {
  readonly events: ReadonlyArray<PodEvent>
  readonly invalid: ReadonlyArray<InvalidRecord>
}

/** One entry of the change feed, in revision order. */
export type Change =
  | { readonly _tag: "PodPut"; readonly revision: number; readonly pod: StoredPod }
  | { readonly _tag: "PodDeleted"; readonly revision: number; readonly name: string }
  /** A pod was written with a value that cannot be read (see InvalidRecord). */
  | { readonly _tag: "PodInvalid"; readonly revision: number; readonly record: InvalidRecord }
  /**
   * The feed could not replay from the requested revision (history trimmed): here is the whole
   * desired state at `revision`. Consumers treat it as "forget what you knew".
   */
  | {
    readonly _tag: "Resync"
    readonly revision: number
    readonly pods: ReadonlyArray<StoredPod>
    readonly invalid: ReadonlyArray<InvalidRecord>
  }

export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  op: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** A conditional write found a different revision than the caller based it on. */
export class RevisionConflict extends Schema.TaggedError<RevisionConflict>()("RevisionConflict", {
  name: Schema.String,
  expected: Schema.Number,
  actual: Schema.NullOr(Schema.Number)
}) {
  override get message() {
    return `pod "${this.name}" changed concurrently: expected revision ${this.expected}, found ${
      this.actual ?? "no pod"
    }`
  }
}

export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", {
  name: Schema.String,
  revision: Schema.Number
}) {
  override get message() {
    return `pod "${this.name}" already exists (revision ${this.revision})`
  }
}

export interface WriteOptions {
  /** Only write if the pod's current revision is this (0 = only if absent). */
  readonly expectRevision?: number
}

/**
 * A binding, with the event that tells of it written in the same transaction: the event's id is
 * then below anything another process writes after seeing the binding (the bound node's agent
 * starting the pod), so `tank events` never shows a pod starting before it was scheduled.
 */
export interface BindOptions extends WriteOptions {
  readonly event?: Omit<NewPodEvent, "pod">
}

/**
 * A delete, with the event that tells of it (`deleted`) written in the same transaction, and only if
 * a pod was deleted: readers see the pod gone and its event together (never a deleted pod without
 * its event, as two writes would leave after a failure between them), and `tank delete` costs one
 * commit instead of two.
 */
export interface DeleteOptions extends WriteOptions {
  readonly event?: Omit<NewPodEvent, "pod">
}

export interface StoreService {
  /** Create or replace. */
  readonly put: (pod: Pod, options?: WriteOptions) => Effect.Effect<StoredPod, StoreError | RevisionConflict>
  /**
   * Create or replace several pods (unconditionally), each with the event that tells of it
   * (`event(stored)`): an apply of many documents. Revisions rise in the batch's order (consecutive
   * in SQLite and memory; etcd's count each event too).
   * SQLite and memory write the whole batch in one transaction (readers see all of it or none; one
   * commit and one wake-up of the change feed instead of one per pod: a 100-pod apply was ~300
   * statements' overhead and 100 feed reads). etcd writes it pod by pod, in order (its txn takes 128
   * operations at most), so there a failure part-way leaves the pods before it written.
   */
  readonly putAll: (
    pods: ReadonlyArray<Pod>,
    event: (stored: StoredPod) => NewPodEvent
  ) => Effect.Effect<ReadonlyArray<StoredPod>, StoreError>
  /** Create only if no pod of that name exists. */
  readonly create: (pod: Pod) => Effect.Effect<StoredPod, StoreError | AlreadyExists>
  /** One pod; fails with InvalidRecord if its stored record cannot be read. */
  readonly get: (name: string) => Effect.Effect<Option.Option<StoredPod>, StoreError | InvalidRecord>
  /** All pods, sorted by name, from an in-memory projection kept fresh; unreadable ones apart. */
  readonly list: Effect.Effect<PodList, StoreError>
  /**
   * Delete; a missing pod is not an error (returns false). An unreadable record is deleted too (only
   * its revision matters). With `event`, that event is appended atomically with the delete (and not
   * at all when nothing was deleted or on a conflict).
   */
  readonly delete: (name: string, options?: DeleteOptions) => Effect.Effect<boolean, StoreError | RevisionConflict>
  /**
   * Ask the agent (in any process) to restart a pod and reset its backoff. None if no such pod;
   * InvalidRecord (nothing written) if its record cannot be read.
   */
  readonly requestRestart: (name: string) => Effect.Effect<Option.Option<StoredPod>, StoreError | InvalidRecord>
  /**
   * Bind the pod to a node (null: unbind), keeping its spec; a new revision on the change feed.
   * None if no such pod. With `expectRevision`, only if the pod is still at that revision. With
   * `event`, that event is appended atomically with the binding (and not at all without it).
   */
  readonly bind: (
    name: string,
    node: string | null,
    options?: BindOptions
  ) => Effect.Effect<Option.Option<StoredPod>, StoreError | RevisionConflict | InvalidRecord>
  /** The store-wide revision now. */
  readonly revision: Effect.Effect<number, StoreError>
  /**
   * Changes after `fromRevision` (default: now), including those made by other processes, in order.
   * Never silently skips: if history is gone, a `Resync` carries the full state.
   */
  readonly watch: (fromRevision?: number) => Stream.Stream<Change, StoreError>
  /** Observed status, written by the agent. */
  readonly putStatus: (status: PodStatus) => Effect.Effect<void, StoreError>
  /**
   * A status and the event that tells of it (which carries that status, for watchers) in one write:
   * readers see both or neither, so no event ever comes before the status it tells of. One commit
   * instead of two for the agent's transitions (a start writes two such pairs).
   */
  readonly putStatusAndEvent: (status: PodStatus, event: NewPodEvent) => Effect.Effect<PodEvent, StoreError>
  readonly getStatus: (name: string) => Effect.Effect<Option.Option<PodStatus>, StoreError | InvalidRecord>
  readonly listStatus: Effect.Effect<StatusList, StoreError>
  /** Delete a status, readable or not. */
  readonly deleteStatus: (name: string) => Effect.Effect<void, StoreError>
  /** Append a pod event (the store keeps a bounded history). */
  readonly appendEvent: (event: NewPodEvent) => Effect.Effect<PodEvent, StoreError>
  /**
   * Events after `afterId` (default: from now), live, from any process. An unreadable event is
   * passed on as an InvalidRecord in its place, so the feed goes on past it.
   */
  readonly events: (afterId?: number) => Stream.Stream<PodEvent | InvalidRecord, StoreError>
  /** The most recent `limit` events, oldest first; unreadable ones among them apart. */
  readonly recentEvents: (limit: number) => Effect.Effect<EventList, StoreError>
  /** Every unreadable record (pods, statuses, events), for repair (`tank doctor`). */
  readonly invalidRecords: Effect.Effect<ReadonlyArray<InvalidRecord>, StoreError>
  /**
   * Remove one record if it is still unreadable (a record rewritten meanwhile is kept): true if
   * removed. A pod removed this way is deleted like any other (the agent stops what it ran).
   */
  readonly removeInvalid: (kind: RecordKind, key: string) => Effect.Effect<boolean, StoreError>
}

export class Store extends Context.Tag("tank/Store")<Store, StoreService>() {}
