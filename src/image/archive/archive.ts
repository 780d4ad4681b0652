/**
 * `tank load` / `tank save`: images to and from tarballs (OCI layout, or docker-archive on load),
 * as `docker load` / `docker save`. A load is a pull from the archive (see source.ts): every blob is
 * re-hashed against its digest, layers go through the cache's safe extraction, and ref records are
 * written as after a pull. A save writes the cached image's verified blobs as an OCI layout, with
 * docker's `manifest.json` beside it so older `docker load` reads it too.
 */
import { Effect, Option, Schema } from "effect"
import { createReadStream, createWriteStream } from "node:fs"
import * as fsp from "node:fs/promises"
import { pipeline } from "node:stream/promises"
import * as tar from "tar-stream"
import { blobPath, cacheLayout, initCache, readBlobVerified, readRef, tmpPath, verifyBlobFile } from "../cache.js"
import { makeSingleFlight } from "../cacheCoalesce.js"
import { CacheError, InvalidContent, NotCached, type PullError } from "../errors.js"
import { extractLayer } from "../extract.js"
import { formatReference, parseReference } from "../reference.js"
import { defaultRetry } from "../registry/client.js"
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  type PlatformSpec
} from "../registry/platform.js"
import { type Extractor, type PulledImage, pullImage } from "../registryPull.js"
import { readEntries } from "./entries.js"
import { archiveClient, sourceOf } from "./source.js"

export interface ArchiveOptions {
  /** The image cache (normally `<data dir>/images`). */
  readonly cacheDir: string
  /** `os/arch[/variant]` taken from multi-platform images (default: this host's). */
  readonly platform?: string | undefined
  readonly extract?: Extractor | undefined
}

const platformOf = (p: string | undefined): PlatformSpec =>
  normalizePlatform(p === undefined ? hostPlatform() : parsePlatform(p) ?? hostPlatform())

const LIMITS = { maxManifestBytes: 4 << 20, maxConfigBytes: 4 << 20, timeoutMs: 0, retry: defaultRetry }

/** Loads every image the archive names into the cache; returns them (ref, digest, layers). */
export const load = (file: string, options: ArchiveOptions): Effect.Effect<ReadonlyArray<PulledImage>, PullError> =>
  Effect.scoped(Effect.gen(function*() {
    const layout = cacheLayout(options.cacheDir)
    yield* initCache(layout)
    const dir = yield* tmpPath(layout, "load")
    yield* Effect.tryPromise({
      try: () => fsp.mkdir(dir, { mode: 0o700 }),
      catch: (e) =>
        new CacheError({ op: "mkdir", path: dir, code: (e as NodeJS.ErrnoException).code ?? "", reason: String(e) })
    })
    const source = yield* sourceOf(yield* readEntries(file, dir), file)
    if (source.refs.size === 0) {
      return yield* new InvalidContent({ what: `image archive ${file}`, issues: "it names no image (no tags)" })
    }
    const ctx = {
      layout,
      client: archiveClient(source, LIMITS),
      flight: makeSingleFlight(yield* Effect.scope),
      extract: options.extract ?? extractLayer,
      concurrency: 3,
      follows: options.extract === undefined
    }
    const platform = platformOf(options.platform)
    return yield* Effect.forEach(
      [...source.refs.keys()],
      (name) => Effect.flatMap(parseReference(name), (ref) => pullImage(ctx, ref, platform, {}))
    )
  }))

const ManifestHead = Schema.Struct({ mediaType: Schema.optional(Schema.String) })

/** Writes the cached images (as last pulled or loaded for the platform) to `file`, atomically. */
export const save = (
  refs: ReadonlyArray<string>,
  file: string,
  options: ArchiveOptions
): Effect.Effect<void, PullError> =>
  Effect.gen(function*() {
    const layout = cacheLayout(options.cacheDir)
    const platform = formatPlatform(platformOf(options.platform))
    const blobs = new Map<string, string>()
    const index: Array<unknown> = []
    const dockerManifest: Array<unknown> = []
    for (const input of refs) {
      const name = formatReference(yield* parseReference(input))
      const record = yield* readRef(layout, name, platform)
      if (Option.isNone(record)) return yield* new NotCached({ ref: name, missing: `the image for ${platform}` })
      const r = record.value
      const manifest = yield* readBlobVerified(layout, r.manifest, LIMITS.maxManifestBytes)
      if (Option.isNone(manifest)) return yield* new NotCached({ ref: name, missing: `manifest ${r.manifest}` })
      for (const d of [r.config, ...r.layers]) {
        if (!(yield* verifyBlobFile(layout, d))) return yield* new NotCached({ ref: name, missing: `blob ${d}` })
        blobs.set(d, blobPath(layout, d))
      }
      blobs.set(r.manifest, blobPath(layout, r.manifest))
      const head = yield* Effect.try({
        try: () => Schema.decodeUnknownSync(ManifestHead)(JSON.parse(manifest.value.toString("utf8"))),
        catch: () => new InvalidContent({ what: `manifest of ${name}`, issues: "not JSON" })
      })
      index.push({
        mediaType: head.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
        digest: r.manifest,
        size: manifest.value.length,
        annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name }
      })
      const at = (d: string) => `blobs/sha256/${d.slice("sha256:".length)}`
      dockerManifest.push({ Config: at(r.config), RepoTags: [name], Layers: r.layers.map(at) })
    }
    const tmp = `${file}.tmp-${process.pid}`
    yield* Effect.tryPromise({
      try: async () => {
        const pack = tar.pack()
        const writing = pipeline(pack, createWriteStream(tmp, { mode: 0o644 }))
        const text = (name: string, value: unknown) => pack.entry({ name, mode: 0o644 }, JSON.stringify(value) + "\n")
        text("oci-layout", { imageLayoutVersion: "1.0.0" })
        text("index.json", { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: index })
        text("manifest.json", dockerManifest)
        for (const [digest, p] of blobs) {
          const { size } = await fsp.stat(p)
          const entry = pack.entry({ name: `blobs/sha256/${digest.slice("sha256:".length)}`, size, mode: 0o644 })
          await pipeline(createReadStream(p), entry)
        }
        pack.finalize()
        await writing
        await fsp.rename(tmp, file)
      },
      catch: (e) => {
        void fsp.rm(tmp, { force: true })
        return new CacheError({
          op: "save",
          path: file,
          code: (e as NodeJS.ErrnoException).code ?? "",
          reason: String(e)
        })
      }
    })
  })
