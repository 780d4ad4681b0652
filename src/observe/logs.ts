/**
 * `logs(pod, options)`: a pod's container logs as a Stream, from any process (it reads the files
 * the monitors write under `<dataDir>/logs/<pod>/`; the agent is not involved).
 *
 * - History first: the last `tail` lines, or every line (optionally since/until a time), across the
 *   rotated files, containers merged by time. `tail` reads the files from their end.
 * - `follow`: then the lines appended from now on, polled every `pollMs`. It survives rotation,
 *   restarts of the pod (the new monitor appends to the same files), new containers appearing, and
 *   the pod's deletion and re-creation. It never ends on its own — not even when the pod is gone:
 *   the caller interrupts it (Ctrl-C), or passes `until`.
 * - A line the monitor split into 16 KiB pieces is handed out joined (`partial: false`); pieces
 *   that never got their end (the stream closed mid-line, or over `maxLineBytes`) come as
 *   `partial: true`. While following, pieces are held at most `holdMs` waiting for the rest.
 */
import { Effect, Option, Schedule, Schema, Stream } from "effect"
import * as fs from "node:fs"
import { PodNotFound } from "../api/Api.js"
import { TankConfig } from "../config/Config.js"
import { podLayout } from "../runtime/layout.js"
import { Store } from "../store/Store.js"
import { ContainerLog } from "./containerLog.js"
import { containersIn } from "./files.js"
import type { LogEntry, LogStream } from "./record.js"
import { byTime, dateTs } from "./record.js"
import { isTimeError, parseTime } from "./time.js"

export type { LogEntry, LogStream } from "./record.js"

// One class per tag: `catchTag("PodNotFound")` means the same error (and wording) everywhere.
export { PodNotFound }

export class LogsError extends Schema.TaggedError<LogsError>()("LogsError", {
  pod: Schema.String,
  /** "options" (a bad argument) or the file operation that failed ("read"). */
  op: Schema.String,
  path: Schema.optional(Schema.String),
  reason: Schema.String
}) {
  override get message() {
    return `logs of ${this.pod}: ${this.reason}${this.path ? ` (${this.path})` : ""}`
  }
}

export interface LogsOptions {
  /** One container (default: all of the pod's, merged by time). */
  readonly container?: string
  /** Only the last N lines of history (per pod, after filtering). */
  readonly tail?: number
  /** A Date, RFC 3339 time, unix seconds, or a duration before now ("10m"). */
  readonly since?: Date | string
  readonly until?: Date | string
  readonly follow?: boolean
  /** Only these streams (default all). */
  readonly streams?: ReadonlyArray<LogStream>
  /** Follow poll interval (default 100 ms). */
  readonly pollMs?: number
  /** How long a follower holds a line's pieces waiting for its end (default 1 s). */
  readonly holdMs?: number
  /** Longest joined line; longer ones come in partial entries of this size (default 8 MiB). */
  readonly maxLineBytes?: number
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const BATCH = 1024

const timeOption = (pod: string, what: string, v: Date | string | undefined) => {
  if (v === undefined || v instanceof Date) return Effect.succeed(v)
  const t = parseTime(v)
  return isTimeError(t)
    ? Effect.fail(new LogsError({ pod, op: "options", reason: `${what}: ${t.error}` }))
    : Effect.succeed(t)
}

/** The pod is known when it has logs or a run dir here, or the Store (if provided) declares it. */
const known = (dataDir: string, pod: string) =>
  Effect.gen(function*() {
    const layout = podLayout(dataDir, pod)
    if (fs.existsSync(layout.logs) || fs.existsSync(layout.run)) return true
    const store = yield* Effect.serviceOption(Store)
    if (Option.isNone(store)) return false
    return yield* store.value.get(pod).pipe(Effect.map(Option.isSome), Effect.orElseSucceed(() => false))
  })

/** k-way merge of per-container generators (each oldest first) into one, oldest first. */
function* mergeSorted(gens: ReadonlyArray<Generator<LogEntry>>): Generator<LogEntry> {
  const heads = gens.map((g) => g.next())
  for (;;) {
    let best = -1
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!
      if (!h.done && (best < 0 || byTime(h.value, (heads[best] as IteratorYieldResult<LogEntry>).value) < 0)) best = i
    }
    if (best < 0) return
    yield (heads[best] as IteratorYieldResult<LogEntry>).value
    heads[best] = gens[best]!.next()
  }
}

/** Logs of a pod under an explicit data dir. */
export const logsIn = (
  dataDir: string,
  pod: string,
  options: LogsOptions = {}
): Stream.Stream<LogEntry, LogsError | PodNotFound> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    if (!LABEL.test(pod)) return yield* new PodNotFound({ pod })
    if (options.container !== undefined && !LABEL.test(options.container)) {
      return yield* new LogsError({
        pod,
        op: "options",
        reason: `bad container name ${JSON.stringify(options.container)}`
      })
    }
    if (!(yield* known(dataDir, pod))) return yield* new PodNotFound({ pod })
    const since = yield* timeOption(pod, "since", options.since)
    const until = yield* timeOption(pod, "until", options.until)
    const sinceTs = since && dateTs(since)
    const untilTs = until && dateTs(until)
    const dir = podLayout(dataDir, pod).logs
    const follow = options.follow === true
    const streams = options.streams && new Set(options.streams)
    const keep = (e: LogEntry) =>
      (sinceTs === undefined || e.ts >= sinceTs) && (untilTs === undefined || e.ts <= untilTs) &&
      (streams === undefined || streams.has(e.stream))

    const readers = new Map<string, ContainerLog>()
    yield* Effect.addFinalizer(() => Effect.sync(() => readers.forEach((r) => r.close())))
    const open = (c: string) => {
      const r = new ContainerLog(dir, c, options.maxLineBytes)
      readers.set(c, r)
      return r
    }
    const names = () => options.container !== undefined ? [options.container] : containersIn(dir)

    const readFail = (e: unknown) =>
      new LogsError({ pod, op: "read", path: dir, reason: e instanceof Error ? e.message : String(e) })

    // History.
    let history: Stream.Stream<LogEntry, LogsError>
    if (options.tail !== undefined) {
      const n = Math.max(0, Math.floor(options.tail))
      history = Stream.fromIterableEffect(Effect.try({
        try: () => {
          // The since filter only drops the oldest lines, so each container's last n suffice;
          // until and streams can drop any line, so those read each container's whole history.
          const need = untilTs !== undefined || streams !== undefined ? Number.MAX_SAFE_INTEGER : n
          const lists = names().map((c) => {
            const r = open(c)
            const got = r.tail(need, follow)
            return follow ? got : [...got, ...r.flush()]
          })
          const kept = lists.flat().sort(byTime).filter(keep)
          return n === 0 ? [] : kept.slice(-n)
        },
        catch: readFail
      }))
    } else {
      const gens = names().map((c) => {
        const r = open(c)
        return (function*() {
          yield* r.all(sinceTs, follow)
          if (!follow) yield* r.flush()
        })()
      })
      const merged = mergeSorted(gens)
      let done = false
      history = Stream.repeatEffectOption(
        Effect.try({
          try: () => {
            // At most BATCH entries read per pull, filtered-out ones included: a long run of
            // unwanted lines neither ends the stream early nor blocks for a whole file.
            const batch: Array<LogEntry> = []
            for (let i = 0; i < BATCH && !done; i++) {
              const x = merged.next()
              if (x.done) done = true
              else if (keep(x.value)) batch.push(x.value)
            }
            return batch
          },
          catch: readFail
        }).pipe(
          Effect.mapError(Option.some),
          Effect.flatMap((b) => b.length === 0 && done ? Effect.fail(Option.none()) : Effect.succeed(b))
        )
      ).pipe(Stream.flattenIterables)
    }
    if (!follow) return history

    const holdMs = options.holdMs ?? 1000
    let lastScan = 0
    const poll = Effect.try({
      try: () => {
        // Containers that appeared since (a spec change added one): from their first line.
        if (options.container === undefined && Date.now() - lastScan >= 1000) {
          lastScan = Date.now()
          for (const c of containersIn(dir)) if (!readers.has(c)) open(c)
        }
        if (options.container !== undefined && !readers.has(options.container)) open(options.container)
        const out: Array<LogEntry> = []
        for (const r of readers.values()) out.push(...r.poll(holdMs))
        return out.sort(byTime).filter(keep)
      },
      catch: readFail
    })
    const live = Stream.repeatEffectWithSchedule(poll, Schedule.spaced(options.pollMs ?? 100)).pipe(
      Stream.flattenIterables
    )
    const all = Stream.concat(history, live)
    return untilTs === undefined ? all : all.pipe(Stream.takeWhile((e) => e.ts <= untilTs))
  }))

/** Logs of a pod in the configured data dir. */
export const logs = (
  pod: string,
  options: LogsOptions = {}
): Stream.Stream<LogEntry, LogsError | PodNotFound, TankConfig> =>
  Stream.unwrap(Effect.map(TankConfig, (config) => logsIn(config.dataDir, pod, options)))
