/**
 * The live feeds behind the pages, as Streams of SSE events. Nothing here polls: a pod is re-read
 * when the Store's change feed (desired state), its event log (transitions, from any process) or
 * the status feed (this agent's status writes) names it; stats arrive with each sample batch.
 *
 * Each feed subscribes first and reads its snapshot second, so nothing between the two is lost;
 * rows are sent only when they differ from what this client last got. Like the reconciler, a feed
 * is level-triggered as well: every resync interval it compares everything again, which covers
 * what no notification names (another node's status writes in cluster mode). A store error ends the feed
 * with an `error` event; the browser's EventSource reconnects and starts from a fresh snapshot.
 */
import { Chunk, Duration, Effect, Option, Stream } from "effect"
import * as YAML from "yaml"
import { TankConfig } from "../config/Config.js"
import { Stats } from "../observe/stats.js"
import { encodePod } from "../spec/decode.js"
import type { PodEvent, PodStatus } from "../store/status.js"
import { type Change, InvalidRecord, Store, type StoredPod } from "../store/Store.js"
import type { SseEvent } from "./sse.js"
import { StatusFeed } from "./statusFeed.js"
import { chartPoint, type PodDetail, type PodRow, podRow, podRows, statsSummary } from "./views.js"

const changedNames = (c: Change): ReadonlyArray<string> =>
  c._tag === "PodPut"
    ? [c.pod.name]
    : c._tag === "PodDeleted"
    ? [c.name]
    : c._tag === "PodInvalid"
    ? [c.record.key]
    : [...c.pods.map((p) => p.name), ...c.invalid.map((r) => r.key)]

/** The store's event feed without unreadable events (the dashboard shows only what can be read). */
const readableEvents = (store: Store["Type"], afterId?: number) =>
  store.events(afterId).pipe(Stream.filter((e): e is PodEvent => !(e instanceof InvalidRecord)))

/** Pod names to re-read, from the three sources, with bursts coalesced (one re-read per name per 15 ms). */
const touched = (store: Store["Type"], statusNames: Stream.Stream<string>, fromRevision: number, afterEvent?: number) =>
  Stream.mergeAll([
    store.watch(fromRevision).pipe(Stream.mapConcat(changedNames)),
    readableEvents(store, afterEvent).pipe(Stream.map((e) => e.pod)),
    statusNames
  ], { concurrency: "unbounded" }).pipe(
    Stream.groupedWithin(1024, "15 millis"),
    Stream.map((chunk) => [...new Set(Chunk.toReadonlyArray(chunk))])
  )

const errorEvent = (e: { readonly message: string }): SseEvent => ({ event: "problem", data: { message: e.message } })

export const readPod = (store: Store["Type"], stats: Stats["Type"], name: string) =>
  Effect.all([
    store.get(name).pipe(Effect.map(Option.getOrUndefined)),
    store.getStatus(name).pipe(Effect.map(Option.getOrUndefined)),
    stats.current(name).pipe(Effect.map(Option.getOrUndefined))
  ]).pipe(Effect.map(([stored, status, s]) => ({ stored, status, row: podRow(stored, status, s) })))

/**
 * The pods table: `snapshot` ({ pods: PodRow[] }), then `pod` (a row that changed), `removed`
 * ({ name }) and `stats` ({ [pod]: { cpuPercent, memoryBytes } }, every sample).
 */
export const podsFeed: Stream.Stream<SseEvent, never, Store | StatusFeed | Stats | TankConfig> = Stream.unwrapScoped(
  Effect.gen(function*() {
    const resync = Duration.millis((yield* TankConfig).reconciler.resyncIntervalMs)
    const store = yield* Store
    const stats = yield* Stats
    const statusNames = yield* Effect.flatMap(StatusFeed, (f) => f.subscribe)
    const revision = yield* store.revision
    const lastEvent = (yield* store.recentEvents(1)).events[0]?.id
    const [pods, statuses, current] = yield* Effect.all([store.list, store.listStatus, stats.all])
    const rows = podRows(pods.pods, statuses.statuses, current)
    const sent = new Map(rows.map((r) => [r.name, JSON.stringify(r)]))
    const rowEvents = (name: string, row: PodRow | undefined): ReadonlyArray<SseEvent> => {
      if (row === undefined) {
        if (!sent.delete(name)) return []
        return [{ event: "removed", data: { name } }]
      }
      const json = JSON.stringify(row)
      if (sent.get(name) === json) return []
      sent.set(name, json)
      return [{ event: "pod", data: row }]
    }
    const named = touched(store, statusNames, revision, lastEvent).pipe(
      Stream.mapEffect((names) =>
        Effect.forEach(names, (name) => Effect.map(readPod(store, stats, name), ({ row }) => rowEvents(name, row)))
      ),
      Stream.mapConcat((batches) => batches.flat())
    )
    const everything = Stream.tick(resync).pipe(
      Stream.drop(1),
      Stream.mapEffect(() => Effect.all([store.list, store.listStatus, stats.all])),
      Stream.mapConcat(([p, st, c]) => {
        const now = new Map(podRows(p.pods, st.statuses, c).map((r) => [r.name, r]))
        return [...new Set([...sent.keys(), ...now.keys()])].flatMap((n) => rowEvents(n, now.get(n)))
      })
    )
    const updates = Stream.merge(named, everything)
    const live = Stream.merge(
      updates,
      stats.changes.pipe(Stream.map((batch): SseEvent => ({ event: "stats", data: statsSummary(batch) })))
    )
    return Stream.concat(
      Stream.make<[SseEvent]>({ event: "snapshot", data: { pods: rows } }),
      live
    )
  }).pipe(Effect.catchAll((e) => Effect.succeed(Stream.make(errorEvent(e)))))
).pipe(Stream.catchAll((e) => Stream.make(errorEvent(e))))

export const specYaml = (stored: StoredPod): string => YAML.stringify(encodePod(stored.spec), { lineWidth: 0 })

export const podDetail = (
  name: string,
  stored: StoredPod | undefined,
  status: PodStatus | undefined,
  row: PodRow
): PodDetail => ({
  name,
  row,
  status,
  spec: stored ? encodePod(stored.spec) : undefined,
  specYaml: stored ? specYaml(stored) : undefined,
  revision: stored?.revision,
  updatedAt: stored ? new Date(stored.updatedAt).toISOString() : undefined,
  containers: stored?.spec.containers.map((c) => c.name) ?? status?.containers?.map((c) => c.name) ?? [],
  ttyContainers: stored?.spec.containers.filter((c) => c.tty).map((c) => c.name) ?? []
})

/** How many of a pod's past events the detail page starts with. */
const EVENT_HISTORY = 200

/**
 * One pod: `pod` (PodDetail, on connect and whenever it changes), `removed` (it is gone), `event`
 * (its events: the recent ones first, then live), `history` ({ points: ChartPoint[] }, the kept
 * stats) and `stats` (a ChartPoint per sample, plus per-container figures).
 */
export const podFeed = (name: string): Stream.Stream<SseEvent, never, Store | StatusFeed | Stats | TankConfig> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const resync = Duration.millis((yield* TankConfig).reconciler.resyncIntervalMs)
      const store = yield* Store
      const stats = yield* Stats
      const statusNames = yield* Effect.flatMap(StatusFeed, (f) => f.subscribe)
      const revision = yield* store.revision
      const recent = (yield* store.recentEvents(5000)).events
      const lastEvent = recent[recent.length - 1]?.id
      const mine = recent.filter((e) => e.pod === name).slice(-EVENT_HISTORY)
      const first = yield* readPod(store, stats, name)
      let sent = first.row ? JSON.stringify(podDetail(name, first.stored, first.status, first.row)) : undefined
      const history = yield* stats.history(name)
      const initial: Array<SseEvent> = [
        first.row
          ? { event: "pod", data: podDetail(name, first.stored, first.status, first.row) }
          : { event: "removed", data: { name } },
        { event: "history", data: { points: history.map(chartPoint) } },
        ...mine.map((e): SseEvent => ({ event: "event", data: e }))
      ]
      // One subscription to the event log, for the events tab and as a reason to re-read the pod.
      const [podEvents, eventTriggers] = yield* Stream.broadcast(
        readableEvents(store, lastEvent).pipe(Stream.filter((e) => e.pod === name)),
        2,
        256
      )
      const detailUpdates = Stream.mergeAll([
        store.watch(revision).pipe(Stream.mapConcat(changedNames)),
        eventTriggers.pipe(Stream.map((e) => e.pod)),
        statusNames,
        Stream.tick(resync).pipe(Stream.drop(1), Stream.as(name))
      ], { concurrency: 4 }).pipe(
        Stream.filter((n) => n === name),
        Stream.debounce("30 millis"),
        Stream.mapEffect(() => readPod(store, stats, name)),
        Stream.mapConcat(({ row, status, stored }): ReadonlyArray<SseEvent> => {
          if (row === undefined) {
            if (sent === undefined) return []
            sent = undefined
            return [{ event: "removed", data: { name } }]
          }
          const detail = podDetail(name, stored, status, row)
          const json = JSON.stringify(detail)
          if (json === sent) return []
          sent = json
          return [{ event: "pod", data: detail }]
        })
      )
      const events = podEvents.pipe(Stream.map((e): SseEvent => ({ event: "event", data: e })))
      const samples = stats.changes.pipe(
        Stream.mapConcat((batch) => batch.filter((s) => s.pod === name)),
        Stream.map((s): SseEvent => ({
          event: "stats",
          data: { point: chartPoint(s), containers: s.containers }
        }))
      )
      return Stream.concat(
        Stream.fromIterable(initial),
        Stream.mergeAll([detailUpdates, events, samples], { concurrency: 3 })
      )
    }).pipe(Effect.catchAll((e) => Effect.succeed(Stream.make(errorEvent(e)))))
  ).pipe(Stream.catchAll((e) => Stream.make(errorEvent(e))))
