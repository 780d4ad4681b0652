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
 * Both start over with each new start of their container.
 */
import { Duration, Effect } from "effect"
import type { ProberService } from "../probes/Prober.js"
import { type ProbeOutcome, readinessLoop, untilUnhealthy } from "../probes/timing.js"
import type { RunHandle } from "../runtime/Runtime.js"
import type { Pod } from "../spec/Pod.js"
import type { Probe } from "../spec/probes.js"
import type { Recorder } from "./record.js"

/** How often a probe looks for its container's next start. */
const RESTART_POLL = Duration.millis(250)

const describe = (kind: string, probe: Probe) => `${kind} probe exec [${(probe.exec?.command ?? []).join(" ")}]`

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
  const check = (name: string, probe: Probe) => prober.exec(pod.name, name, probe.exec?.command ?? [])

  const liveness = (name: string, probe: Probe) =>
    Effect.gen(function*() {
      while (true) {
        const before = current(name).startedAt
        const bad = yield* untilUnhealthy(probe, check(name, probe))
        const { hostPid } = current(name)
        yield* rec.event("unhealthy", {
          container: name,
          ...(hostPid !== undefined ? { hostPid } : {}),
          message: `container ${name}: ${describe("liveness", probe)} failed ${bad.failures} times in a row ` +
            `(${bad.detail}); killed, to restart under the restart policy`
        })
        if (hostPid !== undefined) {
          yield* Effect.try(() => process.kill(hostPid, "SIGKILL")).pipe(
            // Already gone: its ending is being handled anyway.
            Effect.catchAll((e) => Effect.logDebug(`liveness kill of ${hostPid}: ${String(e)}`))
          )
        }
        // A pod with one container ends its run here (which interrupts this fiber).
        yield* restarted(name, before)
      }
    })

  const setReady = (name: string, ready: boolean) =>
    rec.update((s) =>
      several
        ? { ...s, containers: (s.containers ?? []).map((c) => c.name === name ? { ...c, ready } : c) }
        : { ...s, ready }
    )

  const readiness = (name: string, probe: Probe) =>
    Effect.gen(function*() {
      while (true) {
        const before = current(name).startedAt
        yield* setReady(name, false)
        const flip = (ready: boolean, r: ProbeOutcome, inARow: number) =>
          setReady(name, ready).pipe(
            Effect.zipRight(rec.event(ready ? "ready" : "unready", {
              container: name,
              message: ready
                ? `container ${name}: ${describe("readiness", probe)} passed`
                : `container ${name}: ${describe("readiness", probe)} failed ${inARow} times in a row (${r.detail})`
            }))
          )
        // Until the container starts again (several containers; one: the run ends, and this with it).
        yield* Effect.raceFirst(readinessLoop(probe, check(name, probe), flip), restarted(name, before))
      }
    })

  const fibers = pod.containers.flatMap((c) => [
    ...(c.livenessProbe?.exec !== undefined ? [liveness(c.name, c.livenessProbe)] : []),
    ...(c.readinessProbe?.exec !== undefined ? [readiness(c.name, c.readinessProbe)] : [])
  ])
  return Effect.all(fibers, { concurrency: "unbounded", discard: true })
}
