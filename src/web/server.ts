/**
 * The dashboard server, as a layer the agent adds when `web` is configured: @effect/platform's HTTP
 * server on Node (TLS when `web.tls` is set), every request through the guard (auth.ts), then the
 * pages, the assets and the API. It samples stats for as long as it runs (the charts' history).
 *
 * On start it records where it listens (`<dataDir>/web.json`, for `tank web url`), logs the URL
 * without the token, and hands the URL with the token to `onListening` (the daemon prints it on
 * stdout, once). On stop it closes every connection, live feeds and terminals included, so the
 * agent's shutdown never waits for an open browser tab.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Cgroups } from "../cgroups/Cgroups.js"
import type { TankConfig } from "../config/Config.js"
import type { Images } from "../image/Images.js"
import type { Network } from "../net/Network.js"
import { Stats } from "../observe/stats.js"
import type { Store } from "../store/Store.js"
import { imageRoutes } from "./apiImages.js"
import { podRoutes } from "./apiPods.js"
import { systemRoutes, WebInfo } from "./apiSystem.js"
import { type Assets, assetsDirCandidates, loadAssets, packageRoot } from "./assets.js"
import { type AuthContext, decide } from "./auth.js"
import { isLoopback, type WebConfig } from "./config.js"
import { problem } from "./http.js"
import { type Page, renderPage, SECURITY_HEADERS, unauthorizedPage } from "./pages.js"
import type { StatusFeed } from "./statusFeed.js"
import { ensureToken, removeEndpoint, urlWithToken, writeEndpoint } from "./token.js"

export interface WebOptions {
  readonly config: WebConfig
  readonly dataDir: string
  /** Where the client bundle is (default: found beside the CLI bundle or in dist/web). */
  readonly assetsDir?: string
  /** Called once listening: print `withToken` for the person who started the agent; never log it. */
  readonly onListening?: (urls: { readonly base: string; readonly withToken: string }) => Effect.Effect<void>
}

export type WebDeps = Store | StatusFeed | TankConfig | Images | Cgroups | Network

const html = (body: string, status = 200) =>
  HttpServerResponse.text(body, {
    status,
    contentType: "text/html; charset=utf-8",
    headers: { "cache-control": "no-store" }
  })

const isPagePath = (url: string) => !url.startsWith("/api/") && !url.startsWith("/assets/")

const withSecurityHeaders = (r: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(r, SECURITY_HEADERS)

/** Every request: Host, token and Origin checks (auth.ts) before anything else runs. */
const guard = <E, R>(ctx: AuthContext, app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function*() {
    const req = yield* HttpServerRequest.HttpServerRequest
    const upgrade = (req.headers["upgrade"] ?? "").toLowerCase() === "websocket"
    const verdict = decide({ method: req.method, url: req.url, headers: req.headers, upgrade }, ctx)
    switch (verdict._tag) {
      case "Deny":
        if (verdict.status === 401) {
          const r = isPagePath(req.url) && !upgrade
            ? html(unauthorizedPage(), 401)
            : problem(401, "Unauthorized", "a token is needed (docs/web.md)")
          return HttpServerResponse.setHeader(r, "www-authenticate", "Bearer realm=\"tank\"")
        }
        return problem(403, "Forbidden", verdict.reason)
      case "SetCookie":
        return HttpServerResponse.empty({
          status: 303,
          headers: { location: verdict.location, "set-cookie": verdict.cookie, "cache-control": "no-store" }
        })
      case "Allow":
        return yield* app
    }
  }).pipe(Effect.map(withSecurityHeaders))

const pageRoutes = (assets: Assets) => {
  const page = (p: Page) => Effect.succeed(html(renderPage(p, assets.refs)))
  return HttpRouter.empty.pipe(
    HttpRouter.get("/", page("pods")),
    HttpRouter.get("/images", page("images")),
    HttpRouter.get("/networks", page("networks")),
    HttpRouter.get("/nodes", page("nodes")),
    HttpRouter.get("/system", page("system")),
    HttpRouter.get(
      "/pods/:name",
      Effect.map(HttpRouter.params, (p) => html(renderPage("pod", assets.refs, p["name"] ?? "")))
    ),
    HttpRouter.get(
      "/assets/:file",
      Effect.map(HttpRouter.params, (p) => {
        const a = assets.files.get(p["file"] ?? "")
        if (!a) return problem(404, "NotFound", "no such asset")
        return HttpServerResponse.uint8Array(a.body, {
          contentType: a.contentType,
          // The URL carries the content's hash: a new build is a new URL.
          headers: { "cache-control": "private, max-age=31536000, immutable" }
        })
      })
    )
  )
}

export const version = (): string => {
  const root = packageRoot(path.dirname(fileURLToPath(import.meta.url)))
  try {
    return root ? String(JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version) : "unknown"
  } catch {
    return "unknown"
  }
}

const urlHost = (host: string) => {
  if (host === "0.0.0.0" || host === "::") return os.hostname()
  return host.includes(":") ? `[${host}]` : host
}

export const layer = (options: WebOptions): Layer.Layer<never, unknown, WebDeps> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const { config, dataDir } = options
    const token = yield* ensureToken(dataDir)
    const assets = loadAssets(options.assetsDir)
    if (!assets.dir) {
      yield* Effect.logWarning(
        `web: the client bundle is missing (looked in ${assetsDirCandidates(options.assetsDir).join(", ")}); ` +
          "run npm run build"
      )
    }
    const tls = config.tls
    // An https.Server emits the same request/upgrade events; NodeHttpServer is typed for http only.
    const nodeServer: http.Server = tls
      ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }) as unknown as http.Server
      : http.createServer()
    const server = yield* NodeHttpServer.make(() => nodeServer, { host: config.host, port: config.port })
    // Registered after the server's own release, so it runs first: open SSE responses and
    // keep-alive sockets would otherwise hold `server.close()` forever.
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    const port = server.address._tag === "TcpAddress" ? server.address.port : config.port
    const base = `${tls ? "https" : "http"}://${urlHost(config.host)}:${port}/`
    const ctx: AuthContext = { token, secure: tls !== undefined, loopback: isLoopback(config.host), port }
    const routes = yield* HttpRouter.toHttpApp(
      HttpRouter.concatAll(podRoutes, imageRoutes, systemRoutes, pageRoutes(assets))
    )
    const app = guard(
      ctx,
      routes.pipe(Effect.catchTag("RouteNotFound", () => Effect.succeed(problem(404, "NotFound", "no such page"))))
    )
    yield* server.serve(app).pipe(
      Effect.provideService(WebInfo, { version: version(), startedAt: new Date(), url: base, tls: tls !== undefined })
    )
    yield* writeEndpoint(dataDir, { url: base, pid: process.pid })
    yield* Effect.addFinalizer(() => removeEndpoint(dataDir, process.pid))
    yield* Effect.logInfo(`web dashboard listening on ${base} (tank web url prints it with the token)`)
    if (options.onListening) yield* options.onListening({ base, withToken: urlWithToken(base, token) })
  })).pipe(Layer.provide(Stats.layer({ intervalMs: options.config.statsIntervalMs, historySize: 300 })))
