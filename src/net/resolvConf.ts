/**
 * The content of a pod's /etc/resolv.conf, as a pure function of its network and the host's DNS facts.
 *
 * - `{ nics, dns: [a, b] }` → "nameserver a\nnameserver b\n".
 * - `{ nics, dns: [] }`     → the Host service's DNS servers, the same way.
 * - `"host"`                → the host's own /etc/resolv.conf, verbatim: the pod shares the host's network,
 *                             so it should resolve exactly as the host does (search domains, options, a
 *                             127.0.0.53 stub). The original wrote an empty file here, which broke DNS.
 * - `"none"`                → the Host's DNS servers too: there is no route to them, so lookups fail fast
 *                             either way, but a file that names them is what a user expects to read.
 *
 * With the agent's network services, `chain` is what they decided for the pod (its own dns, else
 * its pool's, else Tank's DNS service): used when not empty.
 */
import type { Pool } from "../config/network.js"
import type { Network, Pod } from "../spec/Pod.js"
import type { PlannedNic } from "./ipam.js"
import { contains, toInt } from "./ipv4.js"

export interface HostDns {
  /** The Host service's DNS servers (may be empty). */
  readonly servers: ReadonlyArray<string>
  /** The host's /etc/resolv.conf content, used for "host" network pods. */
  readonly resolvConf: string
}

const nameservers = (servers: ReadonlyArray<string>): string => servers.map((s) => `nameserver ${s}\n`).join("")

export const resolvConf = (network: Network, host: HostDns, chain: ReadonlyArray<string> = []): string => {
  if (network === "host") return host.resolvConf
  if (chain.length > 0) return nameservers(chain)
  if (network !== "none" && network.dns.length > 0) return nameservers(network.dns)
  return nameservers(host.servers)
}

export interface TankDns {
  readonly pools: ReadonlyArray<Pool>
  /** Pool name → its shim's address. */
  readonly shims: ReadonlyMap<string, string>
  /** Addresses Tank's DNS service listens on. */
  readonly listening: ReadonlySet<string>
}

/**
 * resolv.conf's servers for a pod with NICs: its own `dns`, else the first of its pools' `dns`, else
 * Tank's DNS where the pod reaches it (its bridge's gateway; the shim of the macvlan pool holding its
 * address), else none (the host's servers apply).
 */
export const dnsChain = (pod: Pod, planned: ReadonlyArray<PlannedNic>, tank: TankDns): ReadonlyArray<string> => {
  if (typeof pod.network !== "object") return []
  if (pod.network.dns.length > 0) return pod.network.dns
  const poolDns = planned.find((p) => (p.pool?.dns.length ?? 0) > 0)?.pool?.dns
  if (poolDns !== undefined) return poolDns
  const servers = planned.flatMap((p) => {
    if (p.pool?.kind === "bridge") return tank.listening.has(p.pool.gateway!) ? [p.pool.gateway!] : []
    const ip = toInt(p.nic.address.split("/")[0]!)
    const pool = tank.pools.find((x) =>
      x.kind === "macvlan" && tank.shims.has(x.name) && contains({ network: x.network, prefix: x.prefix }, ip)
    )
    const addr = pool !== undefined ? tank.shims.get(pool.name) : undefined
    return addr !== undefined && tank.listening.has(addr) ? [addr] : []
  })
  return [...new Set(servers)]
}
