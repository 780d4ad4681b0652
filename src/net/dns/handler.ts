/**
 * One DNS request in, one reply out (or nothing): Tank's own names from the zone, everything else
 * from the cache or forwarded upstream. Decoding is dns-packet's; anything it cannot read gets a
 * FORMERR when it has a header to answer to, and is dropped otherwise. Never throws.
 */
import * as dnsPacket from "dns-packet"
import { Effect } from "effect"
import type { AnswerCache } from "./cache.js"
import { lookup, type Zone } from "./zone.js"

const QR = 0x8000
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const

export interface HandlerEnv {
  readonly zone: () => Zone
  /** The upstream's raw reply to `query` (same id), or undefined if none answered in time. */
  readonly forward: (query: Buffer) => Effect.Effect<Buffer | undefined>
  readonly cache: AnswerCache
  readonly now: () => number
  /** TTL of Tank's own records (seconds). */
  readonly ttl: number
}

/** A bare reply header: the query's id and opcode, QR set, `rcode`, no sections. */
export const errorReply = (query: Uint8Array, rcode: number): Buffer => {
  const b = Buffer.alloc(12)
  b.writeUInt16BE((query[0]! << 8) | query[1]!, 0)
  const flags = (query[2]! << 8) | query[3]!
  // Keep opcode and RD; set QR and RA; the rcode.
  b.writeUInt16BE(QR | (flags & 0x7900) | 0x80 | rcode, 2)
  return b
}

const cacheKey = (q: dnsPacket.Question) => `${q.name.toLowerCase().replace(/\.$/, "")}|${q.type}|${q.class ?? "IN"}`

/** The smallest TTL of a reply's records (for caching); undefined if it cannot be read. */
const minTtl = (reply: Buffer): number | undefined => {
  try {
    const p = dnsPacket.decode(reply) as dnsPacket.DecodedPacket & { readonly rcode?: string }
    if (p.flag_tc === true) return undefined
    if (p.rcode !== "NOERROR" && p.rcode !== "NXDOMAIN") return undefined
    const records = [...(p.answers ?? []), ...(p.authorities ?? [])].filter((r) => r.type !== "OPT")
    const ttls = records.map((r) => (r as { ttl?: number }).ttl ?? 0)
    // A negative answer without an SOA has nothing to say how long: a short while.
    return ttls.length === 0 ? 5 : Math.min(...ttls)
  } catch {
    return undefined
  }
}

/** What to do with a query, decided synchronously (the hot path: Tank's names and cache hits). */
export type Decision =
  | { readonly _tag: "Reply"; readonly reply: Buffer }
  | { readonly _tag: "Drop" }
  /** Not Tank's and not cached: ask upstream, cache under `key`. */
  | { readonly _tag: "Forward"; readonly key: string }

export const decide = (env: HandlerEnv, query: Buffer): Decision => {
  if (query.length < 12) return { _tag: "Drop" }
  let packet: dnsPacket.DecodedPacket
  try {
    packet = dnsPacket.decode(query)
  } catch {
    return { _tag: "Reply", reply: errorReply(query, RCODE.FORMERR) }
  }
  if (packet.type === "response") return { _tag: "Drop" }
  if ((packet as { readonly opcode?: string }).opcode !== "QUERY") {
    return { _tag: "Reply", reply: errorReply(query, RCODE.NOTIMP) }
  }
  const questions = packet.questions ?? []
  if (questions.length !== 1) return { _tag: "Reply", reply: errorReply(query, RCODE.FORMERR) }
  const q = questions[0]!
  const found = lookup(env.zone(), q.name, q.type)
  if (found._tag === "Local") {
    try {
      return {
        _tag: "Reply",
        reply: dnsPacket.encode({
          id: packet.id ?? 0,
          type: "response",
          flags: dnsPacket.AUTHORITATIVE_ANSWER | ((packet.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
            dnsPacket.RECURSION_AVAILABLE | (found.exists ? RCODE.NOERROR : RCODE.NXDOMAIN),
          questions: [q],
          answers: found.answers.map((a) =>
            a.type === "A"
              ? { type: "A" as const, name: q.name, ttl: env.ttl, class: "IN" as const, data: a.data }
              : { type: "PTR" as const, name: q.name, ttl: env.ttl, class: "IN" as const, data: a.data }
          )
        })
      }
    } catch {
      return { _tag: "Reply", reply: errorReply(query, RCODE.SERVFAIL) }
    }
  }
  const key = cacheKey(q)
  const hit = env.cache.get(key, env.now())
  if (hit !== undefined) {
    const copy = Buffer.from(hit)
    query.copy(copy, 0, 0, 2)
    return { _tag: "Reply", reply: copy }
  }
  return { _tag: "Forward", key }
}

/** Forwards a query `decide` could not answer; SERVFAIL when no upstream answered. */
export const forwardQuery = (env: HandlerEnv, query: Buffer, key: string): Effect.Effect<Buffer> =>
  env.forward(query).pipe(
    Effect.map((reply) => {
      if (reply === undefined || reply.length < 12) return errorReply(query, RCODE.SERVFAIL)
      const ttl = minTtl(reply)
      if (ttl !== undefined) env.cache.set(key, reply, ttl, env.now())
      return reply
    })
  )

export const handle = (env: HandlerEnv, query: Buffer): Effect.Effect<Buffer | undefined> =>
  Effect.suspend(() => {
    const d = decide(env, query)
    return d._tag === "Reply"
      ? Effect.succeed(d.reply)
      : d._tag === "Drop"
      ? Effect.succeed(undefined)
      : forwardQuery(env, query, d.key)
  })
