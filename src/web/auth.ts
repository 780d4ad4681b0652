/**
 * Who may use the dashboard, pure: one decision per request from its method, URL and headers.
 *
 * - The token comes as `Authorization: Bearer …` (curl, scripts) or in the dashboard's cookie.
 *   `?token=…` is accepted only on a page load: the answer sets the cookie (HttpOnly,
 *   SameSite=Strict, Secure with TLS) and redirects to the same URL without the token, so it
 *   leaves the address bar and the history. No token, or a wrong one: 401.
 * - Origin: a request that carries an `Origin` other than the dashboard's own is refused (403),
 *   whatever its method. State-changing requests (anything but GET/HEAD) and WebSocket upgrades
 *   authenticated by the cookie must carry the dashboard's Origin: browsers always send it there,
 *   and SameSite=Strict alone does not stop another port of the same host (same site) from
 *   riding on the cookie.
 * - Host: while listening on loopback, a Host header naming anything but a loopback address is
 *   refused (403), so a DNS-rebinding page cannot even reach the token check.
 */
import { isLoopback } from "./config.js"
import { tokenMatches } from "./token.js"

export interface AuthContext {
  readonly token: string
  /** Served over TLS: the cookie gets `Secure`, the expected Origin is https. */
  readonly secure: boolean
  /** Listening on a loopback address only. */
  readonly loopback: boolean
  /** The listening port: part of the cookie's name, since cookies are shared by every port of a host. */
  readonly port: number
}

export interface RequestFacts {
  readonly method: string
  /** Path and query, as in the request line. */
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
  /** A WebSocket upgrade request. */
  readonly upgrade: boolean
}

export type Verdict =
  | { readonly _tag: "Allow"; readonly via: "cookie" | "bearer" }
  | { readonly _tag: "SetCookie"; readonly location: string; readonly cookie: string }
  | { readonly _tag: "Deny"; readonly status: 401 | 403; readonly reason: string }

export const cookieName = (port: number) => `tank_token_${port}`

export const sessionCookie = (ctx: AuthContext): string =>
  `${cookieName(ctx.port)}=${ctx.token}; Path=/; HttpOnly; SameSite=Strict${ctx.secure ? "; Secure" : ""}`

/** `a=1; b=2` → { a: "1", b: "2" } (the first of duplicate names wins, as browsers send the most specific first). */
export const parseCookies = (header: string | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=")
    if (eq < 0) continue
    const k = part.slice(0, eq).trim()
    if (k && !(k in out)) out[k] = part.slice(eq + 1).trim()
  }
  return out
}

const deny = (status: 401 | 403, reason: string): Verdict => ({ _tag: "Deny", status, reason })

const hostName = (host: string): string =>
  host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!

const isPage = (pathname: string) => !pathname.startsWith("/api/") && !pathname.startsWith("/assets/")

export const decide = (req: RequestFacts, ctx: AuthContext): Verdict => {
  const host = req.headers["host"]
  if (!host) return deny(403, "no Host header")
  if (ctx.loopback && !isLoopback(hostName(host))) return deny(403, `unexpected Host ${JSON.stringify(host)}`)
  const expectedOrigin = `${ctx.secure ? "https" : "http"}://${host}`
  const origin = req.headers["origin"]
  if (origin !== undefined && origin !== expectedOrigin) {
    return deny(403, `cross-origin request from ${JSON.stringify(origin)} refused`)
  }
  const url = new URL(req.url, expectedOrigin)
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1]
  if (bearer !== undefined) {
    return tokenMatches(ctx.token, bearer) ? { _tag: "Allow", via: "bearer" } : deny(401, "wrong token")
  }
  const method = req.method.toUpperCase()
  const readOnly = (method === "GET" || method === "HEAD") && !req.upgrade
  const queryToken = url.searchParams.get("token")
  if (queryToken !== null && readOnly && isPage(url.pathname)) {
    if (!tokenMatches(ctx.token, queryToken)) return deny(401, "wrong token")
    url.searchParams.delete("token")
    return { _tag: "SetCookie", location: url.pathname + url.search, cookie: sessionCookie(ctx) }
  }
  const cookie = parseCookies(req.headers["cookie"])[cookieName(ctx.port)]
  if (cookie === undefined) return deny(401, "no token")
  if (!tokenMatches(ctx.token, cookie)) return deny(401, "wrong token")
  if (!readOnly && origin === undefined) {
    return deny(403, `${req.upgrade ? "WebSocket" : method} without an Origin header refused (cookie authentication)`)
  }
  return { _tag: "Allow", via: "cookie" }
}
