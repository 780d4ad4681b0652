/**
 * Pure rendering of pull progress (docker-pull style): the state of each layer, drawn as bars on a
 * terminal or as plain lines when output goes to a file or pipe.
 */
import type { PullEvent } from "../image/progress.js"
import { formatBytes } from "./table.js"

type LayerState = "waiting" | "cached" | "downloading" | "downloaded" | "extracted"

interface Layer {
  readonly id: string
  state: LayerState
  received: number
  size: number
}

export const shortDigest = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12)

const bar = (received: number, size: number, width = 30) => {
  const filled = size > 0 ? Math.min(width, Math.floor((received / size) * width)) : 0
  return `[${"=".repeat(Math.max(0, filled - 1))}${filled > 0 ? (filled === width ? "=" : ">") : ""}${
    " ".repeat(width - filled)
  }]`
}

export class PullView {
  readonly layers = new Map<string, Layer>()

  /** Apply an event; returns the plain line to print for it, if any (non-TTY mode). */
  update(e: PullEvent): string | undefined {
    const layer = (digest: string, size = 0) => {
      let l = this.layers.get(digest)
      if (!l) {
        l = { id: shortDigest(digest), state: "waiting", received: 0, size }
        this.layers.set(digest, l)
      }
      return l
    }
    switch (e._tag) {
      case "Resolved":
        for (const l of e.layers) layer(l.digest, l.size)
        return `${e.ref}: resolved to ${e.digest} (${e.platform}, ${e.layers.length} layer${
          e.layers.length === 1 ? "" : "s"
        })`
      case "LayerCached": {
        const l = layer(e.digest, e.size)
        l.state = "cached"
        l.received = l.size
        return `${l.id}: already present`
      }
      case "LayerStarted": {
        const l = layer(e.digest, e.size)
        l.state = "downloading"
        return `${l.id}: downloading ${formatBytes(e.size)}`
      }
      case "LayerBytes": {
        const l = layer(e.digest, e.size)
        l.state = "downloading"
        l.received = e.received
        return undefined
      }
      case "LayerDownloaded": {
        const l = layer(e.digest)
        l.state = "downloaded"
        l.received = l.size
        return `${l.id}: download complete`
      }
      case "LayerExtracted": {
        const l = layer(e.digest)
        l.state = "extracted"
        l.received = l.size
        return `${l.id}: extracted`
      }
      case "Done":
        // Every layer is in place now (a refreshed blob whose directory already existed is not
        // extracted again, so it sends no LayerExtracted).
        for (const l of this.layers.values()) if (l.state !== "cached") l.state = "extracted"
        return `digest: ${e.digest}\npulled ${e.ref}`
    }
  }

  /** One line per layer for a terminal. */
  lines(): Array<string> {
    return [...this.layers.values()].map((l) => {
      switch (l.state) {
        case "waiting":
          return `${l.id}: Waiting`
        case "cached":
          return `${l.id}: Already exists`
        case "downloading":
          return `${l.id}: Downloading ${bar(l.received, l.size)} ${formatBytes(l.received)}/${formatBytes(l.size)}`
        case "downloaded":
          return `${l.id}: Extracting`
        case "extracted":
          return `${l.id}: Pull complete`
      }
    })
  }
}
