/**
 * Supervision of one pod at one spec: start (or adopt) a run in its own Scope, wait for its end,
 * let `decide` say restart-after-delay or terminal, repeat. Interrupting the fiber closes the run's
 * scope, which stops the workload and undoes its bring-up — unless the agent is leaving with live
 * restore, in which case the run is kept (`keepOnClose`) for the next agent to adopt.
 */
import type { Deferred, Ref } from "effect"
import { Cause, Deferred as D, Duration, Effect, Option } from "effect"
import type { Scope } from "effect"
import type { ProberService } from "../probes/Prober.js"
import type { RecordUnreadable, RunHandle, RuntimeNotice, RuntimeService, SetupFailed } from "../runtime/Runtime.js"
import type { PodStatus } from "../store/status.js"
import type { StoredPod, StoreService } from "../store/Store.js"
import type { Permits } from "./permits.js"
import { podKey } from "./plan.js"
import { watchProbes } from "./probes.js"
import { startProgress } from "./progress.js"
import type { ReconcilerConfig } from "./Reconciler.js"
import { isoAt, now, type Recorder, type StatusBody, toLastExit, without } from "./record.js"
import { decide, describeEnding, type Ending } from "./restarts.js"
import { superviseContainers } from "./superviseContainers.js"

export interface Env {
  readonly store: StoreService
  readonly runtime: RuntimeService
  readonly config: ReconcilerConfig
  readonly startPermits: Permits
  /** Set when the agent leaves with live restore: runs keep their workloads when their scope closes. */
  readonly leaving: Ref.Ref<boolean>
  /** Runs liveness probes (absent: a reconciler without exec, e.g. over a fake runtime; probes are not run). */
  readonly prober?: ProberService | undefined
}

export type Begin =
  /** Start a new run now (new pod, spec change, restart). */
  | { readonly _tag: "Fresh" }
  /** Agent start: re-adopt what a previous agent left running; `prior` is the stored status. */
  | { readonly _tag: "Adopt"; readonly prior: Option.Option<PodStatus> }

const notRunning = (s: StatusBody) =>
  without(s, "hostPid", "addresses", "nextRestartAt", "reason", "userNamespace", "ready")

export const bodyOf = (s: PodStatus): StatusBody => {
  const { agentPid: _a, name: _n, updatedAt: _u, ...body } = s
  return body
}

/** The run record cannot be read: its processes are left alone; adoption is tried again after this long. */
const UNREADABLE_RECHECK = Duration.seconds(10)

export const supervise = (
  env: Env,
  rec: Recorder,
  pod: StoredPod,
  begin: Begin,
  ready: Deferred.Deferred<void>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const policy = pod.spec.restart
    const prior = begin._tag === "Adopt"
      // The stored status is about this spec (a re-apply of the same spec bumps the revision only).
      ? Option.filter(begin.prior, (s) => s.specRevision === pod.revision || s.specKey === podKey(pod))
      : Option.none()
    // A pod with several containers counts its containers' restarts in `restarts` too; they are
    // restored per container on adoption.
    let restarts = Option.match(prior, {
      onNone: () => 0,
      onSome: (s) => s.restarts - (s.containers ?? []).reduce((n, c) => n + c.restarts, 0)
    })
    let delayMs = 0
    let lastStartAt = yield* now

    const onNotice = (n: RuntimeNotice) =>
      Effect.zipRight(Effect.logError(`pod ${pod.name}: ${n.message}`), rec.event(n.type, { message: n.message }))

    /**
     * The run's record exists but cannot be read: nothing of the run is touched (its workload may
     * well be running). The status says `unknown` with what to do; the event names the file and the
     * reason, once per reason.
     */
    const unreadable = (e: RecordUnreadable) =>
      Effect.gen(function*() {
        const s = rec.current()
        if (s?.phase === "unknown" && s.reason === e.advice) return
        yield* Effect.logWarning(e.advice)
        yield* rec.transition(
          (s) => ({
            ...without(s, "nextRestartAt", "graceDeadline"),
            phase: "unknown",
            reason: e.advice
          }),
          "unknown",
          { message: e.message }
        )
      })

    /** Adopt, waiting (and saying why) for as long as the run's record cannot be read. */
    const whenReadable = <A, E, R>(
      adopt: Effect.Effect<A, E | RecordUnreadable, R>
    ): Effect.Effect<A, Exclude<E, RecordUnreadable>, R> =>
      adopt.pipe(Effect.catchIf(
        (e): e is RecordUnreadable => (e as { _tag?: unknown })._tag === "RecordUnreadable",
        (e) =>
          unreadable(e).pipe(
            Effect.zipRight(D.succeed(ready, undefined)),
            Effect.zipRight(Effect.sleep(UNREADABLE_RECHECK)),
            Effect.zipRight(Effect.suspend(() => whenReadable(adopt)))
          )
      )) as Effect.Effect<A, Exclude<E, RecordUnreadable>, R>

    /**
     * The run in the status; its event with it (one write) unless `superviseContainers` writes it
     * (after the containers).
     */
    const running = (h: RunHandle, adopted: boolean) =>
      Effect.gen(function*() {
        lastStartAt = h.startedAt.getTime()
        const body = (s: StatusBody): StatusBody => ({
          ...without(s, "nextRestartAt", "reason", "containers", "userNamespace", "ready"),
          phase: "running",
          restarts,
          hostPid: h.hostPid,
          startedAt: h.startedAt.toISOString(),
          addresses: [...h.addresses],
          ...(h.userNamespace ? { userNamespace: h.userNamespace } : {})
        })
        if (h.containers.length <= 1) yield* rec.transition(body, adopted ? "adopted" : "running")
        else yield* rec.update(body)
      })

    /** One run in its own scope; `undefined` when there was nothing to adopt. */
    const attempt = (
      acquire: Effect.Effect<RunHandle | undefined, SetupFailed | RecordUnreadable, Scope.Scope>,
      adopted: boolean
    ): Effect.Effect<Ending | undefined> =>
      Effect.scoped(Effect.gen(function*() {
        const h = yield* whenReadable(acquire)
        // The agent's boot waits for every adoption to be settled (not for the runs to end).
        yield* D.succeed(ready, undefined)
        if (h === undefined) return undefined
        yield* Effect.logDebug(`pod ${pod.name}: ${adopted ? "adopted" : "bring-up done"}`)
        // Added after the runtime's own finalizers, so it runs before them.
        yield* Effect.addFinalizer(() =>
          env.leaving.get.pipe(Effect.flatMap((keep) => keep ? h.keepOnClose : Effect.void))
        )
        yield* running(h, adopted)
        // In the run's scope: the probes stop with the run.
        if (env.prober !== undefined) yield* Effect.forkScoped(watchProbes(env.prober, rec, pod.spec, h))
        if (h.containers.length > 1) {
          return yield* superviseContainers(env, rec, pod.spec.restart, h, {
            podRestarts: restarts,
            prior: adopted ? Option.getOrUndefined(prior)?.containers ?? [] : [],
            announce: rec.event(adopted ? "adopted" : "running")
          })
        }
        return yield* h.wait
      })).pipe(
        Effect.catchTag("SetupFailed", (e): Effect.Effect<Ending> =>
          Effect.succeed({ _tag: "SetupFailed", step: e.step, message: e.message })),
        // A bug in a runtime must not wedge the pod: treat it as a failed start, retried per policy.
        Effect.catchAllDefect((defect): Effect.Effect<Ending> =>
          Effect.succeed({ _tag: "SetupFailed", step: "internal", message: Cause.pretty(Cause.die(defect)) })
        )
      )

    // A staged status ("pending") is written only when the start has to wait for a permit.
    const start = env.startPermits.withPermit(
      Effect.gen(function*() {
        // The bring-up begins while "starting" and its event are written (two commits it need not
        // wait for: the status still follows the fact it states). Every later write of this start
        // (notices, progress, running or failed) comes after them.
        const announced = yield* rec.announce((s) => ({ ...notRunning(s), phase: "starting", restarts }), "starting")
        yield* Effect.logDebug(`pod ${pod.name}: bring-up begins`)
        const progress = startProgress(rec, yield* Effect.scope)
        return yield* env.runtime.start(pod.spec, {
          onNotice: (n) =>
            Effect.zipRight(announced, onNotice(n)),
          onProgress: (p) => Effect.zipRight(announced, progress.onProgress(p))
        }).pipe(Effect.ensuring(progress.done), Effect.ensuring(announced))
      }),
      rec.update((s) => s)
    )

    /** A fresh start of this spec is pending: count from zero. */
    const pendingBody = (s: StatusBody): StatusBody => ({
      ...notRunning(s),
      phase: "pending",
      restarts: 0,
      specRevision: pod.revision,
      specKey: podKey(pod)
    })
    const pending = rec.update(pendingBody)

    let mode: "adopt" | "start" = "start"
    if (begin._tag === "Fresh") {
      // Not written yet: a start that gets its permit at once writes "starting" (one status write
      // less per start; until then readers show a declared pod without a status as pending, or the
      // last run's status for a moment); one that has to wait writes "pending" (the permit's onWait).
      yield* rec.stage(pendingBody)
      yield* D.succeed(ready, undefined)
    } else if (Option.isNone(prior)) {
      // No status for this revision: the spec may have changed while no agent ran. Stop whatever
      // survives of an older run (closing the scope stops it), then start fresh.
      const stale = yield* whenReadable(Effect.scoped(
        env.runtime.adopt(pod.spec, { onNotice }).pipe(
          Effect.tap((h) =>
            Option.isSome(h) ? rec.event("stopping", { message: "spec changed while no agent ran" }) : Effect.void
          )
        )
      ))
      yield* pending
      if (Option.isSome(stale)) {
        yield* rec.event("stopped")
      }
      yield* D.succeed(ready, undefined)
    } else {
      mode = "adopt"
      yield* rec.update(() => bodyOf(prior.value))
    }

    while (true) {
      if (delayMs > 0) yield* Effect.sleep(Duration.millis(delayMs))
      let ending: Ending | undefined
      if (mode === "adopt") {
        mode = "start"
        ending = yield* attempt(Effect.map(env.runtime.adopt(pod.spec, { onNotice }), Option.getOrUndefined), true)
        yield* D.succeed(ready, undefined)
        if (ending === undefined) {
          // Nothing survived: continue from the stored state.
          const was = Option.getOrThrow(prior)
          if (was.phase === "terminal" || (was.phase === "failed" && was.nextRestartAt === undefined)) return
          const next = was.nextRestartAt === undefined ? Number.NaN : Date.parse(was.nextRestartAt)
          delayMs = Number.isNaN(next) ? 0 : Math.max(0, next - (yield* now))
          continue
        }
      } else {
        lastStartAt = yield* now
        ending = yield* attempt(start, false)
        if (ending === undefined) continue // start always yields a handle; keeps the type honest
      }

      const at = yield* now
      const d = decide(policy, ending, { restarts, lastStartAt }, at, env.config.backoff)
      const lastExit = toLastExit(ending, at)
      const failed = ending._tag === "SetupFailed"
      // The event first, while the status still names the run's host pid.
      yield* rec.event(failed ? "failed" : "exited", { lastExit, message: describeEnding(ending) })
      if (d.action === "terminal") {
        yield* rec.transition(
          (s) => ({
            ...notRunning(s),
            phase: failed ? "failed" : "terminal",
            lastExit,
            reason: d.reason
          }),
          "terminal",
          { message: d.reason }
        )
        return
      }
      restarts = d.restarts
      delayMs = d.delayMs
      yield* rec.transition(
        (s) => ({
          ...notRunning(s),
          lastExit,
          phase: failed ? "failed" : "backing-off",
          restarts,
          reason: d.reason,
          nextRestartAt: isoAt(at + d.delayMs)
        }),
        "backing-off",
        { delayMs: d.delayMs, message: d.reason }
      )
    }
  })
