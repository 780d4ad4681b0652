/**
 * Low-level HTTP to a registry on undici: one connection pool per registry (with its TLS trust),
 * https-first with a plain-HTTP fallback where allowed, redirects (Authorization dropped across
 * origins), and error classification into the typed errors of ../errors.ts.
 */
import { Effect } from "effect"
import * as tls from "node:tls"
import { Agent, type Dispatcher, request } from "undici"
import {
  ContentTooLarge,
  RegistryHttpError,
  RegistryTimeout,
  RegistryTlsError,
  RegistryUnreachable,
  type Step
} from "../errors.js"
import { parseRetryAfter } from "./auth.js"
import { allowsPlainHttp, type RegistryEntry } from "./config.js"

export type Response = Dispatcher.ResponseData

export interface Endpoint {
  readonly registry: string
  readonly entry: RegistryEntry
  readonly dispatcher: Agent
  /** Decided on first contact: "https", or "http" after a TLS handshake met a plain-HTTP server. */
  scheme: "https" | "http" | undefined
}

export const makeEndpoint = (
  registry: string,
  entry: RegistryEntry,
  extraCa: ReadonlyArray<string>,
  timeoutMs: number
): Endpoint => {
  // Passing `ca` replaces Node's bundled roots, so keep them next to the registry's own CA.
  const ca = extraCa.length > 0 ? [...tls.rootCertificates, ...extraCa] : undefined
  const dispatcher = new Agent({
    connect: {
      timeout: timeoutMs,
      ...(ca ? { ca } : {}),
      ...(entry.insecure === true ? { rejectUnauthorized: false } : {})
    },
    keepAliveTimeout: 10_000,
    connections: 8
  })
  return { registry, entry, dispatcher, scheme: undefined }
}

const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME/

const codeOf = (e: unknown): string => {
  const err = e as { code?: unknown; cause?: { code?: unknown } } | null
  const code = err?.code ?? err?.cause?.code
  return typeof code === "string" ? code : (e as Error)?.name ?? "Error"
}

const reasonOf = (e: unknown): string => {
  const err = e as { message?: unknown; cause?: { message?: unknown } } | null
  const m = err?.cause?.message ?? err?.message
  return typeof m === "string" ? m : String(e)
}

/** True for a TLS client talking to a plain-HTTP server (OpenSSL sees an HTTP 400 as a bad record). */
const isNotTls = (code: string) => code.startsWith("ERR_SSL_") && !CERT_CODES.test(code)

export type TransportError = RegistryUnreachable | RegistryTimeout | RegistryTlsError

export const classify = (e: unknown, ep: Endpoint, url: string, step: Step, timeoutMs: number): TransportError => {
  const code = codeOf(e)
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
    return new RegistryTimeout({ registry: ep.registry, url, step, timeoutMs })
  }
  if (CERT_CODES.test(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) {
    return new RegistryTlsError({ registry: ep.registry, url, code, reason: reasonOf(e) })
  }
  return new RegistryUnreachable({ registry: ep.registry, url, step, code, reason: reasonOf(e) })
}

export interface SendOptions {
  readonly method?: "GET" | "HEAD"
  readonly headers: Record<string, string>
  readonly step: Step
  readonly timeoutMs: number
}

const rawRequest = (ep: Endpoint, url: string, opts: SendOptions, headers: Record<string, string>) =>
  Effect.tryPromise({
    try: (signal) =>
      request(url, {
        method: opts.method ?? "GET",
        headers,
        dispatcher: ep.dispatcher,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        signal
      }),
    catch: (e) => ({ error: e })
  })

/** Discards a response body we do not need (keeps the connection reusable). */
export const dump = (res: Response) => Effect.promise(() => res.body.dump().catch(() => undefined))

/**
 * Sends one request to `path` (starting "/v2/") or to an absolute URL, following up to 5 redirects.
 * Returns the final response whatever its status; the caller owns the body.
 */
export const send = (
  ep: Endpoint,
  pathOrUrl: string,
  opts: SendOptions
): Effect.Effect<Response, TransportError> =>
  Effect.gen(function*() {
    const absolute = /^https?:\/\//.test(pathOrUrl)
    let scheme = ep.scheme ?? "https"
    let url = absolute ? pathOrUrl : `${scheme}://${ep.registry}${pathOrUrl}`
    let headers = opts.headers
    for (let hop = 0; hop <= 5; hop++) {
      const attempt = yield* Effect.either(rawRequest(ep, url, opts, headers))
      if (attempt._tag === "Left") {
        const code = codeOf(attempt.left.error)
        // Concurrent first requests may all meet the plain-HTTP server; each falls back.
        const canFallBack = !absolute && hop === 0 && ep.scheme !== "https" && scheme === "https" &&
          allowsPlainHttp(ep.entry, ep.registry) && isNotTls(code)
        if (canFallBack) {
          scheme = "http"
          ep.scheme = "http"
          url = `http://${ep.registry}${pathOrUrl}`
          hop--
          continue
        }
        return yield* classify(attempt.left.error, ep, url, opts.step, opts.timeoutMs)
      }
      const res = attempt.right
      if (!absolute && hop === 0 && ep.scheme === undefined) ep.scheme = scheme
      const location = res.headers["location"]
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === "string") {
        yield* dump(res)
        const next = new URL(location, url)
        // Never hand registry credentials to a CDN or other host we were redirected to.
        if (next.origin !== new URL(url).origin) {
          const { authorization: _drop, ...rest } = headers
          headers = rest
        }
        url = next.toString()
        continue
      }
      return res
    }
    return yield* new RegistryUnreachable({
      registry: ep.registry,
      url,
      step: opts.step,
      code: "TOO_MANY_REDIRECTS",
      reason: ""
    })
  })

export const header = (res: Response, name: string): string | undefined => {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Most of an error body read for its message; a registry (or anything posing as one) may send more. */
export const ERROR_BODY_LIMIT = 64 * 1024
const DETAIL_CHARS = 512

/**
 * The start of an error body: at most ERROR_BODY_LIMIT bytes and at most `timeoutMs` of reading (a
 * trickling or endless body is cut, and its connection closed), so memory and time stay bounded.
 */
export const readErrorBody = (
  res: Response,
  timeoutMs: number
): Effect.Effect<{ readonly text: string; readonly cut: "size" | "time" | undefined }> =>
  Effect.promise(async () => {
    const chunks: Array<Buffer> = []
    let n = 0
    let cut: "size" | "time" | undefined
    const timer = setTimeout(() => {
      cut = "time"
      res.body.destroy()
    }, timeoutMs)
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const room = ERROR_BODY_LIMIT - n
        if (chunk.length >= room) {
          chunks.push(chunk.subarray(0, room))
          n += room
          cut = "size"
          break
        }
        chunks.push(chunk)
        n += chunk.length
      }
    } catch {
      // A body that breaks off still has its start.
    } finally {
      clearTimeout(timer)
      if (cut) res.body.destroy()
    }
    return { text: Buffer.concat(chunks).toString("utf8"), cut }
  })

/** Fails with a RegistryHttpError for an unexpected status (reading a bounded start of the body for the message). */
export const failHttp = (
  ep: Endpoint,
  res: Response,
  url: string,
  step: Step,
  timeoutMs = 30_000
): Effect.Effect<never, RegistryHttpError> =>
  Effect.gen(function*() {
    const { cut, text } = yield* readErrorBody(res, timeoutMs)
    const retryAfterMs = parseRetryAfter(header(res, "retry-after"), Date.now())
    const shown = text.slice(0, DETAIL_CHARS).trim()
    const more = cut === "size"
      ? ` … (error body cut at ${ERROR_BODY_LIMIT / 1024} KiB)`
      : cut === "time"
      ? ` … (error body cut after ${timeoutMs} ms)`
      : text.length > DETAIL_CHARS
      ? " …"
      : ""
    return yield* new RegistryHttpError({
      registry: ep.registry,
      url,
      step,
      status: res.statusCode,
      detail: shown + more,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {})
    })
  })

/** Reads a whole body, refusing more than `limit` bytes (checked against Content-Length first). */
export const readLimited = (
  ep: Endpoint,
  res: Response,
  url: string,
  step: Step,
  limit: number,
  what: string,
  timeoutMs: number
): Effect.Effect<Buffer, ContentTooLarge | TransportError> =>
  Effect.gen(function*() {
    const declared = Number(header(res, "content-length") ?? NaN)
    if (declared > limit) {
      yield* Effect.promise(() => Promise.resolve(res.body.destroy()))
      return yield* new ContentTooLarge({ what, limit })
    }
    const result = yield* Effect.tryPromise({
      try: async () => {
        const chunks: Array<Buffer> = []
        let n = 0
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          n += chunk.length
          if (n > limit) {
            res.body.destroy()
            return undefined
          }
          chunks.push(chunk)
        }
        return Buffer.concat(chunks)
      },
      catch: (e) => classify(e, ep, url, step, timeoutMs)
    })
    if (result === undefined) return yield* new ContentTooLarge({ what, limit })
    return result
  })
