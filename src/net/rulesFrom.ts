/**
 * The packet rules' state from the store's: bridges in use (a pod of this node holds an address of
 * the pool) and the host ports this node's pods claimed, each DNATed to its pod's bridge address.
 * Pure, so an agent that restarts with the same pods computes exactly the same rules.
 */
import type { Pool } from "../config/network.js"
import type { Pod } from "../spec/Pod.js"
import type { Allocation } from "../store/Allocations.js"
import { isPortPool } from "./ipam.js"
import type { BridgeRule, PortRule, RuleState } from "./nft.js"

export const rulesFrom = (
  pools: ReadonlyArray<Pool>,
  allocations: ReadonlyArray<Allocation>,
  pods: ReadonlyArray<Pod>,
  portPool: string,
  /** Pods whose rules belong on this node (cluster mode: those bound here). */
  here: (pod: string) => boolean
): RuleState => {
  const bridgePools = new Map(pools.filter((p) => p.bridge !== undefined).map((p) => [p.name, p]))
  const byName = new Map(pods.map((p) => [p.name, p]))
  const used = new Set<string>()
  const bridgeAddress = new Map<string, string>()
  for (const a of allocations) {
    if (!bridgePools.has(a.pool) || !here(a.holder)) continue
    used.add(a.pool)
    const pod = byName.get(a.holder)
    if (typeof pod?.network !== "object") continue
    // A pod's ports go to its first bridge NIC.
    const first = pod.network.nics.find((n) => n.mode === "bridge")
    if (first?.name === a.nic) bridgeAddress.set(a.holder, a.address)
  }
  const bridges: Array<BridgeRule> = [...used].map((name) => {
    const p = bridgePools.get(name)!
    return { name: p.bridge!, subnet: p.subnet }
  })
  const ports: Array<PortRule> = []
  for (const a of allocations) {
    if (a.pool !== portPool || !isPortPool(a.pool)) continue
    const pod = byName.get(a.holder)
    const address = bridgeAddress.get(a.holder)
    if (typeof pod?.network !== "object" || address === undefined) continue
    const spec = (pod.network.ports ?? []).find((p) => `${p.protocol}/${p.hostPort}` === a.address)
    if (spec === undefined) continue
    ports.push({
      pod: pod.name,
      protocol: spec.protocol,
      hostPort: spec.hostPort,
      ...(spec.hostIP !== undefined ? { hostIP: spec.hostIP } : {}),
      address,
      containerPort: spec.containerPort
    })
  }
  return { bridges, ports }
}
