/**
 * Helpers for the dashboard's tests: the client bundle built once per test file (into dist/, so
 * node_modules resolves), plain HTTP requests with any headers (Host and Origin included), an SSE
 * reader, and WebSocket attempts that report how they ended.
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as os from "node:os"
import * as path from "node:path"
import { chromium } from "playwright-core"
import WebSocket from "ws"

const repo = path.resolve(import.meta.dirname, "../..")

/** `scripts/build.mjs --web-only` into a private dir; removed when the scope closes. */
export const buildClient = Effect.acquireRelease(
  Effect.sync(() => {
    fs.mkdirSync(path.join(repo, "dist"), { recursive: true })
    const outdir = fs.mkdtempSync(path.join(repo, "dist", ".test-web-"))
    const r = spawnSync(process.execPath, [path.join(repo, "scripts/build.mjs"), "--outdir", outdir, "--web-only"], {
      encoding: "utf8"
    })
    if (r.status !== 0) throw new Error(`client build failed: ${r.stderr}`)
    return { outdir, assetsDir: path.join(outdir, "web") }
  }),
  ({ outdir }) => Effect.sync(() => fs.rmSync(outdir, { recursive: true, force: true }))
)

export interface Reply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** One request with exactly these headers (fetch would forbid Host and fill in Origin). */
export const request = (
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {}
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const u = new URL(url)
    const mod = u.protocol === "https:" ? https : http
    const req = mod.request(u, {
      method: options.method ?? "GET",
      headers: options.headers ?? {},
      ...(options.ca ? { ca: options.ca } : {})
    }, (res) => {
      let body = ""
      res.setEncoding("utf8").on("data", (d: string) => (body += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on("error", reject)
    req.end(options.body)
  })

export const req = (url: string, options: Parameters<typeof request>[1] = {}) =>
  Effect.promise(() => request(url, options))

export interface SseEvent {
  readonly event: string
  readonly data: any
}

/** Reads an SSE response; `next(pred)` waits for the first event (from now on, in order) that matches. */
export const sse = (url: string, headers: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.async<
      {
        next: (pred: (e: SseEvent) => boolean, ms?: number) => Effect.Effect<SseEvent>
        status: number
        close: () => void
      }
    >((resume) => {
      const u = new URL(url)
      const queue: Array<SseEvent> = []
      const waiters: Array<() => void> = []
      let buf = ""
      const req = http.get(u, { headers }, (res) => {
        res.setEncoding("utf8").on("data", (d: string) => {
          buf += d
          let end: number
          while ((end = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, end)
            buf = buf.slice(end + 2)
            const ev = /^event: (.*)$/m.exec(block)?.[1]
            const data = /^data: (.*)$/m.exec(block)?.[1]
            if (ev !== undefined && data !== undefined) queue.push({ event: ev, data: JSON.parse(data) })
          }
          for (const w of waiters.splice(0)) w()
        })
        const next = (pred: (e: SseEvent) => boolean, ms = 10_000) =>
          Effect.async<SseEvent>((done) => {
            const check = () => {
              while (queue.length > 0) {
                const e = queue.shift()!
                if (pred(e)) return done(Effect.succeed(e))
              }
              waiters.push(check)
            }
            check()
          }).pipe(
            Effect.timeoutFail({ duration: ms, onTimeout: () => new Error(`no matching SSE event from ${url}`) }),
            Effect.orDie
          )
        resume(Effect.succeed({ next, status: res.statusCode ?? 0, close: () => req.destroy() }))
      })
      req.on("error", (e) => resume(Effect.die(e)))
    }),
    (s) => Effect.sync(s.close)
  )

export type WsOutcome =
  | { readonly _tag: "Refused"; readonly status: number }
  | { readonly _tag: "Open"; readonly ws: WebSocket; readonly messages: ReturnType<typeof collect> }

/** Try a WebSocket: refused (with the HTTP status), or open. */
export const tryWebSocket = (url: string, options: { headers?: Record<string, string>; origin?: string } = {}) =>
  Effect.async<WsOutcome>((resume) => {
    const ws = new WebSocket(url, {
      headers: options.headers ?? {},
      ...(options.origin ? { origin: options.origin } : {})
    })
    // Collected from the start: the server may speak before the caller looks.
    const messages = collect(ws)
    ws.on("unexpected-response", (_req, res) => {
      resume(Effect.succeed({ _tag: "Refused", status: res.statusCode ?? 0 }))
      ws.terminate()
    })
    ws.on("open", () => resume(Effect.succeed({ _tag: "Open", ws, messages })))
    ws.on("error", () => {})
  })

/** Messages of an open WebSocket until it closes: text frames parsed, binary frames as text. */
export const collect = (ws: WebSocket) => {
  const texts: Array<any> = []
  let output = ""
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)))
  ws.on("message", (data, binary) => {
    if (binary) output += Buffer.from(data as Buffer).toString("utf8")
    else texts.push(JSON.parse(String(data)))
  })
  return { texts, output: () => output, closed }
}

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** Debian's Chromium (no browser download), headless, with a fresh profile; closed (and the profile
 * removed) with the scope. The flags keep it off the network it cannot reach anyway. */
export const browser = Effect.acquireRelease(
  Effect.promise(async () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tank-chromium-"))
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 }
    })
    return { context, profile }
  }),
  ({ context, profile }) =>
    Effect.promise(async () => {
      await context.close().catch(() => {})
      fs.rmSync(profile, { recursive: true, force: true })
    })
)
