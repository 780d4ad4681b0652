/**
 * The Network service: a pod's network namespace brought to its spec, over rtnetlink.
 *
 * - "host": the pod shares the agent's namespace; nothing to do.
 * - "none": a fresh namespace with loopback up.
 * - `{ nics }`: loopback up, then per NIC a macvlan (bridge mode) on its parent, created straight into the
 *   pod's namespace under its final name with a deterministic MAC, given its address, brought up, and given
 *   a default route via its gateway. Everything is undone when the setup's Scope closes; a failure midway
 *   removes what that setup had made before it fails.
 */
import { Context, type Duration, type Effect, type Scope } from "effect"
import type { Network as PodNetwork, Nic } from "../spec/Pod.js"
import type { Route } from "./decode.js"
import type { NetlinkError, NetworkError, NoUplink } from "./errors.js"

/**
 * A NIC ready to bring up: its address decided (static, or allocated from a pool), and for a bridge
 * NIC the bridge it joins.
 */
export interface ResolvedNic {
  readonly name: string
  readonly mode: "macvlan" | "bridge"
  /** macvlan: the parent link ("auto": the Host service's uplink). */
  readonly parent: string
  /** "a.b.c.d/p". */
  readonly address: string
  readonly gateway?: string
  /** bridge: the Linux bridge (in the host namespace) the veth's host end joins. */
  readonly bridge?: string
  /** ARP-probe the address before assigning it (with `SetupOptions.probe`); default: probe when that is set. */
  readonly probe?: boolean
}

export type SetupNetwork = "none" | "host" | {
  readonly nics: ReadonlyArray<ResolvedNic>
  /** Not used by `setup` (resolv.conf is the runtime's); allowed so a spec-shaped value fits. */
  readonly dns?: ReadonlyArray<string>
}

/** A spec's network with only static macvlan NICs, as `setup` takes it; undefined if it needs pools or bridges. */
export const staticNetwork = (network: PodNetwork): SetupNetwork | undefined => {
  if (typeof network === "string") return network
  const nics: Array<ResolvedNic> = []
  for (const n of network.nics) {
    if (n.mode !== "macvlan" || typeof n.address !== "string") return undefined
    nics.push(staticNic(n, n.address))
  }
  return { nics }
}

export const staticNic = (n: Nic, address: string): ResolvedNic => ({
  name: n.name,
  mode: n.mode,
  parent: n.parent,
  address,
  ...(n.gateway !== undefined ? { gateway: n.gateway } : {})
})

export interface SetupOptions {
  /** The pod's name: part of the deterministic MAC. */
  readonly pod: string
  /** The pod's pinned netns file (/run/netns/x, <run>/ns/net, /proc/<pid>/ns/net). Unused for "host". */
  readonly netnsPath: string
  readonly network: SetupNetwork
  /** Resolves `parent: "auto"`, typically through the Host service; called only when a NIC needs it. */
  readonly uplink: () => Effect.Effect<string, NoUplink>
  /** The namespace holding the parents (default: the agent's own). Tests put the parent in a hub netns. */
  readonly parentNetns?: string
  /** The namespace that plays the host: where bridges live (default: the agent's own). Tests use a test netns. */
  readonly hostNetns?: string
  /** Mixed into the MACs so two machines on one LAN running same-named pods don't collide (e.g. a host id). */
  readonly macSeed?: string
  /**
   * Probe the LAN with ARP (RFC 5227) for this long before assigning each address, and fail with AddressInUse
   * if anybody holds it. Off by default: it costs this much time per NIC. A few hundred ms is plenty on a LAN.
   */
  readonly probe?: Duration.DurationInput
}

export interface NicState {
  readonly name: string
  readonly mode?: "macvlan" | "bridge"
  /** bridge: the veth's host end (in the host namespace) and the bridge it joined. */
  readonly hostLink?: string
  readonly bridge?: string
  /** The resolved parent link ("auto" already replaced by the uplink). */
  readonly parent: string
  readonly mac: string
  /** "a.b.c.d/p" as in the spec. */
  readonly address: string
  readonly gateway?: string
  /** The link's index inside the pod's namespace. */
  readonly index: number
}

export interface NetworkState {
  readonly pod: string
  readonly mode: "host" | "none" | "nics"
  readonly netnsPath?: string
  /** Where bridge NICs' host ends live (undefined: the agent's own namespace). */
  readonly hostNetns?: string
  readonly nics: ReadonlyArray<NicState>
}

export interface InterfaceInfo {
  readonly name: string
  readonly index: number
  readonly up: boolean
  /** IFF_LOWER_UP: the link has carrier. */
  readonly lowerUp: boolean
  readonly mac?: string
  readonly mtu?: number
  readonly kind?: string
  /** "a.b.c.d/p" and IPv6 "x::y/p", in the kernel's order. */
  readonly addresses: ReadonlyArray<string>
  readonly rxBytes: number
  readonly txBytes: number
  readonly rxPackets: number
  readonly txPackets: number
}

export class Network extends Context.Tag("tank/Network")<Network, {
  /** Brings the pod's network up; closing the Scope takes down what was made. */
  readonly setup: (options: SetupOptions) => Effect.Effect<NetworkState, NetworkError, Scope.Scope>
  /** Links with their addresses and counters, in the namespace at `netnsPath` (default: the agent's own). */
  readonly interfaces: (netnsPath?: string) => Effect.Effect<ReadonlyArray<InterfaceInfo>, NetlinkError>
  /** The main table's IPv4 routes in the namespace at `netnsPath` (default: the agent's own). */
  readonly routes: (netnsPath?: string) => Effect.Effect<ReadonlyArray<Route>, NetlinkError>
  readonly linkExists: (name: string, netnsPath?: string) => Effect.Effect<boolean, NetlinkError>
  /** Deletes a link by name; false when there was none. */
  readonly deleteLink: (name: string, netnsPath?: string) => Effect.Effect<boolean, NetlinkError>
}>() {}
