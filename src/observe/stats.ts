/**
 * Pod statistics from any process: the pod's cgroups (Cgroups service, v1 or v2) and its pinned
 * network namespace (Network service), found through the runtime's query port (runtime/lookup.ts).
 *
 * - `sample(pod)`: counters now. `stats(pod)`: two samples `intervalMs` apart, so CPU percent and
 *   network rates are filled in. `statsStream(pods?, intervalMs)`: a sample of every (or the given)
 *   running pod each interval, with rates against the previous one — for a live table.
 * - `Stats`: a service that samples every interval in the background and keeps a short history per
 *   pod in a ring buffer (nothing persists; a new process starts empty).
 */
import { Context, Duration, Effect, Layer, Option, PubSub, Ref, Schedule, Schema, Stream } from "effect"
import { performance } from "node:perf_hooks"
import { Cgroups } from "../cgroups/Cgroups.js"
import type { TankConfig } from "../config/Config.js"
import { Network } from "../net/Network.js"
import { lookup, runs, type RunView } from "../runtime/lookup.js"
import type { PodStats, RawSample } from "./statsModel.js"
import { Ring, toStats } from "./statsModel.js"

export class PodNotRunning extends Schema.TaggedError<PodNotRunning>()("PodNotRunning", {
  pod: Schema.String,
  /** What showed it (no pod record, its cgroup or netns gone). */
  reason: Schema.optional(Schema.String)
}) {
  override get message() {
    return `pod ${this.pod} is not running${this.reason ? ` (${this.reason})` : ""}`
  }
}

export type StatsDeps = TankConfig | Cgroups | Network

/** The runs of the pods that run on this machine now (a run whose record cannot be read is left out). */
export const runningPods: Effect.Effect<ReadonlyArray<RunView>, never, TankConfig> = Effect.map(runs, (r) => r.running)

/** The run of a running pod (PodNotRunning otherwise), for stats and top. */
export const recordOf = (pod: string) =>
  lookup(pod).pipe(
    Effect.catchTag("RecordUnreadable", (e) => Effect.fail(new PodNotRunning({ pod, reason: e.message }))),
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new PodNotRunning({ pod })),
      onSome: (r) =>
        r.phase === "starting" ? Effect.fail(new PodNotRunning({ pod, reason: "starting" })) : Effect.succeed(r)
    }))
  )

/** Counters of a running pod now. A pod that stops meanwhile fails with PodNotRunning. */
export const sampleRecord = (record: RunView): Effect.Effect<RawSample, PodNotRunning, Cgroups | Network> =>
  Effect.gen(function*() {
    const cgroups = yield* Cgroups
    const network = yield* Network
    const pod = record.pod
    const group = record.cgroup
    if (group === undefined) return yield* new PodNotRunning({ pod, reason: "its run has no cgroup yet" })
    const gone = (e: { readonly message: string }) => new PodNotRunning({ pod, reason: e.message })
    const [cgroup, containers, interfaces] = yield* Effect.all([
      cgroups.stats({ pod: group }).pipe(Effect.mapError(gone)),
      Effect.forEach(record.containers, (c) =>
        cgroups.stats({ pod: group, container: c.name }).pipe(
          Effect.map((s) => ({ name: c.name, cgroup: s })),
          Effect.mapError(gone)
        )),
      record.netns === undefined
        ? Effect.succeed(undefined)
        : network.interfaces(record.netns).pipe(Effect.mapError(gone))
    ], { concurrency: "unbounded" })
    return {
      pod,
      at: new Date(),
      mono: performance.now(),
      run: `${record.startedAt}/${record.containers.map((c) => c.pid).join(",")}`,
      cgroup,
      containers,
      network: interfaces?.map((i) => ({
        name: i.name,
        rxBytes: i.rxBytes,
        txBytes: i.txBytes,
        rxPackets: i.rxPackets,
        txPackets: i.txPackets
      }))
    }
  })

export const sample = (pod: string): Effect.Effect<RawSample, PodNotRunning, StatsDeps> =>
  Effect.flatMap(recordOf(pod), sampleRecord)

/** Stats of a running pod, rates measured over `intervalMs` (default 1 s). */
export const stats = (
  pod: string,
  options: { readonly intervalMs?: number } = {}
): Effect.Effect<PodStats, PodNotRunning, StatsDeps> =>
  Effect.gen(function*() {
    const first = yield* sample(pod)
    yield* Effect.sleep(Duration.millis(options.intervalMs ?? 1000))
    return toStats(yield* sample(pod), first)
  })

/** Samples the given pods (default: every running pod), keeping the previous sample per pod. */
const sampler = Effect.gen(function*() {
  const prev = yield* Ref.make(new Map<string, RawSample>())
  return (pods?: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const records = pods === undefined
        ? yield* runningPods
        : (yield* Effect.forEach(pods, (p) => Effect.option(recordOf(p)))).flatMap(Option.toArray)
      const samples = yield* Effect.forEach(records, (r) => Effect.option(sampleRecord(r)), { concurrency: 8 })
      const before = yield* Ref.get(prev)
      const next = new Map<string, RawSample>()
      const out: Array<PodStats> = []
      for (const s of samples) {
        if (Option.isNone(s)) continue
        next.set(s.value.pod, s.value)
        out.push(toStats(s.value, before.get(s.value.pod)))
      }
      yield* Ref.set(prev, next)
      return out
    })
})

/**
 * Every `intervalMs` (default 2 s) the stats of the given pods (default: all running ones; pods
 * that stop drop out, new ones appear). The first emission comes after one interval, with rates.
 */
export const statsStream = (
  pods?: ReadonlyArray<string>,
  intervalMs = 2000
): Stream.Stream<ReadonlyArray<PodStats>, never, StatsDeps> =>
  Stream.unwrap(Effect.gen(function*() {
    const take = yield* sampler
    yield* take(pods)
    return Stream.repeatEffectWithSchedule(
      Effect.zipRight(Effect.sleep(Duration.millis(intervalMs)), take(pods)),
      Schedule.forever
    )
  }))

export interface StatsService {
  /** The newest stats of a pod (None before its first two samples or when it is not running). */
  readonly current: (pod: string) => Effect.Effect<Option.Option<PodStats>>
  /** The pod's recent stats, oldest first (at most `historySize`). */
  readonly history: (pod: string) => Effect.Effect<ReadonlyArray<PodStats>>
  /** The newest stats of every running pod. */
  readonly all: Effect.Effect<ReadonlyArray<PodStats>>
  /** Each batch of samples (every running pod) as it is taken, from subscription on (for live views). */
  readonly changes: Stream.Stream<ReadonlyArray<PodStats>>
}

export interface StatsOptions {
  /** Sampling interval (default 2 s). */
  readonly intervalMs?: number
  /** Samples kept per pod (default 300: 10 minutes at 2 s). */
  readonly historySize?: number
}

export class Stats extends Context.Tag("tank/Stats")<Stats, StatsService>() {
  /** Samples in a background fiber for as long as the layer lives. */
  static readonly layer = (options: StatsOptions = {}): Layer.Layer<Stats, never, StatsDeps> =>
    Layer.scoped(
      Stats,
      Effect.gen(function*() {
        const size = options.historySize ?? 300
        const rings = new Map<string, Ring<PodStats>>()
        const latest = yield* Ref.make<ReadonlyArray<PodStats>>([])
        // Sliding: a slow subscriber skips old batches instead of holding the sampler up.
        const hub = yield* PubSub.sliding<ReadonlyArray<PodStats>>(2)
        yield* statsStream(undefined, options.intervalMs ?? 2000).pipe(
          Stream.runForEach((batch) =>
            Effect.sync(() => {
              const live = new Set(batch.map((s) => s.pod))
              for (const name of rings.keys()) if (!live.has(name)) rings.delete(name)
              for (const s of batch) {
                let ring = rings.get(s.pod)
                // A restarted pod starts a new history (its counters started again).
                if (ring?.last && ring.last.cpuPercent !== undefined && s.cpuPercent === undefined) ring.clear()
                if (!ring) rings.set(s.pod, ring = new Ring(size))
                ring.push(s)
              }
            }).pipe(Effect.zipRight(Ref.set(latest, batch)), Effect.zipRight(PubSub.publish(hub, batch)))
          ),
          Effect.forkScoped
        )
        return {
          current: (pod) => Effect.sync(() => Option.fromNullable(rings.get(pod)?.last)),
          history: (pod) => Effect.sync(() => rings.get(pod)?.toArray() ?? []),
          all: Ref.get(latest),
          changes: Stream.fromPubSub(hub)
        }
      })
    )
}
