/**
 * The HTTP side of an httpGet probe, pure: the request we send and how we read the answer. Only the
 * status line is read (at most STATUS_LINE_MAX bytes), so a server that streams a large or endless
 * body costs the agent nothing; success is a status from 200 to 399, as the kubelet's.
 */
import type { HttpGetAction } from "../spec/probes.js"

/** The most we read of an answer before giving up on finding its status line. */
export const STATUS_LINE_MAX = 1024

/** The request bytes: HTTP/1.1 with `Connection: close`; a `Host` header of the probe's replaces ours. */
export const httpRequest = (action: typeof HttpGetAction.Type, host: string): string => {
  const headers = action.httpHeaders ?? []
  const own = (name: string) => headers.some((h) => h.name.toLowerCase() === name.toLowerCase())
  const lines = [
    `GET ${action.path} HTTP/1.1`,
    ...(own("host") ? [] : [`Host: ${host}:${action.port}`]),
    ...(own("user-agent") ? [] : ["User-Agent: tank-probe"]),
    ...(own("accept") ? [] : ["Accept: */*"]),
    ...headers.map((h) => `${h.name}: ${h.value}`),
    "Connection: close"
  ]
  return `${lines.join("\r\n")}\r\n\r\n`
}

export type StatusRead =
  | { readonly _tag: "more" }
  | { readonly _tag: "status"; readonly code: number; readonly line: string }
  | { readonly _tag: "bad"; readonly why: string }

/** What the bytes received so far say: need more, a status, or not HTTP. */
export const readStatus = (received: Buffer): StatusRead => {
  const end = received.indexOf("\n")
  if (end < 0) {
    return received.length >= STATUS_LINE_MAX
      ? { _tag: "bad", why: `no status line in the first ${STATUS_LINE_MAX} bytes` }
      : { _tag: "more" }
  }
  const line = received.subarray(0, Math.min(end, STATUS_LINE_MAX)).toString("latin1").replace(/\r$/, "")
  const m = /^HTTP\/\d\.\d ([1-5]\d\d)(?: |$)/.exec(line)
  return m ? { _tag: "status", code: Number(m[1]), line } : { _tag: "bad", why: "the answer is not HTTP" }
}

/** Kubernetes: 200 <= status < 400 passes. */
export const statusPasses = (code: number): boolean => code >= 200 && code < 400
