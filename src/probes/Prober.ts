/**
 * How the agent runs a probe's handler in a container. `exec` goes through the existing exec
 * machinery (tank-helper enter: the container's namespaces, user, cgroups, capabilities, seccomp),
 * so a probe costs one short process, as `tank exec` does, and nothing between probes.
 */
import { Context, Effect, Layer, Option } from "effect"
import { TankConfig } from "../config/Config.js"
import { execCapture } from "../exec/Exec.js"
import { Images } from "../image/Images.js"
import { lookup, type RunView } from "../runtime/lookup.js"
import { printable } from "../spec/printable.js"
import type { HttpGetAction, TcpSocketAction } from "../spec/probes.js"
import { type Decoded, decodeHealthcheck } from "./healthcheck.js"
import { httpProbe, tcpProbe } from "./netProbe.js"
import type { ProbeOutcome } from "./timing.js"

export interface ProberService {
  readonly exec: (pod: string, container: string, command: ReadonlyArray<string>) => Effect.Effect<ProbeOutcome>
  /**
   * From inside the pod's network namespace (src/probes/netProbe.ts); from the agent's own only when
   * `hostNetwork` (the spec's `network: host`).
   */
  readonly httpGet: (
    pod: string,
    action: typeof HttpGetAction.Type,
    hostNetwork: boolean
  ) => Effect.Effect<ProbeOutcome>
  readonly tcpSocket: (
    pod: string,
    action: typeof TcpSocketAction.Type,
    hostNetwork: boolean
  ) => Effect.Effect<ProbeOutcome>
  /**
   * The HEALTHCHECK of a cached image (src/probes/healthcheck.ts), never pulling: a running
   * container's image is in the cache. Not found: no check, with a warning saying why.
   */
  readonly imageHealthcheck: ImageHealthcheckLookup
}

/** The image HEALTHCHECK a container would run (its image's config, from the cache). */
export type ImageHealthcheckLookup = (image: string) => Effect.Effect<Decoded>

export class Prober extends Context.Tag("tank/Prober")<Prober, ProberService>() {}

/** The last bytes of what a probe printed, one line, for an event. */
const tail = (s: string) => printable(s.trim().replace(/\s*\n\s*/g, " | ").slice(-300), 300)

/** The host a net probe without `host` reaches: the pod's first address (as the kubelet's pod IP), else loopback. */
export const defaultHost = (run: RunView): string => run.addresses[0]?.split("/")[0] ?? "127.0.0.1"

export const layer = Layer.effect(
  Prober,
  Effect.map(Effect.all([TankConfig, Images]), ([config, images]) => {
    /** The pod's run as its record says now (a restart of the pod may have a new namespace). */
    const withRun = (
      pod: string,
      hostNetwork: boolean,
      f: (netns: string | undefined, run: RunView) => Effect.Effect<ProbeOutcome>
    ) =>
      lookup(pod).pipe(
        Effect.provideService(TankConfig, config),
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed<ProbeOutcome>({ ok: false, detail: "could not run: the pod has no run" }),
          // A pod of its own network without its namespace in the record must not be probed from
          // the host's: the probe would reach the host's loopback in its name.
          onSome: (run) =>
            run.netns === undefined && !hostNetwork
              ? Effect.succeed<ProbeOutcome>({
                ok: false,
                detail: "could not run: the pod's network namespace is not recorded"
              })
              : f(hostNetwork ? undefined : run.netns, run)
        })),
        Effect.catchAll((e) => Effect.succeed<ProbeOutcome>({ ok: false, detail: `could not run: ${e.message}` }))
      )
    return {
      imageHealthcheck: (image) =>
        images.pull(image, { offline: true }).pipe(
          Effect.map((img) => decodeHealthcheck(img.config.config?.Healthcheck)),
          Effect.catchAll((e) =>
            Effect.succeed<Decoded>({ warnings: [`image ${image}: its config could not be read (${e.message})`] })
          )
        ),
      httpGet: (pod, action, hostNetwork) =>
        withRun(pod, hostNetwork, (netns, run) => httpProbe(netns, defaultHost(run), action)),
      tcpSocket: (pod, action, hostNetwork) =>
        withRun(pod, hostNetwork, (netns, run) => tcpProbe(netns, defaultHost(run), action)),
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
    } satisfies ProberService
  })
)
