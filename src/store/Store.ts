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
import type { NewPodEvent, PodEvent, PodStatus } from "./status.js"

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

/** One entry of the change feed, in revision order. */
export type Change =
  | { readonly _tag: "PodPut"; readonly revision: number; readonly pod: StoredPod }
  | { readonly _tag: "PodDeleted"; readonly revision: number; readonly name: string }
  /**
   * The feed could not replay from the requested revision (history trimmed): here is the whole
   * desired state at `revision`. Consumers treat it as "forget what you knew".
   */
  | { readonly _tag: "Resync"; readonly revision: number; readonly pods: ReadonlyArray<StoredPod> }

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

export interface StoreService {
  /** Create or replace. */
  readonly put: (pod: Pod, options?: WriteOptions) => Effect.Effect<StoredPod, StoreError | RevisionConflict>
  /** Create only if no pod of that name exists. */
  readonly create: (pod: Pod) => Effect.Effect<StoredPod, StoreError | AlreadyExists>
  readonly get: (name: string) => Effect.Effect<Option.Option<StoredPod>, StoreError>
  /** All pods, sorted by name, from an in-memory projection kept fresh. */
  readonly list: Effect.Effect<ReadonlyArray<StoredPod>, StoreError>
  /** Delete; a missing pod is not an error (returns false). */
  readonly delete: (name: string, options?: WriteOptions) => Effect.Effect<boolean, StoreError | RevisionConflict>
  /** Ask the agent (in any process) to restart a pod and reset its backoff. None if no such pod. */
  readonly requestRestart: (name: string) => Effect.Effect<Option.Option<StoredPod>, StoreError>
  /**
   * Bind the pod to a node (null: unbind), keeping its spec; a new revision on the change feed.
   * None if no such pod. With `expectRevision`, only if the pod is still at that revision.
   */
  readonly bind: (
    name: string,
    node: string | null,
    options?: WriteOptions
  ) => Effect.Effect<Option.Option<StoredPod>, StoreError | RevisionConflict>
  /** The store-wide revision now. */
  readonly revision: Effect.Effect<number, StoreError>
  /**
   * Changes after `fromRevision` (default: now), including those made by other processes, in order.
   * Never silently skips: if history is gone, a `Resync` carries the full state.
   */
  readonly watch: (fromRevision?: number) => Stream.Stream<Change, StoreError>
  /** Observed status, written by the agent. */
  readonly putStatus: (status: PodStatus) => Effect.Effect<void, StoreError>
  readonly getStatus: (name: string) => Effect.Effect<Option.Option<PodStatus>, StoreError>
  readonly listStatus: Effect.Effect<ReadonlyArray<PodStatus>, StoreError>
  readonly deleteStatus: (name: string) => Effect.Effect<void, StoreError>
  /** Append a pod event (the store keeps a bounded history). */
  readonly appendEvent: (event: NewPodEvent) => Effect.Effect<PodEvent, StoreError>
  /** Events after `afterId` (default: from now), live, from any process. */
  readonly events: (afterId?: number) => Stream.Stream<PodEvent, StoreError>
  /** The most recent events, oldest first. */
  readonly recentEvents: (limit: number) => Effect.Effect<ReadonlyArray<PodEvent>, StoreError>
}

export class Store extends Context.Tag("tank/Store")<Store, StoreService>() {}
