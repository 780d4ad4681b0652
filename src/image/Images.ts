/**
 * The `Images` service: pull OCI / Docker images from registries into a shared, verified,
 * content-addressed layer cache, list what is cached, and prune what nothing uses.
 *
 *   const images = yield* Images
 *   const img = yield* images.pull("127.0.0.1:5000/tank/busybox:latest")
 *   img.layers   // extracted layer dirs, lowest first → overlayfs lowerdir (reversed)
 *   img.config   // the Schema'd OCI image config (Entrypoint, Cmd, Env, User, ...)
 */
import type { Scope } from "effect"
import { Context, Effect, Either, Layer, Option, Stream } from "effect"
import { cacheLayout, initCache, listRefs, type RefRecord, removeFile } from "./cache.js"
import { makeSingleFlight } from "./cacheCoalesce.js"
import { prune, type PruneOptions, type PruneReport } from "./cachePrune.js"
import { type CacheError, ImageNotFound, InvalidReference, type PullError } from "./errors.js"
import { extractLayerOffThread } from "./extractOffThread.js"
import { PullEvent } from "./progress.js"
import { formatReference, parseReference } from "./reference.js"
import { type ClientOptions, makeClient } from "./registry/client.js"
import { loadDockerConfig, mergeConfigs, type RegistryConfig } from "./registry/config.js"
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  type PlatformSpec
} from "./registry/platform.js"
import { type Extractor, makeResolvedMemo, type PulledImage, pullImage, type PullOptions } from "./registryPull.js"

export { PullEvent } from "./progress.js"
export type { RegistryConfig, RegistryEntry } from "./registry/config.js"
export type { ImageConfig, ImageRunConfig } from "./registry/oci.js"
export type { PlatformSpec } from "./registry/platform.js"
export type { Extractor, PulledImage, PullOptions }
export type { PruneOptions, PruneReport }

/** A cached image as `list()` shows it. */
export type ImageRecord = Omit<RefRecord, never>

export class Images extends Context.Tag("tank/Images")<Images, {
  /** Pulls (or finds in the cache) an image and returns its extracted layers and config.
   * Identical concurrent pulls share one execution. */
  readonly pull: (ref: string, options?: PullOptions) => Effect.Effect<PulledImage, PullError>
  /** The same pull, as a stream of progress events ending with `Done` (or the pull's error). */
  readonly pullWithProgress: (
    ref: string,
    options?: Omit<PullOptions, "onProgress">
  ) => Stream.Stream<PullEvent, PullError>
  /** Every ref record in the cache (one per ref and platform pulled). */
  readonly list: () => Effect.Effect<ReadonlyArray<ImageRecord>, CacheError>
  /** Forgets a ref (all its platforms); its content goes at the next `prune`. Returns how many records went. */
  readonly remove: (ref: string) => Effect.Effect<number, InvalidReference | CacheError>
  /** Removes blobs and layer dirs no ref record and no in-use digest reaches. `inUse` holds image
   * digests (PulledImage.digest or .manifestDigest) of running pods. Pulls in this process wait for
   * it; other processes sharing the cache dir must not pull meanwhile (the agent is the one owner). */
  readonly prune: (inUse: ReadonlySet<string>, options?: PruneOptions) => Effect.Effect<PruneReport, CacheError>
}>() {}

export interface ImagesOptions extends Omit<ClientOptions, "registries"> {
  /** The cache directory (normally `<data dir>/images`); created when missing. */
  readonly cacheDir: string
  /** Per-registry credentials, CA certificates, insecure (plain HTTP) marks. */
  readonly registries?: RegistryConfig | undefined
  /** A docker `config.json` whose `auths` are used too (`registries` wins per registry). */
  readonly dockerConfig?: string | undefined
  /** Platform pulled when a pull does not say (default: this host, from process.arch). */
  readonly platform?: string | PlatformSpec | undefined
  /** Layers downloaded / extracted at once per pull (default 3). */
  readonly concurrency?: number | undefined
  /** Replaces the layer extractor (default: `extractLayerOffThread`: large layers on a worker thread). */
  readonly extract?: Extractor | undefined
}

const PERMITS = 1 << 20

const toPlatform = (p: string | PlatformSpec | undefined, fallback: PlatformSpec) =>
  p === undefined
    ? Either.right(fallback)
    : typeof p !== "string"
    ? Either.right(p)
    : Option.match(Option.fromNullable(parsePlatform(p)), {
      onNone: () => Either.left(new InvalidReference({ input: p, reason: "platform must be os/arch[/variant]" })),
      onSome: Either.right
    })

export const make = (options: ImagesOptions): Effect.Effect<Images["Type"], CacheError | PullError, Scope.Scope> =>
  Effect.gen(function*() {
    const layout = cacheLayout(options.cacheDir)
    yield* initCache(layout)
    const fromDocker = options.dockerConfig ? yield* loadDockerConfig(options.dockerConfig) : undefined
    const client = yield* makeClient({ ...options, registries: mergeConfigs(fromDocker, options.registries) })
    const scope = yield* Effect.scope
    const flight = makeSingleFlight(scope)
    // Pulls share the cache; prune needs it to itself (it must not delete what a pull just wrote).
    const gate = yield* Effect.makeSemaphore(PERMITS)
    const defaultPlatform = yield* toPlatform(options.platform, hostPlatform())
    const ctx = {
      layout,
      client,
      flight,
      extract: options.extract ?? extractLayerOffThread,
      concurrency: options.concurrency ?? 3,
      // a replacement extractor may not honour `follow`: it gets finished blobs only
      follows: options.extract === undefined,
      resolved: makeResolvedMemo()
    }

    const pull = (input: string, opts: PullOptions = {}) =>
      Effect.gen(function*() {
        const ref = yield* parseReference(input)
        const platform = normalizePlatform(yield* toPlatform(opts.platform, defaultPlatform))
        const key = [
          formatReference(ref),
          formatPlatform(platform),
          opts.offline ? "offline" : "",
          opts.refresh ? "refresh" : ""
        ]
        const online = flight(`pull:${key.join("|")}`, gate.withPermits(1)(pullImage(ctx, ref, platform, opts)))
        if (!opts.ifNotPresent || opts.offline || opts.refresh) return yield* online
        const cached = gate.withPermits(1)(pullImage(ctx, ref, platform, { ...opts, offline: true }))
        return yield* cached.pipe(Effect.catchTag("NotCached", () => online))
      }).pipe(Effect.withSpan("Images.pull", { attributes: { ref: input } }))

    const pullWithProgress = (input: string, opts: Omit<PullOptions, "onProgress"> = {}) =>
      Stream.asyncScoped<PullEvent, PullError>((emit) =>
        pull(input, { ...opts, onProgress: (e) => void emit.single(e) }).pipe(
          Effect.matchEffect({
            onFailure: (e) => Effect.sync(() => void emit.fail(e)),
            onSuccess: () => Effect.sync(() => void emit.end())
          }),
          Effect.forkScoped
        )
      )

    const remove = (input: string) =>
      Effect.gen(function*() {
        const name = formatReference(yield* parseReference(input))
        let n = 0
        for (const rec of yield* listRefs(layout)) {
          if (rec.ref !== name) continue
          yield* removeFile(rec.file)
          n++
        }
        return n
      })

    return Images.of({
      pull,
      pullWithProgress,
      list: () => listRefs(layout).pipe(Effect.map((recs) => recs.map(({ file: _file, ...rec }) => rec))),
      remove,
      prune: (inUse, opts) => gate.withPermits(PERMITS)(prune(layout, inUse, opts))
    })
  })

/** The live layer. Fails at build time when the cache dir cannot be created or `dockerConfig` is unreadable. */
export const layer = (options: ImagesOptions): Layer.Layer<Images, CacheError | PullError> =>
  Layer.scoped(Images, make(options))

/**
 * A registry-free Images for tests of other services: pulls answer from `images` (keyed by
 * reference as written or canonical), anything else is ImageNotFound. Nothing is cached or pruned.
 */
export const layerStatic = (images: Readonly<Record<string, Omit<PulledImage, "ref">>>): Layer.Layer<Images> =>
  Layer.succeed(
    Images,
    Images.of({
      pull: (input) =>
        Effect.gen(function*() {
          const ref = formatReference(yield* parseReference(input))
          const found = images[input] ?? images[ref]
          if (!found) return yield* new ImageNotFound({ ref })
          return { ...found, ref }
        }),
      pullWithProgress: (input) =>
        Stream.fromEffect(
          Effect.map(
            Effect.gen(function*() {
              const ref = formatReference(yield* parseReference(input))
              const found = images[input] ?? images[ref]
              if (!found) return yield* new ImageNotFound({ ref })
              return PullEvent.Done({ ref, digest: found.digest })
            }),
            (e): PullEvent => e
          )
        ),
      list: () => Effect.succeed([]),
      remove: () => Effect.succeed(0),
      prune: () => Effect.succeed({ removedRefs: [], removedBlobs: 0, removedLayers: 0, freedBytes: 0 })
    })
  )
