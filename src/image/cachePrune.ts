/**
 * Garbage collection of the image cache: everything reachable from a kept ref record or an in-use
 * digest stays; other blobs and layer directories go.
 */
import { Effect, Option } from "effect"
import {
  blobPath,
  type CacheLayout,
  fileSize,
  listDigests,
  listRefs,
  readBlobVerified,
  removeFile,
  removeLayer
} from "./cache.js"
import type { CacheError } from "./errors.js"
import { parseManifest } from "./registry/manifest.js"

export interface PruneOptions {
  /** Also drop ref records whose image is not in use (like `docker image prune -a`). Default false:
   * only content no ref record reaches is removed. */
  readonly all?: boolean | undefined
}

export interface PruneReport {
  readonly removedRefs: ReadonlyArray<string>
  readonly removedBlobs: number
  readonly removedLayers: number
  readonly freedBytes: number
}

/** Marks a manifest or index digest and everything cached below it. */
const mark = (l: CacheLayout, digest: string, keep: Set<string>): Effect.Effect<void, CacheError> =>
  Effect.gen(function*() {
    if (keep.has(digest)) return
    keep.add(digest)
    const bytes = yield* readBlobVerified(l, digest, 64 * 1024 * 1024)
    if (Option.isNone(bytes)) return
    const parsed = parseManifest(bytes.value, undefined, digest)
    if (parsed._tag === "Left") return
    if (parsed.right.kind === "index") {
      for (const m of parsed.right.index.manifests) yield* mark(l, m.digest, keep)
    } else {
      keep.add(parsed.right.manifest.config.digest)
      for (const layer of parsed.right.manifest.layers) keep.add(layer.digest)
    }
  })

export const prune = (
  l: CacheLayout,
  inUse: ReadonlySet<string>,
  options: PruneOptions = {}
): Effect.Effect<PruneReport, CacheError> =>
  Effect.gen(function*() {
    const keep = new Set<string>()
    const removedRefs: Array<string> = []
    for (const rec of yield* listRefs(l)) {
      const used = inUse.has(rec.digest) || inUse.has(rec.manifest)
      if (options.all && !used) {
        yield* removeFile(rec.file)
        removedRefs.push(rec.ref)
        continue
      }
      // The record itself names everything its image needs, even if the index was not cached.
      for (const d of [rec.digest, rec.manifest, rec.config, ...rec.layers]) keep.add(d)
    }
    for (const d of inUse) yield* mark(l, d, keep)
    let removedBlobs = 0
    let removedLayers = 0
    let freedBytes = 0
    for (const d of yield* listDigests(l.blobs)) {
      if (keep.has(d)) continue
      freedBytes += yield* fileSize(blobPath(l, d))
      yield* removeFile(blobPath(l, d))
      removedBlobs++
    }
    for (const d of yield* listDigests(l.layers)) {
      if (keep.has(d)) continue
      yield* removeLayer(l, d)
      removedLayers++
    }
    return { removedRefs, removedBlobs, removedLayers, freedBytes }
  })
