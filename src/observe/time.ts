/**
 * Time arguments of `logs --since/--until` and `events --since` (pure): an RFC 3339 / ISO time, a
 * unix time in seconds, or a duration before `now` like docker's ("10m", "1h30m", "45s", "500ms", "2d").
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/

/** Milliseconds of "1h30m"-style durations; undefined when it is not one. */
export const parseDurationMs = (s: string): number | undefined => {
  let rest = s.trim()
  if (rest === "") return undefined
  let total = 0
  while (rest !== "") {
    const m = DURATION.exec(rest)
    if (!m) return undefined
    total += Number(m[1]) * UNITS[m[2]!]!
    rest = rest.slice(m[0].length)
  }
  return total
}

/** A point in time from a CLI-style argument, or an error message. */
export const parseTime = (s: string, now: Date = new Date()): Date | { readonly error: string } => {
  const t = s.trim()
  const ms = parseDurationMs(t)
  if (ms !== undefined) return new Date(now.getTime() - ms)
  if (/^\d+(\.\d+)?$/.test(t)) return new Date(Number(t) * 1000)
  // ISO/RFC 3339 (a date alone is midnight UTC, as Date.parse does).
  if (/^\d{4}-\d\d-\d\d/.test(t)) {
    const d = new Date(t)
    if (!Number.isNaN(d.getTime())) return d
  }
  return {
    error: `"${s}" is not a time: use RFC 3339 (2026-11-23T12:00:00Z), unix seconds, or a duration (10m, 1h30m)`
  }
}

export const isTimeError = (x: Date | { readonly error: string }): x is { readonly error: string } =>
  !(x instanceof Date)
