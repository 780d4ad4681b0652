/**
 * How the apply benches tell "running" and "gone": by the store's event feed, as `tank wait` does.
 */
import { Deferred, Effect, Exit, Fiber, HashMap, Layer, Logger, LogLevel, Stream } from "effect"
import { performance } from "node:perf_hooks"
import { type PodChange, watch } from "../src/api/watch.js"
import { Store } from "../src/store/Store.js"

/**
 * Wait until every pod in `names` is running, told by the store's event feed as `tank wait` is
 * (Api.watch): no status polling, whose cost (a full status read every few ms) would be charged to
 * the agent it measures.
 */
export const waitRunning = (
  store: Store["Type"],
  names: ReadonlyArray<string>,
  onChange?: (c: PodChange) => void
) =>
  Effect.suspend(() => {
    const want = new Set(names)
    const left = new Set(names)
    return watch().pipe(
      Stream.takeUntil((c) => {
        if (want.has(c.name)) {
          onChange?.(c)
          if (c._tag === "Updated" && c.status.phase === "running") left.delete(c.name)
          else left.add(c.name)
        }
        return left.size === 0
      }),
      Stream.runDrain,
      Effect.provideService(Store, store)
    )
  })

/**
 * Watch `names` (each has a status now) until all are gone; returns once the feed has shown every
 * one of them, so deletes issued after it cannot be missed. Yields the wait for the rest.
 */
export const watchGone = (store: Store["Type"], names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const want = new Set(names)
    const seen = new Set<string>()
    const present = new Set<string>()
    const listed = yield* Deferred.make<void>()
    const fiber = yield* watch().pipe(
      Stream.takeUntil((c) => {
        if (!want.has(c.name)) return false
        seen.add(c.name)
        if (c._tag === "Removed") present.delete(c.name)
        else present.add(c.name)
        if (seen.size === want.size) Deferred.unsafeDone(listed, Exit.void)
        return seen.size === want.size && present.size === 0
      }),
      Stream.runDrain,
      Effect.provideService(Store, store),
      Effect.fork
    )
    yield* Deferred.await(listed)
    return Fiber.join(fiber)
  })

export interface TimelineEntry {
  readonly at: number
  readonly line: string
  /** The message alone, and the log annotations (`pod`, `step`, `ms`...). */
  readonly text: string
  readonly notes: Readonly<Record<string, string>>
}

/**
 * A timeline of one apply (`--timeline`): the agent's debug log (change feed, reconcile pass,
 * bring-up steps, status and event writes) and what the bench's watch saw, each line with its time
 * since the apply began. `layer` routes the log here at Debug level.
 */
export const makeTimeline = () => {
  const logged: Array<TimelineEntry> = []
  const logger = Logger.make(({ annotations, message }) => {
    const pairs = [...HashMap.entries(annotations)]
    const notes = pairs.map(([k, v]) => `${k}=${String(v)}`).join(" ")
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    logged.push({
      at: performance.now(),
      line: notes ? `${text} (${notes})` : text,
      text,
      notes: Object.fromEntries(pairs.map(([k, v]) => [k, String(v)]))
    })
  })
  return {
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.Debug)),
    clear: () => void (logged.length = 0),
    onChange: (c: PodChange) =>
      void logged.push({
        at: performance.now(),
        line: `bench watch: ${c.name} ${c._tag === "Updated" ? c.status.phase : "removed"}`,
        text: `bench watch: ${c.name} ${c._tag === "Updated" ? c.status.phase : "removed"}`,
        notes: {}
      }),
    /** Everything logged so far (for `--burst-timeline`, bench/burstTimeline.ts). */
    entries: (): ReadonlyArray<TimelineEntry> => logged,
    /** The lines between `t0` (apply called) and `seen` (the bench saw it running); `stored`: apply returned. */
    lines: (t0: number, stored: number, seen: number): Array<string> => {
      const at = (t: number) => `${(t - t0).toFixed(1).padStart(7)} ms`
      return [
        { at: stored, line: "apply returned (validated, stored, \"applied\" event written)" },
        ...logged.filter((l) => l.at >= t0 && l.at <= seen),
        { at: seen, line: "the bench's watch sees it running" }
      ].sort((a, b) => a.at - b.at).map((l) => `${at(l.at)}  ${l.line}`)
    }
  }
}
