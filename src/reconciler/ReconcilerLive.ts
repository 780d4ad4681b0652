/**
 * The live Reconciler: boot (live restore), the pass loop, and shutdown.
 *
 * Boot: a worker per desired pod adopts what a previous agent left running (same host pid, restart
 * count and backoff kept from the stored status); then pods deleted while no agent ran are purged
 * and their statuses removed, and other leftovers swept. After that, passes run on every change-feed entry
 * (debounced) and every resync interval. Shutdown leaves the pods running for the next agent, or
 * with `stopPodsOnExit` stops them all, concurrently.
 *
 * Unreadable stored records (InvalidRecord) never stop convergence of the other pods:
 * - an invalid pod is held (plan.ts): never started, and a run of it is neither stopped nor replaced
 *   (a worker keeps its last valid spec; a run adopted from nothing — the record was already bad at
 *   boot — is left to its monitors, unsupervised). Each is reported once per revision: an "invalid"
 *   event and a warning. Re-applying it replaces the run as any spec change does (a run left to its
 *   monitors is adopted first); deleting it stops and purges the run.
 * - an unreadable status is the agent's own data: rewritten by the pod's worker, else deleted; at
 *   boot it counts as no status (the pod's run is restarted fresh, as when a status is missing).
 */
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Queue,
  Ref,
  Schedule,
  Scope,
  Stream
} from "effect"
import { Prober } from "../probes/Prober.js"
import { Runtime, type TeardownFailed } from "../runtime/Runtime.js"
import type { PodStatus } from "../store/status.js"
import { type InvalidRecord, Store, type StoredPod, StoreError } from "../store/Store.js"
import { makePermits } from "./permits.js"
import { plan, podKey } from "./plan.js"
import {
  NotFound,
  Reconciler,
  type ReconcilerConfigInput,
  type ReconcilerService,
  resolveConfig
} from "./Reconciler.js"
import type { Env } from "./supervise.js"
import { makeWorker, type Worker } from "./worker.js"

/** How long to wait before re-opening a change feed that failed. */
const WATCH_RETRY = Duration.seconds(1)
/**
 * How long a pass waits for its stops before starting anyway. A stop is bounded by the pod's grace
 * period; this only keeps a stuck stop (a runtime bug) from wedging every other pod's convergence.
 * The stop itself goes on in its worker.
 */
const STOP_WAIT = Duration.minutes(2)

export const make = (input: ReconcilerConfigInput = {}) =>
  Effect.gen(function*() {
    const config = resolveConfig(input)
    const store = yield* Store
    const runtime = yield* Runtime
    const env: Env = {
      store,
      runtime,
      config,
      startPermits: yield* makePermits(config.startConcurrency),
      leaving: yield* Ref.make(false),
      prober: Option.getOrUndefined(yield* Effect.serviceOption(Prober))
    }
    const workers = new Map<string, Worker>()
    const workersScope = yield* Scope.make()
    const passLock = yield* Effect.makeSemaphore(1)

    // Shutdown, registered first so that it runs last, after the loop fibers below are gone.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Ref.set(env.leaving, !config.stopPodsOnExit)
        yield* Fiber.interruptAll([...workers.values()].map((w) => w.fiber))
        yield* Scope.close(workersScope, Exit.void)
      })
    )

    // canonicalJson per pod per pass is cheap, but a revision's spec never changes: remember it.
    const specKeys = new Map<string, { readonly revision: number; readonly key: string }>()
    const specKeyOf = (pod: StoredPod) => {
      const hit = specKeys.get(pod.name)
      if (hit?.revision === pod.revision) return hit.key
      const key = podKey(pod)
      specKeys.set(pod.name, { revision: pod.revision, key })
      return key
    }

    const spawn = (pod: StoredPod, specKey: string, prior?: Option.Option<PodStatus>) =>
      makeWorker(env, pod, specKey, prior === undefined ? { _tag: "Fresh" } : { _tag: "Adopt", prior }, workersScope)
        .pipe(Effect.tap((w) => Effect.sync(() => workers.set(pod.name, w))))

    // Invalid pods without a worker: what a previous agent left running of them is not ours to stop
    // until the record says so (a re-apply adopts it, a delete purges it).
    const unsupervised = new Set<string>()
    // The revision each invalid pod was last reported at, so each bad write is reported once.
    const reported = new Map<string, number | undefined>()
    const report = (records: ReadonlyArray<InvalidRecord>) =>
      Effect.gen(function*() {
        const names = new Set(records.map((r) => r.key))
        for (const name of reported.keys()) if (!names.has(name)) reported.delete(name)
        for (const r of records) {
          if (reported.has(r.key) && reported.get(r.key) === r.revision) continue
          reported.set(r.key, r.revision)
          const what = workers.has(r.key)
            ? "its run is kept as it is until the record is repaired, re-applied or removed"
            : "it is not started"
          yield* Effect.logWarning(`${r.message}; ${what} (tank doctor lists and removes invalid records)`)
          yield* store.appendEvent({ at: new Date().toISOString(), pod: r.key, type: "invalid", message: r.message })
            .pipe(Effect.catchAll((e) => Effect.logWarning(`event invalid of pod ${r.key} not written: ${e.message}`)))
        }
      })

    /** A deleted pod is gone (its status removed): watchers in other processes learn it from this event. */
    const removedEvent = (name: string) =>
      store.appendEvent({ at: new Date().toISOString(), pod: name, type: "removed" }).pipe(
        Effect.catchAll((e) => Effect.logWarning(`event removed of pod ${name} not written: ${e.message}`))
      )

    /** An unreadable status: the pod's worker writes it again; without a worker nothing is known. */
    const repairStatuses = (records: ReadonlyArray<InvalidRecord>) =>
      Effect.forEach(records, (r) => {
        const w = workers.get(r.key)
        return w !== undefined && w.recorder.written() !== undefined
          ? w.recorder.rewrite.pipe(Effect.zipRight(Effect.logInfo(`rewrote the unreadable status of pod ${r.key}`)))
          : store.deleteStatus(r.key).pipe(
            Effect.zipRight(Effect.logInfo(`deleted the unreadable status of pod ${r.key}`)),
            Effect.catchAll((e) => Effect.logWarning(`unreadable status of pod ${r.key} not deleted: ${e.message}`))
          )
      }, { discard: true })

    /** A teardown of a gone pod left something behind: logged by the runtime, kept in the pod's events. */
    const teardownFailed = (name: string) => (e: TeardownFailed) =>
      store.appendEvent({ at: new Date().toISOString(), pod: name, type: "teardown-failed", message: e.message }).pipe(
        Effect.catchAll((w) => Effect.logWarning(`event teardown-failed of pod ${name} not written: ${w.message}`))
      )

    // --- boot: live restore -------------------------------------------------------------------
    const fromRevision = yield* store.revision
    const { invalid: invalidAtBoot, pods: desired } = yield* store.list
    const observedAtBoot = yield* store.listStatus
    const statuses = new Map(observedAtBoot.statuses.map((s) => [s.name, s]))
    yield* Effect.forEach(
      desired,
      (pod) => spawn(pod, specKeyOf(pod), Option.fromNullable(statuses.get(pod.name))),
      { discard: true }
    )
    yield* Effect.forEach(workers.values(), (w) => Deferred.await(w.ready), { discard: true })
    for (const r of invalidAtBoot) unsupervised.add(r.key)
    yield* report(invalidAtBoot)
    // Pods deleted while no agent ran: those with a stored status were ours, so they are purged
    // (volumes, logs) like any delete; other leftovers are only swept.
    const names = new Set([...desired.map((p) => p.name), ...invalidAtBoot.map((r) => r.key)])
    const hadStatus = new Set([...statuses.keys(), ...observedAtBoot.invalid.map((r) => r.key)])
    const deleted = [...hadStatus].filter((n) => !names.has(n))
    const strays = (yield* runtime.leftovers).filter((n) => !names.has(n) && !hadStatus.has(n))
    // Workers write their own statuses as they adopt; an unreadable one left is an invalid pod's.
    yield* repairStatuses(observedAtBoot.invalid.filter((r) => names.has(r.key) && !workers.has(r.key)))
    yield* Effect.forEach(deleted, (n) =>
      runtime.purge(n).pipe(
        Effect.catchAll(teardownFailed(n)),
        Effect.zipRight(store.deleteStatus(n)),
        Effect.zipRight(removedEvent(n)),
        Effect.zipRight(Effect.logInfo(`purged pod ${n}, deleted while no agent ran`))
      ), { concurrency: 4, discard: true })
    yield* Effect.forEach(strays, (n) =>
      runtime.sweep(n).pipe(
        Effect.zipRight(Effect.logInfo(`swept leftovers of pod ${n}`)),
        Effect.catchAll(teardownFailed(n))
      ), {
      concurrency: 4,
      discard: true
    })

    // --- passes ---------------------------------------------------------------------------------
    const trigger = yield* Queue.sliding<void>(1)
    const poke = Queue.offer(trigger, undefined).pipe(Effect.asVoid)

    /**
     * Deletions under way, by pod name. A pass starts them and goes on (the next pass need not wait
     * for this one's grace periods: deletes that arrive meanwhile start at once); a name whose
     * deletion is under way is left out of passes until it is done (its worker still owns the run),
     * and its end triggers a pass when one was re-applied meanwhile (`deferred`: it then starts
     * afresh). Starts still wait for
     * every deletion under way: a pod giving up an address is gone before the one taking it starts.
     */
    const removing = new Map<string, Fiber.RuntimeFiber<void>>()
    /**
     * Names a pass left out while their deletion was under way although the store had them again (a
     * re-apply meanwhile): only their removal's end triggers a pass. A pass for every removal's end
     * would also set the debounce window, delaying an apply that follows a delete by ~10 ms, and
     * cost a full list per deleted pod.
     */
    const deferred = new Set<string>()
    const removalsDone = (fibers: ReadonlyArray<Fiber.RuntimeFiber<void>>) =>
      Effect.forEach(fibers, Fiber.await, { concurrency: "unbounded", discard: true })

    // Statuses are checked for unreadable ones at most once per resync interval (a full read).
    let lastRepairAt = yield* Clock.currentTimeMillis
    const pass = passLock.withPermits(1)(Effect.gen(function*() {
      // A worker that died (a bug) is forgotten, so the pass starts the pod afresh.
      for (const [name, w] of workers) {
        if (Option.isSome(yield* Fiber.poll(w.fiber))) {
          workers.delete(name)
        }
      }
      const { invalid, pods } = yield* store.list
      const byName = new Map(pods.map((p) => [p.name, p]))
      const held = new Set(invalid.map((r) => r.key))
      for (const name of specKeys.keys()) {
        if (!byName.has(name)) {
          specKeys.delete(name)
        }
      }
      const busy = new Set(removing.keys())
      // Marked in the same synchronous block that reads `removing`: a removal ending before it is
      // not busy (this pass handles its name), one ending after finds its name here.
      for (const name of busy) if (byName.has(name) || held.has(name)) deferred.add(name)
      const p = plan(
        pods.filter((pod) => !busy.has(pod.name)).map((pod) => ({
          name: pod.name,
          revision: pod.revision,
          specKey: specKeyOf(pod)
        })),
        new Map([...workers].filter(([name]) => !busy.has(name)).map(([name, w]) => [name, { specKey: w.specKey() }])),
        held
      )
      yield* Effect.logDebug(
        `pass: ${pods.length} pods; start ${p.start.length}, stop ${p.stop.length}, replace ${p.replace.length}`
      )
      yield* report(invalid)
      // Deletions start and run on their own (see `removing`); the worker is forgotten once it ended.
      for (const name of p.stop) {
        const w = workers.get(name)!
        const fiber = yield* w.remove.pipe(
          Effect.ensuring(Effect.suspend(() => {
            if (workers.get(name) === w) workers.delete(name)
            removing.delete(name)
            return deferred.delete(name) ? poke : Effect.void
          })),
          Effect.forkIn(workersScope)
        )
        removing.set(name, fiber)
      }
      // The stop halves of replaces, and (when anything starts) every deletion under way, before
      // the gate opens for the starts.
      const gate = yield* Deferred.make<void>()
      const starting = p.start.length > 0 || p.replace.length > 0
      const stops = [
        ...p.replace.map((d) => workers.get(d.name)!.update(byName.get(d.name)!, d.specKey, { gate })),
        ...(starting ? [removalsDone([...removing.values()])] : [])
      ]
      // The replaced workers wait on the gate before starting; open it even if the pass is interrupted.
      // (Nothing to wait for, the usual case: no timer and no fibers for it.)
      yield* (stops.length === 0 ? Effect.void : Effect.all(stops, { concurrency: "unbounded", discard: true }).pipe(
        Effect.timeoutTo({
          duration: STOP_WAIT,
          onSuccess: () => Effect.void,
          onTimeout: () => Effect.logWarning(`stops still running after ${Duration.format(STOP_WAIT)}; starting anyway`)
        }),
        Effect.flatten
      )).pipe(Effect.ensuring(Deferred.succeed(gate, undefined)))
      yield* Effect.forEach(p.start, (d) => {
        if (!unsupervised.delete(d.name)) return spawn(byName.get(d.name)!, d.specKey)
        // Valid again after a boot with its record unreadable: adopt what survives of its run, as at
        // boot (the supervisor restarts it if the stored status is not about this spec).
        return store.getStatus(d.name).pipe(
          Effect.catchTag("InvalidRecord", () => Effect.succeedNone),
          Effect.flatMap((prior) => spawn(byName.get(d.name)!, d.specKey, prior))
        )
      }, { discard: true })
      yield* Effect.forEach(p.keep, (d) => {
        const w = workers.get(d.name)!
        return w.revision() === d.revision ? Effect.void : w.notify(byName.get(d.name)!, d.specKey)
      }, { discard: true })
      // Invalid pods whose worker is gone (it died) are now unsupervised too; unsupervised pods that
      // were deleted are purged like any pod deleted while no agent ran.
      for (const name of held) if (!workers.has(name)) unsupervised.add(name)
      const gone = [...unsupervised].filter((n) => !held.has(n) && !byName.has(n))
      yield* Effect.forEach(gone, (n) =>
        runtime.purge(n).pipe(
          Effect.catchAll(teardownFailed(n)),
          Effect.zipRight(store.deleteStatus(n)),
          Effect.zipRight(removedEvent(n)),
          Effect.zipRight(Effect.sync(() => unsupervised.delete(n))),
          Effect.zipRight(Effect.logInfo(`purged pod ${n}, deleted while its record was invalid`))
        ), { discard: true })
      const now = yield* Clock.currentTimeMillis
      if (now - lastRepairAt >= config.resyncIntervalMs) {
        lastRepairAt = now
        yield* repairStatuses((yield* store.listStatus).invalid)
      }
    }))

    // Leading edge: a change after a quiet spell is acted on at once (apply → running latency);
    // changes arriving within `debounceMs` of the last pass wait out the rest of that window, so a
    // burst of writes converges in few passes.
    let lastPassAt = Number.NEGATIVE_INFINITY
    const passLoop = Effect.gen(function*() {
      yield* Queue.take(trigger)
      const since = (yield* Clock.currentTimeMillis) - lastPassAt
      if (since < config.debounceMs) yield* Effect.sleep(Duration.millis(config.debounceMs - since))
      yield* Queue.takeAll(trigger)
      lastPassAt = yield* Clock.currentTimeMillis
      // Whatever goes wrong in one pass (even a bug), the loop lives on: the next trigger retries.
      yield* pass.pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logWarning("reconcile pass failed", cause)
        )
      )
    }).pipe(Effect.forever)

    const watchLoop = Effect.suspend(() => {
      let cursor = fromRevision
      return Stream.runForEach(
        Stream.suspend(() => store.watch(cursor)),
        (change) =>
          Effect.sync(() => (cursor = change.revision)).pipe(
            Effect.zipRight(Effect.logDebug(`change feed: ${change._tag} at revision ${change.revision}`)),
            Effect.zipRight(poke)
          )
      ).pipe(
        Effect.catchAll((e) => Effect.logWarning(`change feed failed, reopening: ${e.message}`)),
        Effect.zipRight(poke),
        Effect.zipRight(Effect.sleep(WATCH_RETRY)),
        Effect.forever
      )
    })

    const resyncLoop = poke.pipe(Effect.repeat(Schedule.spaced(Duration.millis(config.resyncIntervalMs))))

    yield* Effect.forkScoped(passLoop)
    yield* Effect.forkScoped(watchLoop)
    yield* Effect.forkScoped(resyncLoop)

    const service: ReconcilerService = {
      // A pass, and the deletions it started (or found under way) done, bounded like a pass's stops.
      sync: pass.pipe(
        Effect.zipRight(
          Effect.suspend(() => removalsDone([...removing.values()])).pipe(
            Effect.timeoutTo({
              duration: STOP_WAIT,
              onSuccess: () => Effect.void,
              onTimeout: () => Effect.logWarning(`deletions still running after ${Duration.format(STOP_WAIT)}`)
            }),
            Effect.flatten
          )
        )
      ),
      restart: (name) =>
        Effect.gen(function*() {
          const pod = yield* store.get(name).pipe(
            Effect.catchTag("InvalidRecord", (r) => Effect.fail(new StoreError({ op: "restart", message: r.message })))
          )
          if (Option.isNone(pod)) return yield* new NotFound({ pod: name })
          const w = workers.get(name)
          if (w === undefined || Option.isSome(yield* Fiber.poll(w.fiber))) return yield* pass
          yield* w.update(pod.value, specKeyOf(pod.value), { restart: true })
        }),
      observed: Effect.sync(() =>
        [...workers.values()].flatMap((w) => w.recorder.written() ?? []).sort((a, b) =>
          a.name < b.name ? -1 : a.name > b.name ? 1 : 0
        )
      )
    }
    return service
  })

/** The Reconciler, running for the lifetime of the layer; needs a Store and a Runtime. */
export const layer = (config?: ReconcilerConfigInput) => Layer.scoped(Reconciler, make(config))
