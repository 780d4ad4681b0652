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
import type { Network } from "../spec/Pod.js"

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
