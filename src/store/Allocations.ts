/**
 * Address allocations (IPAM) in the store: which pod (or host shim) holds which address of which pool,
 * and which host port a pod publishes. One Tag, three layers that pass one suite
 * (test/store/allocationsSuite.ts): memory, SQLite (allocationsSql.ts), etcd (allocationsEtcd.ts).
 *
 * Every write is one transaction (SQLite: a write lock first; etcd: a compare-and-swap on the
 * address key and the holder key together), so two processes or two agents never hand out the same
 * address. An allocation is keyed by (pool, holder, nic): asking again returns the same address
 * (sticky across restarts), until it is released.
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"
import type { StoreError } from "./Store.js"

export interface Allocation {
  readonly pool: string
  /** "a.b.c.d" (pools), or "tcp/8080" (host ports). */
  readonly address: string
  /** A pod name, or "host:<node>" for a host shim. */
  readonly holder: string
  /** The NIC (or shim link, or port) it is for. */
  readonly nic: string
  /** Epoch millis of the allocation. */
  readonly at: number
}

/** Numbers are IPv4 addresses as unsigned 32-bit integers (src/net/ipv4.ts). */
export interface AllocateRequest {
  readonly pool: string
  readonly holder: string
  readonly nic: string
  /** The candidates: first..last in order, without `exclude`. */
  readonly first: number
  readonly last: number
  readonly exclude?: ReadonlyArray<number>
}

export interface ClaimRequest {
  readonly pool: string
  readonly address: string
  readonly holder: string
  readonly nic: string
}

/** Every candidate of the pool is taken. */
export class PoolExhausted extends Schema.TaggedError<PoolExhausted>()("PoolExhausted", {
  pool: Schema.String,
  size: Schema.Number
}) {
  override get message() {
    return `pool "${this.pool}" has no free address (all ${this.size} are allocated or reserved)`
  }
}

/** The address (or port) is held by someone else. */
export class AddressTaken extends Schema.TaggedError<AddressTaken>()("AddressTaken", {
  pool: Schema.String,
  address: Schema.String,
  holder: Schema.String,
  nic: Schema.String
}) {
  override get message() {
    return `${this.address} in pool "${this.pool}" is held by ${
      this.holder.startsWith("host:") ? `the host shim ${this.nic}` : `pod "${this.holder}" (${this.nic})`
    }`
  }
}

export interface AllocationsService {
  /**
   * The holder's address for this NIC in this pool: the one it already has, else the first free
   * candidate (taken in the same transaction).
   */
  readonly allocate: (req: AllocateRequest) => Effect.Effect<Allocation, StoreError | PoolExhausted>
  /**
   * A given address for the holder's NIC (a static address, a host port): ok if free or already its
   * own; the holder's earlier address for that NIC in this pool, if another, is released.
   */
  readonly claim: (req: ClaimRequest) => Effect.Effect<Allocation, StoreError | AddressTaken>
  /**
   * Release the holder's allocations: all of them, or those `which` selects. Released ones are
   * returned. Only releases what the holder still holds (an address re-allocated meanwhile is not).
   */
  readonly release: (
    holder: string,
    which?: (a: Allocation) => boolean
  ) => Effect.Effect<ReadonlyArray<Allocation>, StoreError>
  /** Every allocation, by pool then address. */
  readonly list: Effect.Effect<ReadonlyArray<Allocation>, StoreError>
}

export class Allocations extends Context.Tag("tank/Allocations")<Allocations, AllocationsService>() {}

/** The first free candidate, or undefined. `taken` holds numbers of addresses already allocated. */
export const firstFree = (req: AllocateRequest, taken: ReadonlySet<number>): number | undefined => {
  const exclude = new Set(req.exclude ?? [])
  for (let n = req.first; n <= req.last; n++) {
    if (!taken.has(n) && !exclude.has(n)) return n
  }
  return undefined
}

export const poolSize = (req: AllocateRequest): number => Math.max(0, req.last - req.first + 1)

export const byPoolAndAddress = (a: Allocation, b: Allocation): number =>
  a.pool !== b.pool ? (a.pool < b.pool ? -1 : 1) : compareAddress(a.address, b.address)

const compareAddress = (a: string, b: string): number => {
  const na = ipNumber(a), nb = ipNumber(b)
  if (na !== undefined && nb !== undefined) return na - nb
  return a < b ? -1 : a > b ? 1 : 0
}

export const ipNumber = (s: string): number | undefined => {
  const p = s.split(".")
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return undefined
  return p.reduce((n, x) => n * 256 + Number(x), 0)
}

export const ipText = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")
