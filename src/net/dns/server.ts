/**
 * Tank's DNS service: UDP and TCP listeners on the addresses pods reach (bridge gateways, shims), in
 * the namespace that plays the host, answering through `handle` (handler.ts).
 *
 * Sockets are made in that namespace with Node's own dgram/net: the UDP socket is bound with a
 * synchronous lookup, so its fd is created by the bind call while the main thread is in the
 * namespace (Netns.ts), and the TCP listener is a socket made there with libc and handed to
 * `net.Server.listen({ fd })`. Upstream queries leave by one UDP socket made there too, multiplexed by
 * query id (bounded in flight, each with a timeout).
 *
 * Bounds: a per-source rate, the queries being forwarded at once, TCP connections and their idle
 * time, the answer cache. A malformed packet gets a FORMERR or nothing, and never an exception.
 */
import { Deferred, Duration, Effect, Runtime, Scope } from "effect"
import * as dgram from "node:dgram"
import * as net from "node:net"
import { libc } from "../../host/libc.js"
import { inNamespace } from "../bridge.js"
import { NetlinkError } from "../errors.js"
import { check } from "../netlink.js"
import { AnswerCache, RateLimiter } from "./cache.js"
import { decide, type Decision, forwardQuery, handle, type HandlerEnv } from "./handler.js"
import type { Zone } from "./zone.js"

export interface DnsOptions {
  /** The namespace that plays the host (undefined: the agent's own). */
  readonly netns?: string
  readonly port: number
  readonly zone: () => Zone
  /** Servers for other names, asked in order. Empty: such names get SERVFAIL. */
  readonly upstream: () => ReadonlyArray<string>
  /** The upstreams' port (53; tests use another). */
  readonly upstreamPort?: number
  readonly ttl?: number
  readonly cacheEntries?: number
  readonly perSourceQps?: number
  readonly upstreamTimeoutMs?: number
  readonly maxInFlight?: number
  readonly maxTcp?: number
}

export interface DnsServer {
  /** Serve on `address` too (idempotent); the listeners live until the server's scope closes. */
  readonly listen: (address: string) => Effect.Effect<void, NetlinkError>
  readonly addresses: () => ReadonlyArray<string>
  readonly stats: () => { readonly cached: number; readonly dropped: number; readonly served: number }
}

const AF_INET = 2
const SOCK_STREAM = 1
const SOCK_NONBLOCK = 0x800
const SOCK_CLOEXEC = 0x80000
const SOL_SOCKET = 1
const SO_REUSEADDR = 2

const sockaddrIn = (ip: string, port: number) => {
  const b = Buffer.alloc(16)
  b.writeUInt16LE(AF_INET, 0)
  b.writeUInt16BE(port, 2)
  Buffer.from(ip.split(".").map(Number)).copy(b, 4)
  return b
}

/** A listening TCP socket on ip:port, made in the namespace at `netns`. */
const tcpListenFd = (netns: string | undefined, ip: string, port: number): number =>
  inNamespace(netns, () => {
    const fd = check("socket(tcp)", libc.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
    try {
      const one = Buffer.alloc(4)
      one.writeInt32LE(1)
      check("setsockopt(SO_REUSEADDR)", libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4))
      const addr = sockaddrIn(ip, port)
      check(`bind(${ip}:${port})`, libc.bind(fd, addr, addr.length))
      check("listen", libc.listen(fd, 64))
      return fd
    } catch (e) {
      libc.close(fd)
      throw e
    }
  })

/** A UDP socket bound to ip:port in the namespace at `netns` (the bind creates the fd, synchronously). */
const udpSocket = (netns: string | undefined, ip: string, port: number): dgram.Socket => {
  const socket = dgram.createSocket({
    type: "udp4",
    // A literal address: answered at once, so `bind` creates and binds the fd before it returns.
    lookup: (address, _family, cb) => (cb as (e: null, a: string, f: number) => void)(null, address, 4)
  })
  let failure: unknown
  socket.once("error", (e) => (failure = e))
  inNamespace(netns, () => socket.bind({ port, address: ip, exclusive: true }))
  if (failure !== undefined) throw failure
  return socket
}

const failed = (op: string) => (e: unknown) =>
  new NetlinkError({ op, errno: (e as { errno?: number }).errno ?? 0, message: String((e as Error).message ?? e) })

export const makeDnsServer = (o: DnsOptions): Effect.Effect<DnsServer, NetlinkError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runFork(runtime)
    const cache = new AnswerCache(o.cacheEntries ?? 10_000)
    const limiter = new RateLimiter(o.perSourceQps ?? 2000, (o.perSourceQps ?? 2000) * 2)
    const timeoutMs = o.upstreamTimeoutMs ?? 2000
    const maxInFlight = o.maxInFlight ?? 256
    const upstreamPort = o.upstreamPort ?? 53
    const counters = { dropped: 0, served: 0 }

    // --- upstream: one socket, queries multiplexed by id -------------------------------------------
    const pending = new Map<number, { readonly server: string; readonly done: Deferred.Deferred<Buffer> }>()
    const upstreamSocket = yield* Effect.acquireRelease(
      Effect.try({ try: () => udpSocket(o.netns, "0.0.0.0", 0), catch: failed("dns upstream socket") }),
      (s) => Effect.sync(() => s.close())
    )
    upstreamSocket.on("error", () => {})
    upstreamSocket.on("message", (msg, rinfo) => {
      if (msg.length < 12) return
      const id = msg.readUInt16BE(0)
      const p = pending.get(id)
      if (p === undefined || p.server !== rinfo.address || rinfo.port !== upstreamPort) return
      pending.delete(id)
      run(Deferred.succeed(p.done, msg))
    })
    const freeId = (): number | undefined => {
      for (let i = 0; i < 16; i++) {
        const id = Math.floor(Math.random() * 65536)
        if (!pending.has(id)) return id
      }
      return undefined
    }
    /** Asks each upstream in turn; the reply with the client's id restored. */
    const forward = (query: Buffer): Effect.Effect<Buffer | undefined> =>
      Effect.gen(function*() {
        for (const server of o.upstream()) {
          if (pending.size >= maxInFlight) return undefined
          const id = freeId()
          if (id === undefined) return undefined
          const done = yield* Deferred.make<Buffer>()
          pending.set(id, { server, done })
          const out = Buffer.from(query)
          out.writeUInt16BE(id, 0)
          upstreamSocket.send(out, upstreamPort, server, () => {})
          const reply = yield* Deferred.await(done).pipe(
            Effect.timeout(Duration.millis(timeoutMs)),
            Effect.option,
            Effect.ensuring(Effect.sync(() => pending.delete(id)))
          )
          if (reply._tag === "Some") {
            const r = Buffer.from(reply.value)
            query.copy(r, 0, 0, 2)
            return r
          }
        }
        return undefined
      })

    const env: HandlerEnv = { zone: o.zone, forward, cache, now: () => Date.now(), ttl: o.ttl ?? 5 }
    const answer = (query: Buffer) => handle(env, query).pipe(Effect.catchAllDefect(() => Effect.succeed(undefined)))

    // --- listeners -----------------------------------------------------------------------------------
    const listening = new Map<string, true>()
    let tcpOpen = 0

    let forwarding = 0
    /**
     * UDP: Tank's names and cached answers are answered in the socket's callback (decide is pure and
     * synchronous: tens of µs); only forwarding runs as a fiber, at most `maxInFlight` at once.
     */
    const serveUdp = (socket: dgram.Socket) =>
      Effect.sync(() => {
        socket.on("error", () => {})
        socket.on("message", (msg, rinfo) => {
          if (!limiter.allow(rinfo.address, Date.now())) {
            counters.dropped++
            return
          }
          const reply = (buf: Buffer) => {
            counters.served++
            // Forwarded replies fit: the client's own query (its EDNS size) went upstream.
            socket.send(buf, rinfo.port, rinfo.address, () => {})
          }
          let d: Decision
          try {
            d = decide(env, msg)
          } catch {
            return
          }
          if (d._tag === "Reply") return reply(d.reply)
          if (d._tag === "Drop") return
          if (forwarding >= maxInFlight) {
            counters.dropped++
            return
          }
          forwarding++
          run(
            forwardQuery(env, msg, d.key).pipe(
              Effect.tap((buf) => Effect.sync(() => reply(buf))),
              Effect.catchAllDefect(() => Effect.void),
              Effect.ensuring(Effect.sync(() => forwarding--))
            )
          )
        })
      })

    const serveTcpConnection = (c: net.Socket) => {
      if (tcpOpen >= (o.maxTcp ?? 64)) return c.destroy()
      tcpOpen++
      c.setTimeout(10_000, () => c.destroy())
      c.on("error", () => {})
      c.on("close", () => tcpOpen--)
      let buf = Buffer.alloc(0)
      let busy = false
      const next = () => {
        if (busy || buf.length < 2) return
        const len = buf.readUInt16BE(0)
        if (buf.length < 2 + len) return
        const msg = Buffer.from(buf.subarray(2, 2 + len))
        buf = buf.subarray(2 + len)
        busy = true
        run(
          answer(msg).pipe(Effect.tap((reply) =>
            Effect.sync(() => {
              busy = false
              if (reply !== undefined && !c.destroyed) {
                counters.served++
                const head = Buffer.alloc(2)
                head.writeUInt16BE(reply.length)
                c.write(Buffer.concat([head, reply]))
              }
              next()
            })
          ))
        )
      }
      c.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        // A client that sends more than it could ever mean is cut off.
        if (buf.length > 2 * 65537) return c.destroy()
        next()
      })
    }

    const listen = (address: string): Effect.Effect<void, NetlinkError> =>
      Effect.gen(function*() {
        if (listening.has(address)) return
        const udp = yield* Effect.try({
          try: () => udpSocket(o.netns, address, o.port),
          catch: failed(`dns listen udp ${address}:${o.port}`)
        })
        yield* Scope.addFinalizer(scope, Effect.sync(() => udp.close()))
        yield* serveUdp(udp)
        const fd = yield* Effect.try({
          try: () => tcpListenFd(o.netns, address, o.port),
          catch: failed(`dns listen tcp ${address}:${o.port}`)
        })
        const server = net.createServer(serveTcpConnection)
        server.on("error", () => {})
        yield* Effect.async<void, NetlinkError>((resume) => {
          server.listen({ fd }, () => resume(Effect.void))
        })
        yield* Scope.addFinalizer(
          scope,
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
        )
        listening.set(address, true)
      })

    yield* Scope.addFinalizer(scope, Effect.sync(() => pending.clear()))
    return {
      listen,
      addresses: () => [...listening.keys()],
      stats: () => ({ cached: cache.size, ...counters })
    } satisfies DnsServer
  })
