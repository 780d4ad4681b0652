/**
 * Authentication and TLS against real registries: htpasswd (Basic), token auth with our token
 * server (Bearer, RS256 JWT), HTTPS with a CA of the test's own. Each registry serves the storage of
 * the plain fixture registry, so the fixture images are there without pushing again.
 */
import { assert, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { startRegistry } from "../support/registry.js"
import { tmpDir } from "../support/tmp.js"
import { startFaultProxy } from "./faultProxy.js"
import { cacheProblems, FixtureRegistry, FixtureRegistryLive, imagesIn } from "./helpers.js"

const onHost = (ref: string, host: string) => ref.replace(/^[^/]+/, host)

layer(FixtureRegistryLive, { timeout: 120_000, excludeTestServices: true })("registry auth and TLS", (it) => {
  it.scoped("htpasswd: no credentials or wrong ones are Unauthorized; right ones pull", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      const reg = yield* startRegistry({ auth: "htpasswd", storage: plain.storage })
      const ref = onHost(refs.busybox, reg.host)
      const anon = yield* imagesIn()
      const denied = yield* Effect.flip(anon.images.pull(ref))
      assert(denied._tag === "Unauthorized")
      expect(denied.message).toMatch(/Basic auth required/)
      const wrong = yield* imagesIn({ registries: { [reg.host]: { username: "tank", password: "nope" } } })
      expect((yield* Effect.flip(wrong.images.pull(ref)))._tag).toBe("Unauthorized")
      const good = yield* imagesIn({ registries: { [reg.host]: { username: reg.username, password: reg.password } } })
      const img = yield* good.images.pull(ref)
      expect(img.layers).toHaveLength(1)
      expect(cacheProblems(good.cacheDir)).toEqual([])
    }))

  it.scoped("token auth: credentials from a docker config.json; one token per repository scope", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      const reg = yield* startRegistry({ auth: "token", storage: plain.storage })
      const dir = yield* tmpDir()
      const dockerConfig = path.join(dir, "config.json")
      const auth = Buffer.from(`${reg.username}:${reg.password}`).toString("base64")
      fs.writeFileSync(dockerConfig, JSON.stringify({ auths: { [`https://${reg.host}`]: { auth } } }))
      const { images } = yield* imagesIn({ dockerConfig })
      const tokens = reg.tokenServer!.requests
      const layers = yield* images.pull(onHost(refs.layers, reg.host))
      expect(layers.layers).toHaveLength(4)
      expect(tokens()).toBe(1)
      yield* images.pull(onHost(refs.layers, reg.host), { refresh: true })
      expect(tokens()).toBe(1) // cached for its lifetime
      yield* images.pull(onHost(refs.busybox, reg.host))
      expect(tokens()).toBe(2) // another repository, another scope
      const anon = yield* imagesIn()
      const denied = yield* Effect.flip(anon.images.pull(onHost(refs.busybox, reg.host)))
      assert(denied._tag === "Unauthorized")
      expect(denied.message).toMatch(/token service requires credentials/)
      const wrong = yield* imagesIn({ registries: { [reg.host]: { username: "tank", password: "bad" } } })
      expect((yield* Effect.flip(wrong.images.pull(onHost(refs.busybox, reg.host))))._tag).toBe("Unauthorized")
    }))

  it.scoped("token auth: an expired token is replaced", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      // 6 s tokens are renewed 5 s early: usable for 1 s.
      const reg = yield* startRegistry({ auth: "token", storage: plain.storage, tokenExpiresIn: 6 })
      const { images } = yield* imagesIn({
        registries: { [reg.host]: { username: reg.username, password: reg.password } }
      })
      const ref = onHost(refs.busybox, reg.host)
      yield* images.pull(ref)
      yield* images.pull(ref)
      expect(reg.tokenServer!.requests()).toBe(1)
      yield* Effect.sleep("1100 millis")
      yield* images.pull(ref)
      expect(reg.tokenServer!.requests()).toBe(2)
    }))

  it.scoped("token auth: anonymous pull when the token service allows it", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      const reg = yield* startRegistry({ auth: "token", storage: plain.storage, anonymousPull: true })
      const { images } = yield* imagesIn()
      const img = yield* images.pull(onHost(refs.multiarch, reg.host), { platform: "linux/arm64/v8" })
      expect(img.config.architecture).toBe("arm64")
    }))

  it.scoped("TLS: verified with the registry's CA (inline or file); refused without; insecure skips checks", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      const reg = yield* startRegistry({ tls: true, storage: plain.storage })
      const ref = onHost(refs.busybox, reg.host)
      const noCa = yield* imagesIn()
      const refused = yield* Effect.flip(noCa.images.pull(ref))
      assert(refused._tag === "RegistryTlsError")
      expect(refused.message).toMatch(/give the registry's CA/)
      expect(cacheProblems(noCa.cacheDir)).toEqual([])
      const inline = yield* imagesIn({ registries: { [reg.host]: { ca: reg.caPem! } } })
      expect((yield* inline.images.pull(ref)).layers).toHaveLength(1)
      const file = yield* imagesIn({ registries: { [reg.host]: { caFile: reg.caFile! } } })
      expect((yield* file.images.pull(ref)).layers).toHaveLength(1)
      const insecure = yield* imagesIn({ registries: { [reg.host]: { insecure: true } } })
      expect((yield* insecure.images.pull(ref)).layers).toHaveLength(1)
    }))

  it.scoped("redirects to another origin (a CDN) do not carry the registry credentials", () =>
    Effect.gen(function*() {
      const { fixtures, refs, registry: plain } = yield* FixtureRegistry
      const reg = yield* startRegistry({ auth: "htpasswd", storage: plain.storage })
      const front = yield* startFaultProxy(reg.host)
      const cdn = yield* startFaultProxy(plain.host)
      const layer = fixtures.busybox.oci.layers[0]!.digest
      front.plan((r) =>
        r.kind === "blob" && r.path.endsWith(layer)
          ? { kind: "redirect", location: `http://${cdn.host}${r.path}?signed=1` }
          : undefined
      )
      const { images } = yield* imagesIn({
        registries: { [front.host]: { username: reg.username, password: reg.password } }
      })
      const img = yield* images.pull(onHost(refs.busybox, front.host))
      expect(img.layers).toHaveLength(1)
      const [atRegistry] = front.log.filter((r) => r.path.endsWith(layer))
      const [atCdn] = cdn.log
      expect(atRegistry?.authorization).toMatch(/^Basic /)
      expect(atCdn?.path).toContain(`${layer}?signed=1`)
      expect(atCdn?.authorization).toBeUndefined()
    }))

  it.scoped("TLS + htpasswd together", () =>
    Effect.gen(function*() {
      const { refs, registry: plain } = yield* FixtureRegistry
      const reg = yield* startRegistry({ tls: true, auth: "htpasswd", storage: plain.storage })
      const { images } = yield* imagesIn({
        registries: { [reg.host]: { ca: reg.caPem!, username: reg.username, password: reg.password } }
      })
      expect((yield* images.pull(onHost(refs.busyboxDocker, reg.host))).layers).toHaveLength(1)
    }))
})
