/**
 * What an image archive offers, whichever format it is in: the refs it names (each → a manifest or
 * index digest) and its content by digest (files in the archive, or small manifests made here for
 * docker-archives, which have none). `archiveClient` serves it as a registry would, so a load is a
 * pull (src/image/registryPull.ts): same verification, same safe extraction, same ref records.
 */
import { Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import * as fsp from "node:fs/promises"
import { pipeline } from "node:stream/promises"
import type { InvalidReference } from "../errors.js"
import { DigestMismatch, ImageNotFound, InvalidContent } from "../errors.js"
import { formatReference, parseReference } from "../reference.js"
import type { RegistryClient } from "../registry/client.js"
import { type Entries, normalizeName } from "./entries.js"

export interface Source {
  /** Canonical ref → the digest it names (a manifest or an index). */
  readonly refs: ReadonlyMap<string, string>
  /** Digest → file holding its bytes. */
  readonly files: ReadonlyMap<string, string>
  /** Digest → bytes made here (docker-archive manifests). */
  readonly inline: ReadonlyMap<string, Buffer>
  /** Digest → media type, where the archive says. */
  readonly mediaTypes: ReadonlyMap<string, string>
}

const Descriptor = Schema.Struct({
  mediaType: Schema.optional(Schema.String),
  digest: Schema.String.pipe(Schema.pattern(/^sha256:[a-f0-9]{64}$/)),
  size: Schema.optional(Schema.Number),
  annotations: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})
const OciIndex = Schema.Struct({ manifests: Schema.Array(Descriptor) })
const DockerManifest = Schema.Array(Schema.Struct({
  Config: Schema.String,
  RepoTags: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  Layers: Schema.Array(Schema.String)
}))

const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`
const sha256File = (file: string) =>
  Effect.promise(async () => {
    const h = createHash("sha256")
    await pipeline(createReadStream(file), h)
    return `sha256:${h.digest("hex")}`
  })

const bad = (file: string, issues: string) => new InvalidContent({ what: `image archive ${file}`, issues })

const readJson = <A, I>(schema: Schema.Schema<A, I>, entries: Entries, name: string, file: string) =>
  Effect.gen(function*() {
    const p = entries.get(name)
    if (p === undefined) return yield* bad(file, `${name} is missing`)
    const text = yield* Effect.promise(() => fsp.readFile(p, "utf8"))
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: () => bad(file, `${name} is not JSON`)
    })
    return yield* Schema.decodeUnknown(schema)(json).pipe(Effect.mapError((e) => bad(file, `${name}: ${e.message}`)))
  })

const canonical = (name: string, file: string) =>
  parseReference(name).pipe(
    Effect.map(formatReference),
    Effect.mapError((e: InvalidReference) => bad(file, `image name ${JSON.stringify(name)}: ${e.message}`))
  )

/** An OCI image layout (`index.json`, `blobs/sha256/…`), as `docker save` (25+) and skopeo write. */
const fromOciLayout = (entries: Entries, file: string) =>
  Effect.gen(function*() {
    const index = yield* readJson(OciIndex, entries, "index.json", file)
    const files = new Map<string, string>()
    for (const [name, p] of entries) {
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name)
      if (m) files.set(`sha256:${m[1]}`, p)
    }
    const refs = new Map<string, string>()
    const mediaTypes = new Map<string, string>()
    for (const d of index.manifests) {
      if (d.mediaType) mediaTypes.set(d.digest, d.mediaType)
      // docker writes the full name in containerd's annotation; the OCI one may hold only a tag.
      const name = d.annotations?.["io.containerd.image.name"] ?? d.annotations?.["org.opencontainers.image.ref.name"]
      if (name === undefined) continue
      if (!name.includes("/") && !name.includes(":")) {
        return yield* bad(file, `index.json names ${d.digest} only by the tag "${name}" (no repository)`)
      }
      refs.set(yield* canonical(name, file), d.digest)
    }
    return { refs, files, inline: new Map(), mediaTypes } satisfies Source
  })

/** A docker-archive (`manifest.json` with Config/RepoTags/Layers), as `docker save` (before 25) wrote. */
const fromDockerArchive = (entries: Entries, file: string) =>
  Effect.gen(function*() {
    const images = yield* readJson(DockerManifest, entries, "manifest.json", file)
    const files = new Map<string, string>()
    const inline = new Map<string, Buffer>()
    const refs = new Map<string, string>()
    const fileOf = (name: string) => {
      const n = normalizeName(name)
      const p = n === undefined ? undefined : entries.get(n)
      return p === undefined
        ? Effect.fail(bad(file, `manifest.json names ${name}, which is not in the archive`))
        : Effect.succeed(p)
    }
    for (const image of images) {
      const configFile = yield* fileOf(image.Config)
      const config = yield* Effect.promise(() => fsp.readFile(configFile))
      const configDigest = sha256(config)
      files.set(configDigest, configFile)
      const layers = []
      for (const layer of image.Layers) {
        const p = yield* fileOf(layer)
        const digest = yield* sha256File(p)
        const head = yield* Effect.promise(() =>
          fsp.open(p).then(async (h) => {
            const b = Buffer.alloc(2)
            await h.read(b, 0, 2, 0).finally(() => h.close())
            return b
          })
        )
        files.set(digest, p)
        const size = (yield* Effect.promise(() => fsp.stat(p))).size
        const gzip = head[0] === 0x1f && head[1] === 0x8b
        layers.push({
          mediaType: `application/vnd.docker.image.rootfs.diff.tar${gzip ? ".gzip" : ""}`,
          size,
          digest
        })
      }
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        config: {
          mediaType: "application/vnd.docker.container.image.v1+json",
          size: config.length,
          digest: configDigest
        },
        layers
      }))
      const digest = sha256(manifest)
      inline.set(digest, manifest)
      for (const tag of image.RepoTags ?? []) refs.set(yield* canonical(tag, file), digest)
    }
    return { refs, files, inline, mediaTypes: new Map() } satisfies Source
  })

export const sourceOf = (entries: Entries, file: string): Effect.Effect<Source, InvalidContent> =>
  entries.has("index.json")
    ? fromOciLayout(entries, file)
    : entries.has("manifest.json")
    ? fromDockerArchive(entries, file)
    : Effect.fail(bad(file, "neither an OCI layout (index.json) nor a docker-archive (manifest.json)"))

/** Bytes of a digest, re-hashed: content is trusted only once it matches its name. */
const readVerified = (source: Source, digest: string, what: string, limit: number) =>
  Effect.gen(function*() {
    const inline = source.inline.get(digest)
    const p = source.files.get(digest)
    if (inline === undefined && p === undefined) return yield* new ImageNotFound({ ref: `${what} ${digest}` })
    const size = inline?.length ?? (yield* Effect.promise(() => fsp.stat(p!))).size
    if (size > limit) return yield* new InvalidContent({ what, issues: `${size} bytes, more than ${limit}` })
    const bytes = inline ?? (yield* Effect.promise(() => fsp.readFile(p!)))
    const actual = sha256(bytes)
    if (actual !== digest) return yield* new DigestMismatch({ what, expected: digest, actual })
    return bytes
  })

/** The archive as a registry: tags are the refs it names, blobs its content (verified on every read). */
export const archiveClient = (source: Source, options: RegistryClient["options"]): RegistryClient => ({
  options,
  manifest: (ref, reference) =>
    Effect.gen(function*() {
      const digest = reference.startsWith("sha256:") ? reference : source.refs.get(formatReference(ref))
      if (digest === undefined) return yield* new ImageNotFound({ ref: formatReference(ref) })
      const bytes = yield* readVerified(source, digest, `manifest of ${formatReference(ref)}`, options.maxManifestBytes)
      return { bytes, digest, contentType: source.mediaTypes.get(digest) }
    }),
  blobBytes: (ref, desc) =>
    readVerified(source, desc.digest, `config of ${formatReference(ref)}`, options.maxConfigBytes),
  download: (ref, desc, dest, onBytes, onWritten) =>
    Effect.gen(function*() {
      const p = source.files.get(desc.digest)
      if (p === undefined) return yield* new ImageNotFound({ ref: `${formatReference(ref)} layer ${desc.digest}` })
      const h = createHash("sha256")
      let n = 0
      yield* Effect.promise(async () => {
        const out = await fsp.open(dest, "w", 0o600)
        try {
          for await (const chunk of createReadStream(p)) {
            h.update(chunk as Buffer)
            n += (chunk as Buffer).length
            await out.write(chunk as Buffer)
            onBytes(n)
            onWritten?.(n)
          }
        } finally {
          await out.close()
        }
      })
      const actual = `sha256:${h.digest("hex")}`
      if (actual !== desc.digest || n !== desc.size) {
        yield* Effect.promise(() => fsp.rm(dest, { force: true }))
        return yield* new DigestMismatch({
          what: `layer ${desc.digest} of ${formatReference(ref)} (${n} of ${desc.size} bytes)`,
          expected: desc.digest,
          actual
        })
      }
    })
})
