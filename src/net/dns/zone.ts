/**
 * Tank's DNS zone: `<pod>.<domain>` A records from every pod's addresses (static ones from its spec,
 * pool ones from the allocations), and PTR records for them. Pure: built from the store's state,
 * answered from a snapshot.
 */
import { parseIpv4 } from "../../spec/fields.js"
import type { Pod } from "../../spec/Pod.js"
import type { Allocation } from "../../store/Allocations.js"
import { fromReverseName } from "../ipv4.js"

export interface Zone {
  readonly domain: string
  /** "web" → its IPv4 addresses, NIC order. */
  readonly byPod: ReadonlyMap<string, ReadonlyArray<string>>
  /** "10.0.0.20" → "web.tank.internal". */
  readonly byAddress: ReadonlyMap<string, string>
}

export const emptyZone = (domain: string): Zone => ({ domain, byPod: new Map(), byAddress: new Map() })

export const zoneFrom = (
  domain: string,
  pods: ReadonlyArray<Pod>,
  allocations: ReadonlyArray<Allocation>
): Zone => {
  const byPod = new Map<string, Array<string>>()
  const byAddress = new Map<string, string>()
  const add = (pod: string, ip: string) => {
    if (parseIpv4(ip) === undefined) return
    const list = byPod.get(pod) ?? []
    if (!list.includes(ip)) list.push(ip)
    byPod.set(pod, list)
    if (!byAddress.has(ip)) byAddress.set(ip, `${pod}.${domain}`)
  }
  const allocated = new Map<string, Map<string, string>>()
  for (const a of allocations) {
    if (a.holder.startsWith("host:") || parseIpv4(a.address) === undefined) continue
    const m = allocated.get(a.holder) ?? new Map<string, string>()
    m.set(a.nic, a.address)
    allocated.set(a.holder, m)
  }
  for (const pod of pods) {
    if (typeof pod.network !== "object") continue
    for (const nic of pod.network.nics) {
      if (typeof nic.address === "string") add(pod.name, nic.address.split("/")[0]!)
      else {
        const ip = allocated.get(pod.name)?.get(nic.name)
        if (ip !== undefined) add(pod.name, ip)
      }
    }
  }
  return { domain, byPod, byAddress }
}

export type Lookup =
  /** A name of the zone: its records (none: NODATA), or NXDOMAIN. */
  | {
    readonly _tag: "Local"
    readonly answers: ReadonlyArray<{ readonly type: "A" | "PTR"; readonly data: string }>
    readonly exists: boolean
  }
  /** Not Tank's: forward upstream. */
  | { readonly _tag: "Forward" }

const lower = (s: string) => s.toLowerCase().replace(/\.$/, "")

/** What the zone says about a question (names are case-insensitive; a trailing dot is allowed). */
export const lookup = (zone: Zone, name: string, type: string): Lookup => {
  const n = lower(name)
  const domain = lower(zone.domain)
  if (n === domain) return { _tag: "Local", answers: [], exists: true }
  if (n.endsWith(`.${domain}`)) {
    const label = n.slice(0, -domain.length - 1)
    const ips = label.includes(".") ? undefined : zone.byPod.get(label)
    if (ips === undefined) return { _tag: "Local", answers: [], exists: false }
    return {
      _tag: "Local",
      answers: type === "A" || type === "ANY" ? ips.map((data) => ({ type: "A" as const, data })) : [],
      exists: true
    }
  }
  const ip = fromReverseName(n)
  if (ip !== undefined) {
    const target = zone.byAddress.get(ip)
    if (target !== undefined) {
      return {
        _tag: "Local",
        answers: type === "PTR" || type === "ANY" ? [{ type: "PTR", data: target }] : [],
        exists: true
      }
    }
  }
  return { _tag: "Forward" }
}
