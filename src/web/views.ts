/**
 * The shapes the dashboard's API serves, pure: a pods-table row from the desired spec, the observed
 * status and the newest stats; counts by phase; a pod's detail; the compact live stats. They are
 * part of the documented API (docs/web.md): change them with the docs and the client.
 */
import type { PodStats } from "../observe/statsModel.js"
import type { Pod } from "../spec/Pod.js"
import type { LastExit, Phase, PodStatus } from "../store/status.js"
import type { StoredPod } from "../store/Store.js"

export interface PodRow {
  readonly name: string
  readonly phase: Phase
  /** False while a deleted pod is still being torn down. */
  readonly declared: boolean
  readonly restarts: number
  /** Containers running / containers (kubectl's READY). */
  readonly ready: { readonly running: number; readonly total: number }
  /** Each container's image reference (`rootfs:/path` for a directory). */
  readonly images: ReadonlyArray<string>
  readonly addresses: ReadonlyArray<string>
  /** Cluster mode: the node the pod is bound to (else the one that last reported it). */
  readonly node?: string
  readonly hostPid?: number
  /** The current run's start, else when the spec was last applied (ISO): what "age" counts from. */
  readonly since?: string
  readonly lastExit?: LastExit
  readonly reason?: string
  readonly cpuPercent?: number
  readonly memoryBytes?: number
  readonly memoryLimitBytes?: number
}

const imageText = (image: Pod["containers"][number]["image"]): string =>
  typeof image === "string" ? image : `rootfs:${image.rootfs}`

const pendingStatus = (p: StoredPod): PodStatus => ({
  name: p.name,
  phase: "pending",
  restarts: 0,
  specRevision: p.revision,
  updatedAt: new Date(p.updatedAt).toISOString()
})

/** A row, or undefined when the pod is neither declared nor has a status (it is gone). */
export const podRow = (
  stored: StoredPod | undefined,
  observed: PodStatus | undefined,
  stats: PodStats | undefined
): PodRow | undefined => {
  if (stored === undefined && observed === undefined) return undefined
  const status = observed ?? pendingStatus(stored!)
  const containers = stored?.spec.containers ?? []
  const total = containers.length || (status.containers?.length ?? 0) || 1
  const running = status.phase !== "running"
    ? 0
    : status.containers && status.containers.length > 0
    ? status.containers.filter((c) => c.state === "running").length
    : total
  const node = stored?.node ?? status.node
  const since = status.startedAt ?? (stored ? new Date(stored.updatedAt).toISOString() : undefined)
  return {
    name: status.name,
    phase: status.phase,
    declared: stored !== undefined,
    restarts: status.restarts,
    ready: { running, total },
    images: containers.map((c) => imageText(c.image)),
    addresses: status.addresses ?? [],
    ...(node != null ? { node } : {}),
    ...(status.hostPid !== undefined ? { hostPid: status.hostPid } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(status.lastExit ? { lastExit: status.lastExit } : {}),
    ...(status.reason !== undefined ? { reason: status.reason } : {}),
    ...(stats?.cpuPercent !== undefined ? { cpuPercent: round(stats.cpuPercent, 1) } : {}),
    ...(stats?.memoryBytes !== undefined ? { memoryBytes: stats.memoryBytes } : {}),
    ...(stats?.memoryLimitBytes !== undefined ? { memoryLimitBytes: stats.memoryLimitBytes } : {})
  }
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits

/** Every pod: the declared ones (sorted by name) and those still being torn down. */
export const podRows = (
  pods: ReadonlyArray<StoredPod>,
  statuses: ReadonlyArray<PodStatus>,
  stats: ReadonlyArray<PodStats>
): Array<PodRow> => {
  const byStatus = new Map(statuses.map((s) => [s.name, s]))
  const byStats = new Map(stats.map((s) => [s.pod, s]))
  const names = new Set([...pods.map((p) => p.name), ...statuses.map((s) => s.name)])
  const byPod = new Map(pods.map((p) => [p.name, p]))
  return [...names].sort().flatMap((n) => {
    const row = podRow(byPod.get(n), byStatus.get(n), byStats.get(n))
    return row ? [row] : []
  })
}

export type PhaseCounts = Partial<Record<Phase, number>>

export const phaseCounts = (rows: Iterable<{ readonly phase: Phase }>): PhaseCounts => {
  const out: Partial<Record<Phase, number>> = {}
  for (const r of rows) out[r.phase] = (out[r.phase] ?? 0) + 1
  return out
}

/** The live figures the pods table shows, per pod: `{ web: { cpuPercent, memoryBytes } }`. */
export const statsSummary = (batch: ReadonlyArray<PodStats>) =>
  Object.fromEntries(batch.map((s) => [s.pod, {
    ...(s.cpuPercent !== undefined ? { cpuPercent: round(s.cpuPercent, 1) } : {}),
    ...(s.memoryBytes !== undefined ? { memoryBytes: s.memoryBytes } : {})
  }]))

/** One point of a pod's charts: CPU %, memory, network rates (not loopback), pids. */
export interface ChartPoint {
  /** Unix seconds. */
  readonly t: number
  readonly cpuPercent?: number
  readonly memoryBytes?: number
  readonly memoryLimitBytes?: number
  readonly rxBytesPerSec?: number
  readonly txBytesPerSec?: number
  readonly pids?: number
}

export const chartPoint = (s: PodStats): ChartPoint => {
  const external = s.network?.filter((i) => i.name !== "lo")
  const sum = (k: "rxBytesPerSec" | "txBytesPerSec") =>
    external === undefined || external.some((i) => i[k] === undefined)
      ? undefined
      : external.reduce((a, i) => a + i[k]!, 0)
  const rx = sum("rxBytesPerSec")
  const tx = sum("txBytesPerSec")
  return {
    t: s.at.getTime() / 1000,
    ...(s.cpuPercent !== undefined ? { cpuPercent: round(s.cpuPercent, 2) } : {}),
    ...(s.memoryBytes !== undefined ? { memoryBytes: s.memoryBytes } : {}),
    ...(s.memoryLimitBytes !== undefined ? { memoryLimitBytes: s.memoryLimitBytes } : {}),
    ...(rx !== undefined ? { rxBytesPerSec: round(rx, 1) } : {}),
    ...(tx !== undefined ? { txBytesPerSec: round(tx, 1) } : {}),
    ...(s.pids !== undefined ? { pids: s.pids } : {})
  }
}

/** A pod's detail: its stored record, spec (also as YAML, for the editor) and status. */
export interface PodDetail {
  readonly name: string
  readonly row: PodRow
  readonly status: PodStatus | undefined
  readonly spec: unknown
  readonly specYaml: string | undefined
  readonly revision: number | undefined
  readonly updatedAt: string | undefined
  /** Containers whose main process has a terminal (`tty: true`): attach works for these. */
  readonly ttyContainers: ReadonlyArray<string>
  readonly containers: ReadonlyArray<string>
}
