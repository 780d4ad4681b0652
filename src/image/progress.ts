/**
 * Pull progress as data, for the CLI to draw (docker-pull style: one line per layer).
 * Events arrive in order per layer: Started → Bytes* → Downloaded → Extracted, or just Cached.
 */
import { Data } from "effect"

export type PullEvent = Data.TaggedEnum<{
  /** The ref was resolved to a manifest; `layers` are its layer blobs, lowest first. */
  Resolved: {
    readonly ref: string
    readonly digest: string
    readonly platform: string
    readonly layers: ReadonlyArray<{ readonly digest: string; readonly size: number }>
  }
  /** The layer's directory is already in the cache (nothing to download or extract). */
  LayerCached: { readonly digest: string; readonly size: number }
  /** Downloading the layer blob began (or it was found in the cache and extraction begins). */
  LayerStarted: { readonly digest: string; readonly size: number }
  /** Cumulative bytes received for the layer. */
  LayerBytes: { readonly digest: string; readonly received: number; readonly size: number }
  /** The blob is verified and stored. */
  LayerDownloaded: { readonly digest: string }
  /** The layer's directory is in place. */
  LayerExtracted: { readonly digest: string; readonly path: string }
  /** The pull finished. */
  Done: { readonly ref: string; readonly digest: string }
}>

export const PullEvent = Data.taggedEnum<PullEvent>()

/** Where events go; must not block (a Stream's emit, a counter, a log line). */
export type ProgressSink = (event: PullEvent) => void

export const noProgress: ProgressSink = () => {}

/**
 * Bytes events at most every `step` bytes (and always the last one), so a 100 MB layer gives
 * ~100 events instead of thousands.
 */
export const throttledBytes = (sink: ProgressSink, digest: string, size: number, step = 1024 * 1024) => {
  let last = -step
  return (received: number) => {
    if (received - last >= step || received === size) {
      last = received
      sink(PullEvent.LayerBytes({ digest, received, size }))
    }
  }
}
