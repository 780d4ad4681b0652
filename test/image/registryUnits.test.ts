import { assert, describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Schedule } from "effect"
import { RegistryHttpError, RegistryUnreachable, Unauthorized } from "../../src/image/errors.js"
import { parseChallenge, parseRetryAfter } from "../../src/image/registry/auth.js"
import { retrySchedule } from "../../src/image/registry/client.js"
import { credentialsOf, entryFor, fromDockerConfig } from "../../src/image/registry/config.js"
import { parseManifest } from "../../src/image/registry/manifest.js"
import type { Descriptor } from "../../src/image/registry/oci.js"
import { hostPlatform, parsePlatform, selectPlatform } from "../../src/image/registry/platform.js"

const desc = (n: number, platform?: Descriptor["platform"]): Descriptor => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: 1,
  ...(platform ? { platform } : {})
})

describe("WWW-Authenticate", () => {
  it("parses Bearer with quoted params", () => {
    expect(
      parseChallenge(
        `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`
      )
    ).toEqual({
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/alpine:pull"
      }
    })
  })
  it("parses Basic and picks a known scheme among several", () => {
    expect(parseChallenge(`Basic realm="tank-test"`)).toEqual({ scheme: "basic", params: { realm: "tank-test" } })
    expect(parseChallenge(`Negotiate abc, Basic realm="r"`)?.scheme).toBe("basic")
    expect(parseChallenge(`Digest realm="x", nonce="y"`)).toBeUndefined()
    expect(parseChallenge(undefined)).toBeUndefined()
  })
  it("reads Retry-After in seconds or as a date", () => {
    expect(parseRetryAfter("3", 0)).toBe(3000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000)
    expect(parseRetryAfter("soon", 0)).toBeUndefined()
  })
})

describe("platform selection", () => {
  const list = [
    desc(1, { os: "linux", architecture: "amd64" }),
    desc(2, { os: "linux", architecture: "arm", variant: "v6" }),
    desc(3, { os: "linux", architecture: "arm", variant: "v7" }),
    desc(4, { os: "linux", architecture: "arm64", variant: "v8" }),
    desc(5, { os: "unknown", architecture: "unknown" }),
    desc(6, { os: "windows", architecture: "amd64" })
  ]
  it("matches os/arch/variant with the arm defaults", () => {
    expect(selectPlatform(list, { os: "linux", architecture: "amd64" })).toBe(list[0])
    expect(selectPlatform(list, { os: "linux", architecture: "arm64" })).toBe(list[3])
    expect(selectPlatform(list, { os: "linux", architecture: "aarch64" })).toBe(list[3])
    expect(selectPlatform(list, { os: "linux", architecture: "arm" })).toBe(list[2])
    expect(selectPlatform(list, { os: "linux", architecture: "arm", variant: "v6" })).toBe(list[1])
    expect(selectPlatform(list, { os: "windows", architecture: "amd64" })).toBe(list[5])
    expect(selectPlatform(list, { os: "linux", architecture: "s390x" })).toBeUndefined()
  })
  it("accepts an entry without variant for arm64", () => {
    const l = [desc(7, { os: "linux", architecture: "arm64" })]
    expect(selectPlatform(l, { os: "linux", architecture: "arm64", variant: "v8" })).toBe(l[0])
  })
  it("maps process.arch and parses os/arch/variant", () => {
    expect(hostPlatform("x64")).toEqual({ os: "linux", architecture: "amd64" })
    expect(hostPlatform("arm64")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" })
    expect(parsePlatform("linux/arm64/v8")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" })
    expect(parsePlatform("linux")).toBeUndefined()
  })
})

describe("manifest kinds", () => {
  const enc = (x: unknown) => Buffer.from(JSON.stringify(x))
  it("rejects schema1 clearly", () => {
    const r = parseManifest(enc({ schemaVersion: 1, name: "a", tag: "b", fsLayers: [] }), undefined, "r")
    assert(Either.isLeft(r))
    expect(r.left._tag).toBe("UnsupportedManifest")
    expect(r.left.message).toMatch(/schema1/)
  })
  it("infers an OCI index without mediaType", () => {
    const r = parseManifest(enc({ schemaVersion: 2, manifests: [] }), "application/vnd.oci.image.index.v1+json", "r")
    expect(Either.getOrThrow(r).kind).toBe("index")
  })
  it("names the bad field of a malformed manifest", () => {
    const r = parseManifest(
      enc({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "x", digest: "sha256:nothex", size: 1 },
        layers: []
      }),
      undefined,
      "r"
    )
    assert(Either.isLeft(r))
    expect(r.left.message).toMatch(/digest/)
  })
  it("refuses non-JSON", () => {
    const r = parseManifest(Buffer.from("<html>"), "text/html", "r")
    assert(Either.isLeft(r))
    expect(r.left._tag).toBe("InvalidContent")
  })
})

describe("registry config", () => {
  it("reads docker config.json auths, hub aliases included", () => {
    const cfg = Either.getOrThrow(fromDockerConfig({
      auths: {
        "https://index.docker.io/v1/": { auth: Buffer.from("hub:secret").toString("base64") },
        "127.0.0.1:5000": { username: "tank", password: "tankpass" }
      },
      credsStore: "desktop"
    }))
    expect(credentialsOf(entryFor(cfg, "registry-1.docker.io"))).toEqual({ username: "hub", password: "secret" })
    expect(credentialsOf(entryFor(cfg, "127.0.0.1:5000"))).toEqual({ username: "tank", password: "tankpass" })
    expect(credentialsOf(entryFor(cfg, "ghcr.io"))).toBeUndefined()
  })
  it("rejects a malformed config", () => {
    expect(Either.isLeft(fromDockerConfig({ auths: { x: { auth: 3 } } }))).toBe(true)
  })
})

describe("retry schedule", () => {
  const http = (status: number, retryAfterMs?: number) =>
    new RegistryHttpError({
      registry: "r",
      url: "u",
      step: "blob",
      status,
      detail: "",
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {})
    })
  const policy = { retries: 4, baseDelayMs: 100, maxDelayMs: 300, maxRetryAfterMs: 5_000 }
  // Schedule.run yields one delay per recurrence, plus a final 0 when the schedule itself stops.
  const delays = (inputs: ReadonlyArray<any>) =>
    Schedule.run(Schedule.delays(retrySchedule(policy)), 0, inputs).pipe(
      Effect.map((c) => Chunk.toReadonlyArray(c).map(Duration.toMillis))
    )

  it.effect("backs off exponentially with jitter, capped, bounded", () =>
    Effect.gen(function*() {
      const ds = yield* delays(Array(6).fill(http(503)))
      expect(ds.length).toBe(5)
      expect(ds[4]).toBe(0)
      // jitter draws from [0.8, 1.2) × the exponential delay; the cap wins from the 3rd on
      expect(ds[0]).toBeGreaterThanOrEqual(80)
      expect(ds[0]).toBeLessThan(120)
      expect(ds[1]).toBeGreaterThanOrEqual(160)
      expect(ds[3]).toBe(300)
    }))
  it.effect("honours Retry-After and stops on permanent errors", () =>
    Effect.gen(function*() {
      expect(yield* delays([http(429, 2_000)])).toEqual([2_000])
      expect(yield* delays([http(429, 60_000)])).toEqual([5_000])
      expect(yield* delays([http(404)])).toEqual([0])
      expect(yield* delays([new Unauthorized({ registry: "r", repository: "a", status: 401, reason: "" })])).toEqual([
        0
      ])
      const reset = new RegistryUnreachable({ registry: "r", url: "u", step: "blob", code: "ECONNRESET", reason: "" })
      const [first] = yield* delays([reset])
      expect(first).toBeGreaterThan(0)
    }))
})
