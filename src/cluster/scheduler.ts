/**
 * The scheduler loop (run by the elected agent: `election.lead(runScheduler(...))`): whenever the
 * desired pods or the nodes change, and at least every `resyncIntervalMs`, read both, decide with
 * `place` (placement.ts) and carry the decisions out:
 *
 * - Bind: `Store.bind(pod, node, { expectRevision, event })`: the binding and a "scheduled" event naming
 *   the node, in one transaction. A RevisionConflict (the pod changed since it was read) is skipped: the
 *   change wakes the loop again and the next pass decides on the new spec.
 * - Lost: status phase "lost" with the node and a reason, and a "lost" event, once per outage.
 * - Unschedulable: status phase "unschedulable" with the reason and an "unschedulable" event (when
 *   the reason changed), unbinding the pod if its node no longer suits its spec. A reschedulable pod
 *   stranded on its dead node (no other node fits) keeps that binding and gets the status with that
 *   node, as a lost one does (its node, back, adopts what still runs).
 * - Nodes seen not ready without a mark get `markNotReady(now)`, so the grace period survives a change
 *   of leader, and an "unknown" event per pod bound there (readers show such pods "unknown" from the
 *   moment the node's lease ends: Api.statusReport); the loop also wakes when the next node crosses
 *   the grace period.
 * - Statuses of deleted pods that no agent will remove (written by the scheduler, or by a node that is
 *   not ready) are deleted, and so are unreadable statuses of pods no longer declared.
 * - Pods whose stored record cannot be read (InvalidRecord) are neither placed nor moved: they stay
 *   where they are until the record is repaired or removed.
 *
 * Errors of one pass (etcd unreachable, ...) are logged and the pass retried with backoff; the loop
 * itself never fails, so a leader does not resign over a hiccup.
 */
import { Clock, Duration, Effect, Option, Queue, Schedule, Stream } from "effect"
import type { NewPodEvent, PodStatus } from "../store/status.js"
import { Store, type StoredPod } from "../store/Store.js"
import { Nodes, type NodeState } from "./Cluster.js"
import { type Decision, place } from "./placement.js"

export interface SchedulerOptions {
  /** How long a node may stay not ready before its pods are moved or reported lost. */
  readonly lostAfterSeconds: number
  /** This agent's node name (for the log). */
  readonly self: string
  /** A full pass at least this often, whatever the change feeds say. Default 5000. */
  readonly resyncIntervalMs?: number
}

/** Binds in flight at once: placing hundreds of pods is bound by etcd round trips, not by CPU. */
const BIND_CONCURRENCY = 16

const iso = (ms: number) => new Date(ms).toISOString()

export const runScheduler = (options: SchedulerOptions): Effect.Effect<never, never, Store | Nodes> =>
  Effect.gen(function*() {
    const store = yield* Store
    const nodes = yield* Nodes
    const resync = options.resyncIntervalMs ?? 5000
    const wake = yield* Queue.sliding<void>(1)
    const poke = Queue.offer(wake, undefined)

    // Any change of pods or nodes wakes the loop; a broken feed is logged and subscribed to again.
    const follow = <A, E>(what: string, feed: Effect.Effect<Stream.Stream<A, E>>) =>
      Effect.flatMap(feed, (s) => Stream.runForEach(s, () => poke)).pipe(
        Effect.tapErrorCause((c) => Effect.logWarning(`scheduler: ${what} feed failed; following it again`, c)),
        Effect.zipRight(poke),
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
        Effect.forever
      )
    yield* Effect.forkScoped(
      follow(
        "store",
        store.revision.pipe(Effect.map((rev) => store.watch(rev)), Effect.orElseSucceed(() => store.watch()))
      )
    )
    yield* Effect.forkScoped(follow("nodes", Effect.succeed(nodes.watch)))

    const pass = Effect.gen(function*() {
      // Statuses after pods: a status for a pod missing from `pods` is then about a deleted pod.
      const [{ invalid, pods }, states] = yield* Effect.all([store.list, nodes.list], { concurrency: 2 })
      const observed = yield* store.listStatus
      const statuses = new Map(observed.statuses.map((s) => [s.name, s]))
      const now = yield* Clock.currentTimeMillis
      yield* markDown(states, pods, now)
      const { decisions, wakeAt } = place({ pods, nodes: states, now, lostAfterMs: options.lostAfterSeconds * 1000 })
      yield* carryOut(decisions, statuses, new Map(pods.map((p) => [p.name, p.revision])), now)
      const declared = new Set([...pods.map((p) => p.name), ...invalid.map((r) => r.key)])
      yield* sweep(statuses, declared, states)
      yield* Effect.forEach(
        observed.invalid.filter((r) => !declared.has(r.key)),
        (r) => store.deleteStatus(r.key),
        { discard: true }
      )
      return wakeAt
    })

    /**
     * Statuses of deleted pods that no agent will clean up: those the scheduler wrote (no node:
     * "unschedulable") and those of a node that is not ready ("lost", or whatever its agent
     * last wrote). A ready node's agent removes its own once it has stopped the pod.
     */
    const sweep = (
      statuses: ReadonlyMap<string, PodStatus>,
      declared: ReadonlySet<string>,
      states: ReadonlyArray<NodeState>
    ) => {
      const ready = new Set(states.filter((s) => s.ready).map((s) => s.info.name))
      const orphans = [...statuses.values()].filter((s) =>
        !declared.has(s.name) && (s.node === undefined || !ready.has(s.node))
      )
      return Effect.forEach(orphans, (s) => store.deleteStatus(s.name), {
        concurrency: BIND_CONCURRENCY,
        discard: true
      })
    }

    const markDown = (states: ReadonlyArray<NodeState>, pods: ReadonlyArray<StoredPod>, now: number) =>
      Effect.forEach(
        states.filter((s) => !s.ready && s.notReadySince === undefined),
        (s) => {
          const name = s.info.name
          const message = `node ${name} is not ready${
            s.lastHeartbeat ? ` (last heartbeat ${s.lastHeartbeat})` : ""
          }: what runs there is unknown`
          const there = pods.filter((p) => (p.node ?? p.spec.node) === name)
          return nodes.markNotReady(name, iso(now)).pipe(
            Effect.zipRight(Effect.logInfo(`scheduler: ${message}`)),
            Effect.zipRight(Effect.forEach(
              there,
              (p) => store.appendEvent({ at: iso(now), pod: p.name, type: "unknown", message }),
              { concurrency: BIND_CONCURRENCY, discard: true }
            ))
          )
        },
        { discard: true }
      )

    const carryOut = (
      decisions: ReadonlyArray<Decision>,
      statuses: ReadonlyMap<string, PodStatus>,
      revisions: ReadonlyMap<string, number>,
      now: number
    ) =>
      Effect.forEach(decisions, (d) => act(d, statuses.get(d.pod), revisions.get(d.pod) ?? 0, now), {
        concurrency: BIND_CONCURRENCY,
        discard: true
      })

    const bind = (pod: string, node: string | null, revision: number, event?: Omit<NewPodEvent, "pod">) =>
      store.bind(pod, node, { expectRevision: revision, ...(event ? { event } : {}) }).pipe(
        Effect.map(Option.isSome),
        // Changed (or became unreadable) since it was read: the next pass decides again.
        Effect.catchTags({ RevisionConflict: () => Effect.succeed(false), InvalidRecord: () => Effect.succeed(false) })
      )

    const act = (d: Decision, status: PodStatus | undefined, specRevision: number, now: number) => {
      switch (d._tag) {
        case "Bind":
          // The "scheduled" event goes in the binding's transaction: the bound node's agent sees the
          // binding only after it, so its "starting" never precedes it in `tank events`.
          return bind(d.pod, d.node, d.revision, {
            at: iso(now),
            type: "scheduled",
            message: d.from === null
              ? `bound to node ${d.node} (${d.reason})`
              : `moved from node ${d.from} to node ${d.node} (${d.reason})`
          }).pipe(
            Effect.flatMap((bound) =>
              bound ? Effect.logInfo(`scheduler: pod ${d.pod} → node ${d.node} (${d.reason})`) : Effect.void
            )
          )
        case "Lost":
          // Once per outage: a status already saying lost on that node is left alone.
          return status?.phase === "lost" && status.node === d.node
            ? Effect.void
            : store.putStatus({
              name: d.pod,
              phase: "lost",
              restarts: status?.restarts ?? 0,
              specRevision: specRevision,
              node: d.node,
              reason: d.reason,
              updatedAt: iso(now)
            }).pipe(
              Effect.zipRight(store.appendEvent({ at: iso(now), pod: d.pod, type: "lost", message: d.reason })),
              Effect.zipRight(Effect.logWarning(`scheduler: pod ${d.pod} lost (${d.reason})`))
            )
        case "Unschedulable": {
          const unbind = d.from !== d.stays ? bind(d.pod, d.stays, d.revision) : Effect.succeed(true)
          // Once per reason: the same verdict again writes nothing.
          const write = !(status?.phase === "unschedulable" && status.reason === d.reason)
          return unbind.pipe(Effect.flatMap((ok) =>
            ok && write
              ? store.putStatus({
                name: d.pod,
                phase: "unschedulable",
                restarts: status?.restarts ?? 0,
                specRevision,
                // Stranded on its dead node: that node's, as for a lost pod (back, it adopts the run).
                ...(d.stays !== null ? { node: d.stays } : {}),
                reason: d.reason,
                updatedAt: iso(now)
              }).pipe(
                Effect.zipRight(
                  store.appendEvent({ at: iso(now), pod: d.pod, type: "unschedulable", message: d.reason })
                ),
                Effect.zipRight(Effect.logInfo(`scheduler: pod ${d.pod} unschedulable (${d.reason})`))
              )
              : Effect.void
          ))
        }
      }
    }

    const sleepUntil = (wakeAt: number | undefined) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const delay = wakeAt === undefined ? resync : Math.max(0, Math.min(resync, wakeAt - now))
        yield* Effect.race(Queue.take(wake), Effect.sleep(Duration.millis(delay)))
      })

    yield* Effect.logInfo(`scheduler: running on node ${options.self}`)
    return yield* pass.pipe(
      Effect.tapErrorCause((c) => Effect.logWarning("scheduler: pass failed; retrying", c)),
      Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
      // The schedule never ends, so this never fires; it tells the compiler so.
      Effect.orDie,
      Effect.flatMap(sleepUntil),
      Effect.forever
    )
  }).pipe(Effect.scoped)
