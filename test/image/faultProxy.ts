/**
 * A small HTTP proxy of ours in front of the test registry, that counts requests and misbehaves on
 * demand: error statuses, Retry-After, connections reset mid-body, truncated or corrupted bodies,
 * silence. Used to prove retries, coalescing and offline mode, and that the cache stays clean.
 */
import { Effect, type Scope } from "effect"
import * as http from "node:http"
import type { Socket } from "node:net"
import { request } from "undici"

export type Fault =
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string }
  | { readonly kind: "reset" } // headers and half the body, then the connection is destroyed
  | { readonly kind: "truncate" } // a shorter body with a matching Content-Length
  | { readonly kind: "corrupt" } // the right length, one byte flipped
  | { readonly kind: "hang" } // accept, never answer
  | { readonly kind: "stall" } // headers and half the body, then silence
  | { readonly kind: "redirect"; readonly location: string } // 307 elsewhere (a CDN)
  | { readonly kind: "body"; readonly status: number; readonly contentType: string; readonly body: string }

export interface RequestInfo {
  readonly method: string
  readonly path: string
  /** "manifest" | "blob" | "other" */
  readonly kind: "manifest" | "blob" | "other"
  /** 1-based count of requests with this method and path so far. */
  readonly nth: number
  readonly range: string | undefined
  readonly authorization: string | undefined
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, to use as the registry part of refs. */
  readonly host: string
  readonly log: Array<RequestInfo>
  /** Requests matching a predicate so far. */
  readonly count: (p: (r: RequestInfo) => boolean) => number
  /** Replaces the fault plan. */
  readonly plan: (f: (r: RequestInfo) => Fault | undefined) => void
}

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"])

export const startFaultProxy = (upstream: string): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const log: Array<RequestInfo> = []
    const seen = new Map<string, number>()
    let decide: (r: RequestInfo) => Fault | undefined = () => undefined
    const sockets = new Set<Socket>()

    const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const path = req.url ?? "/"
      const method = req.method ?? "GET"
      const key = `${method} ${path}`
      const nth = (seen.get(key) ?? 0) + 1
      seen.set(key, nth)
      const kind = /\/manifests\//.test(path) ? "manifest" : /\/blobs\/sha256:/.test(path) ? "blob" : "other"
      const info: RequestInfo = {
        method,
        path,
        kind,
        nth,
        range: req.headers.range,
        authorization: req.headers.authorization
      }
      log.push(info)
      const fault = decide(info)
      if (fault?.kind === "hang") return
      if (fault?.kind === "status") {
        res.writeHead(fault.status, fault.retryAfter ? { "retry-after": fault.retryAfter } : {})
        return void res.end(`{"errors":[{"code":"INJECTED","message":"injected ${fault.status}"}]}`)
      }
      if (fault?.kind === "redirect") {
        res.writeHead(307, { location: fault.location })
        return void res.end()
      }
      if (fault?.kind === "body") {
        res.writeHead(fault.status, { "content-type": fault.contentType })
        return void res.end(fault.body)
      }
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host") headers[k] = v
      const up = await request(`http://${upstream}${path}`, { method: method as "GET", headers })
      let body = Buffer.from(await up.body.arrayBuffer())
      const out: Record<string, string | Array<string>> = {}
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v
      if (fault?.kind === "truncate") body = body.subarray(0, Math.floor(body.length / 2))
      if (fault?.kind === "corrupt" && body.length > 0) {
        body = Buffer.from(body)
        body[body.length - 1] = body[body.length - 1]! ^ 0xff
      }
      if (fault?.kind === "stall") {
        res.writeHead(up.statusCode, { ...out, "content-length": String(body.length) })
        res.write(body.subarray(0, Math.floor(body.length / 2)))
        return
      }
      if (fault?.kind === "reset") {
        res.writeHead(up.statusCode, { ...out, "content-length": String(body.length) })
        res.write(body.subarray(0, Math.floor(body.length / 2)))
        setTimeout(() => req.socket.destroy(), 10)
        return
      }
      res.writeHead(up.statusCode, { ...out, "content-length": String(body.length) })
      res.end(method === "HEAD" ? undefined : body)
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server>((resume) => {
        const s = http.createServer((req, res) => {
          handler(req, res).catch((e) => {
            res.writeHead(502)
            res.end(String(e))
          })
        })
        s.on("connection", (c) => {
          sockets.add(c)
          c.on("close", () => sockets.delete(c))
        })
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          for (const c of sockets) c.destroy()
          s.close(() => resume(Effect.void))
        })
    )
    const port = (server.address() as { port: number }).port
    return {
      host: `127.0.0.1:${port}`,
      log,
      count: (p) => log.filter(p).length,
      plan: (f) => {
        decide = f
      }
    }
  })

/** A ref string moved onto the proxy's host. */
export const via = (proxy: FaultProxy, ref: string) => ref.replace(/^[^/]+/, proxy.host)
