/**
 * Layer extraction: one layer blob (tar; gzip; zstd where Node's zlib has it) → one directory in
 * overlayfs form (whiteouts as char 0/0 devices, opaque dirs as `trusted.overlay.opaque=y`), so
 * layer directories stack directly as overlayfs `lowerdir`s. The compression is taken from the
 * blob's first bytes, as Docker and containerd do; the media type must name a tar layer.
 *
 * The caller creates `dest` empty, runs `extractLayer`, and renames `dest` into place on success.
 * On failure `dest` may hold a partial tree: the caller removes it. Nothing outside `dest` is ever
 * written (see `extract/tree.ts`), whatever the archive contains. Ownership and device nodes need
 * root; without it they are skipped (and logged), as rootless engines do.
 *
 * The blob is streamed (file → zlib → tar-stream → files); file data is never buffered whole.
 * Entries are applied one at a time, in archive order, because later entries may replace earlier
 * ones and links refer to earlier entries; the only concurrency is zlib inflating on the libuv
 * pool while the main thread writes.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import type { Duplex } from "node:stream"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"
import { onLongHeader } from "../vendor/tarStream.js"
import { ExtractError, Refusal, toExtractError } from "./extract/errors.js"
import { followFile, type FollowTarget, waitForBytes } from "./extract/follow.js"
import { MAX_ENTRY_BYTES, MAX_NAME_BYTES, normalise } from "./extract/paths.js"
import {
  decodePaxRecords,
  isSparse,
  paxForTarStream,
  paxId,
  type PaxRecords,
  paxTimeNs,
  RAW,
  xattrsOf
} from "./extract/pax.js"
import * as sys from "./extract/sys.js"
import { LayerTree, type Meta } from "./extract/tree.js"
import { classify } from "./whiteout.js"

export { ExtractError, ExtractReason } from "./extract/errors.js"

export interface ExtractOptions {
  readonly blobPath: string
  readonly mediaType: string
  /** An existing, empty directory. */
  readonly dest: string
  /** Caps against decompression bombs (defaults: `DEFAULT_LIMITS`, and the free space of `dest`). */
  readonly limits?: Partial<LayerLimits>
  /** The blob is still being downloaded: read it behind the download (see `extract/follow.ts`). */
  readonly follow?: FollowTarget | undefined
}

export interface LayerLimits {
  /** Total bytes of file data (and of PAX / GNU long headers) one layer may expand to. */
  readonly maxBytes: number
  /** Entries one layer may hold. */
  readonly maxEntries: number
  /** Free space on the destination's filesystem that extraction never eats into. */
  readonly reserveBytes: number
}

/** Larger than any real image layer; a layer past them is a bomb or a mistake. */
export const DEFAULT_LIMITS: LayerLimits = {
  maxBytes: 64 * 1024 ** 3,
  maxEntries: 2_000_000,
  reserveBytes: 512 * 1024 ** 2
}

/** What this layer may write: the configured cap or the free space above the reserve, less. */
const budgetFor = (dest: string, limits: LayerLimits): { readonly bytes: number; readonly why: string } => {
  try {
    const st = fs.statfsSync(dest)
    const free = st.bavail * st.bsize - limits.reserveBytes
    if (free < limits.maxBytes) {
      return { bytes: Math.max(0, free), why: `the free space of ${dest} less a ${mib(limits.reserveBytes)} reserve` }
    }
  } catch {
    // statfs unavailable: the cap alone
  }
  return { bytes: limits.maxBytes, why: "the layer size limit" }
}

const mib = (n: number) => `${Math.round(n / 1024 ** 2)} MiB`

type Compression = "none" | "gzip" | "zstd"

/** Layer media types Tank accepts and the compression each declares. */
export const LAYER_MEDIA_TYPES: Readonly<Record<string, Compression>> = {
  "application/vnd.oci.image.layer.v1.tar": "none",
  "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
  "application/vnd.docker.image.rootfs.diff.tar": "none",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip"
}

/** What the first bytes say, which wins over the declared type (as in Docker and containerd). */
const sniff = (head: Buffer): Compression =>
  head[0] === 0x1f && head[1] === 0x8b
    ? "gzip"
    : head.readUInt32LE(0) === 0xfd2fb528
    ? "zstd"
    : "none"

/** Node ≥ 22.15 / 23.8 ships a zstd decoder in zlib; Node 20 does not (then zstd layers are refused). */
const zstdDecompress = (zlib as unknown as { createZstdDecompress?: () => Duplex })
  .createZstdDecompress

const decoder = (compression: Compression): Duplex | undefined =>
  compression === "gzip"
    ? zlib.createGunzip({ chunkSize: 1 << 18 })
    : compression === "zstd"
    ? zstdDecompress?.()
    : undefined

const readHead = (blobPath: string) =>
  Effect.try({
    try: () => {
      const fd = fs.openSync(blobPath, "r")
      try {
        const head = Buffer.alloc(4)
        fs.readSync(fd, head, 0, 4, 0)
        return head
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: (e) => toExtractError(e, blobPath, undefined)
  })

const openRoot = (dest: string, blob: string) =>
  Effect.try({
    try: () =>
      sys.openat2(sys.AT_FDCWD, Buffer.from(dest, "utf8").toString("latin1"), sys.O_PATH | sys.O_DIRECTORY, 0, 0),
    catch: (e) => toExtractError(e, blob, undefined)
  })

/** Extracts one layer on this thread; logs what was skipped (see `extractLayerCollect`). */
export const extractLayer = (opts: ExtractOptions): Effect.Effect<void, ExtractError> =>
  extractLayerCollect(opts).pipe(Effect.flatMap((skipped) => logSkipped(opts.blobPath, skipped)))

export const logSkipped = (blobPath: string, skipped: ReadonlyArray<string>): Effect.Effect<void> =>
  skipped.length === 0 ? Effect.void : Effect.logWarning(`layer ${blobPath}: skipped ${skipped.length} item(s)`).pipe(
    Effect.annotateLogs({ skipped: skipped.slice(0, 20).join("; ") })
  )

/** Extracts one layer on this thread and returns the items it skipped (ownership, devices without root). */
export const extractLayerCollect = (opts: ExtractOptions): Effect.Effect<ReadonlyArray<string>, ExtractError> =>
  Effect.gen(function*() {
    const declared = LAYER_MEDIA_TYPES[opts.mediaType]
    if (declared === undefined) {
      return yield* new ExtractError({
        reason: "Unsupported",
        blob: opts.blobPath,
        detail: `layer media type "${opts.mediaType}" is not a tar layer`
      })
    }
    if (opts.follow !== undefined) {
      const cell = opts.follow.cell
      // fewer than 4 bytes ever: the follow reader below reports that the blob is not the one expected
      yield* Effect.promise(() => waitForBytes(cell, 4))
    }
    const compression = sniff(yield* readHead(opts.blobPath))
    if (compression === "zstd" && zstdDecompress === undefined) {
      return yield* new ExtractError({
        reason: "Unsupported",
        blob: opts.blobPath,
        detail: "zstd-compressed layers are not supported (this Node has no zstd decoder)"
      })
    }
    return yield* Effect.acquireUseRelease(
      openRoot(opts.dest, opts.blobPath),
      (rootFd) =>
        run(opts.blobPath, compression, rootFd, { ...DEFAULT_LIMITS, ...opts.limits }, opts.dest, opts.follow),
      (rootFd) => Effect.sync(() => sys.close(rootFd))
    )
  })

const EMPTY_PAX: PaxRecords = new Map()

interface TarHeader {
  readonly name: string
  readonly linkname: string | null
  readonly type: string | null
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  readonly mtime: Date
  readonly devmajor: number
  readonly devminor: number
  readonly pax: { readonly [RAW]?: PaxRecords } | null
}

/**
 * `charge` is told the size of every PAX and GNU long header before it is decoded: those bytes cost
 * memory and time like file data does, so they count toward the layer's budget (a layer of nothing
 * but 4 MiB PAX headers is a bomb too). It throws to refuse.
 */
const rawPaxDecoding = (ex: tar.Extract, charge: (bytes: number) => void): { readonly global: () => PaxRecords } => {
  let global: PaxRecords = EMPTY_PAX
  // tar-stream internals, behind their adapter (src/vendor/tarStream.ts).
  onLongHeader(ex, (buf, header) => {
    charge(buf.length)
    if (header.type === "pax-header") header.setPax(paxForTarStream(decodePaxRecords(buf)))
    else if (header.type === "pax-global-header") global = decodePaxRecords(buf)
    else header.decodeAsUsual(buf)
  })
  return { global: () => global }
}

const metaOf = (h: TarHeader, pax: PaxRecords): Meta => ({
  mode: h.mode & 0o7777,
  uid: paxId(pax, "uid") ?? h.uid,
  gid: paxId(pax, "gid") ?? h.gid,
  mtimeNs: paxTimeNs(pax, "mtime") ?? BigInt(Math.trunc(h.mtime.getTime() / 1000)) * 1_000_000_000n,
  xattrs: xattrsOf(pax)
})

const path = (name: string, what: string): string => {
  const n = normalise(name)
  if (!n.ok) throw new Refusal(n.reason.startsWith("name longer") ? "Limit" : "Hostile", `${what}: ${n.reason}`)
  return n.rel
}

const run = (
  blob: string,
  compression: Compression,
  rootFd: number,
  limits: LayerLimits,
  dest: string,
  follow: FollowTarget | undefined
) =>
  Effect.async<ReadonlyArray<string>, ExtractError>((resume) => {
    const skipped: Array<string> = []
    // Refused on the headers' declared sizes, before any of the data is written.
    const budget = budgetFor(dest, limits)
    let totalBytes = 0
    const charge = (bytes: number) => {
      totalBytes += bytes
      if (totalBytes > budget.bytes) {
        throw new Refusal("Limit", `layer expands to more than ${mib(budget.bytes)} (${budget.why})`)
      }
    }
    let entries = 0
    const tree = new LayerTree(rootFd, {
      privileged: process.geteuid?.() === 0,
      onSkip: (what) => skipped.push(what)
    })
    const source = follow === undefined
      ? fs.createReadStream(blob, { highWaterMark: 1 << 20 })
      : followFile(blob, follow)
    const inflate = decoder(compression)
    const ex = tar.extract({ filenameEncoding: "latin1" } as Parameters<typeof tar.extract>[0])
    let current: string | undefined
    const pax = rawPaxDecoding(ex, (bytes) => {
      current = undefined // the header belongs to the next entry, not the last one
      charge(bytes)
    })
    let openFd = -1
    let done = false

    const stop = () => {
      done = true
      source.destroy()
      inflate?.destroy()
      ex.destroy()
      if (openFd >= 0) sys.close(openFd)
      openFd = -1
      tree.close()
    }
    const fail = (e: unknown) => {
      if (done) return
      const err = toExtractError(e, blob, current === undefined ? undefined : sys.show(current))
      stop()
      resume(Effect.fail(err))
    }

    ex.on("entry", (h, stream, next) => {
      const header = h as unknown as TarHeader
      if (done) return
      current = header.name
      stream.on("error", fail) // tar-stream destroys the entry stream too when the archive is cut short
      try {
        if (++entries > limits.maxEntries) {
          throw new Refusal("Limit", `layer has more than ${limits.maxEntries} entries`)
        }
        charge(header.size)
        const records = header.pax?.[RAW] === undefined
          ? pax.global()
          : new Map([...pax.global(), ...header.pax[RAW]])
        const fileFd = applyEntry(tree, header, records)
        if (fileFd === undefined) {
          stream.on("end", () => next())
          stream.resume()
          return
        }
        openFd = fileFd
        let written = 0
        stream.on("data", (data) => {
          if (done) return // never write to an fd number that stop() released
          const chunk = data as Buffer
          try {
            for (let off = 0; off < chunk.length;) off += fs.writeSync(fileFd, chunk, off)
            written += chunk.length
          } catch (e) {
            fail(e)
          }
        })
        stream.on("end", () => {
          if (done) return
          try {
            openFd = -1
            tree.closeFile(fileFd, path(header.name, "entry"), metaOf(header, records))
            if (written !== header.size) throw new Refusal("Corrupt", "entry data is truncated")
            next()
          } catch (e) {
            fail(e)
          }
        })
      } catch (e) {
        fail(e)
      }
    })
    ex.on("finish", () => {
      if (done) return
      current = undefined
      try {
        tree.finish()
        done = true
        resume(Effect.succeed(skipped))
      } catch (e) {
        fail(e)
      }
    })
    ex.on("error", fail)
    source.on("error", fail)
    inflate?.on("error", fail)
    const tarBytes: NodeJS.ReadableStream = inflate === undefined ? source : source.pipe(inflate)
    tarBytes.pipe(ex as unknown as NodeJS.WritableStream)
    return Effect.sync(stop)
  })

/** Applies one entry; returns an fd when the caller must stream the entry's data into it. */
const applyEntry = (tree: LayerTree, h: TarHeader, pax: PaxRecords): number | undefined => {
  if (isSparse(pax)) throw new Refusal("Unsupported", "GNU sparse files are not supported")
  if (h.size > MAX_ENTRY_BYTES) throw new Refusal("Limit", `entry of ${h.size} bytes exceeds ${MAX_ENTRY_BYTES}`)
  // tar-stream never ends the data stream of a directory that claims a size (it would hang)
  if (h.type === "directory" && h.size !== 0) throw new Refusal("Corrupt", "directory entry with a non-zero size")
  const rel = path(h.name, "entry")
  const kind = classify(rel)
  switch (kind._tag) {
    case "Meta":
      return undefined
    case "Invalid":
      throw new Refusal("Corrupt", kind.reason)
    case "Opaque":
      tree.opaque(kind.dir)
      return undefined
    case "Whiteout": {
      const meta = metaOf(h, pax)
      tree.whiteout(kind.dir === "" ? kind.name : `${kind.dir}/${kind.name}`, meta.uid, meta.gid)
      return undefined
    }
    case "Entry":
      break
  }
  const linkTarget = () => {
    const l = h.linkname ?? ""
    if (l.length > MAX_NAME_BYTES) throw new Refusal("Limit", `link target longer than ${MAX_NAME_BYTES} bytes`)
    if (l === "" || l.includes("\0")) throw new Refusal("Corrupt", "empty or invalid link target")
    return l
  }
  switch (h.type) {
    case "file":
    case "contiguous-file":
      return tree.createFile(rel)
    case "directory":
      tree.mkdir(rel, metaOf(h, pax))
      return undefined
    case "symlink":
      tree.symlink(rel, linkTarget(), metaOf(h, pax))
      return undefined
    case "link":
      tree.hardlink(rel, path(linkTarget(), "hard link target"))
      return undefined
    case "character-device":
      tree.node(rel, "char", h.devmajor, h.devminor, metaOf(h, pax))
      return undefined
    case "block-device":
      tree.node(rel, "block", h.devmajor, h.devminor, metaOf(h, pax))
      return undefined
    case "fifo":
      tree.node(rel, "fifo", 0, 0, metaOf(h, pax))
      return undefined
    default:
      throw new Refusal("Unsupported", `tar entry type ${h.type ?? "unknown"} is not supported`)
  }
}
