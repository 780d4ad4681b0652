/**
 * IPv4 arithmetic for pools, routes and reverse names. Pure; addresses as unsigned 32-bit numbers.
 */
import { parseIpv4 } from "../spec/fields.js"

export const toInt = (ip: string): number => {
  const o = parseIpv4(ip)
  if (o === undefined) throw new Error(`not an IPv4 address: ${ip}`)
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0
}

export const fromInt = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")

export const mask = (prefix: number): number => prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0

export interface Cidr {
  /** The network address (host bits zero). */
  readonly network: number
  readonly prefix: number
}

/** "10.0.0.0/24" → its network and prefix; undefined when malformed. Host bits are cleared. */
export const parseCidr = (s: string): Cidr | undefined => {
  const m = /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(s)
  if (m === null || parseIpv4(m[1]!) === undefined || Number(m[2]) > 32) return undefined
  const prefix = Number(m[2])
  return { network: (toInt(m[1]!) & mask(prefix)) >>> 0, prefix }
}

export const formatCidr = (c: Cidr): string => `${fromInt(c.network)}/${c.prefix}`

export const contains = (c: Cidr, ip: number): boolean => ((ip & mask(c.prefix)) >>> 0) === c.network

export const broadcast = (c: Cidr): number => (c.network | (~mask(c.prefix) >>> 0)) >>> 0

/** The usable host addresses of a subnet: without network and broadcast (except /31, /32). */
export const hosts = (c: Cidr): { readonly first: number; readonly last: number } =>
  c.prefix >= 31
    ? { first: c.network, last: broadcast(c) }
    : { first: c.network + 1, last: broadcast(c) - 1 }

export const overlaps = (a: Cidr, b: Cidr): boolean => {
  const p = Math.min(a.prefix, b.prefix)
  return ((a.network & mask(p)) >>> 0) === ((b.network & mask(p)) >>> 0)
}

/** The fewest CIDRs that cover exactly first..last (for routes to a pool's range). */
export const coveringCidrs = (first: number, last: number): ReadonlyArray<Cidr> => {
  const out: Array<Cidr> = []
  let cur = first
  while (cur <= last) {
    let prefix = 32
    // Grow the block while it stays aligned and inside the range.
    while (prefix > 0) {
      const size = 2 ** (32 - (prefix - 1))
      if (cur % size !== 0 || cur + size - 1 > last) break
      prefix--
    }
    out.push({ network: cur, prefix })
    cur += 2 ** (32 - prefix)
  }
  return out
}

/** "20.0.0.10" → "10.0.0.20.in-addr.arpa". */
export const reverseName = (ip: string): string => `${ip.split(".").reverse().join(".")}.in-addr.arpa`

/** "10.0.0.20.in-addr.arpa" → "20.0.0.10"; undefined for anything else. */
export const fromReverseName = (name: string): string | undefined => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa\.?$/i.exec(name)
  if (m === null) return undefined
  const ip = [m[4], m[3], m[2], m[1]].join(".")
  return parseIpv4(ip) === undefined ? undefined : ip
}
