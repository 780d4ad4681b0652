/**
 * What `statusReport` shows (pure): one status per declared pod — the observed one, "pending" when the
 * agent has not written one yet, "invalid" when a stored record is unreadable — plus the statuses of
 * pods being torn down, each derived (observed.ts) and given its readiness (readiness.ts), sorted by
 * name. Api.statusReport feeds it from the Store; the CLI's narrow reader (src/store/psReader.ts)
 * from its read-only connection, with specs holding only the fields readiness needs.
 */
import type { NodeState } from "../cluster/Cluster.js"
import type { PodStatus } from "../store/status.js"
import type { InvalidRecord } from "../store/Store.js"
import { derive } from "./observed.js"
import { type ReadinessSpec, withReadiness } from "./readiness.js"

/** A declared pod as the report needs it (the Store's StoredPod is one). */
export interface DeclaredPod<S extends ReadinessSpec> {
  readonly name: string
  readonly spec: S
  readonly revision: number
  readonly updatedAt: number
}

export const pending = (p: DeclaredPod<ReadinessSpec>): PodStatus => ({
  name: p.name,
  phase: "pending",
  restarts: 0,
  specRevision: p.revision,
  updatedAt: new Date(p.updatedAt).toISOString()
})

/**
 * A pod some stored record of which cannot be read: phase "invalid", the reason naming the record.
 * What is known of its run (host pid, restarts) is kept: an agent keeps running a pod whose record
 * went bad (its last valid spec) until the record is repaired, re-applied or removed.
 */
export const invalidStatus = (record: InvalidRecord, observed: PodStatus | undefined): PodStatus => ({
  ...(observed ?? {
    name: record.key,
    restarts: 0,
    specRevision: record.revision ?? 0,
    updatedAt: new Date().toISOString()
  }),
  phase: "invalid",
  reason: `${record.message} (tank doctor lists and removes invalid records; a re-apply replaces it)`
})

export interface ReportInput<S extends ReadinessSpec> {
  readonly pods: ReadonlyArray<DeclaredPod<S>>
  readonly badPods: ReadonlyArray<InvalidRecord>
  readonly observed: ReadonlyArray<PodStatus>
  readonly badStatus: ReadonlyArray<InvalidRecord>
  /** Cluster mode: every registered node; undefined on a single machine. */
  readonly nodes: ReadonlyArray<NodeState> | undefined
  /** Epoch millis. */
  readonly now: number
}

export const buildReport = <S extends ReadinessSpec>(
  { badPods, badStatus, nodes, now, observed, pods }: ReportInput<S>
): { readonly statuses: ReadonlyArray<PodStatus>; readonly invalid: ReadonlyArray<InvalidRecord> } => {
  const byName = new Map(observed.map((s) => [s.name, s]))
  const badStatusOf = new Map(badStatus.map((r) => [r.key, r]))
  const rows = pods.map((p) => {
    const bad = badStatusOf.get(p.name)
    return bad ? invalidStatus(bad, undefined) : byName.get(p.name) ?? pending(p)
  })
  rows.push(...badPods.map((r) => invalidStatus(r, byName.get(r.key))))
  const declared = new Set([...pods.map((p) => p.name), ...badPods.map((r) => r.key)])
  rows.push(...observed.filter((s) => !declared.has(s.name)))
  rows.push(...badStatus.filter((r) => !declared.has(r.key)).map((r) => invalidStatus(r, undefined)))
  const specOf = new Map(pods.map((p) => [p.name, p.spec]))
  const shown = (s: PodStatus) => {
    const d = derive(s, { declared, nodes }, now)
    const spec = specOf.get(s.name)
    return spec === undefined || d.phase === "invalid" ? d : withReadiness(d, spec)
  }
  return {
    statuses: rows.map(shown).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    invalid: [...badPods, ...badStatus]
  }
}
