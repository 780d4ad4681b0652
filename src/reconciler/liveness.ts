/**
 * Liveness probes of a running pod (the agent's side): one fiber per probed container, forked into
 * the run's scope, so it ends with the run. When a container turns unhealthy the event says which
 * probe failed and what it printed, and the container's workload is killed (SIGKILL, as the kubelet
 * does after its grace period): its ending then goes through the usual supervision, so it restarts
 * under the pod's restart policy and backoff. In a pod with several containers only that container
 * restarts, and the probe starts over with its next start.
 */
import { Duration, Effect } from "effect"
import { untilUnhealthy } from "../probes/liveness.js"
import type { ProberService } from "../probes/Prober.js"
import type { RunHandle } from "../runtime/Runtime.js"
import type { Container, Pod } from "../spec/Pod.js"
import type { Recorder } from "./record.js"

/** How often a probe looks for its container's next start after killing it. */
const RESTART_POLL = Duration.millis(250)

export const watchLiveness = (prober: ProberService, rec: Recorder, pod: Pod, h: RunHandle): Effect.Effect<void> => {
  const several = h.containers.length > 1
  /** The container's current start and host pid, as supervision last recorded them. */
  const current = (name: string) => {
    const s = rec.current()
    const c = several ? s?.containers?.find((x) => x.name === name) : undefined
    const first = h.containers.find((x) => x.name === name)
    return {
      startedAt: several ? c?.startedAt : s?.startedAt,
      hostPid: (several ? c?.hostPid : s?.hostPid) ?? first?.hostPid,
      running: several ? c?.state === "running" : true
    }
  }
  const watch = (c: Container & { readonly livenessProbe: NonNullable<Container["livenessProbe"]> }) =>
    Effect.gen(function*() {
      const probe = c.livenessProbe
      const command = probe.exec?.command ?? []
      const what = `liveness probe exec [${command.join(" ")}]`
      while (true) {
        const before = current(c.name).startedAt
        const bad = yield* untilUnhealthy(probe, prober.exec(pod.name, c.name, command))
        const { hostPid } = current(c.name)
        yield* rec.event("unhealthy", {
          container: c.name,
          ...(hostPid !== undefined ? { hostPid } : {}),
          message: `container ${c.name}: ${what} failed ${bad.failures} times in a row (${bad.detail}); ` +
            `killed, to restart under the restart policy`
        })
        if (hostPid !== undefined) {
          yield* Effect.try(() => process.kill(hostPid, "SIGKILL")).pipe(
            // Already gone: its ending is being handled anyway.
            Effect.catchAll((e) => Effect.logDebug(`liveness kill of ${hostPid}: ${String(e)}`))
          )
        }
        // A pod with one container ends its run here (which interrupts this fiber); with several,
        // wait for this container's next start before probing again.
        yield* Effect.sleep(RESTART_POLL).pipe(
          Effect.repeat({ until: () => current(c.name).running && current(c.name).startedAt !== before })
        )
      }
    })
  const probed = pod.containers.flatMap((c) =>
    c.livenessProbe?.exec !== undefined ? [c as Parameters<typeof watch>[0]] : []
  )
  return Effect.forEach(probed, watch, { concurrency: "unbounded", discard: true })
}
