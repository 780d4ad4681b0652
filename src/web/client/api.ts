/**
 * The dashboard's calls to its own agent: JSON requests (the cookie authenticates them; the browser
 * adds the Origin the server checks on writes) and live feeds over SSE.
 */
import { connection } from "./dom.js"

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: { error?: string; message?: string; [k: string]: unknown }) {
    super(body.message ?? `HTTP ${status}`)
  }
}

const parse = async (r: Response) => {
  const text = await r.text()
  let body: any
  try {
    body = text ? JSON.parse(text) : {}
  } catch {
    body = { message: text }
  }
  if (!r.ok) throw new ApiError(r.status, body)
  return body
}

export const getJson = <T>(path: string): Promise<T> =>
  fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } }).then(parse)

export const send = <T>(method: string, path: string, body?: string, contentType = "application/json"): Promise<T> =>
  fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "content-type": contentType },
    ...(body === undefined ? {} : { body })
  }).then(parse)

export type Handlers = Record<string, (data: any) => void>

/**
 * Follow an SSE feed. The browser reconnects by itself after a drop; each connection starts with
 * a snapshot, so nothing is missed. The header shows whether the page is live.
 */
export const follow = (path: string, handlers: Handlers, options: { quiet?: boolean } = {}): EventSource => {
  const es = new EventSource(path, { withCredentials: true })
  for (const [name, f] of Object.entries(handlers)) {
    es.addEventListener(name, (ev) => f(JSON.parse((ev as MessageEvent<string>).data)))
  }
  if (!options.quiet) {
    es.addEventListener("open", () => connection("live", "live"))
    es.addEventListener("error", () => connection("reconnecting…", "down"))
  }
  return es
}

/** Read an SSE response of a POST (fetch, not EventSource), event by event. */
export const postEvents = async (path: string, body: unknown, onEvent: (event: string, data: any) => void) => {
  const r = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  if (!r.ok || !r.body) return parse(r)
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ""
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    buf += value
    let end: number
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end)
      buf = buf.slice(end + 2)
      let event = "message"
      let data = ""
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7)
        else if (line.startsWith("data: ")) data += line.slice(6)
      }
      if (data) onEvent(event, JSON.parse(data))
    }
  }
}
