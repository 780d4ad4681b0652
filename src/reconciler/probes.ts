/**
 * Probes of a running pod (the agent's side): one fiber per probe, forked into the run's scope, so
 * they end with the run. Nothing runs between probes but a sleeping fiber.
 *
 * - liveness: when a container turns unhealthy the event says which probe failed and what it
 *   printed, and the container's workload is killed (SIGKILL, as the kubelet does after its grace
 *   period): its ending then goes through the usual supervision, so it restarts under the pod's
 *   restart policy and backoff. In a pod with several containers only that container restarts.
 * - readiness: `ready` in the status (the container's, or the pod's when it has one container),
 *   false from each start until the probe passes, with a `ready`/`unready` event at each flip.
 *
 * - startup: holds the other two until it passes; failing it `failureThreshold` times in a row is
 *   treated as liveness failing.
 *
 * All start over with each new start of their container.
 */
import { Duration, Effect } from "effect"
import { type Healthcheck, healthLoop } from "../probes/healthcheck.js"
import type { ProberService } from "../probes/Prober.js"
import { type ProbeOutcome, readinessLoop, untilStarted, untilUnhealthy } from "../probes/timing.js"
import type { RunHandle } from "../runtime/Runtime.js"
import type { Pod } from "../spec/Pod.js"
import type { Probe } from "../spec/probes.js"
import type { Health } from "../store/status.js"
import type { Recorder } from "./record.js"

/** How often a probe looks for its container's next start. */
const RESTART_POLL = Duration.millis(250)

/** The probe as events name it ("liveness probe tcpSocket :8080"). */
const describe = (kind: string, probe: Probe) =>
  probe.httpGet !== undefined
    ? `${kind} probe httpGet ${probe.httpGet.host ?? ""}:${probe.httpGet.port}${probe.httpGet.path}`
    : probe.tcpSocket !== undefined
    ? `${kind} probe tcpSocket ${probe.tcpSocket.host ?? ""}:${probe.tcpSocket.port}`
    : `${kind} probe exec [${(probe.exec?.command ?? []).join(" ")}]`

export const watchProbes = (prober: ProberService, rec: Recorder, pod: Pod, h: RunHandle): Effect.Effect<void> => {
  const several = h.containers.length > 1
  /** The container's current start and host pid, as supervision last recorded them. */
  const current = (name: string) => {
    const s = rec.current()
    const c = several ? s?.containers?.find((x) => x.name === name) : undefined
    return {
      startedAt: several ? c?.startedAt : s?.startedAt,
      hostPid: (several ? c?.hostPid : s?.hostPid) ?? h.containers.find((x) => x.name === name)?.hostPid,
      running: several ? c?.state === "running" : true
    }
  }
  /** Resolves once the container has started again since `before` (several containers only). */
  const restarted = (name: string, before: string | undefined) =>
    Effect.sleep(RESTART_POLL).pipe(
      Effect.repeat({ until: () => current(name).running && current(name).startedAt !== before })
    )
  const check = (name: string, probe: Probe) =>
    probe.httpGet !== undefined
      ? prober.httpGet(pod.name, probe.httpGet, pod.network === "host")
      : probe.tcpSocket !== undefined
      ? prober.tcpSocket(pod.name, probe.tcpSocket, pod.network === "host")
      : prober.exec(pod.name, name, probe.exec?.command ?? [])

  /**
   * The event and SIGKILL of an unhealthy container (liveness, a startup probe that never passed, or
   * the image's healthcheck with `healthcheck: restart`); `what` names the check.
   */
  const kill = (
    name: string,
    what: string,
    bad: { readonly failures: number; readonly detail: string }
  ) =>
    Effect.gen(function*() {
      const { hostPid } = current(name)
      yield* rec.event("unhealthy", {
        container: name,
        ...(hostPid !== undefined ? { hostPid } : {}),
        message: `container ${name}: ${what} failed ${bad.failures} times in a row ` +
          `(${bad.detail}); killed, to restart under the restart policy`
      })
      if (hostPid !== undefined) {
        yield* Effect.try(() => process.kill(hostPid, "SIGKILL")).pipe(
          // Already gone: its ending is being handled anyway.
          Effect.catchAll((e) => Effect.logDebug(`probe kill of ${hostPid}: ${String(e)}`))
        )
      }
    })

  /** The probes' verdict on a container (readers add whether it runs: src/api/readiness.ts). */
  const setReady = (name: string, ready: boolean, reason?: string) =>
    rec.update((s) => {
      const mark = <T extends { readonly ready?: boolean | undefined; readonly readyReason?: string | undefined }>(
        x: T
      ): T => {
        const { readyReason: _, ...rest } = x
        return (ready || reason === undefined ? { ...rest, ready } : { ...rest, ready, readyReason: reason }) as T
      }
      return several
        ? { ...s, containers: (s.containers ?? []).map((c) => c.name === name ? mark(c) : c) }
        : mark(s)
    })

  /** Without a count, so a probe failing the same way again writes nothing new. */
  const failedReason = (kind: string, probe: Probe, r: ProbeOutcome) => `${describe(kind, probe)} failed (${r.detail})`

  const readiness = (name: string, probe: Probe) =>
    readinessLoop(
      probe,
      check(name, probe),
      (ready, r, inARow) =>
        setReady(name, ready, ready ? undefined : failedReason("readiness", probe, r)).pipe(
          Effect.zipRight(rec.event(ready ? "ready" : "unready", {
            container: name,
            message: ready
              ? `container ${name}: ${describe("readiness", probe)} passed`
              : `container ${name}: ${describe("readiness", probe)} failed ${inARow} times in a row (${r.detail})`
          }))
        ),
      (r) => setReady(name, false, failedReason("readiness", probe, r))
    )

  const liveness = (name: string, probe: Probe) =>
    Effect.flatMap(untilUnhealthy(probe, check(name, probe)), (bad) => kill(name, describe("liveness", probe), bad))

  /** One start of a container: the startup probe first, then liveness and readiness side by side. */
  const oneStart = (c: Pod["containers"][number]) =>
    Effect.gen(function*() {
      const startup = c.startupProbe
      const waiting = (kind: string, probe: Probe) => `${describe(kind, probe)} has not passed yet`
      if (startup !== undefined) yield* setReady(c.name, false, waiting("startup", startup))
      else if (c.readinessProbe !== undefined) yield* setReady(c.name, false, waiting("readiness", c.readinessProbe))
      if (startup !== undefined) {
        const r = yield* untilStarted(
          startup,
          check(c.name, startup),
          (bad) => setReady(c.name, false, failedReason("startup", startup, bad))
        )
        if (!r.started) {
          yield* kill(c.name, describe("startup", startup), r)
          return yield* Effect.never
        }
        // Started: ready now unless a readiness probe is still to pass.
        yield* c.readinessProbe !== undefined
          ? setReady(c.name, false, waiting("readiness", c.readinessProbe))
          : setReady(c.name, true)
      }
      const hc = healthchecks.get(c.name)
      yield* Effect.all([
        c.livenessProbe !== undefined ? liveness(c.name, c.livenessProbe) : Effect.void,
        c.readinessProbe !== undefined ? readiness(c.name, c.readinessProbe) : Effect.void,
        hc !== undefined ? health(c.name, hc, c.healthcheck === "restart") : Effect.void
      ], { concurrency: "unbounded", discard: true })
      // Killed, or nothing left to probe: wait for the next start (or the run's end).
      return yield* Effect.never
    })

  const setHealth = (name: string, health: Health) =>
    rec.update((s) =>
      several
        ? { ...s, containers: (s.containers ?? []).map((c) => c.name === name ? { ...c, health } : c) }
        : { ...s, health }
    )

  /**
   * The image's HEALTHCHECK over one start: `health` in the status (written when the verdict, the
   * streak or the output changes, not at every check), a `health` event at each change of verdict;
   * with `restart`, an unhealthy container is killed as a failed liveness probe's is.
   */
  const health = (name: string, hc: Healthcheck, restart: boolean) =>
    Effect.gen(function*() {
      let shown: Health = { status: "starting", failingStreak: 0 }
      yield* setHealth(name, shown)
      yield* healthLoop(hc, prober.exec(pod.name, name, hc.command), (next, changed, r) =>
        Effect.gen(function*() {
          if (!changed && next.failingStreak === shown.failingStreak && next.output === shown.output) return
          shown = next
          yield* setHealth(name, next)
          if (!changed) return
          yield* rec.event("health", {
            container: name,
            message: `container ${name}: ${hc.name}: ${next.status}` +
              (next.status === "unhealthy" ? ` after ${next.failingStreak} failures in a row` : "") + ` (${r.detail})`
          })
          if (restart && next.status === "unhealthy") {
            yield* kill(name, hc.name, { failures: next.failingStreak, detail: r.detail })
            // Killed: no more checks of this start (the next start begins again).
            return yield* Effect.never
          }
        }))
    })

  /**
   * Every start of a container. One container: the run ends with it, and this fiber with the run,
   * so there is no next start to look for (and no poll timer per probed pod: probes cost little).
   */
  const container = (c: Pod["containers"][number]) =>
    several
      ? Effect.gen(function*() {
        while (true) {
          const before = current(c.name).startedAt
          yield* Effect.raceFirst(oneStart(c), restarted(c.name, before))
        }
      })
      : oneStart(c)

  const hasProbe = (c: Pod["containers"][number]) =>
    [c.livenessProbe, c.readinessProbe, c.startupProbe].some((p) => p !== undefined)
  /**
   * Containers without a probe of their own run their image's HEALTHCHECK, unless `healthcheck: off`;
   * each looks it up in its own fiber, so a lookup never holds up another container's probes.
   */
  const healthchecks = new Map<string, Healthcheck>()
  const withHealthcheck = (c: Pod["containers"][number]) =>
    prober.imageHealthcheck(c.image as string).pipe(
      Effect.flatMap(({ healthcheck, warnings }) =>
        Effect.gen(function*() {
          for (const w of warnings) yield* Effect.logWarning(`pod ${pod.name}, container ${c.name}: ${w}`)
          if (healthcheck === undefined) return
          healthchecks.set(c.name, healthcheck)
          yield* container(c)
        })
      )
    )
  return Effect.forEach(
    pod.containers,
    (c) =>
      hasProbe(c)
        ? container(c)
        : c.healthcheck !== "off" && typeof c.image === "string"
        ? withHealthcheck(c)
        : Effect.void,
    { concurrency: "unbounded", discard: true }
  )
}
