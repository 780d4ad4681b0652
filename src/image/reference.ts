/**
 * Image references, parsed the way Docker (distribution/reference) does:
 *
 *   alpine                      → registry-1.docker.io / library/alpine : latest
 *   ghcr.io/o/a:tag             → ghcr.io / o/a : tag
 *   host:5000/a/b@sha256:…      → host:5000 / a/b @ sha256:…
 *   localhost/a                 → localhost / a : latest
 *   a/b:1.0@sha256:…            → the digest wins for fetching; the tag is kept for display
 *
 * The first path component names a registry only if it has a "." or ":" or is "localhost" (or has
 * upper case letters, which repository names may not). Pure: no effects.
 */
import { Either } from "effect"
import { InvalidReference } from "./errors.js"

/** Docker Hub's API host; `docker.io` and `index.docker.io` are aliases of it. */
export const DOCKER_HUB = "registry-1.docker.io"
const HUB_ALIASES = new Set(["docker.io", "index.docker.io", DOCKER_HUB])

export interface Reference {
  /** Host (and port) of the registry API, e.g. `registry-1.docker.io`, `127.0.0.1:5000`. */
  readonly registry: string
  /** Repository path, e.g. `library/alpine`. */
  readonly repository: string
  /** Tag, if one was given (or `latest` when neither tag nor digest was given). */
  readonly tag: string | undefined
  /** `algorithm:hex`, if one was given. */
  readonly digest: string | undefined
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^\w[\w.-]{0,127}$/
const HOST_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/
const PORT = /^[0-9]{1,5}$/
const IPV6 = /^\[[0-9a-fA-F:.]+\]$/
const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 }

const fail = (input: string, reason: string) => Either.left(new InvalidReference({ input, reason }))

/** Checks `algorithm:hex` (sha256 / sha512 in lower-case hex of the right length). */
export const validateDigest = (digest: string): string | undefined => {
  const m = DIGEST.exec(digest)
  if (!m) return `digest ${JSON.stringify(digest)} is not of the form algorithm:hex`
  const [, algorithm, hex] = m as unknown as [string, string, string]
  const len = HEX_LENGTH[algorithm]
  if (len === undefined) return `unsupported digest algorithm ${JSON.stringify(algorithm)}`
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) {
    return `${algorithm} digest must be ${len} lower-case hex characters`
  }
  return undefined
}

const validateHost = (host: string): string | undefined => {
  let name = host
  let port: string | undefined
  if (host.startsWith("[")) {
    const end = host.indexOf("]")
    name = host.slice(0, end + 1)
    const rest = host.slice(end + 1)
    if (rest !== "" && !rest.startsWith(":")) return `bad registry host ${JSON.stringify(host)}`
    port = rest === "" ? undefined : rest.slice(1)
    if (!IPV6.test(name)) return `bad IPv6 registry host ${JSON.stringify(host)}`
  } else {
    const i = host.lastIndexOf(":")
    if (i >= 0) {
      name = host.slice(0, i)
      port = host.slice(i + 1)
    }
    if (name === "" || !name.split(".").every((l) => HOST_LABEL.test(l))) {
      return `bad registry host ${JSON.stringify(host)}`
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) {
    return `bad registry port ${JSON.stringify(port)}`
  }
  return undefined
}

const looksLikeHost = (first: string) =>
  first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase()

/** Parses a reference, filling Docker's defaults. */
export const parseReference = (input: string): Either.Either<Reference, InvalidReference> => {
  if (input === "") return fail(input, "empty reference")
  if (input !== input.trim() || /\s/.test(input)) return fail(input, "whitespace is not allowed")
  let rest = input
  let digest: string | undefined
  const at = rest.indexOf("@")
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    const bad = validateDigest(digest)
    if (bad) return fail(input, bad)
  }
  let tag: string | undefined
  const lastSlash = rest.lastIndexOf("/")
  const colon = rest.lastIndexOf(":")
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) {
      return fail(input, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`)
    }
  }
  if (rest === "") return fail(input, "missing repository name")
  let registry = DOCKER_HUB
  let repository = rest
  const slash = rest.indexOf("/")
  if (slash >= 0 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash)
    repository = rest.slice(slash + 1)
    const bad = validateHost(registry)
    if (bad) return fail(input, bad)
    if (HUB_ALIASES.has(registry)) registry = DOCKER_HUB
  }
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`
  if (repository === "") return fail(input, "missing repository name")
  for (const component of repository.split("/")) {
    if (!COMPONENT.test(component)) {
      return fail(
        input,
        component === ""
          ? "empty path component"
          : `repository component ${
            JSON.stringify(component)
          } must be lower-case letters, digits and single separators (. _ __ -)`
      )
    }
  }
  if (repository.length > 255) return fail(input, "repository name longer than 255 characters")
  if (tag === undefined && digest === undefined) tag = "latest"
  return Either.right({ registry, repository, tag, digest })
}

/** What to ask the registry for: the digest if there is one, else the tag. */
export const manifestReference = (ref: Reference): string => ref.digest ?? ref.tag ?? "latest"

/** The canonical string, e.g. `registry-1.docker.io/library/alpine:latest`, `h:5000/a@sha256:…`. */
export const formatReference = (ref: Reference): string =>
  `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest !== undefined ? `@${ref.digest}` : ""
  }`

/** True for registries on this machine (127.0.0.0/8, ::1, localhost): plain HTTP is allowed there by default. */
export const isLoopbackRegistry = (registry: string): boolean => {
  const host = registry.startsWith("[")
    ? registry.slice(1, registry.indexOf("]"))
    : registry.includes(":")
    ? registry.slice(0, registry.lastIndexOf(":"))
    : registry
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}
