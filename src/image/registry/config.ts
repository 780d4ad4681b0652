/**
 * Per-registry settings: credentials, TLS trust, plain HTTP. Either written as a `RegistryConfig`
 * object or read from a docker `config.json` (its `auths` section).
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import * as fs from "node:fs/promises"
import { InvalidContent } from "../errors.js"
import { DOCKER_HUB, isLoopbackRegistry } from "../reference.js"

/** Settings for one registry host (`host[:port]`, as written in image references). */
export const RegistryEntry = Schema.Struct({
  /** Credentials for Basic auth and for the Bearer token service. */
  username: Schema.optional(Schema.String),
  password: Schema.optional(Schema.String),
  /** base64("user:password"), as docker's config.json stores it. */
  auth: Schema.optional(Schema.String),
  /** Allow plain HTTP and skip TLS verification for this registry. Loopback registries may use
   * plain HTTP without this (but their TLS certificates are still verified). */
  insecure: Schema.optional(Schema.Boolean),
  /** Extra trusted CA certificates (PEM text) for this registry's TLS. */
  ca: Schema.optional(Schema.String),
  /** Same, read from a file. */
  caFile: Schema.optional(Schema.String)
})
export type RegistryEntry = typeof RegistryEntry.Type

/** Registry host → settings. */
export const RegistryConfig = Schema.Record({ key: Schema.String, value: RegistryEntry })
export type RegistryConfig = typeof RegistryConfig.Type

const HUB_KEYS = ["docker.io", "index.docker.io", DOCKER_HUB]

/** `https://index.docker.io/v1/` → `index.docker.io`; `host:5000` stays. */
const hostOfKey = (key: string): string => key.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "")

/** The entry for `registry`, trying Docker Hub's aliases for the hub. */
export const entryFor = (config: RegistryConfig | undefined, registry: string): RegistryEntry => {
  if (!config) return {}
  const keys = HUB_KEYS.includes(registry) ? HUB_KEYS : [registry]
  for (const [key, entry] of Object.entries(config)) {
    if (keys.includes(hostOfKey(key))) return entry
  }
  return {}
}

export interface Credentials {
  readonly username: string
  readonly password: string
}

/** Username/password of an entry, decoding docker's `auth` field when that is what it has. */
export const credentialsOf = (entry: RegistryEntry): Credentials | undefined => {
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password }
  }
  if (entry.auth) {
    const text = Buffer.from(entry.auth, "base64").toString("utf8")
    const i = text.indexOf(":")
    if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) }
  }
  return undefined
}

/** May we speak plain HTTP to this registry? */
export const allowsPlainHttp = (entry: RegistryEntry, registry: string): boolean =>
  entry.insecure === true || isLoopbackRegistry(registry)

const DockerConfigJson = Schema.Struct({
  auths: Schema.optional(Schema.Record({
    key: Schema.String,
    value: Schema.Struct({
      auth: Schema.optional(Schema.String),
      username: Schema.optional(Schema.String),
      password: Schema.optional(Schema.String),
      identitytoken: Schema.optional(Schema.String)
    })
  }))
})

/** Reads the `auths` of a docker config.json document (other sections are ignored). */
export const fromDockerConfig = (json: unknown): Either.Either<RegistryConfig, InvalidContent> =>
  Schema.decodeUnknownEither(DockerConfigJson)(json).pipe(
    Either.mapLeft((e) =>
      new InvalidContent({ what: "docker config.json", issues: ParseResult.TreeFormatter.formatErrorSync(e) })
    ),
    Either.map(({ auths }) => {
      const out: Record<string, RegistryEntry> = {}
      for (const [key, a] of Object.entries(auths ?? {})) {
        const entry: { -readonly [K in keyof RegistryEntry]: RegistryEntry[K] } = {}
        if (a.auth !== undefined) entry.auth = a.auth
        if (a.username !== undefined) entry.username = a.username
        if (a.password !== undefined) entry.password = a.password
        out[hostOfKey(key)] = entry
      }
      return out
    })
  )

/** Reads a docker config.json file (e.g. `~/.docker/config.json`). */
export const loadDockerConfig = (path: string): Effect.Effect<RegistryConfig, InvalidContent> =>
  Effect.tryPromise({
    try: () => fs.readFile(path, "utf8").then((t) => JSON.parse(t) as unknown),
    catch: (e) => new InvalidContent({ what: `docker config ${path}`, issues: String(e) })
  }).pipe(Effect.flatMap((json) => fromDockerConfig(json)))

/** Merges configs, later ones winning per registry (e.g. docker config.json, then explicit settings). */
export const mergeConfigs = (...configs: ReadonlyArray<RegistryConfig | undefined>): RegistryConfig => {
  const out: Record<string, RegistryEntry> = {}
  for (const c of configs) {
    for (const [k, v] of Object.entries(c ?? {})) out[hostOfKey(k)] = { ...out[hostOfKey(k)], ...v }
  }
  return out
}
