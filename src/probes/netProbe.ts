/**
 * httpGet and tcpSocket probes from inside the pod's network namespace, in the agent itself: the
 * socket is created in the pod's namespace (setns on the main thread, socket(), setns back: see
 * src/net/Netns.ts) and keeps that namespace for its life, so its connect reaches the pod's own
 * addresses and loopback (a `network: none` pod included), never the host's. No process per probe:
 * one non-blocking socket, closed when the probe ends or is interrupted by its timeout.
 */
import { Effect } from "effect"
import * as net from "node:net"
import { libc as sys } from "../host/libc.js"
import { check, SysError } from "../net/netlink.js"
import { inNetns, openNetnsFd } from "../net/Netns.js"
import { printable } from "../spec/printable.js"
import type { HttpGetAction, TcpSocketAction } from "../spec/probes.js"
import { httpRequest, readStatus, statusPasses } from "./http.js"
import type { ProbeOutcome } from "./timing.js"

const AF_INET = 2
const SOCK_STREAM = 1
const SOCK_NONBLOCK = 0o4000
const SOCK_CLOEXEC = 0o2000000

/** A TCP socket made in the namespace pinned at `netns` (undefined: the agent's own, a host-network pod). */
const socketIn = (netns: string | undefined): net.Socket => {
  const make = () => check("socket(AF_INET)", sys.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))
  let fd: number
  if (netns === undefined) fd = make()
  else {
    const ns = openNetnsFd(netns)
    try {
      fd = inNetns(ns, make)
    } finally {
      sys.close(ns)
    }
  }
  try {
    return new net.Socket({ fd, readable: true, writable: true })
  } catch (e) {
    sys.close(fd)
    throw e
  }
}

interface Target {
  readonly netns: string | undefined
  readonly host: string
  readonly port: number
}

/**
 * Connects, then `talk` (if any) decides the outcome from the socket; the socket is destroyed on
 * every path, interruption (the probe's timeout) included.
 */
const connectThen = (
  t: Target,
  talk: ((s: net.Socket, done: (o: ProbeOutcome) => void) => void) | undefined
): Effect.Effect<ProbeOutcome> =>
  Effect.async<ProbeOutcome>((resume) => {
    let s: net.Socket
    try {
      s = socketIn(t.netns)
    } catch (e) {
      resume(Effect.succeed({
        ok: false,
        detail: `no socket in the pod's network namespace: ${e instanceof SysError ? e.message : String(e)}`
      }))
      return
    }
    let over = false
    const done = (o: ProbeOutcome) => {
      if (over) return
      over = true
      s.destroy()
      resume(Effect.succeed(o))
    }
    s.on("error", (e: NodeJS.ErrnoException) =>
      done({ ok: false, detail: `${t.host}:${t.port}: ${e.code ?? printable(e.message, 200)}` }))
    s.on("close", () =>
      done({ ok: false, detail: `${t.host}:${t.port}: closed before an answer` }))
    s.connect({ port: t.port, host: t.host }, () => {
      if (talk === undefined) {
        done({ ok: true, detail: `connected to ${t.host}:${t.port}` })
      } else talk(s, done)
    })
    return Effect.sync(() => {
      over = true
      s.destroy()
    })
  })

export const tcpProbe = (netns: string | undefined, host: string, action: typeof TcpSocketAction.Type) =>
  connectThen({ netns, host: action.host ?? host, port: action.port }, undefined)

export const httpProbe = (netns: string | undefined, host: string, action: typeof HttpGetAction.Type) => {
  const to = action.host ?? host
  const url = `http://${to}:${action.port}${action.path}`
  return connectThen({ netns, host: to, port: action.port }, (s, done) => {
    let got = Buffer.alloc(0)
    s.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      const r = readStatus(got)
      if (r._tag === "status") {
        done({ ok: statusPasses(r.code), detail: `${printable(r.line, 200)} from ${url}` })
      } else if (r._tag === "bad") done({ ok: false, detail: `${url}: ${r.why}` })
    })
    s.write(httpRequest(action, to))
  })
}
