/**
 * Pure text formatting for the CLI: aligned tables (podman/kubectl style) and human ages.
 */
import { type describeExit, signalName } from "../api/statusText.js"
import { printable } from "../spec/printable.js"

/**
 * Columns separated by three spaces, each as wide as its widest cell; no trailing blanks. Cells are
 * escaped (a name from the store may hold terminal controls).
 */
export const renderTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const all = [header, ...rows.map((r) => r.map((cell) => printable(cell, 1000)))]
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)))
  return all
    .map((r) => r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)).join("   ").trimEnd())
    .join("\n") + "\n"
}

/** `12s`, `5m`, `3h`, `2d` like kubectl: the largest unit, whole numbers. Negative clamps to 0s. */
export const formatAge = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 120) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h`
  return `${Math.floor(h / 24)}d`
}

/** Age of an ISO timestamp relative to `now`; "-" when absent or unparsable. */
export const ageSince = (iso: string | undefined, now: number): string => {
  if (!iso) return "-"
  const t = Date.parse(iso)
  return Number.isNaN(t) ? "-" : formatAge(now - t)
}

/** Byte counts as docker prints them: `1.2MB`, `512B` (powers of 1000). */
export const formatBytes = (n: number): string => {
  const units = ["B", "kB", "MB", "GB", "TB"]
  let v = n
  let u = 0
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return u === 0 ? `${v}B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)}${units[u]}`
}

export { describeExit, signalName } from "../api/statusText.js"

/** A short form for table cells (setup errors shrink to their step). */
export const shortExit = (e: Parameters<typeof describeExit>[0] | undefined): string =>
  e === undefined
    ? "-"
    : e.setupError
    ? `setup: ${e.setupError.step}`
    : e.signal !== undefined
    ? signalName(e.signal) + (e.oomKilled ? " (OOM)" : "")
    : e.code !== undefined
    ? String(e.code) + (e.oomKilled ? " (OOM)" : "")
    : "-"
