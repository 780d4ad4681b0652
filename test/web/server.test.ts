/**
 * The dashboard server over a real Store (in memory: no agent converges here), with the real
 * Images, Cgroups and Network layers: what is refused (no token, wrong token, another Origin for
 * writes and WebSockets, a foreign Host), the token's cookie, the API's answers, the live feed,
 * the endpoint record, and TLS with a Secure cookie.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Either, Exit, Fiber, Layer, Option, Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Cgroups } from "../../src/cgroups/Cgroups.js"
import * as Config from "../../src/config/Config.js"
import * as Images from "../../src/image/Images.js"
import { NetworkLive } from "../../src/net/NetworkLive.js"
import { decodePodEither } from "../../src/spec/decode.js"
import { layerMemory } from "../../src/store/memory.js"
import { Store } from "../../src/store/Store.js"
import { resolveWeb, type WebConfig } from "../../src/web/config.js"
import * as Web from "../../src/web/index.js"
import { readEndpoint } from "../../src/web/token.js"
import { tmpDir } from "../support/tmp.js"
import { buildClient, req, sse, tryWebSocket } from "./support.js"

const startWeb = (assetsDir: string, web: Partial<{ tls: { cert: string; key: string } }> = {}) =>
  Effect.gen(function*() {
    const dataDir = yield* tmpDir("tank-web-")
    const loaded = yield* Config.load({ dataDir, env: {} })
    const config: Config.TankConfigShape = { ...loaded, reconciler: { ...loaded.reconciler, resyncIntervalMs: 300 } }
    const settings = resolveWeb({ listen: "127.0.0.1:0", ...web }) as WebConfig
    let withToken = ""
    // The store as another process or node sees it: its writes do not pass the status feed.
    const inner = Context.get(yield* Layer.build(layerMemory), Store)
    const store = Web.StatusFeed.decorate(Layer.succeed(Store, inner))
    const ctx = yield* Layer.build(
      Web.layer({
        config: settings,
        dataDir,
        assetsDir,
        onListening: (u) => Effect.sync(() => void (withToken = u.withToken))
      }).pipe(
        Layer.provideMerge(Layer.mergeAll(
          store,
          Layer.succeed(Config.TankConfig, config),
          Images.layer({ cacheDir: path.join(dataDir, "images") }),
          Cgroups.layer,
          NetworkLive
        ))
      )
    )
    const u = new URL(withToken)
    const token = u.searchParams.get("token")!
    const base = `${u.protocol}//${u.host}`
    return {
      dataDir,
      store: Context.get(ctx, Store),
      inner,
      base,
      token,
      withToken,
      port: Number(u.port),
      bearer: { authorization: `Bearer ${token}` },
      cookie: `tank_token_${u.port}=${token}`,
      origin: base
    }
  })

const spec = (name: string, image: unknown = "127.0.0.1:1/none:latest") =>
  `name: ${name}\ncontainers:\n  - name: app\n    image: ${JSON.stringify(image)}\n`

describe("web server (no agent)", () => {
  it.scopedLive(
    "no token, a wrong token, a token in an API URL: 401 everywhere; the right one works",
    () =>
      Effect.gen(function*() {
        const { assetsDir } = yield* buildClient
        const w = yield* startWeb(assetsDir)
        for (const p of ["/", "/pods/x", "/images", "/api/pods", "/api/pods/stream", "/api/system", "/assets/app.js"]) {
          const r = yield* req(w.base + p)
          assert.strictEqual(r.status, 401, p)
          assert.notInclude(r.body, w.token)
        }
        assert.strictEqual((yield* req(`${w.base}/api/pods?token=${w.token}`)).status, 401)
        assert.strictEqual(
          (yield* req(`${w.base}/api/pods`, { headers: { authorization: "Bearer nope" } })).status,
          401
        )
        assert.strictEqual((yield* req(`${w.base}/?token=${"x".repeat(43)}`)).status, 401)
        const post = yield* req(`${w.base}/api/pods`, { method: "POST", body: spec("a") })
        assert.strictEqual(post.status, 401)
        assert.strictEqual((yield* w.store.list).pods.length, 0, "nothing applied")
        const ok = yield* req(`${w.base}/api/pods`, { headers: w.bearer })
        assert.strictEqual(ok.status, 200)
        assert.deepStrictEqual(JSON.parse(ok.body), { pods: [] })
        const ws = yield* tryWebSocket(`ws://127.0.0.1:${w.port}/api/pods/a/terminal`, { origin: w.origin })
        assert.deepStrictEqual(ws._tag === "Refused" && ws.status, 401)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "the token URL sets the cookie and leaves the token out of the redirect; the page and assets load",
    () =>
      Effect.gen(function*() {
        const { assetsDir } = yield* buildClient
        const w = yield* startWeb(assetsDir)
        const r = yield* req(w.withToken)
        assert.strictEqual(r.status, 303)
        assert.strictEqual(r.headers.location, "/")
        const setCookie = String(r.headers["set-cookie"])
        assert.include(setCookie, `tank_token_${w.port}=${w.token}`)
        assert.include(setCookie, "HttpOnly")
        assert.include(setCookie, "SameSite=Strict")
        assert.notInclude(setCookie, "Secure")
        const page = yield* req(`${w.base}/`, { headers: { cookie: w.cookie } })
        assert.strictEqual(page.status, 200)
        assert.include(String(page.headers["content-security-policy"]), "default-src 'self'")
        assert.strictEqual(page.headers["x-frame-options"], "DENY")
        const script = /src="(\/assets\/app\.js\?v=[0-9a-f]+)"/.exec(page.body)?.[1]
        assert.isDefined(script)
        const js = yield* req(w.base + script, { headers: { cookie: w.cookie } })
        assert.strictEqual(js.status, 200)
        assert.include(String(js.headers["content-type"]), "javascript")
        assert.notMatch(page.body + js.body, /https?:\/\/(cdn|unpkg|jsdelivr)/, "nothing from a CDN")
        const endpoint = readEndpoint(w.dataDir)
        assert.strictEqual(endpoint?.url, `${w.base}/`)
        assert.strictEqual(fs.statSync(path.join(w.dataDir, "web-token")).mode & 0o777, 0o600)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "cross-origin writes and WebSockets are refused, even with the cookie; a foreign Host too",
    () =>
      Effect.gen(function*() {
        const { assetsDir } = yield* buildClient
        const w = yield* startWeb(assetsDir)
        // Another port of the same host is the same *site*: SameSite=Strict does not stop it; Origin does.
        const evil = "http://127.0.0.1:8080"
        const post = yield* req(`${w.base}/api/pods`, {
          method: "POST",
          headers: { cookie: w.cookie, origin: evil, "content-type": "application/yaml" },
          body: spec("evil")
        })
        assert.strictEqual(post.status, 403)
        const noOrigin = yield* req(`${w.base}/api/pods`, {
          method: "POST",
          headers: { cookie: w.cookie },
          body: spec("evil")
        })
        assert.strictEqual(noOrigin.status, 403)
        assert.strictEqual((yield* w.store.list).pods.length, 0, "nothing applied")
        const del = yield* req(`${w.base}/api/pods/x`, {
          method: "DELETE",
          headers: { cookie: w.cookie, origin: evil }
        })
        assert.strictEqual(del.status, 403)
        const terminal = `ws://127.0.0.1:${w.port}/api/pods/web/terminal`
        const cross = yield* tryWebSocket(terminal, { headers: { cookie: w.cookie }, origin: evil })
        assert.deepStrictEqual(cross._tag === "Refused" && cross.status, 403)
        const bare = yield* tryWebSocket(terminal, { headers: { cookie: w.cookie } })
        assert.deepStrictEqual(bare._tag === "Refused" && bare.status, 403)
        const host = yield* req(`${w.base}/api/pods`, {
          headers: { cookie: w.cookie, host: `rebound.example:${w.port}` }
        })
        assert.strictEqual(host.status, 403)
        // The same request from the dashboard's own origin is let through (and says why it failed).
        const own = yield* tryWebSocket(terminal, { headers: { cookie: w.cookie }, origin: w.origin })
        assert.strictEqual(own._tag, "Open")
        if (own._tag !== "Open") return
        const c = own.messages
        yield* Effect.promise(() => c.closed)
        assert.deepStrictEqual(c.texts[0], { type: "ready" })
        assert.strictEqual(c.texts[1]?.type, "error")
        assert.include(c.texts[1]?.message, "not running")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "apply: issues name their field and line; the live feed shows the pod, then its removal",
    () =>
      Effect.gen(function*() {
        const { assetsDir } = yield* buildClient
        const w = yield* startWeb(assetsDir)
        const feed = yield* sse(`${w.base}/api/pods/stream`, w.bearer)
        assert.strictEqual(feed.status, 200)
        assert.deepStrictEqual((yield* feed.next((e) => e.event === "snapshot")).data, { pods: [] })
        const bad = yield* req(`${w.base}/api/pods`, {
          method: "POST",
          headers: { ...w.bearer, "content-type": "application/yaml" },
          body: spec("web", 12)
        })
        assert.strictEqual(bad.status, 422)
        const problem = JSON.parse(bad.body)
        assert.strictEqual(problem.error, "InvalidSpec")
        assert.deepStrictEqual(problem.issues.map((i: { path: string; line: number }) => [i.path, i.line]), [
          ["containers[0].image", 4]
        ])
        const applied = yield* req(`${w.base}/api/pods`, { method: "POST", headers: w.bearer, body: spec("web") })
        assert.strictEqual(applied.status, 200)
        assert.deepStrictEqual(JSON.parse(applied.body).applied.map((a: { name: string }) => a.name), ["web"])
        const row = yield* feed.next((e) => e.event === "pod")
        assert.strictEqual(row.data.name, "web")
        assert.strictEqual(row.data.phase, "pending")
        const detail = JSON.parse((yield* req(`${w.base}/api/pods/web`, { headers: w.bearer })).body)
        assert.include(detail.specYaml, "name: web")
        assert.strictEqual((yield* req(`${w.base}/api/pods/nope`, { headers: w.bearer })).status, 404)
        assert.strictEqual((yield* req(`${w.base}/api/pods/..%2Fetc`, { headers: w.bearer })).status, 404)
        const del = yield* req(`${w.base}/api/pods/web`, { method: "DELETE", headers: w.bearer })
        assert.deepStrictEqual(JSON.parse(del.body), { deleted: true })
        assert.deepStrictEqual((yield* feed.next((e) => e.event === "removed")).data, { name: "web" })
        const system = JSON.parse((yield* req(`${w.base}/api/system`, { headers: w.bearer })).body)
        assert.strictEqual(system.dataDir, w.dataDir)
        assert.strictEqual(system.agent.pid, process.pid)
        const nodes = JSON.parse((yield* req(`${w.base}/api/nodes`, { headers: w.bearer })).body)
        assert.isFalse(nodes.cluster)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "level-triggered: a status no notification names (another node's) shows within the resync interval",
    () =>
      Effect.gen(function*() {
        const { assetsDir } = yield* buildClient
        const w = yield* startWeb(assetsDir)
        yield* w.store.put(Either.getOrThrow(decodePodEither({ name: "far", containers: [{ name: "c", image: "x" }] })))
        const feed = yield* sse(`${w.base}/api/pods/stream`, w.bearer)
        const snap = yield* feed.next((e) => e.event === "snapshot")
        assert.strictEqual(snap.data.pods[0].phase, "pending")
        const detail = yield* sse(`${w.base}/api/pods/far/stream`, w.bearer)
        yield* detail.next((e) => e.event === "pod")
        yield* w.inner.putStatus({
          name: "far",
          phase: "running",
          restarts: 0,
          specRevision: 1,
          updatedAt: new Date().toISOString()
        })
        const t0 = Date.now()
        const row = yield* feed.next((e) => e.event === "pod", 3000)
        assert.strictEqual(row.data.phase, "running")
        assert.isBelow(Date.now() - t0, 2000)
        const d = yield* detail.next((e) => e.event === "pod", 3000)
        assert.strictEqual(d.data.row.phase, "running")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "stopping the server ends open feeds at once (an open tab never holds the agent's shutdown)",
    () =>
      Effect.gen(function*() {
        const { assetsDir } = yield* buildClient
        const scope = yield* Scope.make()
        const w = yield* startWeb(assetsDir).pipe(Scope.extend(scope))
        const feed = yield* sse(`${w.base}/api/pods/stream`, w.bearer)
        yield* feed.next((e) => e.event === "snapshot")
        const t0 = Date.now()
        // Closing a scope cannot be interrupted: wait for it from the side, with a deadline.
        const closing = yield* Effect.forkDaemon(Scope.close(scope, Exit.void))
        const closed = yield* Fiber.await(closing).pipe(Effect.timeout("5 seconds"), Effect.option)
        assert.isTrue(Option.isSome(closed), "the server stopped while a feed was open")
        assert.isBelow(Date.now() - t0, 2000)
        assert.isUndefined(readEndpoint(w.dataDir), "the endpoint record is removed")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive("with TLS: https, a Secure cookie, https Origin", () =>
    Effect.gen(function*() {
      const { assetsDir } = yield* buildClient
      const dir = yield* tmpDir("tank-web-tls-")
      const cert = path.join(dir, "cert.pem")
      const key = path.join(dir, "key.pem")
      execFileSync("openssl", [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1"
      ], { stdio: "ignore" })
      const w = yield* startWeb(assetsDir, { tls: { cert, key } })
      assert.isTrue(w.base.startsWith("https://"))
      const ca = fs.readFileSync(cert, "utf8")
      const r = yield* req(w.withToken, { ca })
      assert.strictEqual(r.status, 303)
      assert.include(String(r.headers["set-cookie"]), "; Secure")
      const post = yield* req(`${w.base}/api/pods`, {
        ca,
        method: "POST",
        headers: { cookie: w.cookie, origin: w.base.replace("https:", "http:") },
        body: spec("a")
      })
      assert.strictEqual(post.status, 403, "the http:// twin of the origin is another origin")
      const ok = yield* req(`${w.base}/api/pods`, {
        ca,
        method: "POST",
        headers: { cookie: w.cookie, origin: w.base },
        body: spec("a")
      })
      assert.strictEqual(ok.status, 200)
    }), { timeout: 60_000 })
})
