/**
 * The image's HEALTHCHECK (docker's `config.Healthcheck` in an image config), run as docker runs it
 * when the container's spec has no probe of its own: the check through the same exec machinery as an
 * exec probe, its verdict shown as `health` (starting / healthy / unhealthy), never acted on unless
 * the spec says `healthcheck: restart`.
 *
 * - `decodeHealthcheck` (pure): the config field through Schema, field by field, so that one bad
 *   field costs only itself: a bad duration or count is ignored (docker's default is used) with a
 *   warning naming it; a Test that is not one of docker's forms drops the check, with a warning.
 * - `healthLoop`: the timing over one start of a container, on the clock (TestClock in tests).
 */
import { Duration, Effect, Either, Schema } from "effect"
import type { Health } from "../store/status.js"
import { probeOnce, type ProbeOutcome } from "./timing.js"

export interface Healthcheck {
  /** What runs in the container (CMD-SHELL: `/bin/sh -c ...`). */
  readonly command: ReadonlyArray<string>
  /** As events name it: `image HEALTHCHECK [CMD-SHELL wget -q ...]`. */
  readonly name: string
  readonly intervalMs: number
  readonly timeoutMs: number
  /** Failures within it do not count, while the container has not been healthy yet. */
  readonly startPeriodMs: number
  /** Failures in a row that make it unhealthy. */
  readonly retries: number
}

/** docker's defaults (`docker run --health-*`). */
export const DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 } as const

const NS_PER_MS = 1_000_000
/** A day: longer is surely a mistake, and beyond it timers overflow. */
const MAX_MS = 86_400_000

const Test = Schema.Array(Schema.String)
/** A duration in nanoseconds, as docker writes it; 0 means "the default". */
const Nanos = Schema.Number.pipe(
  Schema.filter((n) =>
    Number.isInteger(n) && n >= 0 && n / NS_PER_MS <= MAX_MS
      ? true
      : `must be a whole number of nanoseconds from 0 to ${MAX_MS * NS_PER_MS} (a day)`
  )
)
const Retries = Schema.Number.pipe(
  Schema.filter((n) => Number.isInteger(n) && n >= 0 && n <= 1000 ? true : "must be a whole number from 0 to 1000")
)

const describeValue = (v: unknown) => {
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 60)}...` : s
}

export interface Decoded {
  /** Absent: no check (none in the image, `["NONE"]`, or a Test that cannot be run). */
  readonly healthcheck?: Healthcheck
  /** One line per field ignored: `Healthcheck.Interval: "30s" must be ...; the default 30s is used`. */
  readonly warnings: ReadonlyArray<string>
}

/** The image config's `Healthcheck` (unknown: decoded here), field by field. */
export const decodeHealthcheck = (raw: unknown): Decoded => {
  if (raw === undefined || raw === null) return { warnings: [] }
  if (typeof raw !== "object" || Array.isArray(raw)) {
    return { warnings: [`Healthcheck: ${describeValue(raw)} is not an object; no healthcheck`] }
  }
  const o = raw as Record<string, unknown>
  const warnings: Array<string> = []
  const field = <A>(key: string, schema: Schema.Schema<A, number>, fallback: number, show: (n: number) => string) => {
    const v = o[key]
    if (v === undefined || v === null) return fallback
    return Either.match(Schema.decodeUnknownEither(schema)(v), {
      onLeft: () => {
        warnings.push(
          `Healthcheck.${key}: ${describeValue(v)} ${
            typeof v === "number" ? "is out of range" : "is not a number"
          }; the default ${show(fallback)} is used`
        )
        return fallback
      },
      onRight: (n) => (n as number) === 0 ? fallback : n as number
    })
  }
  const ms = (key: string, fallback: number) =>
    field(key, Nanos, fallback * NS_PER_MS, (n) => `${n / NS_PER_MS / 1000}s`) / NS_PER_MS
  const intervalMs = Math.max(1, ms("Interval", DEFAULTS.intervalMs))
  const timeoutMs = Math.max(1, ms("Timeout", DEFAULTS.timeoutMs))
  const startPeriodMs = ms("StartPeriod", DEFAULTS.startPeriodMs)
  const retries = field("Retries", Retries, DEFAULTS.retries, String)
  const test = Schema.decodeUnknownEither(Test)(o["Test"] ?? [])
  if (Either.isLeft(test)) {
    return {
      warnings: [...warnings, `Healthcheck.Test: ${describeValue(o["Test"])} is not a list of strings; no healthcheck`]
    }
  }
  const [kind, ...rest] = test.right
  const command = kind === "CMD" && rest.length > 0 && rest[0] !== ""
    ? rest
    : kind === "CMD-SHELL" && rest.length === 1 && rest[0]!.trim() !== ""
    ? ["/bin/sh", "-c", rest[0]!]
    : undefined
  // [] inherits (there is nothing to inherit from here) and ["NONE"] disables: both mean no check.
  if (kind === undefined || (kind === "NONE" && rest.length === 0)) return { warnings }
  if (command === undefined) {
    return {
      warnings: [
        ...warnings,
        `Healthcheck.Test: ${
          describeValue(test.right)
        } is not ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]; no healthcheck`
      ]
    }
  }
  const name = `image HEALTHCHECK [${[kind, ...rest].join(" ").slice(0, 200)}]`
  return { healthcheck: { command, name, intervalMs, timeoutMs, startPeriodMs, retries }, warnings }
}

/**
 * docker's rules over one start of a container: `starting` until the first success (failures within
 * the start period do not count), a check every interval from the start, `unhealthy` after
 * `retries` failures in a row, `healthy` again at the next success. `report` gets every result with
 * whether the verdict changed (the caller writes only what changed, and an event on a change).
 * Runs until interrupted.
 */
export const healthLoop = (
  hc: Healthcheck,
  check: Effect.Effect<ProbeOutcome>,
  report: (health: Health, changed: boolean, outcome: ProbeOutcome) => Effect.Effect<void>
): Effect.Effect<never> =>
  Effect.gen(function*() {
    const timing = { timeoutSeconds: hc.timeoutMs / 1000 }
    const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
    let status: Health["status"] = "starting"
    let failingStreak = 0
    while (true) {
      yield* Effect.sleep(Duration.millis(hc.intervalMs))
      const r = yield* probeOnce(timing, check)
      const at = yield* Effect.clockWith((c) => c.currentTimeMillis)
      const before = status
      if (r.ok) {
        failingStreak = 0
        status = "healthy"
      } else if (!(status === "starting" && at - started < hc.startPeriodMs)) {
        failingStreak++
        if (failingStreak >= hc.retries) status = "unhealthy"
      }
      yield* report(
        { status, failingStreak, output: r.detail, at: new Date(at).toISOString() },
        status !== before,
        r
      )
    }
  })
