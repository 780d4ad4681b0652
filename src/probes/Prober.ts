/**
 * How the agent runs a probe's handler in a container. `exec` goes through the existing exec
 * machinery (tank-helper enter: the container's namespaces, user, cgroups, capabilities, seccomp),
 * so a probe costs one short process, as `tank exec` does, and nothing between probes.
 */
import { Context, Effect, Layer } from "effect"
import { TankConfig } from "../config/Config.js"
import { execCapture } from "../exec/Exec.js"
import { printable } from "../spec/printable.js"
import type { ProbeOutcome } from "./timing.js"

export interface ProberService {
  readonly exec: (pod: string, container: string, command: ReadonlyArray<string>) => Effect.Effect<ProbeOutcome>
}

export class Prober extends Context.Tag("tank/Prober")<Prober, ProberService>() {}

/** The last bytes of what a probe printed, one line, for an event. */
const tail = (s: string) => printable(s.trim().replace(/\s*\n\s*/g, " | ").slice(-300), 300)

export const layer = Layer.effect(
  Prober,
  Effect.map(TankConfig, (config) => ({
    exec: (pod, container, command) =>
      execCapture(pod, command, { container }).pipe(
        Effect.provideService(TankConfig, config),
        Effect.map((r): ProbeOutcome => {
          const output = tail(`${r.stdout}\n${r.stderr}`)
          const how = r.exitCode !== null ? `exit ${r.exitCode}` : `signal ${r.signal ?? "?"}`
          return { ok: r.exitCode === 0, detail: `${how}${output ? `: ${output}` : ""}` }
        }),
        // The container not running, or exec not possible: the probe fails, as the kubelet's does.
        Effect.catchAll((e) => Effect.succeed<ProbeOutcome>({ ok: false, detail: `could not run: ${e.message}` }))
      )
  }))
)
