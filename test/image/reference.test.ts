import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { formatReference, isLoopbackRegistry, parseReference } from "../../src/image/reference.js"

const D = `sha256:${"a".repeat(64)}`

const ok = (s: string) => {
  const r = parseReference(s)
  if (Either.isLeft(r)) throw new Error(`${s}: ${r.left.message}`)
  return r.right
}
const bad = (s: string) => {
  const r = parseReference(s)
  if (Either.isRight(r)) throw new Error(`${s} parsed as ${JSON.stringify(r.right)}`)
  return r.left
}

describe("parseReference", () => {
  it.each([
    ["alpine", "registry-1.docker.io", "library/alpine", "latest", undefined],
    ["alpine:3.20", "registry-1.docker.io", "library/alpine", "3.20", undefined],
    ["docker.io/alpine", "registry-1.docker.io", "library/alpine", "latest", undefined],
    ["index.docker.io/library/alpine:edge", "registry-1.docker.io", "library/alpine", "edge", undefined],
    ["user/app", "registry-1.docker.io", "user/app", "latest", undefined],
    ["ghcr.io/o/a:tag", "ghcr.io", "o/a", "tag", undefined],
    [`host:5000/a/b@${D}`, "host:5000", "a/b", undefined, D],
    ["localhost/a", "localhost", "a", "latest", undefined],
    ["localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", undefined],
    [`127.0.0.1:5000/tank/busybox:1.0@${D}`, "127.0.0.1:5000", "tank/busybox", "1.0", D],
    [`alpine@${D}`, "registry-1.docker.io", "library/alpine", undefined, D],
    ["[::1]:5000/x", "[::1]:5000", "x", "latest", undefined],
    ["a-b__c/e_f.g--h", "registry-1.docker.io", "a-b__c/e_f.g--h", "latest", undefined]
  ])("%s", (input, registry, repository, tag, digest) => {
    expect(ok(input)).toEqual({ registry, repository, tag, digest })
  })

  it.each([
    ["", /empty/],
    ["Alpine", /bad registry host|repository/],
    ["alpine:", /tag/],
    ["alpine:-x", /tag/],
    ["ghcr.io/", /missing repository/],
    ["a//b", /empty path component/],
    ["a/B", /lower-case/],
    ["a/b_", /lower-case/],
    ["alpine@sha256:abc", /64 lower-case hex/],
    [`alpine@md5:${"a".repeat(32)}`, /unsupported digest algorithm/],
    ["alpine@", /algorithm:hex/],
    ["host:99999/a", /port/],
    ["-bad.host/a", /registry host/],
    ["a.b-c__d/e", /registry host/],
    [" alpine", /whitespace/],
    [`a:${"x".repeat(129)}`, /tag/]
  ])("rejects %j", (input, why) => {
    const e = bad(input)
    expect(e._tag).toBe("InvalidReference")
    expect(e.reason).toMatch(why)
    expect(e.message).toContain(JSON.stringify(input))
  })

  it("formats canonically", () => {
    expect(formatReference(ok("alpine"))).toBe("registry-1.docker.io/library/alpine:latest")
    expect(formatReference(ok(`h:1/a:t@${D}`))).toBe(`h:1/a:t@${D}`)
  })

  it("knows loopback registries", () => {
    expect(["127.0.0.1:5000", "127.9.9.9", "localhost:1", "[::1]:5000"].map(isLoopbackRegistry)).toEqual([
      true,
      true,
      true,
      true
    ])
    expect(["10.0.0.1:5000", "ghcr.io", "localhost.example.com", "128.0.0.1"].map(isLoopbackRegistry)).toEqual([
      false,
      false,
      false,
      false
    ])
  })
})
