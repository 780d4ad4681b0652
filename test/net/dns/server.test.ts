/**
 * Tank's DNS service on loopback (no namespaces needed): its own names (A, PTR, NXDOMAIN, any case),
 * forwarding with a cache, UDP and TCP, SERVFAIL when the upstream is silent, a per-source rate, and
 * thousands of malformed packets that never take it down.
 */
import { assert, describe, it } from "@effect/vitest"
import * as dnsPacket from "dns-packet"
import { Effect, Either } from "effect"
import { randomBytes } from "node:crypto"
import * as dgram from "node:dgram"
import * as net from "node:net"
import { makeDnsServer } from "../../../src/net/dns/server.js"
import { zoneFrom } from "../../../src/net/dns/zone.js"
import type { Pod } from "../../../src/spec/Pod.js"

const pods = [
  {
    name: "web",
    network: { nics: [{ name: "eth0", mode: "macvlan", parent: "auto", address: "10.0.0.5/24" }], dns: [] }
  },
  {
    name: "api",
    network: { nics: [{ name: "eth0", mode: "bridge", parent: "auto", address: { pool: "default" } }], dns: [] }
  }
] as unknown as ReadonlyArray<Pod>
const zone = zoneFrom("tank.internal", pods, [
  { pool: "default", address: "10.88.0.2", holder: "api", nic: "eth0", at: 0 }
])

/**
 * A port for the server under test (UDP and TCP on the same number, so no bind to 0): random below the
 * kernel's ephemeral range (32768-60999 by default), where the machine's own connections take ports;
 * `server` draws another when it is taken all the same (other tests listen too).
 */
const port = () => 20000 + Math.floor(Math.random() * 12000)

/**
 * A UDP upstream on 127.0.0.1 (a port the kernel picks) answering every A question with 1.2.3.4
 * (TTL 60), counting queries.
 */
const fakeUpstream = () =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: dgram.Socket; readonly port: number; readonly count: () => number }>((resume) => {
      let n = 0
      const s = dgram.createSocket("udp4")
      s.on("message", (msg, r) => {
        n++
        const q = dnsPacket.decode(msg)
        s.send(
          dnsPacket.encode({
            id: q.id!,
            type: "response",
            flags: dnsPacket.RECURSION_AVAILABLE,
            questions: q.questions!,
            answers: [{ type: "A", name: q.questions![0]!.name, ttl: 60, data: "1.2.3.4" }]
          }),
          r.port,
          r.address
        )
      })
      s.once("error", (e) => resume(Effect.die(e)))
      s.bind(0, "127.0.0.1", () => resume(Effect.succeed({ socket: s, port: s.address().port, count: () => n })))
    }),
    (u) => Effect.sync(() => u.socket.close())
  )

/** One question over UDP, asked up to 3 times as a resolver does (a datagram may be lost under load). */
const udpAsk = (p: number, packet: Buffer, timeoutMs = 1500) =>
  udpAskOnce(p, packet, timeoutMs).pipe(
    Effect.repeat({ until: (b) => b !== undefined, times: 2 })
  )

const udpAskOnce = (p: number, packet: Buffer, timeoutMs: number) =>
  Effect.async<Buffer | undefined>((resume) => {
    const s = dgram.createSocket("udp4")
    const t = setTimeout(() => {
      s.close()
      resume(Effect.succeed(undefined))
    }, timeoutMs)
    s.on("message", (m) => {
      clearTimeout(t)
      s.close()
      resume(Effect.succeed(m))
    })
    s.send(packet, p, "127.0.0.1")
  })

const query = (name: string, type: "A" | "PTR" = "A", id = 4242) =>
  dnsPacket.encode({ id, type: "query", flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] })

const decoded = (b: Buffer | undefined) => {
  assert.isDefined(b, "no reply")
  return dnsPacket.decode(b!) as dnsPacket.DecodedPacket & { rcode: string }
}

const tcpAsk = (p: number, packet: Buffer) =>
  Effect.async<Buffer>((resume) => {
    const c = net.connect(p, "127.0.0.1")
    let buf = Buffer.alloc(0)
    c.on("data", (d) => {
      buf = Buffer.concat([buf, d])
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        c.end()
        resume(Effect.succeed(buf.subarray(2, 2 + buf.readUInt16BE(0))))
      }
    })
    c.write(dnsPacket.streamEncode(dnsPacket.decode(packet)))
  })

const server = (upPort: number, extra: { perSourceQps?: number } = {}) =>
  Effect.gen(function*() {
    for (let attempt = 1;; attempt++) {
      const p = port()
      const dns = yield* makeDnsServer({
        port: p,
        zone: () => zone,
        upstream: () => ["127.0.0.1"],
        upstreamPort: upPort,
        upstreamTimeoutMs: 300,
        ...extra
      })
      const listened = yield* Effect.either(dns.listen("127.0.0.1"))
      if (Either.isRight(listened)) return { p, dns }
      // Taken by another listener of this machine: another number (the failure is the test's, not the server's).
      if (attempt === 5 || !listened.left.message.includes("EADDRINUSE")) return yield* Effect.fail(listened.left)
    }
  })

describe("DNS service (loopback)", () => {
  it.scopedLive("A and PTR for pods (static and pooled), NXDOMAIN in the domain, any case, over UDP and TCP", () =>
    Effect.gen(function*() {
      const { p } = yield* server(port())
      const web = decoded(yield* udpAsk(p, query("WEB.Tank.Internal")))
      assert.strictEqual(web.id, 4242)
      assert.strictEqual(web.rcode, "NOERROR")
      assert.isTrue(web.flag_aa)
      assert.deepStrictEqual(web.answers!.map((a) => (a as { data?: unknown }).data), ["10.0.0.5"])
      const api = decoded(yield* tcpAsk(p, query("api.tank.internal")))
      assert.deepStrictEqual(api.answers!.map((a) => (a as { data?: unknown }).data), ["10.88.0.2"])
      const ptr = decoded(yield* udpAsk(p, query("2.0.88.10.in-addr.arpa", "PTR")))
      assert.deepStrictEqual(ptr.answers!.map((a) => (a as { data?: unknown }).data), ["api.tank.internal"])
      const none = decoded(yield* udpAsk(p, query("nope.tank.internal")))
      assert.strictEqual(none.rcode, "NXDOMAIN")
    }))

  it.scopedLive("other names are forwarded upstream and cached by TTL; a silent upstream gives SERVFAIL", () =>
    Effect.gen(function*() {
      const upstream = yield* fakeUpstream()
      const { p } = yield* server(upstream.port)
      const a = decoded(yield* udpAsk(p, query("example.com", "A", 7)))
      assert.strictEqual(a.id, 7)
      assert.deepStrictEqual(a.answers!.map((x) => (x as { data?: unknown }).data), ["1.2.3.4"])
      const b = decoded(yield* udpAsk(p, query("Example.COM", "A", 8)))
      assert.strictEqual(b.id, 8, "a cached answer carries the new query's id")
      assert.deepStrictEqual(b.answers!.map((x) => (x as { data?: unknown }).data), ["1.2.3.4"])
      assert.strictEqual(upstream.count(), 1, "the second answer came from the cache")
      const { p: p2 } = yield* server(port())
      const fail = decoded(yield* udpAsk(p2, query("example.org")))
      assert.strictEqual(fail.rcode, "SERVFAIL")
    }))

  it.scopedLive("5000 random and truncated packets never take it down; a FORMERR keeps the query's id", () =>
    Effect.gen(function*() {
      const { p } = yield* server(port(), { perSourceQps: 1_000_000 })
      const s = dgram.createSocket("udp4")
      const valid = query("web.tank.internal")
      for (let i = 0; i < 5000; i++) {
        const junk = i % 2 === 0
          ? randomBytes(Math.floor(Math.random() * 600))
          : Buffer.concat([valid.subarray(0, Math.floor(Math.random() * valid.length)), randomBytes(i % 7)])
        s.send(junk, p, "127.0.0.1")
        if (i % 500 === 0) yield* Effect.sleep("5 millis")
      }
      s.close()
      // A header with a question count but nothing after it: FORMERR, same id.
      const head = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
      const formerr = decoded(yield* udpAsk(p, head))
      assert.strictEqual(formerr.id, 0x1234)
      assert.strictEqual(formerr.rcode, "FORMERR")
      const still = decoded(yield* udpAsk(p, query("web.tank.internal")))
      assert.deepStrictEqual(still.answers!.map((a) => (a as { data?: unknown }).data), ["10.0.0.5"])
      // TCP garbage too: a length prefix promising more than it sends, then a close.
      yield* Effect.async<void>((resume) => {
        const c = net.connect(p, "127.0.0.1", () => {
          c.end(Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(100)]))
        })
        c.on("close", () => resume(Effect.void))
        c.on("error", () => resume(Effect.void))
      })
      const tcp = decoded(yield* tcpAsk(p, query("web.tank.internal")))
      assert.deepStrictEqual(tcp.answers!.map((a) => (a as { data?: unknown }).data), ["10.0.0.5"])
    }))

  it.scopedLive("a source over its rate is dropped, and served again once its bucket refills", () =>
    Effect.gen(function*() {
      const { dns, p } = yield* server(port(), { perSourceQps: 20 })
      const s = dgram.createSocket("udp4")
      let replies = 0
      s.on("message", () => replies++)
      for (let i = 0; i < 300; i++) s.send(query("web.tank.internal", "A", i), p, "127.0.0.1")
      yield* Effect.sleep("300 millis")
      s.close()
      assert.isBelow(replies, 100, `got ${replies} replies`)
      assert.isAbove(dns.stats().dropped, 200)
      yield* Effect.sleep("1 second")
      const again = decoded(yield* udpAsk(p, query("web.tank.internal")))
      assert.strictEqual(again.rcode, "NOERROR")
    }))
})
