/**
 * `WWW-Authenticate` parsing and the token endpoint's response (distribution's token auth spec). Pure.
 */
import { Schema } from "effect"
import { allowsPlainHttp } from "./config.js"

export interface Challenge {
  readonly scheme: "basic" | "bearer"
  readonly params: Readonly<Record<string, string>>
}

/**
 * Parses `Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"` or `Basic realm="x"`.
 * Returns the first Bearer or Basic challenge; `undefined` for none or other schemes.
 */
export const parseChallenge = (header: string | undefined): Challenge | undefined => {
  if (!header) return undefined
  const re = /\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+|$)/y
  const param = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(,|$)/y
  let pos = 0
  while (pos < header.length) {
    re.lastIndex = pos
    const m = re.exec(header)
    if (!m) return undefined
    const scheme = m[1]!.toLowerCase()
    pos = re.lastIndex
    const params: Record<string, string> = {}
    let parsed = 0
    for (;;) {
      param.lastIndex = pos
      const p = param.exec(header)
      if (!p) break
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!
      pos = param.lastIndex
      parsed++
      // A token followed by a space (not "=") starts the next challenge.
      if (p[4] === "" || /^\s*[A-Za-z][\w-]*\s+[\w-]+=/.test(header.slice(pos))) break
    }
    if (scheme === "bearer" || scheme === "basic") return { scheme, params }
    // Another scheme with a token68 (`Negotiate abc`): skip to the next challenge.
    if (parsed === 0) { while (pos < header.length && header[pos] !== ",") pos++ }
    while (pos < header.length && /[\s,]/.test(header[pos]!)) pos++
  }
  return undefined
}

/**
 * Where a Bearer challenge may send the registry's credentials (pure): its realm as a URL, or why not.
 * https always (verified with the TLS trust of the realm's own host); plain http only to a loopback
 * host or to one whose own registries entry says `insecure: true`. The registry's settings never
 * stand in for another host's: a registry marked insecure cannot make its token service plain HTTP.
 */
export const checkRealm = (
  realm: string,
  entryOf: (host: string) => { readonly insecure?: boolean | undefined }
): URL | string => {
  let url: URL
  try {
    url = new URL(realm)
  } catch {
    return "the realm is not a URL"
  }
  if (url.protocol === "https:") return url
  if (url.protocol !== "http:") return `the realm is not an http(s) URL (${url.protocol})`
  if (allowsPlainHttp(entryOf(url.host), url.host)) return url
  return `it is plain HTTP to ${url.host}, which is not loopback: the registry's credentials and the token ` +
    `would cross the network in the clear (the token service must use https, or mark "${url.host}" ` +
    `insecure in registries)`
}

/** The pull scope for a repository, as the token service expects it. */
export const pullScope = (repository: string): string => `repository:${repository}:pull`

/** Token endpoint response; `token` and `access_token` are synonyms (OAuth2 compatibility). */
export const TokenResponse = Schema.Struct({
  token: Schema.optional(Schema.String),
  access_token: Schema.optional(Schema.String),
  expires_in: Schema.optional(Schema.Number),
  issued_at: Schema.optional(Schema.String)
})
export type TokenResponse = typeof TokenResponse.Type

/** Tokens live 60 s when the server does not say (token spec); renew 5 s early. */
export const tokenLifetimeMs = (r: TokenResponse): number => Math.max(1, (r.expires_in ?? 60) - 5) * 1000

export const basicHeader = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`

/** Seconds or an HTTP date → milliseconds from `now`; undefined when absent or unparsable. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : Math.max(0, t - now)
}
