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
import type { ProberService } from "../probes/Prober.js"
import { type ProbeOutcome, readinessLoop, untilStarted, untilUnhealthy } from "../probes/timing.js"
import type { RunHandle } from "../runtime/Runtime.js"
import type { Pod } from "../spec/Pod.js"
import type { Probe } from "../spec/probes.js"
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

  /** The event and SIGKILL of an unhealthy container (liveness, or a startup probe that never passed). */
  const kill = (
    name: string,
    kind: string,
    probe: Probe,
    bad: { readonly failures: number; readonly detail: string }
  ) =>
    Effect.gen(function*() {
      const { hostPid } = current(name)
      yield* rec.event("unhealthy", {
        container: name,
        ...(hostPid !== undefined ? { hostPid } : {}),
        message: `container ${name}: ${describe(kind, probe)} failed ${bad.failures} times in a row ` +
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
    Effect.flatMap(untilUnhealthy(probe, check(name, probe)), (bad) => kill(name, "liveness", probe, bad))

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
          yield* kill(c.name, "startup", startup, r)
          return yield* Effect.never
        }
        // Started: ready now unless a readiness probe is still to pass.
        yield* c.readinessProbe !== undefined
          ? setReady(c.name, false, waiting("readiness", c.readinessProbe))
          : setReady(c.name, true)
      }
      yield* Effect.all([
        c.livenessProbe !== undefined ? liveness(c.name, c.livenessProbe) : Effect.void,
        c.readinessProbe !== undefined ? readiness(c.name, c.readinessProbe) : Effect.void
      ], { concurrency: "unbounded", discard: true })
      // Killed, or nothing left to probe: wait for the next start (or the run's end).
      return yield* Effect.never
    })

  /** Every start of a container (one container: the run ends with it, and this fiber with the run). */
  const container = (c: Pod["containers"][number]) =>
    Effect.gen(function*() {
      while (true) {
        const before = current(c.name).startedAt
        yield* Effect.raceFirst(oneStart(c), restarted(c.name, before))
      }
    })

  const probed = pod.containers.filter((c) =>
    [c.livenessProbe, c.readinessProbe, c.startupProbe].some((p) => p !== undefined)
  )
  return Effect.forEach(probed, container, { concurrency: "unbounded", discard: true })
}
