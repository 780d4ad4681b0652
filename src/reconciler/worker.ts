/**
 * The pod worker (kubelet style): one fiber per pod, fed through a latest-only mailbox, so a burst
 * of updates coalesces into one. It owns the pod's supervision fiber (`supervise.ts`) and moves
 * forward only: a spec change or a restart stops the current run, then starts a fresh one; a
 * delete stops it, purges what outlives runs (volumes, logs), removes the status and ends the worker.
 */
import type { Scope } from "effect"
import { Deferred, Effect, Fiber, Option, Queue, Ref } from "effect"
import type { PodStatus } from "../store/status.js"
import type { StoredPod } from "../store/Store.js"
import { podKey } from "./plan.js"
import { stopGraceMs } from "./Reconciler.js"
import { isoAt, makeRecorder, now, type Recorder, without } from "./record.js"
import { type Begin, bodyOf, type Env, supervise } from "./supervise.js"

interface Intent {
  /** `undefined`: the pod was deleted. */
  readonly pod: StoredPod | undefined
  readonly specKey: string
  /** Bumped by `restart`. */
  readonly restartToken: number
  /** Completed once the intent's stop half is done (or none was needed). */
  readonly waiters: ReadonlyArray<Deferred.Deferred<void>>
  /** Held by the pass until every stop of the pass is done: stops before starts. */
  readonly gate: Deferred.Deferred<void> | undefined
}

export interface Worker {
  readonly name: string
  /** Spec identity of the latest desired state sent to this worker. */
  readonly specKey: () => string
  readonly revision: () => number
  /** Send a new desired state; returns once its stop half (if any) is done. */
  readonly update: (
    pod: StoredPod,
    specKey: string,
    options?: { readonly gate?: Deferred.Deferred<void>; readonly restart?: boolean }
  ) => Effect.Effect<void>
  /** Send an update without waiting (a new revision of the same spec). */
  readonly notify: (pod: StoredPod, specKey: string) => Effect.Effect<void>
  /** The pod was deleted: stop it, remove its status, end the worker; returns when done. */
  readonly remove: Effect.Effect<void>
  readonly fiber: Fiber.RuntimeFiber<void>
  /** Completed once the worker has adopted (or failed to adopt) its run at agent start. */
  readonly ready: Deferred.Deferred<void>
  readonly recorder: Recorder
}

// "unknown": a run whose record cannot be read may well be running; a delete stops it.
const LIVE_PHASES: ReadonlySet<PodStatus["phase"]> = new Set(["pulling", "starting", "running", "unknown"])

export const makeWorker = (
  env: Env,
  pod: StoredPod,
  specKey: string,
  begin: Begin,
  scope: Scope.Scope
): Effect.Effect<Worker> =>
  Effect.gen(function*() {
    const initial = begin._tag === "Adopt" && Option.isSome(begin.prior)
      ? bodyOf(begin.prior.value)
      : { phase: "pending" as const, restarts: 0, specRevision: pod.revision, specKey: podKey(pod) }
    const rec = yield* makeRecorder(env.store, pod.name, env.config.agentPid, initial)
    const ready = yield* Deferred.make<void>()
    const wake = yield* Queue.sliding<void>(1)
    const state = yield* Ref.make<Intent>({ pod, specKey, restartToken: 0, waiters: [], gate: undefined })
    let current = { pod, specKey, fiber: undefined as Fiber.RuntimeFiber<void> | undefined }
    // What the reconciler last asked for (the plan diffs against this, not the run in progress).
    let sent = { specKey, revision: pod.revision }

    const send = (f: (s: Intent) => Intent) =>
      Ref.updateAndGet(state, f).pipe(
        Effect.tap((s) =>
          Effect.sync(() => (sent = { specKey: s.specKey, revision: s.pod?.revision ?? sent.revision }))
        ),
        Effect.zipRight(Queue.offer(wake, undefined))
      )

    /**
     * Stop the current run (if any is live), recording stopping/stopped — or, for a delete,
     * terminating with the deadline after which the workload is killed.
     */
    const stopCurrent = (why: string) =>
      Effect.gen(function*() {
        const fiber = current.fiber
        if (fiber === undefined || Option.isSome(yield* Fiber.poll(fiber))) return
        const phase = rec.current()?.phase
        const live = phase !== undefined && LIVE_PHASES.has(phase)
        if (live && why === "deleted") {
          const graceMs = stopGraceMs(current.pod.spec, env.config.stopGracePeriodMs)
          const deadline = isoAt((yield* now) + graceMs)
          yield* rec.transition((s) => ({ ...s, phase: "terminating", graceDeadline: deadline }), "terminating", {
            message: `deleted: stopping (grace period ${graceMs / 1000} s, killed at ${deadline} if still running)`
          })
        } else if (live) {
          yield* rec.transition((s) => ({ ...s, phase: "stopping" }), "stopping", { message: why })
        }
        yield* Fiber.interrupt(fiber)
        if (live) yield* rec.event("stopped", { message: why })
      })

    const startFresh = (next: StoredPod, key: string) =>
      Effect.gen(function*() {
        const fresh = yield* Deferred.make<void>()
        current = {
          pod: next,
          specKey: key,
          fiber: yield* Effect.fork(supervise(env, rec, next, { _tag: "Fresh" }, fresh))
        }
      })

    const loop = Effect.gen(function*() {
      current = { ...current, fiber: yield* Effect.fork(supervise(env, rec, pod, begin, ready)) }
      let token = 0
      while (true) {
        yield* Queue.take(wake)
        const intent = yield* Ref.modify(state, (s) => [s, { ...s, waiters: [] }])
        const release = Effect.forEach(intent.waiters, (d) => Deferred.succeed(d, undefined), { discard: true })
        if (intent.pod === undefined) {
          // A deletion that has begun completes, also when the agent shuts down meanwhile (the
          // shutdown waits for it): else the pod's logs, volumes and status would outlive it.
          yield* Effect.uninterruptible(Effect.gen(function*() {
            yield* stopCurrent("deleted")
            // What outlives runs (managed volumes, logs) goes with the pod. What it could not remove
            // was logged by the runtime; the pod's events keep it after the status is gone.
            yield* env.runtime.purge(pod.name).pipe(
              Effect.catchAll((e) => rec.event("teardown-failed", { message: e.message }))
            )
            yield* rec.remove
            // The status is gone, which no status write announces: say so for watchers in other
            // processes (`tank wait --for deleted`).
            yield* rec.event("removed")
          }))
          yield* release
          return
        }
        if (intent.specKey !== current.specKey || intent.restartToken !== token) {
          const restart = intent.restartToken !== token
          token = intent.restartToken
          if (restart) yield* rec.event("restarting", { message: "restart requested" })
          yield* stopCurrent(restart ? "restart requested" : "spec changed")
          yield* release
          if (intent.gate) yield* Deferred.await(intent.gate)
          yield* startFresh(intent.pod, intent.specKey)
        } else {
          if (intent.pod.revision !== current.pod.revision) {
            const revision = intent.pod.revision
            current = { ...current, pod: intent.pod }
            yield* rec.update((s) => ({ ...s, specRevision: revision }))
          }
          yield* release
        }
      }
    })

    // Agent shutdown: leave runs to the next agent (live restore), or stop them cleanly.
    const onShutdown = Effect.gen(function*() {
      const fiber = current.fiber
      if (fiber === undefined) return
      if (yield* Ref.get(env.leaving)) return yield* Fiber.interrupt(fiber)
      const wasLive = Option.isNone(yield* Fiber.poll(fiber))
      yield* stopCurrent("agent exiting")
      if (wasLive) {
        yield* rec.update((s) => ({
          ...without(s, "hostPid", "addresses", "nextRestartAt"),
          phase: "pending",
          reason: "stopped with the agent; starts again when an agent runs"
        }))
      }
    })

    const fiber = yield* loop.pipe(
      Effect.onInterrupt(() => onShutdown),
      Effect.ensuring(Deferred.succeed(ready, undefined)),
      Effect.forkIn(scope)
    )

    const awaitStop = (d: Deferred.Deferred<void>) =>
      Effect.raceFirst(Deferred.await(d), Fiber.await(fiber).pipe(Effect.asVoid))

    return {
      name: pod.name,
      specKey: () => sent.specKey,
      revision: () => sent.revision,
      update: (next, key, options = {}) =>
        Effect.gen(function*() {
          const stopped = yield* Deferred.make<void>()
          yield* send((s) => ({
            pod: next,
            specKey: key,
            restartToken: s.restartToken + (options.restart ? 1 : 0),
            waiters: [...s.waiters, stopped],
            gate: options.gate ?? s.gate
          }))
          yield* awaitStop(stopped)
        }),
      notify: (next, key) => send((s) => ({ ...s, pod: next, specKey: key })),
      remove: send((s) => ({ ...s, pod: undefined })).pipe(Effect.zipRight(Fiber.await(fiber)), Effect.asVoid),
      fiber,
      ready,
      recorder: rec
    }
  })
