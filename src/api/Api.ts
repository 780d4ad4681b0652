/**
 * The public operations over the Store: what `Tank.apply` and friends do, as Effects that need a
 * `Store` (for users composing their own layers). `src/Tank.ts` offers the same with default layers.
 *
 * The store is the API: these work with or without a running agent; the agent converges when it
 * sees the change.
 *
 * Unreadable stored records (InvalidRecord: another writer's bug, a downgrade, disk damage) never
 * stop a whole listing: a pod whose record is unreadable reads phase "invalid" with the reason, a
 * single read of it fails with the record, and `doctor` lists and removes such records.
 */
import { Clock, Effect, Option, Schema } from "effect"
import { Nodes } from "../cluster/Cluster.js"
import { TankConfig } from "../config/Config.js"
import { hostDeviceIssues } from "../config/hostDevices.js"
import { hostPathIssues, hostPathPolicy } from "../config/hostPaths.js"
import type { Document, TankDocument } from "../kube/documents.js"
import type * as KubeDocuments from "../kube/documents.js"
import { canonicalJson, decodePod, InvalidSpec, SpecIssue } from "../spec/decode.js"
import type { Pod } from "../spec/Pod.js"
import { quoted } from "../spec/printable.js"
import { type InvalidSelector, matches, parseSelector } from "../spec/selector.js"
import type { PodStatus } from "../store/status.js"
import {
  AlreadyExists,
  type InvalidRecord,
  RevisionConflict,
  Store,
  type StoredPod,
  StoreError
} from "../store/Store.js"
import { derive } from "./observed.js"
import { withReadiness } from "./readiness.js"
import { buildReport, invalidStatus, pending } from "./report.js"

export class PodNotFound extends Schema.TaggedError<PodNotFound>()("PodNotFound", { pod: Schema.String }) {
  override get message() {
    return `pod "${this.pod}" not found`
  }
}

const now = () => new Date().toISOString()

/** Writes without `expectRevision` never conflict; a conflict there is a bug, not a user error. */
const unconditional = <A, E, R>(eff: Effect.Effect<A, E | RevisionConflict, R>): Effect.Effect<A, E, R> =>
  Effect.catchIf(
    eff,
    (e): e is RevisionConflict => e instanceof RevisionConflict,
    (e) => Effect.die(e)
  ) as Effect.Effect<
    A,
    E,
    R
  >

/**
 * The pod as validated, plus the host checks when a config is in context (Tank.*, the CLI): host
 * volumes over Tank's own files are refused here, before anything is stored, and (single machine,
 * where this host is the agent's) `devices:` that this host does not have. Without a config (a bare
 * Store layer) only the agent's bring-up checks apply.
 */
/**
 * Defaults the config sets for pods applied from now on (not for pods already stored: their
 * identity, and for a user namespace their volumes' ownership, must not change under them):
 * `userNamespaces.hostUsers: false` gives a spec that does not say otherwise its own user namespace.
 */
const withConfigDefaults = (pod: Pod, spec: unknown, config: TankConfig["Type"]): Pod =>
  config.userNamespaces.hostUsers === false && pod.hostUsers === undefined &&
    !(typeof spec === "object" && spec !== null && "hostUsers" in spec)
    ? { ...pod, hostUsers: false }
    : pod

/**
 * The Kubernetes manifest reader, loaded by the writers only: its schemas cost every `tank ps`
 * start-up time when imported with this module. Kept once loaded: an import() per apply, even of a
 * loaded module, is a trip through the module loader (under tsx, a message to its loader thread).
 */
let kubeModule: typeof KubeDocuments | undefined
const kube = Effect.suspend(() =>
  kubeModule !== undefined
    ? Effect.succeed(kubeModule)
    : Effect.promise(() => import("../kube/documents.js")).pipe(Effect.tap((m) => Effect.sync(() => (kubeModule = m))))
)

/** A Kubernetes manifest's ignored fields are logged (the CLI prints them itself before it applies). */
const validate = (doc: TankDocument<Document>, source: string | undefined) =>
  Effect.gen(function*() {
    const { decodeDocument, warningLines } = yield* kube
    for (const w of warningLines(doc)) yield* Effect.logWarning(`${source ?? doc.where}: ${w}`)
    const spec = doc.spec
    const pod = yield* decodeDocument(doc, source)
    const config = yield* Effect.serviceOption(TankConfig)
    if (Option.isNone(config)) return pod
    const issues = [
      ...hostPathIssues(pod, hostPathPolicy(config.value)),
      ...(config.value.etcd === undefined ? hostDeviceIssues(pod) : [])
    ]
    if (issues.length === 0) return withConfigDefaults(pod, spec, config.value)
    return yield* new InvalidSpec({
      ...(source !== undefined ? { source } : {}),
      pod: pod.name,
      issues: issues.map((i) => new SpecIssue({ path: doc.sourcePath(i.path), message: i.message }))
    })
  })

/** What an apply did to one pod, as kubectl says it. */
export type ApplyOutcome = "created" | "configured" | "unchanged"

/** A pod as stored by an apply, and what the apply did. */
export type AppliedPod = StoredPod & { readonly outcome: ApplyOutcome }

/**
 * What applying `pod` over `before` (the stored record, if any) would do. An unreadable stored record
 * counts as absent: the apply writes over (repairs) it.
 */
const outcomeOf = (before: Option.Option<StoredPod>, pod: Pod): ApplyOutcome =>
  Option.isNone(before)
    ? "created"
    : canonicalJson(before.value.spec) === canonicalJson(pod)
    ? "unchanged"
    : "configured"

const storedOrNone = (name: string) =>
  Effect.flatMap(
    Store,
    (store) => store.get(name).pipe(Effect.catchTag("InvalidRecord", () => Effect.succeed(Option.none<StoredPod>())))
  )

/**
 * Store validated pods, unless the store already holds the same spec (canonical JSON): such a pod
 * is "unchanged" and nothing is written for it (no new revision, no event, nothing for the agent to
 * do); an unreadable stored record counts as a different spec (the apply replaces, repairs, it). The
 * others are written in one `putAll`, each with its `applied` event: in SQLite one transaction, one
 * commit and one change-feed wake-up for the batch, not a put and an event append per pod (an
 * apply of 100 pods: ~80 -> ~40 ms of CPU). Outcomes in the batch's order.
 */
const storeAll = (pods: ReadonlyArray<Pod>) =>
  Effect.gen(function*() {
    const store = yield* Store
    const befores = yield* Effect.forEach(pods, (pod) => storedOrNone(pod.name))
    const outcomes = pods.map((pod, i) => outcomeOf(befores[i]!, pod))
    const written = yield* store.putAll(
      pods.filter((_, i) => outcomes[i] !== "unchanged"),
      (stored) => ({ at: now(), pod: stored.name, type: "applied", message: `revision ${stored.revision}` })
    )
    const byName = new Map(written.map((p) => [p.name, p]))
    return pods.map((pod, i): AppliedPod => {
      const outcome = outcomes[i]!
      const stored = outcome === "unchanged" ? Option.getOrThrow(befores[i]!) : byName.get(pod.name)!
      return { ...stored, outcome }
    })
  })

/**
 * Validate and store a pod (create or replace): a Tank spec or a Kubernetes Pod manifest. Invalid
 * specs store nothing; the same spec again writes nothing (`outcome` says which).
 */
export const apply = (spec: unknown, source?: string): Effect.Effect<AppliedPod, InvalidSpec | StoreError, Store> =>
  Effect.flatMap(kube, ({ toTankDocuments }) => {
    const docs = toTankDocuments([{ spec, where: source ?? "spec" }])
    if (docs.length !== 1) {
      return new InvalidSpec({
        ...(source !== undefined ? { source } : {}),
        issues: [new SpecIssue({ path: "items", message: `a List of ${docs.length} pods: use applyAll` })]
      })
    }
    return Effect.flatMap(validate(docs[0]!, source), (pod) => Effect.map(storeAll([pod]), (stored) => stored[0]!))
  })

/** Validate a batch: every spec, then names unique within it. */
const validateAll = (specs: ReadonlyArray<unknown>, source: string | undefined) =>
  Effect.gen(function*() {
    const where = (i: number) => source ? `${source}#${i + 1}` : `document ${i + 1}`
    // A Kubernetes `kind: List` stands for its items.
    const { toTankDocuments } = yield* kube
    const docs = toTankDocuments(specs.map((spec, i) => ({ spec, where: where(i) })))
    const pods = yield* Effect.forEach(docs, (d) => validate(d, d.where))
    const seen = new Map<string, number>()
    for (const [i, p] of pods.entries()) {
      const first = seen.get(p.name)
      if (first !== undefined) {
        // SpecIssue instances, not plain objects: InvalidSpec's constructor validates its fields.
        return yield* new InvalidSpec({
          source: docs[i]!.where,
          pod: p.name,
          issues: [
            new SpecIssue({
              path: "name",
              message: `pod "${p.name}" appears twice in one apply (also ${docs[first]!.where})`
            })
          ]
        })
      }
      seen.set(p.name, i)
    }
    return pods
  })

/**
 * Apply several pods (a multi-document file): all are validated first, and if any is invalid none is
 * stored. Duplicate names within the batch are rejected too.
 */
export const applyAll = (
  specs: ReadonlyArray<unknown>,
  source?: string
): Effect.Effect<ReadonlyArray<AppliedPod>, InvalidSpec | StoreError, Store> =>
  Effect.flatMap(validateAll(specs, source), storeAll)

/** What an apply of one pod would do (`plan`): nothing of it is stored. */
export interface PlannedPod {
  readonly name: string
  /** The pod as the apply would store it (validated, defaults filled in, the config's defaults applied). */
  readonly spec: Pod
  readonly outcome: ApplyOutcome
  /** The readable stored pod it would replace, if any. */
  readonly stored: Option.Option<StoredPod>
}

/**
 * A dry run of `applyAll` (`tank apply --dry-run`, `tank diff`): the same validation (all or
 * nothing, names unique), and for each pod whether it would be created, configured or unchanged.
 * Nothing is written.
 */
export const plan = (
  specs: ReadonlyArray<unknown>,
  source?: string
): Effect.Effect<ReadonlyArray<PlannedPod>, InvalidSpec | StoreError, Store> =>
  Effect.flatMap(
    validateAll(specs, source),
    (pods) =>
      Effect.forEach(pods, (pod) =>
        Effect.map(storedOrNone(pod.name), (stored) => ({
          name: pod.name,
          spec: pod,
          outcome: outcomeOf(stored, pod),
          stored
        })))
  )

export const get = (name: string): Effect.Effect<Pod, PodNotFound | InvalidRecord | StoreError, Store> =>
  Effect.flatMap(Store, (s) => s.get(name)).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new PodNotFound({ pod: name })),
      onSome: (p) => Effect.succeed(p.spec)
    }))
  )

/** Every readable desired pod, sorted by name; unreadable ones are logged (see `doctor`). */
export const list: Effect.Effect<ReadonlyArray<Pod>, StoreError, Store> = Effect.flatMap(Store, (s) => s.list).pipe(
  Effect.tap(({ invalid }) =>
    Effect.forEach(invalid, (r) => Effect.logWarning(`${r.message} (skipped; see tank doctor)`), { discard: true })
  ),
  Effect.map(({ pods }) => pods.map((p) => p.spec))
)

/**
 * The readable desired pods whose labels match a kubectl-style selector (`app=web,tier!=db`,
 * `env in (a,b)`, `gpu`, `!legacy`; src/spec/selector.ts), sorted by name.
 */
export const select = (
  selector: string
): Effect.Effect<ReadonlyArray<Pod>, InvalidSelector | StoreError, Store> =>
  Effect.gen(function*() {
    const sel = yield* parseSelector(selector)
    return (yield* list).filter((p) => matches(sel, p.labels))
  })

/** Remove desired state; the agent tears the pod down. A missing pod is not an error (false). */
export const remove = (nameOrPod: string | { readonly name: string }): Effect.Effect<boolean, StoreError, Store> =>
  Effect.gen(function*() {
    const name = typeof nameOrPod === "string" ? nameOrPod : nameOrPod.name
    const store = yield* Store
    // The `deleted` event in the delete's own write (Store.delete): one commit, both or neither.
    return yield* unconditional(store.delete(name, { event: { at: now(), type: "deleted" } }))
  })

export interface StatusReport {
  /** One per declared pod (unreadable ones included, phase "invalid") and per pod being torn down. */
  readonly statuses: ReadonlyArray<PodStatus>
  /** The unreadable records behind the "invalid" rows. */
  readonly invalid: ReadonlyArray<InvalidRecord>
}

/**
 * Cluster mode (a `Nodes` service in context): the node list, to tell statuses of nodes that are not
 * ready (observed.ts). Undefined on a single machine.
 */
const nodeList = Effect.flatMap(Effect.serviceOption(Nodes), (nodes) =>
  Option.isNone(nodes)
    ? Effect.succeed(undefined)
    : nodes.value.list.pipe(
      Effect.mapError((e) => new StoreError({ op: "list nodes", message: e.message, cause: e }))
    ))

/** `statusAll` with the unreadable records it met (for a CLI that reports them apart). */
export const statusReport: Effect.Effect<StatusReport, StoreError, Store> = Effect.gen(function*() {
  const store = yield* Store
  const [{ invalid: badPods, pods }, { invalid: badStatus, statuses: observed }, nodes] = yield* Effect.all([
    store.list,
    store.listStatus,
    nodeList
  ], { concurrency: 3 })
  return buildReport({ pods, badPods, observed, badStatus, nodes, now: yield* Clock.currentTimeMillis })
})

/**
 * Observed status of every declared pod (sorted by name), plus pods still being torn down
 * ("terminating"). A declared pod the agent has not acted on yet reads "pending"; one with an
 * unreadable stored record reads "invalid" with the reason; in cluster mode (a `Nodes` in context)
 * one whose node is not ready reads "unknown" (observed.ts).
 */
export const statusAll: Effect.Effect<ReadonlyArray<PodStatus>, StoreError, Store> = Effect.map(
  statusReport,
  (r) => r.statuses
)

/**
 * Observed status of one pod: as `statusAll` shows it (a deleted pod being torn down reads
 * "terminating" until its status is gone; PodNotFound after that).
 */
export const status = (name: string): Effect.Effect<PodStatus, PodNotFound | StoreError, Store> =>
  Effect.gen(function*() {
    const store = yield* Store
    const observed = yield* store.getStatus(name).pipe(
      Effect.map((s) => ({ status: Option.getOrUndefined(s), bad: undefined })),
      Effect.catchTag("InvalidRecord", (bad) => Effect.succeed({ status: undefined, bad }))
    )
    const pod = yield* store.get(name).pipe(
      Effect.map((p) => ({ pod: p, bad: undefined })),
      Effect.catchTag("InvalidRecord", (bad) => Effect.succeed({ pod: Option.none<StoredPod>(), bad }))
    )
    if (pod.bad) return invalidStatus(pod.bad, observed.status)
    if (observed.bad) return invalidStatus(observed.bad, undefined)
    if (Option.isNone(pod.pod)) {
      // Deleted and still being torn down: its status says so until it is gone.
      if (observed.status === undefined) return yield* new PodNotFound({ pod: name })
      return derive(observed.status, { declared: new Set(), nodes: undefined }, yield* Clock.currentTimeMillis)
    }
    if (observed.status === undefined) return withReadiness(pending(pod.pod.value), pod.pod.value.spec)
    const nodes = yield* nodeList
    return withReadiness(
      derive(observed.status, { declared: new Set([name]), nodes }, yield* Clock.currentTimeMillis),
      pod.pod.value.spec
    )
  })

/** Restart a pod now and reset its backoff (the agent acts on it, from any process). */
export const restart = (name: string): Effect.Effect<StoredPod, PodNotFound | InvalidRecord | StoreError, Store> =>
  Effect.flatMap(Store, (s) => s.requestRestart(name)).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new PodNotFound({ pod: name })),
      onSome: Effect.succeed
    })),
    Effect.tap(() =>
      Effect.flatMap(Store, (s) => s.appendEvent({ at: now(), pod: name, type: "restarting", message: "requested" }))
    )
  )

/**
 * Boot seed: each spec is written create-if-absent, so a pod changed at runtime is never clobbered.
 * An invalid seed is logged and skipped; returns the names written.
 */
export const seed = (specs: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<string>, StoreError, Store> =>
  Effect.gen(function*() {
    const store = yield* Store
    const written: Array<string> = []
    for (const spec of specs) {
      const pod = yield* decodePod(spec, "seed").pipe(
        Effect.tapError((e) => Effect.logWarning(`skipping seed pod: ${e.message}`)),
        Effect.option
      )
      if (Option.isNone(pod)) continue
      const created = yield* store.create(pod.value).pipe(
        Effect.map(() => true),
        Effect.catchIf((e): e is AlreadyExists => e instanceof AlreadyExists, () => Effect.succeed(false))
      )
      if (created) written.push(pod.value.name)
    }
    return written
  })

/** `doctor({ remove })` named a pod whose record is readable (or absent): nothing was removed. */
export class NotInvalid extends Schema.TaggedError<NotInvalid>()("NotInvalid", { pod: Schema.String }) {
  override get message() {
    return `pod ${quoted(this.pod)} has no invalid record to remove (a readable pod is deleted with tank delete)`
  }
}

export interface DoctorOptions {
  /** Remove the invalid statuses and events: derived data, which the agent writes again. */
  readonly fix?: boolean
  /**
   * Remove these pods' invalid records. A pods record is desired state: only on explicit request
   * (the agent then stops what it still ran for the pod, as for any delete).
   */
  readonly remove?: ReadonlyArray<string>
}

export interface DoctorReport {
  /** Every invalid record found. */
  readonly found: ReadonlyArray<InvalidRecord>
  /** Those removed now. */
  readonly removed: ReadonlyArray<InvalidRecord>
  /** Those left in place (pods not named in `remove`, or ones repaired meanwhile). */
  readonly remaining: ReadonlyArray<InvalidRecord>
}

/**
 * List the store's invalid records and, if asked, remove them (`tank doctor`). Each removal checks
 * that the record is still invalid, so one repaired meanwhile (a re-apply) is kept.
 */
export const doctor = (options: DoctorOptions = {}): Effect.Effect<DoctorReport, NotInvalid | StoreError, Store> =>
  Effect.gen(function*() {
    const store = yield* Store
    const found = yield* store.invalidRecords
    const named = new Set(options.remove ?? [])
    for (const pod of named) {
      if (!found.some((r) => r.kind === "pod" && r.key === pod)) return yield* new NotInvalid({ pod })
    }
    const wanted = (r: InvalidRecord) => r.kind === "pod" ? named.has(r.key) : options.fix === true
    const removed: Array<InvalidRecord> = []
    for (const r of found.filter(wanted)) {
      if (!(yield* store.removeInvalid(r.kind, r.key))) continue
      removed.push(r)
      if (r.kind === "pod") {
        yield* store.appendEvent({
          at: now(),
          pod: r.key,
          type: "deleted",
          message: `invalid record removed: ${r.reason}`
        })
      }
    }
    return { found, removed, remaining: found.filter((r) => !removed.includes(r)) }
  })
