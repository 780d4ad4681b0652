/**
 * What a registry (or anything answering as one) can make Tank do:
 * - its Bearer challenge names the token service Tank sends the registry's credentials to: plain
 *   HTTP is refused unless the realm's host is loopback (or marked insecure in its own entry), and
 *   the realm is reached with the TLS trust of its own host, never the registry's CA or `insecure`;
 * - its error bodies are read only up to 64 KiB (and a bounded time), so an endless or trickling
 *   4xx/5xx body cannot hold memory or the pull.
 *
 * Real parts: Debian's docker-registry in token mode with the project's token server (over HTTP
 * and HTTPS), and loopback HTTP servers of the test's own. The non-loopback realm is this
 * machine's own LAN address: the token server listens there, so a connection, had Tank made one,
 * would be counted (and stays on this machine).
 */
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import * as os from "node:os"
import { checkRealm } from "../../src/image/registry/auth.js"
import { FixtureRegistry, FixtureRegistryLive, imagesIn } from "../image/helpers.js"
import { startRegistry } from "../support/registry.js"

const onHost = (ref: string, host: string) => ref.replace(/^[^/]+/, host)

/** This machine's first non-loopback IPv4 address. */
const lanAddress = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)
  ?.address

/** A loopback server answering every request with `status` and the body `write` produces. */
const errorServer = (status: number, write: (res: http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; host: string; sent: () => number; closed: () => number }>((resume) => {
      let sent = 0
      let closed = 0
      const server = http.createServer((req, res) => {
        res.on("close", () => closed++)
        const w = res.write.bind(res)
        res.write = ((chunk: Buffer | string, ...rest: Array<never>) => {
          sent += Buffer.byteLength(chunk)
          return w(chunk, ...rest)
        }) as typeof res.write
        res.writeHead(status, { "content-type": "text/plain" })
        write(res)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          server,
          host: `127.0.0.1:${(server.address() as { port: number }).port}`,
          sent: () => sent,
          closed: () => closed
        })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/**
 * Writes 64 KiB chunks as fast as the client takes them, up to 256 MiB (no Content-Length): endless
 * as far as a 64 KiB reader can tell, yet finite so a client without the limit (one that reads it
 * all) fails the test instead of exhausting a shared machine's memory.
 */
const HUGE = 256 * 1024 * 1024
const huge = (res: http.ServerResponse) => {
  const chunk = Buffer.alloc(64 * 1024, "x")
  let left = HUGE
  const pump = () => {
    while (!res.destroyed && left > 0) {
      left -= chunk.length
      if (!res.write(chunk)) return void res.once("drain", pump)
    }
    if (!res.destroyed) res.end()
  }
  pump()
}

/** One byte every 50 ms, forever: never silent long enough for the body timeout. */
const trickle = (res: http.ServerResponse) => {
  const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write("y")), 50)
  res.on("close", () => clearInterval(timer))
}

layer(FixtureRegistryLive, { timeout: 120_000, excludeTestServices: true })("registry hostility", (it) => {
  it.scoped.skipIf(lanAddress === undefined)(
    "a realm on plain HTTP to a non-loopback host is refused, naming the realm, before any connection",
    () =>
      Effect.gen(function*() {
        const { refs, registry: plain } = yield* FixtureRegistry
        const reg = yield* startRegistry({ auth: "token", storage: plain.storage, tokenHost: lanAddress! })
        const realm = reg.tokenServer!.realm
        assert.match(realm, new RegExp(`^http://${lanAddress!.replace(/\./g, "\\.")}:\\d+/token$`))
        const creds = { username: reg.username, password: reg.password }
        const ref = onHost(refs.busybox, reg.host)
        for (const registries of [{ [reg.host]: creds }, {}]) {
          const { images } = yield* imagesIn({ registries })
          const refused = yield* Effect.flip(images.pull(ref))
          assert.strictEqual(refused._tag, "UntrustedTokenRealm")
          assert(refused._tag === "UntrustedTokenRealm")
          assert.strictEqual(refused.realm, realm)
          assert.strictEqual(refused.registry, reg.host)
          expect(refused.message).toContain(`${reg.host} sends clients to the token service ${realm}, refused`)
          expect(refused.message).toContain("not loopback")
        }
        assert.strictEqual(reg.tokenServer!.requests(), 0, "nothing reached the token service")
        // The realm host's own entry may opt in (a lab); the registry's entry cannot do it for it.
        const realmHost = new URL(realm).host
        const lab = yield* imagesIn({ registries: { [reg.host]: creds, [realmHost]: { insecure: true } } })
        yield* lab.images.pull(ref)
        assert.strictEqual(reg.tokenServer!.requests(), 1)
        const viaRegistry = yield* imagesIn({ registries: { [reg.host]: { ...creds, insecure: true } } })
        assert.strictEqual((yield* Effect.flip(viaRegistry.images.pull(ref)))._tag, "UntrustedTokenRealm")
        assert.strictEqual(reg.tokenServer!.requests(), 1)
      })
  )

  it.scoped("a loopback realm on plain HTTP keeps working", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      const reg = yield* startRegistry({ auth: "token", storage: plain.storage })
      assert.match(reg.tokenServer!.realm, /^http:\/\/127\.0\.0\.1:\d+\/token$/)
      const { images } = yield* imagesIn({
        registries: { [reg.host]: { username: reg.username, password: reg.password } }
      })
      const img = yield* images.pull(onHost(refs.busybox, reg.host))
      expect(img.layers).toHaveLength(1)
      assert.strictEqual(reg.tokenServer!.requests(), 1)
    }))

  it.scoped("the registry's CA and insecure flag do not vouch for a realm on another host; the realm's own CA does", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      // Registry on https://127.0.0.1:P, token service on https://localhost:T, both certified by the test CA.
      const reg = yield* startRegistry({
        auth: "token",
        storage: plain.storage,
        tls: true,
        tokenTls: true,
        tokenRealmHost: "localhost"
      })
      const realmHost = new URL(reg.tokenServer!.realm).host
      assert.match(realmHost, /^localhost:\d+$/)
      const creds = { username: reg.username, password: reg.password }
      const ref = onHost(refs.busybox, reg.host)
      for (const trust of [{ ca: reg.caPem! }, { insecure: true }]) {
        const { images } = yield* imagesIn({ registries: { [reg.host]: { ...creds, ...trust } } })
        const failed = yield* Effect.flip(images.pull(ref))
        assert.strictEqual(failed._tag, "RegistryTlsError", failed.message)
        assert(failed._tag === "RegistryTlsError")
        assert.strictEqual(failed.registry, realmHost)
      }
      assert.strictEqual(reg.tokenServer!.requests(), 0, "no request got past the TLS handshake")
      const { images } = yield* imagesIn({
        registries: { [reg.host]: { ...creds, ca: reg.caPem! }, [realmHost]: { ca: reg.caPem! } }
      })
      expect((yield* images.pull(ref)).layers).toHaveLength(1)
      assert.strictEqual(reg.tokenServer!.requests(), 1)
    }))

  it.scoped("a huge 5xx error body: read up to 64 KiB, the connection closed, the error arrives", () =>
    Effect.gen(function*() {
      const srv = yield* errorServer(500, huge)
      const { images } = yield* imagesIn({ retry: { retries: 0 }, timeoutMs: 5_000 })
      const failed = yield* Effect.flip(images.pull(`${srv.host}/tank/bomb:latest`)).pipe(
        Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the error never arrived") })
      )
      assert(failed._tag === "RegistryHttpError", failed.message)
      assert.strictEqual(failed.status, 500)
      expect(failed.detail).toMatch(/^x{512} … \(error body cut at 64 KiB\)$/)
      // Tank stopped reading and closed: the server could only fill the socket buffers.
      yield* Effect.sleep("200 millis")
      assert.strictEqual(srv.closed(), 1)
      expect(srv.sent()).toBeLessThan(HUGE / 8)
    }))

  it.scoped("a trickling 4xx error body is cut after the timeout, not read forever", () =>
    Effect.gen(function*() {
      const srv = yield* errorServer(418, trickle)
      const { images } = yield* imagesIn({ retry: { retries: 0 }, timeoutMs: 1_000 })
      const started = Date.now()
      const failed = yield* Effect.flip(images.pull(`${srv.host}/tank/slow:latest`)).pipe(
        Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the error never arrived") })
      )
      assert(failed._tag === "RegistryHttpError", failed.message)
      assert.strictEqual(failed.status, 418)
      expect(failed.detail).toMatch(/^y+ … \(error body cut after 1000 ms\)$/)
      expect(Date.now() - started).toBeLessThan(5_000)
    }))
})

describe("checkRealm (pure)", () => {
  const none = () => ({})
  const ok = (realm: string, entryOf: (h: string) => { insecure?: boolean } = none) =>
    typeof checkRealm(realm, entryOf) !== "string"
  it("https anywhere; plain http only to loopback or a host whose own entry is insecure", () => {
    assert.isTrue(ok("https://auth.example/token"))
    for (
      const r of ["http://127.0.0.1:5001/token", "http://localhost/token", "http://[::1]:80/t", "http://127.9.9.9/t"]
    ) {
      assert.isTrue(ok(r), r)
    }
    assert.isFalse(ok("http://10.0.0.5/token"))
    assert.isFalse(ok("http://auth.example/token", (h) => ({ insecure: h === "registry.example" })))
    assert.isTrue(ok("http://10.0.0.5:5001/token", (h) => ({ insecure: h === "10.0.0.5:5001" })))
    assert.include(checkRealm("ftp://x/token", none) as string, "not an http(s) URL")
    assert.include(checkRealm("token", none) as string, "not a URL")
  })
})
