/**
 * Text and JSON forms of log entries, stats and events for the CLI (pure).
 */
import * as os from "node:os"
import { printable } from "../spec/printable.js"
import type { PodEvent } from "../store/status.js"
import type { LogEntry } from "./record.js"
import type { PodStats } from "./statsModel.js"

export interface LogFormatOptions {
  /** Prefix each line with its RFC 3339 nanosecond timestamp (as `docker logs -t`). */
  readonly timestamps?: boolean
  /** Prefix each line with `container |` (useful when a pod's containers are merged). */
  readonly container?: boolean
}

/** One display line (no trailing newline; a partial entry is shown as it is). */
export const formatLogEntry = (e: LogEntry, options: LogFormatOptions = {}): string =>
  `${options.timestamps ? `${e.ts} ` : ""}${options.container ? `${e.container} | ` : ""}${e.text}`

/** JSON form of a log entry (one object per line for `--json`). */
export const logEntryJson = (e: LogEntry) => ({
  time: e.ts,
  container: e.container,
  stream: e.stream,
  text: e.text,
  ...(e.partial ? { partial: true } : {})
})

const UNITS = ["B", "kB", "MB", "GB", "TB"]

/** Bytes the way docker/podman print them (decimal units): "1.5MB", "512B". */
export const humanBytes = (n: number | undefined): string => {
  if (n === undefined) return "--"
  let v = n
  let u = 0
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000
    u++
  }
  return u === 0 ? `${v}${UNITS[0]}` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)}${UNITS[u]}`
}

const percent = (p: number | undefined) => (p === undefined ? "--" : `${p.toFixed(2)}%`)

export interface StatsRow {
  readonly name: string
  readonly cpu: string
  readonly mem: string
  readonly memPercent: string
  readonly pids: string
  readonly net: string
}

/** The table's cells for a pod; with no limit, the host's memory is the limit (as podman). */
export const statsRow = (s: PodStats, hostMemory: number = os.totalmem()): StatsRow => {
  const limit = s.memoryLimitBytes ?? hostMemory
  return {
    name: s.pod,
    cpu: percent(s.cpuPercent),
    mem: `${humanBytes(s.memoryBytes)} / ${humanBytes(limit)}`,
    memPercent: s.memoryBytes === undefined ? "--" : percent((s.memoryBytes / limit) * 100),
    pids: s.pids === undefined ? "--" : String(s.pids),
    net: s.network === undefined ? "--" : `${humanBytes(s.netRxBytes)} / ${humanBytes(s.netTxBytes)}`
  }
}

const HEADER: StatsRow = {
  name: "NAME",
  cpu: "CPU %",
  mem: "MEM USAGE / LIMIT",
  memPercent: "MEM %",
  pids: "PIDS",
  net: "NET IO"
}

/** A `podman stats`-like table (header included), one line per pod, columns padded. */
export const formatStatsTable = (stats: ReadonlyArray<PodStats>, hostMemory?: number): string => {
  const rows = [HEADER, ...stats.map((s) => statsRow(s, hostMemory))]
  const keys = Object.keys(HEADER) as Array<keyof StatsRow>
  const width = Object.fromEntries(keys.map((k) => [k, Math.max(...rows.map((r) => r[k].length))]))
  return rows.map((r) =>
    keys.map((k, i) => (i === keys.length - 1 ? r[k] : r[k].padEnd(width[k]!))).join("  ").trimEnd()
  )
    .join("\n")
}

/** JSON form of pod stats (`--json`): numbers as numbers, the time as RFC 3339. */
export const statsJson = (s: PodStats) => ({ ...s, at: s.at.toISOString() })

const exitText = (e: NonNullable<PodEvent["lastExit"]>) =>
  e.setupError
    ? `setup failed at ${e.setupError.step}: ${e.setupError.message}`
    : e.signal !== undefined
    ? `signal ${e.signal}${e.oomKilled ? " (OOM killed)" : ""}`
    : `exit code ${e.code ?? "?"}`

/**
 * `2026-11-23T12:00:00.000Z web running pid=1234 restarts=1 ...`, one line: what an event carries
 * from elsewhere (names, messages) is escaped.
 */
export const formatEvent = (e: PodEvent): string => {
  const parts = [printable(e.at, 40), printable(e.pod), e.type]
  if (e.hostPid !== undefined) parts.push(`pid=${e.hostPid}`)
  if (e.restarts !== undefined) parts.push(`restarts=${e.restarts}`)
  if (e.lastExit) parts.push(`(${exitText(e.lastExit)})`)
  if (e.delayMs !== undefined) parts.push(`retry in ${(e.delayMs / 1000).toFixed(1)}s`)
  if (e.message) parts.push(`— ${e.message}`)
  return parts.map((p, i) => i < 2 ? p : printable(p, 4000)).join(" ")
}

/** JSON form of an event: the stored event as it is, without the status snapshot watchers use. */
export const eventJson = ({ status: _status, ...e }: PodEvent) => e
