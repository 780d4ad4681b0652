/**
 * The public operations over the Store: what `Tank.apply` and friends do, as Effects that need a
 * `Store` (for users composing their own layers). `src/Tank.ts` offers the same with default layers.
 *
 * The store is the API: these work with or without a running agent; the agent converges when it
 * sees the change.
 */
import { Effect, Option, Schema } from "effect"
import { TankConfig } from "../config/Config.js"
import { hostDeviceIssues } from "../config/hostDevices.js"
import { hostPathIssues, hostPathPolicy } from "../config/hostPaths.js"
import { decodePod, InvalidSpec, SpecIssue } from "../spec/decode.js"
import type { Pod } from "../spec/Pod.js"
import type { PodStatus } from "../store/status.js"
import { AlreadyExists, RevisionConflict, Store, type StoredPod, type StoreError } from "../store/Store.js"

export class PodNotFound extends Schema.TaggedError<PodNotFound>()("PodNotFound", { pod: Schema.String }) {
  override get message() {
    return `pod "${this.pod}" is not declared`
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
const validate = (spec: unknown, source: string | undefined) =>
  Effect.gen(function*() {
    const pod = yield* decodePod(spec, source)
    const config = yield* Effect.serviceOption(TankConfig)
    if (Option.isNone(config)) return pod
    const issues = [
      ...hostPathIssues(pod, hostPathPolicy(config.value)),
      ...(config.value.etcd === undefined ? hostDeviceIssues(pod) : [])
    ]
    if (issues.length === 0) return pod
    return yield* new InvalidSpec({
      ...(source !== undefined ? { source } : {}),
      pod: pod.name,
      issues: issues.map((i) => new SpecIssue(i))
    })
  })

/** Validate and store a pod (create or replace). Invalid specs store nothing. */
export const apply = (spec: unknown, source?: string): Effect.Effect<StoredPod, InvalidSpec | StoreError, Store> =>
  Effect.gen(function*() {
    const pod = yield* validate(spec, source)
    const store = yield* Store
    const stored = yield* unconditional(store.put(pod))
    yield* store.appendEvent({ at: now(), pod: pod.name, type: "applied", message: `revision ${stored.revision}` })
    return stored
  })

/**
 * Apply several pods (a multi-document file): all are validated first, and if any is invalid none is
 * stored. Duplicate names within the batch are rejected too.
 */
export const applyAll = (
  specs: ReadonlyArray<unknown>,
  source?: string
): Effect.Effect<ReadonlyArray<StoredPod>, InvalidSpec | StoreError, Store> =>
  Effect.gen(function*() {
    const where = (i: number) => source ? `${source}#${i + 1}` : `document ${i + 1}`
    const pods = yield* Effect.forEach(specs, (s, i) => validate(s, where(i)))
    const seen = new Map<string, number>()
    for (const [i, p] of pods.entries()) {
      const first = seen.get(p.name)
      if (first !== undefined) {
        // SpecIssue instances, not plain objects: InvalidSpec's constructor validates its fields.
        return yield* new InvalidSpec({
          source: where(i),
          pod: p.name,
          issues: [
            new SpecIssue({
              path: "name",
              message: `pod "${p.name}" appears twice in one apply (also ${where(first)})`
            })
          ]
        })
      }
      seen.set(p.name, i)
    }
    const store = yield* Store
    return yield* Effect.forEach(pods, (pod) =>
      unconditional(store.put(pod)).pipe(
        Effect.tap((s) =>
          store.appendEvent({ at: now(), pod: pod.name, type: "applied", message: `revision ${s.revision}` })
        )
      ))
  })

export const get = (name: string): Effect.Effect<Pod, PodNotFound | StoreError, Store> =>
  Effect.flatMap(Store, (s) => s.get(name)).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new PodNotFound({ pod: name })),
      onSome: (p) => Effect.succeed(p.spec)
    }))
  )

export const list: Effect.Effect<ReadonlyArray<Pod>, StoreError, Store> = Effect.flatMap(Store, (s) => s.list).pipe(
  Effect.map((pods) => pods.map((p) => p.spec))
)

/** Remove desired state; the agent tears the pod down. A missing pod is not an error (false). */
export const remove = (nameOrPod: string | { readonly name: string }): Effect.Effect<boolean, StoreError, Store> =>
  Effect.gen(function*() {
    const name = typeof nameOrPod === "string" ? nameOrPod : nameOrPod.name
    const store = yield* Store
    const deleted = yield* unconditional(store.delete(name))
    if (deleted) yield* store.appendEvent({ at: now(), pod: name, type: "deleted" })
    return deleted
  })

const pending = (p: StoredPod): PodStatus => ({
  name: p.name,
  phase: "pending",
  restarts: 0,
  specRevision: p.revision,
  updatedAt: new Date(p.updatedAt).toISOString()
})

/**
 * Observed status of every declared pod (sorted by name), plus pods still being torn down.
 * A declared pod the agent has not acted on yet reads "pending".
 */
export const statusAll: Effect.Effect<ReadonlyArray<PodStatus>, StoreError, Store> = Effect.gen(function*() {
  const store = yield* Store
  const [pods, observed] = yield* Effect.all([store.list, store.listStatus])
  const byName = new Map(observed.map((s) => [s.name, s]))
  const rows = pods.map((p) => byName.get(p.name) ?? pending(p))
  const declared = new Set(pods.map((p) => p.name))
  rows.push(...observed.filter((s) => !declared.has(s.name)))
  return rows.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
})

export const status = (name: string): Effect.Effect<PodStatus, PodNotFound | StoreError, Store> =>
  Effect.gen(function*() {
    const store = yield* Store
    const pod = yield* store.get(name)
    if (Option.isNone(pod)) return yield* new PodNotFound({ pod: name })
    return Option.getOrElse(yield* store.getStatus(name), () => pending(pod.value))
  })

/** Restart a pod now and reset its backoff (the agent acts on it, from any process). */
export const restart = (name: string): Effect.Effect<StoredPod, PodNotFound | StoreError, Store> =>
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
