/**
 * Pod networks as the runtime sees them: the spec's network decided (addresses from pools, static
 * ones claimed, host ports claimed, bridges ensured), brought up through the Network service, the
 * packet rules and DNS kept in step, and everything a deleted pod held released.
 *
 * The agent provides the live layer (PodNetworksLive.ts). Without one, the runtime uses `staticOnly`:
 * static macvlan NICs exactly as before, and a clear error for pools, bridges and ports.
 */
import { Context, Effect, Schema, type Scope } from "effect"
import type { Pod } from "../spec/Pod.js"
import type { NetworkError, NoUplink } from "./errors.js"
import { type Network, type NetworkState, staticNetwork } from "./Network.js"

export interface PodNetworkOptions {
  readonly pod: Pod
  /** The pod's pinned netns file. */
  readonly netnsPath: string
  readonly uplink: () => Effect.Effect<string, NoUplink>
  readonly parentNetns?: string
  readonly macSeed?: string
}

export interface PodNetwork {
  readonly state: NetworkState
  /** resolv.conf's servers from the chain pod dns → pool dns → Tank's DNS; empty: the host's. */
  readonly dns: ReadonlyArray<string>
}

/** A pod's network could not be decided (unknown pool, a pool full, an address or port held by another). */
export class PodNetworkError extends Schema.TaggedError<PodNetworkError>()("PodNetworkError", {
  pod: Schema.String,
  /** What is wrong, naming the NIC, pool, address or the pod that holds it. */
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

export interface PodNetworksService {
  /** Decides and brings up the pod's network; closing the Scope takes the links down (not the allocations). */
  readonly setup: (o: PodNetworkOptions) => Effect.Effect<PodNetwork, NetworkError | PodNetworkError, Scope.Scope>
  /** The pod was deleted: its addresses and ports go back to their pools, its rules and names go. */
  readonly release: (pod: string) => Effect.Effect<void>
}

export class PodNetworks extends Context.Tag("tank/PodNetworks")<PodNetworks, PodNetworksService>() {}

/** Static macvlan NICs only, straight through the Network service (no store, no pools). */
export const staticOnly = (network: Context.Tag.Service<typeof Network>): PodNetworksService => ({
  setup: (o) =>
    Effect.gen(function*() {
      const net = staticNetwork(o.pod.network)
      if (net === undefined) {
        return yield* Effect.fail(
          new PodNetworkError({
            pod: o.pod.name,
            reason:
              `pod ${o.pod.name} uses address pools, bridge NICs or ports, which need the agent's network services`
          })
        )
      }
      const state = yield* network.setup({
        pod: o.pod.name,
        netnsPath: o.netnsPath,
        network: net,
        uplink: o.uplink,
        ...(o.parentNetns !== undefined ? { parentNetns: o.parentNetns } : {}),
        ...(o.macSeed !== undefined ? { macSeed: o.macSeed } : {})
      })
      return { state, dns: typeof o.pod.network === "object" ? o.pod.network.dns : [] }
    }),
  release: () => Effect.void
})
