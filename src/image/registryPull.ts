/**
 * One pull: ref → manifest (through an index when there is one) → config → layer directories.
 * Online pulls always ask the registry what a tag points at (tags move) unless the ref is a digest
 * already cached; blobs and layers are fetched only when missing. Offline pulls use the cache only.
 */
import { Effect, Either, Fiber, Option } from "effect"
import * as fsp from "node:fs/promises"
import {
  blobPath,
  type CacheLayout,
  commitBlob,
  commitLayer,
  hasBlob,
  hasLayer,
  layerPath,
  layerPresent,
  readBlobVerified,
  readRef,
  tmpPath,
  verifyBlobFile,
  writeBlob,
  writeRef
} from "./cache.js"
import type { SingleFlight } from "./cacheCoalesce.js"
import {
  CacheError,
  InvalidContent,
  LayerExtractFailed,
  NoMatchingPlatform,
  NotCached,
  type PullError,
  UnsupportedManifest
} from "./errors.js"
import { finished, type FollowTarget, makeFollowCell, published } from "./extract/follow.js"
import { type ProgressSink, PullEvent, throttledBytes } from "./progress.js"
import { formatReference, manifestReference, type Reference } from "./reference.js"
import { type RegistryClient, sha256 } from "./registry/client.js"
import { decodeJsonBytes, type ParsedManifest, parseManifest } from "./registry/manifest.js"
import { type Descriptor, ImageConfig, type ImageManifest, isConfigType, LAYER_TYPES } from "./registry/oci.js"
import { formatPlatform, listPlatforms, type PlatformSpec, selectPlatform } from "./registry/platform.js"

/** The extraction module's entry point (src/image/extract.ts): fills an existing, empty `dest`. With
 * `follow`, `blobPath` is still being downloaded: the extractor reads behind the download. */
export type Extractor = (
  opts: { blobPath: string; mediaType: string; dest: string; follow?: FollowTarget }
) => Effect.Effect<void, unknown>

export interface PulledImage {
  /** Canonical reference, e.g. `127.0.0.1:5000/tank/busybox:latest`. */
  readonly ref: string
  /** What the ref resolved to in the registry (an index or a manifest digest). */
  readonly digest: string
  /** The platform-specific image manifest digest (equal to `digest` without an index). */
  readonly manifestDigest: string
  readonly platform: string
  /** Extracted layer directories, lowest first: overlayfs lowerdirs (reversed). Never write into them. */
  readonly layers: ReadonlyArray<string>
  readonly config: ImageConfig
}

export interface PullOptions {
  /** Use the cache only; anything missing fails with NotCached. */
  readonly offline?: boolean | undefined
  /** Use the cached image when this ref (and platform) was pulled before, else pull: Kubernetes'
   * `IfNotPresent`. Restarts then neither wait for nor depend on the registry. */
  readonly ifNotPresent?: boolean | undefined
  /** Fetch manifests, config and layer blobs again even when cached (re-verified, atomically replaced).
   * Extracted layer directories are kept: they are named by the verified blob digest and may be in
   * use as overlay lowers by running pods. */
  readonly refresh?: boolean | undefined
  /** `os/arch[/variant]` or a spec; default: this host's platform. */
  readonly platform?: string | PlatformSpec | undefined
  readonly onProgress?: ProgressSink | undefined
}

export interface PullContext {
  readonly layout: CacheLayout
  readonly client: RegistryClient
  readonly flight: SingleFlight
  readonly extract: Extractor
  readonly concurrency: number
  /** `extract` honours `follow`: a missing layer is extracted while its blob downloads. */
  readonly follows?: boolean | undefined
  readonly resolved?: ResolvedMemo | undefined
}

/**
 * What an image digest resolved to for a platform (its manifest and config, verified when first
 * read). Content under a digest never changes, so a start from a cached image (a cache-only
 * lookup) reads the ref's record and checks its layer dirs, not the manifest and config blobs
 * again (issue 21); an explicit pull still re-reads and re-verifies them. Bounded: the oldest
 * entry goes first.
 */
export interface ResolvedMemo {
  readonly get: (key: string) => Resolved | undefined
  readonly set: (key: string, value: Resolved) => void
}

export const makeResolvedMemo = (max = 64): ResolvedMemo => {
  const entries = new Map<string, Resolved>()
  return {
    get: (key) => entries.get(key),
    set: (key, value) => {
      entries.delete(key)
      entries.set(key, value)
      if (entries.size > max) entries.delete(entries.keys().next().value!)
    }
  }
}

export interface Resolved {
  readonly digest: string
  readonly manifestDigest: string
  readonly manifest: ImageManifest
  readonly config: ImageConfig
}

/** Gets a manifest by digest or tag from the cache (digests only) or the registry, storing it. */
const loadManifest = (
  ctx: PullContext,
  ref: Reference,
  reference: string,
  opts: PullOptions
): Effect.Effect<{ readonly digest: string; readonly parsed: ParsedManifest }, PullError> =>
  Effect.gen(function*() {
    const name = formatReference(ref)
    const isDigest = reference.startsWith("sha256:")
    if (isDigest && !opts.refresh) {
      const cached = yield* readBlobVerified(ctx.layout, reference, ctx.client.options.maxManifestBytes)
      if (Option.isSome(cached)) {
        return { digest: reference, parsed: yield* parseManifest(cached.value, undefined, name) }
      }
    }
    if (opts.offline) return yield* new NotCached({ ref: name, missing: `manifest ${reference}` })
    const fetched = yield* ctx.client.manifest(ref, reference)
    const parsed = yield* parseManifest(fetched.bytes, fetched.contentType, name)
    yield* writeBlob(ctx.layout, fetched.digest, fetched.bytes)
    return { digest: fetched.digest, parsed }
  })

const loadConfig = (ctx: PullContext, ref: Reference, desc: Descriptor, opts: PullOptions) =>
  Effect.gen(function*() {
    const name = formatReference(ref)
    if (!isConfigType(desc.mediaType)) {
      return yield* new UnsupportedManifest({
        ref: name,
        mediaType: desc.mediaType,
        reason: "the manifest's config is not an image config (an artifact, not a container image)"
      })
    }
    let bytes: Buffer | undefined
    if (!opts.refresh) {
      bytes = Option.getOrUndefined(yield* readBlobVerified(ctx.layout, desc.digest, ctx.client.options.maxConfigBytes))
    }
    if (bytes === undefined) {
      if (opts.offline) return yield* new NotCached({ ref: name, missing: `config ${desc.digest}` })
      bytes = yield* ctx.client.blobBytes(ref, desc, "config")
      yield* writeBlob(ctx.layout, desc.digest, bytes)
    }
    return yield* decodeJsonBytes(ImageConfig, bytes, `image config of ${name}`)
  })

/** Resolves the ref (online or from the refs record) down to one platform's manifest and config. */
const resolve = (ctx: PullContext, ref: Reference, platform: PlatformSpec, opts: PullOptions) =>
  Effect.gen(function*() {
    const name = formatReference(ref)
    let reference = manifestReference(ref)
    if (opts.offline && ref.digest === undefined) {
      const record = yield* readRef(ctx.layout, name, formatPlatform(platform))
      if (Option.isNone(record)) return yield* new NotCached({ ref: name, missing: "no record of a previous pull" })
      reference = record.value.digest
    }
    const memoKey = (digest: string) => `${digest}|${formatPlatform(platform)}`
    // Only a cache-only lookup (a start's IfNotPresent) trusts it; a pull re-reads and re-verifies.
    const known = opts.offline && !opts.refresh && reference.startsWith("sha256:")
      ? ctx.resolved?.get(memoKey(reference))
      : undefined
    if (known !== undefined) return known
    const top = yield* loadManifest(ctx, ref, reference, opts)
    let manifestDigest = top.digest
    let parsed = top.parsed
    if (parsed.kind === "index") {
      const chosen = selectPlatform(parsed.index.manifests, platform)
      if (!chosen) {
        return yield* new NoMatchingPlatform({
          ref: name,
          wanted: formatPlatform(platform),
          available: listPlatforms(parsed.index.manifests)
        })
      }
      const child = yield* loadManifest(ctx, ref, chosen.digest, opts)
      if (child.digest !== chosen.digest) {
        return yield* new InvalidContent({ what: `manifest of ${name}`, issues: "index entry digest mismatch" })
      }
      if (child.parsed.kind !== "manifest") {
        return yield* new UnsupportedManifest({ ref: name, mediaType: child.parsed.mediaType, reason: "nested index" })
      }
      manifestDigest = child.digest
      parsed = child.parsed
    }
    const manifest = parsed.manifest
    const config = yield* loadConfig(ctx, ref, manifest.config, opts)
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      return yield* new InvalidContent({
        what: `image ${name}`,
        issues:
          `config lists ${config.rootfs.diff_ids.length} diff_ids but the manifest has ${manifest.layers.length} layers`
      })
    }
    for (const layer of manifest.layers) {
      if (!LAYER_TYPES.has(layer.mediaType)) {
        return yield* new UnsupportedManifest({
          ref: name,
          mediaType: layer.mediaType,
          reason: "unknown layer media type"
        })
      }
    }
    const resolved: Resolved = { digest: top.digest, manifestDigest, manifest, config }
    ctx.resolved?.set(memoKey(top.digest), resolved)
    return resolved
  })

/** Makes sure the layer blob is in `blobs/` (downloading it when missing, or always with refresh). */
const ensureBlob = (ctx: PullContext, ref: Reference, desc: Descriptor, opts: PullOptions, sink: ProgressSink) =>
  ctx.flight(
    `blob:${desc.digest}:${opts.refresh ? "refresh" : ""}`,
    Effect.gen(function*() {
      if (
        !opts.refresh && (yield* hasBlob(ctx.layout, desc.digest)) && (yield* verifyBlobFile(ctx.layout, desc.digest))
      ) {
        return
      }
      if (opts.offline) return yield* new NotCached({ ref: formatReference(ref), missing: `layer ${desc.digest}` })
      sink(PullEvent.LayerStarted({ digest: desc.digest, size: desc.size }))
      yield* Effect.scoped(Effect.gen(function*() {
        const tmp = yield* tmpPath(ctx.layout, "blob")
        yield* ctx.client.download(ref, desc, tmp, throttledBytes(sink, desc.digest, desc.size))
        yield* commitBlob(ctx.layout, tmp, desc.digest)
      }))
      sink(PullEvent.LayerDownloaded({ digest: desc.digest }))
    })
  )

/** Makes sure the layer's directory exists, extracting it from its blob into `tmp/` then renaming. */
const ensureLayer = (ctx: PullContext, ref: Reference, desc: Descriptor, opts: PullOptions, sink: ProgressSink) =>
  Effect.gen(function*() {
    const dir = layerPath(ctx.layout, desc.digest)
    const present = yield* hasLayer(ctx.layout, desc.digest)
    if (present && !opts.refresh) {
      sink(PullEvent.LayerCached({ digest: desc.digest, size: desc.size }))
      return dir
    }
    if (!present && ctx.follows && !opts.offline && !(yield* blobUsable(ctx, desc, opts))) {
      yield* ctx.flight(`layer:${desc.digest}`, downloadAndExtract(ctx, ref, desc, sink))
    } else {
      yield* ensureBlob(ctx, ref, desc, opts, sink)
      if (present) return dir
      yield* ctx.flight(
        `layer:${desc.digest}`,
        Effect.gen(function*() {
          if (yield* hasLayer(ctx.layout, desc.digest)) return
          yield* extractBlob(ctx, desc)
        })
      )
    }
    sink(PullEvent.LayerExtracted({ digest: desc.digest, path: dir }))
    return dir
  })

const layerTmp = (ctx: PullContext) =>
  Effect.gen(function*() {
    const tmp = yield* tmpPath(ctx.layout, "layer")
    yield* Effect.tryPromise({
      try: () => fsp.mkdir(tmp, { mode: 0o755 }),
      catch: (e) =>
        new CacheError({ op: "mkdir", path: tmp, code: (e as NodeJS.ErrnoException).code ?? "", reason: String(e) })
    })
    return tmp
  })

const extractFailed = (desc: Descriptor) => (cause: unknown) =>
  new LayerExtractFailed({
    digest: desc.digest,
    reason: (cause as { message?: string })?.message ?? String(cause),
    cause
  })

/** Extracts the layer from its verified blob in `blobs/` into `tmp/`, then renames it into place. */
const extractBlob = (ctx: PullContext, desc: Descriptor) =>
  Effect.scoped(Effect.gen(function*() {
    const tmp = yield* layerTmp(ctx)
    yield* ctx.extract({ blobPath: blobPath(ctx.layout, desc.digest), mediaType: desc.mediaType, dest: tmp })
      .pipe(Effect.mapError(extractFailed(desc)))
    yield* commitLayer(ctx.layout, tmp, desc.digest)
  }))

const blobUsable = (ctx: PullContext, desc: Descriptor, opts: PullOptions) =>
  Effect.gen(function*() {
    if (opts.refresh || !(yield* hasBlob(ctx.layout, desc.digest))) return false
    return yield* verifyBlobFile(ctx.layout, desc.digest)
  })

/**
 * A missing layer whose blob is missing too: the blob is extracted while it downloads, into `tmp/`.
 * The extraction succeeds only if what it read is the whole blob with the manifest's digest
 * (extract/follow.ts), and both are renamed into place only once the download verified as well;
 * a failed download leaves nothing (the scope removes both temp paths, after stopping the
 * extractor). If only the early extraction failed (the download restarted from zero, say), the
 * layer is extracted again from the verified blob, as without streaming, so any error it reports
 * is about verified content.
 */
const downloadAndExtract = (ctx: PullContext, ref: Reference, desc: Descriptor, sink: ProgressSink) =>
  Effect.scoped(Effect.gen(function*() {
    if (yield* hasLayer(ctx.layout, desc.digest)) return
    sink(PullEvent.LayerStarted({ digest: desc.digest, size: desc.size }))
    const blobTmp = yield* tmpPath(ctx.layout, "blob")
    const dest = yield* layerTmp(ctx)
    const cell = makeFollowCell()
    const follow = { cell, digest: desc.digest, size: desc.size }
    const extraction = yield* ctx.extract({ blobPath: blobTmp, mediaType: desc.mediaType, dest, follow }).pipe(
      Effect.either,
      Effect.forkScoped
    )
    yield* ctx.client.download(
      ref,
      desc,
      blobTmp,
      throttledBytes(sink, desc.digest, desc.size),
      (n) => published(cell, n)
    ).pipe(
      Effect.onExit((exit) => Effect.sync(() => finished(cell, exit._tag === "Success")))
    )
    sink(PullEvent.LayerDownloaded({ digest: desc.digest }))
    const streamed = yield* Fiber.join(extraction)
    // The blob goes into place after the extractor is done with its temp path.
    yield* commitBlob(ctx.layout, blobTmp, desc.digest)
    if (Either.isRight(streamed)) return yield* commitLayer(ctx.layout, dest, desc.digest)
    yield* Effect.logDebug(`layer ${desc.digest}: extraction during the download failed; extracting the blob`).pipe(
      Effect.annotateLogs({ cause: String((streamed.left as { message?: string })?.message ?? streamed.left) })
    )
    yield* extractBlob(ctx, desc)
  }))

/** The whole pull (coalescing of identical concurrent pulls is done by the caller). */
export const pullImage = (
  ctx: PullContext,
  ref: Reference,
  platform: PlatformSpec,
  opts: PullOptions
): Effect.Effect<PulledImage, PullError> =>
  Effect.gen(function*() {
    const sink = opts.onProgress ?? (() => {})
    const name = formatReference(ref)
    const resolved = yield* resolve(ctx, ref, platform, opts)
    const layers = resolved.manifest.layers
    sink(PullEvent.Resolved({
      ref: name,
      digest: resolved.digest,
      platform: formatPlatform(platform),
      layers: layers.map((l) => ({ digest: l.digest, size: l.size }))
    }))
    // A cache-only lookup whose layer dirs are all there (a start's usual case) checks them in one
    // loop: no fiber per layer (issue 21). A dir missing (removed under us) takes the full path.
    const cached = opts.offline && !opts.refresh && layers.every((l) => layerPresent(ctx.layout, l.digest))
    if (cached && opts.onProgress) {
      for (const l of layers) sink(PullEvent.LayerCached({ digest: l.digest, size: l.size }))
    }
    const dirs = cached
      ? layers.map((l) => layerPath(ctx.layout, l.digest))
      : yield* Effect.forEach(layers, (l) => ensureLayer(ctx, ref, l, opts, sink), {
        concurrency: ctx.concurrency
      })
    if (!opts.offline) {
      yield* writeRef(ctx.layout, {
        ref: name,
        platform: formatPlatform(platform),
        digest: resolved.digest,
        manifest: resolved.manifestDigest,
        config: resolved.manifest.config.digest,
        layers: layers.map((l) => l.digest),
        size: layers.reduce((n, l) => n + l.size, 0),
        pulledAt: new Date().toISOString()
      })
    }
    sink(PullEvent.Done({ ref: name, digest: resolved.digest }))
    return {
      ref: name,
      digest: resolved.digest,
      manifestDigest: resolved.manifestDigest,
      platform: formatPlatform(platform),
      layers: dirs,
      config: resolved.config
    }
  })

export { sha256 }
