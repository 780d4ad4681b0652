/**
 * The agent's networking services config (`network:` in the config file): address pools, the DNS
 * service, ARP probing. Decoded with the rest of the config; `resolveNetwork` checks what spans pools
 * (names, bridges, overlapping subnets, addresses inside their subnet) and fills the defaults,
 * including a default bridge pool when none is configured.
 */
import { Schema } from "effect"
import { contains, fromInt, hosts, overlaps, parseCidr, toInt } from "../net/ipv4.js"
import { Ipv4, label, LinkName } from "../spec/fields.js"

const Cidr = Schema.String.pipe(
  Schema.filter((s) => parseCidr(s) !== undefined ? true : `"${s}" is not a subnet (expected a.b.c.d/p)`)
)

const Range = Schema.String.pipe(
  Schema.filter((s) => {
    const m = /^([0-9.]+)-([0-9.]+)$/.exec(s)
    if (m === null || !Schema.is(Ipv4)(m[1]) || !Schema.is(Ipv4)(m[2])) {
      return `"${s}" is not a range (expected a.b.c.d-a.b.c.e)`
    }
    return toInt(m[1]!) <= toInt(m[2]!) ? true : `range "${s}" ends before it starts`
  })
)

export const ShimConfig = Schema.Struct({
  /** The host-side macvlan's name (default tank0). */
  name: Schema.optional(LinkName),
  /** Its address (default: one allocated from the pool). */
  address: Schema.optional(Ipv4)
})

export const PoolConfig = Schema.Struct({
  name: label("pool name", 63),
  subnet: Cidr,
  /** The pods' default route (macvlan); the bridge's own address (bridge, default: the first host). */
  gateway: Schema.optional(Ipv4),
  /** The part of the subnet handed out, "a.b.c.d-a.b.c.e" (default: every host address). */
  range: Schema.optional(Range),
  /** resolv.conf for pods with an address from this pool and no dns of their own. */
  dns: Schema.optional(Schema.Array(Ipv4)),
  /** Never handed out (LAN hosts with static addresses, say). */
  reserved: Schema.optional(Schema.Array(Ipv4)),
  /** A bridge pool: the Linux bridge Tank owns for it (veth NICs, masquerade, published ports). */
  bridge: Schema.optional(LinkName),
  /** macvlan pools: the parent link of the host shim ("auto": the Host service's uplink). */
  parent: Schema.optional(Schema.Union(Schema.Literal("auto"), LinkName)),
  /** macvlan pools: a host-side macvlan so the host reaches its pods (true: defaults). */
  shim: Schema.optional(Schema.Union(Schema.Boolean, ShimConfig))
})
export type PoolConfig = typeof PoolConfig.Type

export const NetworkConfigFile = Schema.Struct({
  /** Pods are `<pod>.<domain>` in Tank's DNS (default tank.internal). */
  domain: Schema.optional(
    Schema.String.pipe(
      Schema.filter((s) =>
        /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(s) && s.length <= 200
          ? true
          : `"${s}" is not a domain name`
      )
    )
  ),
  pools: Schema.optional(Schema.Array(PoolConfig)),
  dns: Schema.optional(Schema.Struct({
    /** Serve DNS on each shim and bridge address (default true). */
    enabled: Schema.optional(Schema.Boolean),
    port: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 65535))),
    /** Servers for names outside the domain (default: the Host service's DNS servers). */
    upstream: Schema.optional(Schema.Array(Ipv4))
  })),
  /** ARP-probe each macvlan pool address this long before using it (0: never; default 300). */
  probeMs: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 10_000)))
})
export type NetworkConfigFile = typeof NetworkConfigFile.Type

export interface Pool {
  readonly name: string
  readonly kind: "macvlan" | "bridge"
  readonly subnet: string
  readonly prefix: number
  readonly network: number
  readonly gateway?: string
  /** First and last address handed out (numbers). */
  readonly first: number
  readonly last: number
  readonly dns: ReadonlyArray<string>
  readonly reserved: ReadonlyArray<string>
  readonly bridge?: string
  readonly parent: string
  readonly shim?: { readonly name: string; readonly address?: string }
}

export interface NetworkConfig {
  readonly domain: string
  readonly pools: ReadonlyArray<Pool>
  readonly dns: { readonly enabled: boolean; readonly port: number; readonly upstream?: ReadonlyArray<string> }
  readonly probeMs: number
}

export const DEFAULT_BRIDGE_POOL: PoolConfig = {
  name: "default",
  subnet: "10.88.0.0/16",
  bridge: "tankbr0"
}

/** Problems that span pools, each as [path, message]; none for a sound config. */
export const poolIssues = (pools: ReadonlyArray<PoolConfig>): Array<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  const seen = new Map<string, number>()
  const bridges = new Map<string, number>()
  pools.forEach((p, i) => {
    const at = `network.pools[${i}]`
    const subnet = parseCidr(p.subnet)!
    const other = seen.get(p.name)
    if (other !== undefined) out.push([`${at}.name`, `duplicate pool name "${p.name}" (also at ${other})`])
    seen.set(p.name, i)
    if (p.bridge !== undefined) {
      const b = bridges.get(p.bridge)
      if (b !== undefined) out.push([`${at}.bridge`, `bridge "${p.bridge}" is also pool ${b}'s`])
      bridges.set(p.bridge, i)
      if (p.shim !== undefined && p.shim !== false) out.push([`${at}.shim`, "a shim is for macvlan pools"])
      if (p.parent !== undefined) out.push([`${at}.parent`, "a bridge pool has no parent"])
      if (subnet.prefix > 30) out.push([`${at}.subnet`, "a bridge subnet needs room for the bridge and pods (≤ /30)"])
    }
    const inside = (what: string, ip: string) => {
      if (!contains(subnet, toInt(ip))) out.push([`${at}.${what}`, `${ip} is outside ${p.subnet}`])
    }
    if (p.gateway !== undefined) inside("gateway", p.gateway)
    if (p.range !== undefined) { for (const ip of p.range.split("-")) inside("range", ip) }
    for (const [j, r] of (p.reserved ?? []).entries()) inside(`reserved[${j}]`, r)
    if (typeof p.shim === "object" && p.shim.address !== undefined) inside("shim.address", p.shim.address)
    pools.forEach((q, j) => {
      if (j < i && overlaps(subnet, parseCidr(q.subnet)!)) {
        out.push([`${at}.subnet`, `${p.subnet} overlaps pool "${q.name}" (${q.subnet})`])
      }
    })
  })
  return out
}

const resolvePool = (p: PoolConfig): Pool => {
  const c = parseCidr(p.subnet)!
  const h = hosts(c)
  const kind = p.bridge !== undefined ? "bridge" : "macvlan"
  // A bridge's own address is its pods' gateway: the first host address unless given.
  const gateway = p.gateway ?? (kind === "bridge" ? fromInt(h.first) : undefined)
  const [first, last] = p.range !== undefined ? p.range.split("-").map(toInt) as [number, number] : [h.first, h.last]
  const shim = p.shim === true ? {} : p.shim === false ? undefined : p.shim
  return {
    name: p.name,
    kind,
    subnet: `${fromInt(c.network)}/${c.prefix}`,
    prefix: c.prefix,
    network: c.network,
    ...(gateway !== undefined ? { gateway } : {}),
    first,
    last,
    dns: p.dns ?? [],
    reserved: p.reserved ?? [],
    ...(p.bridge !== undefined ? { bridge: p.bridge } : {}),
    parent: p.parent ?? "auto",
    ...(shim !== undefined
      ? { shim: { name: shim.name ?? "tank0", ...(shim.address !== undefined ? { address: shim.address } : {}) } }
      : {})
  }
}

/** The resolved network config; call after `poolIssues` found nothing. */
export const resolveNetwork = (file: NetworkConfigFile | undefined): NetworkConfig => {
  const pools = file?.pools ?? []
  const withBridge = pools.some((p) => p.bridge !== undefined) || pools.some((p) => p.name === "default")
    ? pools
    : [...pools, DEFAULT_BRIDGE_POOL]
  return {
    domain: file?.domain ?? "tank.internal",
    pools: withBridge.map(resolvePool),
    dns: {
      enabled: file?.dns?.enabled ?? true,
      port: file?.dns?.port ?? 53,
      ...(file?.dns?.upstream !== undefined ? { upstream: file.dns.upstream } : {})
    },
    probeMs: file?.probeMs ?? 300
  }
}
