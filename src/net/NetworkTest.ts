/**
 * A recording Network layer for tests of the code that uses the service (the runtime, the reconciler):
 * no kernel, no root. It records every setup and release, computes the state the live layer would report
 * (resolved parents, deterministic MACs), and can be told to fail a setup with a given error.
 */
import { Effect, Layer } from "effect"
import type { NetworkError } from "./errors.js"
import { NoUplink } from "./errors.js"
import { macFor } from "./mac.js"
import { Network, type NetworkState, type NicState, type SetupOptions } from "./Network.js"

export interface Recording {
  /** Every setup call, in order (including failed ones). */
  readonly setups: Array<SetupOptions>
  /** Pods whose setup Scope closed, in order. */
  readonly released: Array<string>
}

export interface RecordingOptions {
  /** Return an error to make that setup fail (after `uplink` resolution, like the live layer). */
  readonly fail?: (options: SetupOptions) => NetworkError | undefined
}

export const makeRecording = (
  options: RecordingOptions = {}
): { recording: Recording; layer: Layer.Layer<Network> } => {
  const recording: Recording = { setups: [], released: [] }
  const setup = (o: SetupOptions) =>
    Effect.gen(function*() {
      recording.setups.push(o)
      if (o.network === "host") return { pod: o.pod, mode: "host", nics: [] } satisfies NetworkState
      const nics: Array<NicState> = []
      if (o.network !== "none") {
        for (const [i, nic] of o.network.nics.entries()) {
          const parent = nic.parent === "auto"
            ? yield* o.uplink().pipe(Effect.mapError((e) => new NoUplink({ nic: nic.name, reason: e.reason })))
            : nic.parent
          nics.push({
            name: nic.name,
            parent,
            mac: macFor(o.pod, nic.name, o.macSeed),
            address: nic.address,
            index: i + 2,
            ...(nic.gateway === undefined ? {} : { gateway: nic.gateway })
          })
        }
      }
      const failure = options.fail?.(o)
      if (failure !== undefined) return yield* failure
      yield* Effect.addFinalizer(() => Effect.sync(() => recording.released.push(o.pod)))
      return {
        pod: o.pod,
        mode: o.network === "none" ? "none" : "nics",
        netnsPath: o.netnsPath,
        nics
      } satisfies NetworkState
    })
  const layer = Layer.succeed(Network, {
    setup,
    interfaces: () => Effect.succeed([]),
    routes: () => Effect.succeed([]),
    linkExists: () => Effect.succeed(false),
    deleteLink: () => Effect.succeed(false)
  })
  return { recording, layer }
}
