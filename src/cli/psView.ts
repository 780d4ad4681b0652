/**
 * What `tank ps` shows, from what it read: its rows, table, warnings and listing. Pure (but for the
 * agent's probe, `liveAgentPid`) and free of Schema and of Effect's runtime: psList.ts (the full
 * CLI's and the heavy quick path's `runPs`), quickPs.ts and quickPsLite.ts (ps's lite path, whose
 * bundle must hold no Schema: test/package) all print through these, so every path prints alike.
 */
import type { Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { withReadiness } from "../api/readiness.js"
import { buildReport } from "../api/report.js"
import type { TankConfigShape } from "../config/Config.js"
import type { Pod } from "../spec/Pod.js"
import { matches, type Selector } from "../spec/selectorParse.js"
import type { PodStatus } from "../store/status.js"
import type { InvalidRecord } from "../store/Store.js"
import { type Format, formatOf, type Listing, listingText } from "./listingText.js"
import type { StdStream } from "./stdWrite.js"
import { ageSince, renderTable, shortExit } from "./table.js"

/** The spec of a listed pod: a whole Pod, as the Store decodes it (quick or full path alike). */
export type PsSpec = Pod

export const imageOf = (pod: PsSpec | undefined): string => {
  const image = pod?.containers[0]?.image
  if (image === undefined) return "-"
  return typeof image === "string" ? image : `rootfs:${image.rootfs}`
}

/** Pods with several containers: " 1/2" = containers running / containers (kubectl's READY). */
const ready = (s: PodStatus): string =>
  s.containers && s.containers.length > 1 && s.phase === "running"
    ? ` ${s.containers.filter((c) => c.state === "running").length}/${s.containers.length}`
    : ""

/**
 * A container is ready when it runs and its readiness probe (if any) passes: "1/2". A container
 * without the `ready` the agent writes is not ready yet (its probe has not passed since it started).
 * The same verdict as `tank status` (src/api/readiness.ts).
 */
export const readyColumn = (s: PodStatus, spec: PsSpec | undefined): string => {
  if (spec === undefined || s.phase !== "running") return "-"
  const r = withReadiness(s, spec)
  const several = r.containers !== undefined && r.containers.length > 1
  const ready = several
    ? spec.containers.filter((c) => r.containers!.find((x) => x.name === c.name)?.ready === true).length
    : r.ready === true
    ? spec.containers.length
    : 0
  return `${ready}/${spec.containers.length}`
}

export interface PsRow {
  readonly status: PodStatus
  readonly spec: PsSpec | undefined
  readonly declaredAt: string | undefined
  /** Cluster mode: the node the pod is bound to, else the node that last reported it. */
  readonly node?: string | undefined
  /** Declared, readable or not (a pod being torn down is not). */
  readonly declared?: boolean
}

/** The table `tank ps` prints (pure: `now` is passed in); `cluster` adds the NODE column. */
export const psTable = (
  rows: ReadonlyArray<PsRow>,
  now: number,
  options: { readonly cluster?: boolean; readonly wide?: boolean } = {}
): string => {
  const header = ["NAME", "PHASE", "RESTARTS", "AGE", "IMAGE", "ADDRESSES", "HOST PID", "LAST EXIT"]
  const body = rows.map(({ declaredAt, spec, status: s }) => [
    s.name,
    spec === undefined && s.phase !== "stopping" && s.phase !== "invalid" && s.phase !== "terminating"
      ? `${s.phase} (deleted)`
      : `${s.phase}${ready(s)}`,
    String(s.restarts),
    ageSince(s.startedAt ?? declaredAt, now),
    imageOf(spec) + ((spec?.containers.length ?? 0) > 1 ? ` (+${spec!.containers.length - 1})` : ""),
    s.addresses?.length ? s.addresses.join(",") : "-",
    s.hostPid !== undefined ? String(s.hostPid) : "-",
    shortExit(s.lastExit)
  ])
  // Published ports only when some pod has them (`18080->8080/tcp`), so other listings stay as they were.
  const ports = rows.map(({ spec }) =>
    typeof spec?.network === "object"
      ? (spec.network.ports ?? []).map((p) =>
        `${p.hostIP ? `${p.hostIP}:` : ""}${p.hostPort}->${p.containerPort}/${p.protocol}`
      )
        .join(",")
      : ""
  )
  if (ports.some((p) => p !== "")) {
    header.splice(6, 0, "PORTS")
    body.forEach((r, i) => r.splice(6, 0, ports[i] || "-"))
  }
  // READY (kubectl's: ready containers / containers) only when some pod has a readiness probe.
  if (rows.some(({ spec }) => spec?.containers.some((c) => c.readinessProbe !== undefined))) {
    header.splice(2, 0, "READY")
    body.forEach((r, i) => r.splice(2, 0, readyColumn(rows[i]!.status, rows[i]!.spec)))
  }
  if (options.wide) {
    // -o wide: what the pod is labelled, and why it is in its phase.
    header.push("LABELS", "REASON")
    body.forEach((r, i) => {
      const { spec, status } = rows[i]!
      r.push(
        Object.entries(spec?.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "-",
        status.reason ?? "-"
      )
    })
  }
  if (!options.cluster) return renderTable(header, body)
  // NODE after PHASE: where a pod runs matters more than its image in a cluster.
  return renderTable(
    [...header.slice(0, 2), "NODE", ...header.slice(2)],
    body.map((r, i) => [...r.slice(0, 2), rows[i]!.node ?? "-", ...r.slice(2)])
  )
}

/** A declared pod as the rows need it (the Store's StoredPod; psReader.ts's PodViewRow). */
export interface Declared {
  readonly name: string
  readonly spec: PsSpec
  readonly updatedAt: number
  readonly node: string | null
}

/** ps's rows from the report's statuses and the declared pods (unreadable ones by key and node). */
export const psRows = (
  statuses: ReadonlyArray<PodStatus>,
  pods: ReadonlyArray<Declared>,
  badPods: ReadonlyArray<{ readonly key: string; readonly node?: string | null | undefined }>
): Array<PsRow> => {
  const byName = new Map(pods.map((p) => [p.name, p]))
  const badNode = new Map(badPods.map((r) => [r.key, r.node ?? undefined]))
  return statuses.map((status): PsRow => {
    const stored = byName.get(status.name)
    return {
      status,
      spec: stored?.spec,
      declaredAt: stored ? new Date(stored.updatedAt).toISOString() : undefined,
      // An unschedulable pod is where it is bound (a reschedulable one stranded on its dead node) or
      // nowhere: never the node it names but cannot have.
      node: stored?.node ?? badNode.get(status.name) ?? (status.phase === "unschedulable" ? undefined : status.node),
      declared: stored !== undefined || badNode.has(status.name)
    }
  })
}

/** What ps lists: its rows, and the unreadable records behind rows in phase "invalid". */
export interface PsReport {
  readonly rows: ReadonlyArray<PsRow>
  readonly invalid: ReadonlyArray<{ readonly message: string }>
}

/** What the store holds for ps (the Store's list and listStatus; psReader.ts's read; the lite path's). */
export interface PsStoreRead {
  readonly pods: ReadonlyArray<Declared & { readonly revision: number }>
  readonly badPods: ReadonlyArray<InvalidRecord>
  readonly statuses: ReadonlyArray<PodStatus>
  readonly badStatus: ReadonlyArray<InvalidRecord>
}

/** ps's report of a store read (as the full CLI's storeRead builds it from the Store): statuses as `tank status` derives them. */
export const psReport = (read: PsStoreRead, now: number): PsReport => {
  const { invalid, statuses } = buildReport({
    pods: read.pods,
    badPods: read.badPods,
    observed: read.statuses,
    badStatus: read.badStatus,
    nodes: undefined,
    now
  })
  return { rows: psRows(statuses, read.pods, read.badPods), invalid }
}

/** Whether a row's pod matches `-l` (a pod being torn down has no spec, so no labels). Pure. */
export const keepBySelector = (selector: Selector) => (spec: PsSpec | undefined): boolean =>
  spec !== undefined && matches(selector, spec.labels)

export const invalidWarning = (r: { readonly message: string }) => `tank: warning: ${r.message} (see tank doctor)`

/** The pid in `<dataDir>/agent.lock` if that process still lives (a cheap probe: no flock here). */
export const liveAgentPid = (dir: string): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, "agent.lock"), "utf8").trim())
    return Number.isInteger(pid) && pid > 0 && fs.existsSync(`/proc/${pid}`) ? pid : undefined
  } catch {
    return undefined
  }
}

/** The options of `tank ps`, the data dir already resolved (absolute; none: the config's default). */
export interface PsOptions {
  readonly dataDir: Option.Option<string>
  readonly json: boolean
  readonly output: Option.Option<Format>
  readonly quiet: boolean
  readonly selector: Option.Option<string>
  readonly watch: boolean
}

/**
 * What `tank ps` prints for its read (rows already filtered by `-l`): the warnings for stderr, in
 * order (each unreadable record; no agent running), and the listing for stdout. Pure but for the
 * agent's probe (`liveAgentPid`): runPs prints it, and so does the quick path (quickPs.ts), which
 * runs without Effect's runtime.
 */
export const psOutput = (
  { quiet }: { readonly quiet: boolean },
  { config, invalid, rows }: {
    readonly config: Pick<TankConfigShape, "dataDir" | "etcd">
    readonly invalid: ReadonlyArray<{ readonly message: string }>
    readonly rows: ReadonlyArray<PsRow>
  },
  now: () => number
): { readonly warnings: ReadonlyArray<string>; readonly listing: Listing } => ({
  warnings: [
    ...invalid.map(invalidWarning),
    // Statuses are only as fresh as the agent that writes them: say so when none is running.
    // (In cluster mode the agents are elsewhere: `tank nodes` shows which are ready.)
    ...(rows.length > 0 && config.etcd === undefined && liveAgentPid(config.dataDir) === undefined
      ? [`tank: warning: no agent is running for ${config.dataDir}; statuses may be stale (start one: tank daemon)`]
      : [])
  ],
  listing: {
    value: rows.map((r) => ({
      ...r.status,
      ...(config.etcd && r.node !== undefined ? { node: r.node } : {}),
      image: imageOf(r.spec),
      ...(r.spec?.labels ? { labels: r.spec.labels } : {}),
      declared: r.declared ?? r.spec !== undefined
    })),
    // -q: bare names, for `xargs`; -o name: kubectl's kind/name.
    names: rows.map((r) => quiet ? r.status.name : `pod/${r.status.name}`),
    table: () => psTable(rows, now(), { cluster: config.etcd !== undefined }),
    wide: () => psTable(rows, now(), { cluster: config.etcd !== undefined, wide: true })
  }
})

/** The format ps prints in (`-q` is bare names). */
export const psFormat = (o: Pick<PsOptions, "json" | "output" | "quiet">): Format =>
  o.quiet ? "name" : formatOf({ json: o.json, output: o.output })

/**
 * What ps writes for its report (rows already filtered by `-l`), in order: the warnings on stderr,
 * then the listing on stdout, as runPs prints them; undefined for yaml (its printer is the full
 * CLI's). Pure but for the agent's probe (psOutput): both quick paths write these (stdWrite.ts).
 */
export const psChunks = (
  options: Pick<PsOptions, "json" | "output" | "quiet">,
  read: Parameters<typeof psOutput>[1],
  now: () => number
): Array<readonly [StdStream, string]> | undefined => {
  const format = psFormat(options)
  if (format === "yaml") return undefined
  const { listing, warnings } = psOutput({ quiet: options.quiet }, read, now)
  const text = listingText(format, listing)
  const line = (t: string) => t.endsWith("\n") ? t : `${t}\n`
  return [
    ...warnings.map((w) => ["stderr", line(w)] as const),
    ...(text === undefined ? [] : [["stdout", line(text)] as const])
  ]
}
