/**
 * The dashboard's settings (`web:` in the config file, `tank daemon --web ADDR`), pure.
 *
 * Loopback by default. Listening anywhere else needs TLS: the token travels in a cookie, and on a
 * network without TLS anyone on the path could read it and then run shells in every pod.
 */
import { Schema } from "effect"
import * as net from "node:net"
import { AbsPath } from "../spec/fields.js"

export const DEFAULT_LISTEN = "127.0.0.1:4400"

export const WebConfigFile = Schema.Struct({
  /** `host:port` (`[::1]:4400` for IPv6); default 127.0.0.1:4400. Port 0 picks a free port. */
  listen: Schema.optional(Schema.String),
  /** PEM files; required unless `listen` is a loopback address. */
  tls: Schema.optional(Schema.Struct({ cert: AbsPath("web.tls.cert"), key: AbsPath("web.tls.key") })),
  /**
   * How often the live stats (table and charts) are sampled (default 5000). Sampling reads every
   * running pod's cgroups: ~6 ms of CPU per pod on a cgroup v1 host, so 100 pods cost ~11 % of a
   * core at 5 s, ~22 % at 2 s (bench/web.ts).
   */
  statsIntervalMs: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(250, 60_000)))
})
export type WebConfigFile = typeof WebConfigFile.Type

export interface WebConfig {
  readonly listen: string
  readonly host: string
  readonly port: number
  readonly tls: { readonly cert: string; readonly key: string } | undefined
  readonly statsIntervalMs: number
}

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

/** `127.0.0.1:4400`, `localhost:4400`, `[::1]:4400` → host and port; a string says what is wrong. */
export const parseListen = (s: string): ListenAddress | string => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s.trim())
  if (!m) return `"${s}" is not host:port (e.g. 127.0.0.1:4400 or [::1]:4400)`
  const host = m[1] ?? m[2]!
  const port = Number(m[3])
  if (port > 65535) return `port ${port} is out of range (0-65535)`
  if (m[1] !== undefined && net.isIPv6(host) === false) return `"${host}" is not an IPv6 address`
  return { host, port }
}

/** Loopback only: 127.0.0.0/8, ::1 and the name localhost (which resolves to them). */
export const isLoopback = (host: string): boolean => {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "")
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true
  if (net.isIPv4(h)) return h.startsWith("127.")
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
  return mapped !== null && mapped[1]!.startsWith("127.")
}

/**
 * The resolved settings, or `{ field, reason }` naming the setting at fault. An override of
 * `listen` (`--web`, `TANK_WEB`; `field` names it in errors) wins over the file's.
 */
export const resolveWeb = (
  file: WebConfigFile | undefined,
  override?: { readonly listen: string; readonly field: string }
): WebConfig | undefined | { readonly field: string; readonly reason: string } => {
  if (file === undefined && override === undefined) return undefined
  const listen = override?.listen ?? file?.listen ?? DEFAULT_LISTEN
  const field = override?.field ?? "web.listen"
  const addr = parseListen(listen)
  if (typeof addr === "string") return { field, reason: addr }
  if (!isLoopback(addr.host) && file?.tls === undefined) {
    return {
      field,
      reason: `${listen} is not a loopback address: listening there needs TLS (set web.tls.cert and web.tls.key ` +
        `in the config file), or listen on 127.0.0.1`
    }
  }
  return { listen, ...addr, tls: file?.tls, statsIntervalMs: file?.statsIntervalMs ?? 5000 }
}

export const isWebProblem = (
  r: ReturnType<typeof resolveWeb>
): r is { readonly field: string; readonly reason: string } => r !== undefined && "reason" in r
