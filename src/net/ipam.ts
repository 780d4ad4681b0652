/**
 * Deciding a pod's addresses: each NIC's static address (claimed in its pool when it lies in one) or
 * an allocation from its pool, and the pod's host ports. Pure planning here; the store calls go
 * through the Allocations port. Holders are pod names; a host shim is "host:<node>".
 */
import { Effect, Schema } from "effect"
import type { Pool } from "../config/network.js"
import type { Nic, Pod } from "../spec/Pod.js"
import type { AddressTaken, PoolExhausted } from "../store/Allocations.js"
import { type Allocation, Allocations } from "../store/Allocations.js"
import type { StoreError } from "../store/Store.js"
import { contains, parseCidr, toInt } from "./ipv4.js"
import type { ResolvedNic } from "./Network.js"

/** What a NIC's address was decided from. */
export interface PlannedNic {
  readonly nic: ResolvedNic
  /** The pool it belongs to (static addresses inside a pool's subnet too). */
  readonly pool?: Pool
  /** Allocated (not a static address). */
  readonly allocated: boolean
}

/** A NIC's pool: the one it names, the default bridge pool, or the pool of its kind holding its static address. */
export const poolOf = (nic: Nic, pools: ReadonlyArray<Pool>): Pool | string | undefined => {
  const kind = nic.mode
  if (nic.address === undefined) {
    return pools.find((p) => p.kind === "bridge") ?? `no bridge pool is configured for ${nic.name}`
  }
  if (typeof nic.address === "object") {
    const name = nic.address.pool
    const p = pools.find((x) => x.name === name)
    if (p === undefined) return `${nic.name}: no pool "${name}" (configured: ${pools.map((x) => x.name).join(", ")})`
    if (p.kind !== kind) return `${nic.name}: pool "${name}" is a ${p.kind} pool, the NIC is ${kind}`
    return p
  }
  const c = parseCidr(nic.address)!
  const ip = toInt(nic.address.split("/")[0]!)
  const p = pools.find((x) => x.kind === kind && contains({ network: x.network, prefix: x.prefix }, ip))
  if (kind === "bridge" && p === undefined) return `${nic.name}: ${nic.address} is in no bridge pool's subnet`
  if (p !== undefined && p.prefix !== c.prefix) {
    return `${nic.name}: ${nic.address} has prefix /${c.prefix} but pool "${p.name}" is ${p.subnet}`
  }
  return p
}

/** The addresses of a pool never handed out: network, gateway, broadcast, reserved, a shim's. */
export const excluded = (pool: Pool, extra: ReadonlyArray<number> = []): ReadonlyArray<number> => [
  ...(pool.gateway !== undefined ? [toInt(pool.gateway)] : []),
  ...pool.reserved.map(toInt),
  ...(pool.shim?.address !== undefined ? [toInt(pool.shim.address)] : []),
  ...extra
]

/** A NIC's pool cannot be decided: unknown, of the other kind, or its address fits none. */
export class PoolError extends Schema.TaggedError<PoolError>()("PoolError", {
  nic: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** The port-claim pool of a node ("hostports", or "hostports@<node>" in a cluster). */
export const portPool = (node: string | undefined) => node === undefined ? "hostports" : `hostports@${node}`
export const isPortPool = (pool: string) => pool === "hostports" || pool.startsWith("hostports@")

/**
 * Decides every NIC of the pod: claims static addresses that lie in a pool, allocates pool addresses
 * (sticky), and releases the pod's allocations its spec no longer asks for. `avoid` gives addresses
 * of a pool to skip this time (an ARP probe found them held).
 */
export const planNics = (
  pod: Pod,
  pools: ReadonlyArray<Pool>,
  avoid: (pool: string) => ReadonlyArray<number>
): Effect.Effect<ReadonlyArray<PlannedNic>, StoreError | PoolExhausted | AddressTaken | PoolError, Allocations> =>
  Effect.gen(function*() {
    const allocations = yield* Allocations
    if (typeof pod.network !== "object") return []
    const withPools: Array<{ readonly nic: Nic; readonly pool: Pool | undefined }> = []
    for (const nic of pod.network.nics) {
      const pool = poolOf(nic, pools)
      if (typeof pool === "string") return yield* new PoolError({ nic: nic.name, reason: pool })
      withPools.push({ nic, pool })
    }
    // First let go of what the spec no longer asks for (a NIC renamed or moved to another pool), so
    // its address is free for the NICs decided below.
    const keep = new Set(withPools.flatMap((x) => x.pool !== undefined ? [`${x.pool.name}/${x.nic.name}`] : []))
    yield* allocations.release(pod.name, (a) => !isPortPool(a.pool) && !keep.has(`${a.pool}/${a.nic}`))
    const planned: Array<PlannedNic> = []
    for (const { nic, pool } of withPools) {
      const base = { name: nic.name, mode: nic.mode, parent: nic.parent }
      const gateway = nic.gateway ?? pool?.gateway
      const withGateway = gateway !== undefined ? { gateway } : {}
      const bridge = pool?.bridge !== undefined ? { bridge: pool.bridge } : {}
      if (typeof nic.address === "string") {
        if (pool !== undefined) {
          yield* allocations.claim({
            pool: pool.name,
            address: nic.address.split("/")[0]!,
            holder: pod.name,
            nic: nic.name
          })
        }
        planned.push({
          nic: { ...base, address: nic.address, ...withGateway, ...bridge },
          ...(pool !== undefined ? { pool } : {}),
          allocated: false
        })
        continue
      }
      const p = pool!
      const a = yield* allocations.allocate({
        pool: p.name,
        holder: pod.name,
        nic: nic.name,
        first: p.first,
        last: p.last,
        exclude: excluded(p, avoid(p.name))
      })
      planned.push({
        nic: { ...base, address: `${a.address}/${p.prefix}`, ...withGateway, ...bridge },
        pool: p,
        allocated: true
      })
    }
    return planned
  })

/** Claims the pod's host ports on this node (refusing one another pod publishes); releases ports it dropped. */
export const claimPorts = (
  pod: Pod,
  node: string | undefined
): Effect.Effect<ReadonlyArray<Allocation>, StoreError | AddressTaken, Allocations> =>
  Effect.gen(function*() {
    const allocations = yield* Allocations
    const ports = typeof pod.network === "object" ? pod.network.ports ?? [] : []
    const pool = portPool(node)
    const claims = yield* Effect.forEach(ports, (p) => {
      const key = `${p.protocol}/${p.hostPort}`
      return allocations.claim({ pool, address: key, holder: pod.name, nic: key })
    })
    const keep = new Set(claims.map((c) => c.address))
    yield* allocations.release(pod.name, (a) => isPortPool(a.pool) && !keep.has(a.address))
    return claims
  })
