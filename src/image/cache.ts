/**
 * The on-disk image cache (under the caller's `cacheDir`, normally `<data dir>/images`):
 *
 *   blobs/sha256/<hex>      verified content (manifests, configs, compressed layers)
 *   layers/sha256/<hex>/    one extracted directory per layer blob, shared by every image and pod,
 *                           never written after its rename (pods get an overlayfs upper of their own)
 *   refs/<hex>.json         ref + platform → manifest digests (Schema'd records)
 *   tmp/<pid>-<random>      downloads and extractions in progress
 *
 * Nothing reaches `blobs/` or `layers/` except by an atomic rename of finished, verified work in
 * `tmp/` (same file system), so a crash leaves at most stale `tmp/` entries, which the next start
 * removes when their process is gone.
 */
import { Effect, Either, Option, Schema } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { createReadStream, lstatSync, readFileSync } from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { CACHE_DIR_MARKERS, ensurePrivateDir } from "../config/privateDir.js"
import { CacheError } from "./errors.js"

export interface CacheLayout {
  readonly root: string
  readonly blobs: string
  readonly layers: string
  readonly refs: string
  readonly tmp: string
}

export const cacheLayout = (root: string): CacheLayout => ({
  root,
  blobs: path.join(root, "blobs", "sha256"),
  layers: path.join(root, "layers", "sha256"),
  refs: path.join(root, "refs"),
  tmp: path.join(root, "tmp")
})

const hexOf = (digest: string) => digest.slice("sha256:".length)
export const blobPath = (l: CacheLayout, digest: string) => path.join(l.blobs, hexOf(digest))
export const layerPath = (l: CacheLayout, digest: string) => path.join(l.layers, hexOf(digest))

/** One ref as last pulled for one platform. */
export const RefRecord = Schema.Struct({
  /** Canonical reference, e.g. `127.0.0.1:5000/tank/busybox:latest`. */
  ref: Schema.String,
  /** `os/arch[/variant]` the ref was resolved for. */
  platform: Schema.String,
  /** What the ref points at in the registry (an index or a manifest). */
  digest: Schema.String,
  /** The platform's image manifest (same as `digest` when the ref names a manifest). */
  manifest: Schema.String,
  config: Schema.String,
  /** Layer blob digests, lowest first. */
  layers: Schema.Array(Schema.String),
  /** Sum of the compressed layer sizes. */
  size: Schema.Number,
  pulledAt: Schema.String
})
export type RefRecord = typeof RefRecord.Type

export const refKey = (ref: string, platform: string) =>
  createHash("sha256").update(`${ref}\n${platform}`).digest("hex")

const cacheError = (op: string, p: string) => (e: unknown) => {
  const err = e as NodeJS.ErrnoException
  return new CacheError({ op, path: p, code: err?.code ?? "Error", reason: err?.message ?? String(e) })
}

const io = <A>(op: string, p: string, f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: cacheError(op, p) })

/**
 * Synchronous on purpose: a start asks this of every layer dir of a cached image (a layer removed
 * under us must still be noticed), and one lstat of a cached dentry is microseconds, where a trip
 * through libuv's pool and a promise cost the agent's thread more than the call (issue 21).
 */
const existsSync = (p: string) => {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined
  } catch {
    return false
  }
}
const exists = (p: string) => Effect.sync(() => existsSync(p))

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Creates the directories and removes `tmp/` leftovers of processes that no longer run. The cache
 * root is private (0700): layers hold setuid binaries and device nodes chosen by images.
 */
export const initCache = (l: CacheLayout): Effect.Effect<void, CacheError> =>
  Effect.gen(function*() {
    yield* ensurePrivateDir(l.root, CACHE_DIR_MARKERS).pipe(
      Effect.mapError((e) =>
        new CacheError({ op: "mkdir", path: e.path, code: e.code ?? "NOT_PRIVATE", reason: e.reason })
      )
    )
    for (const dir of [l.blobs, l.layers, l.refs, l.tmp]) {
      yield* io("mkdir", dir, () => fsp.mkdir(dir, { recursive: true }))
    }
    const entries = yield* io("readdir", l.tmp, () => fsp.readdir(l.tmp))
    for (const name of entries) {
      const pid = Number(name.split("-")[0])
      if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) {
        yield* io("remove", path.join(l.tmp, name), () =>
          fsp.rm(path.join(l.tmp, name), { recursive: true, force: true }))
      }
    }
  })

/**
 * A fresh path in `tmp/` for the scope's lifetime; whatever is still there when the scope closes
 * (failure, interruption, or simply not renamed away) is removed.
 */
export const tmpPath = (l: CacheLayout, label: string) =>
  Effect.acquireRelease(
    Effect.sync(() => path.join(l.tmp, `${process.pid}-${randomBytes(6).toString("hex")}-${label}`)),
    (p) => Effect.promise(() => fsp.rm(p, { recursive: true, force: true }))
  )

export const hasBlob = (l: CacheLayout, digest: string) => exists(blobPath(l, digest))
export const hasLayer = (l: CacheLayout, digest: string) => exists(layerPath(l, digest))
/** `hasLayer` for a plain loop: whether the layer's extracted dir is there now. */
export const layerPresent = (l: CacheLayout, digest: string) => existsSync(layerPath(l, digest))

/** Moves a finished, verified file from `tmp/` to its content address. */
export const commitBlob = (l: CacheLayout, tmp: string, digest: string) =>
  io("rename", tmp, () => fsp.rename(tmp, blobPath(l, digest)))

/** Moves a fully extracted directory into place; if another process won the race, ours is dropped. */
export const commitLayer = (l: CacheLayout, tmpDir: string, digest: string) =>
  io("rename", tmpDir, () =>
    fsp.rename(tmpDir, layerPath(l, digest)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOTEMPTY" || e.code === "EEXIST") return fsp.rm(tmpDir, { recursive: true, force: true })
      throw e
    }))

/** Stores small content (manifests, configs) under its digest. */
export const writeBlob = (l: CacheLayout, digest: string, bytes: Uint8Array) =>
  Effect.scoped(Effect.gen(function*() {
    const tmp = yield* tmpPath(l, "blob")
    yield* io("write", tmp, () => fsp.writeFile(tmp, bytes))
    yield* commitBlob(l, tmp, digest)
  }))

/**
 * Reads a small blob and re-hashes it (cheap for manifests and configs). A blob that no longer
 * matches its name (disk corruption, tampering) is deleted and reported as absent.
 */
export const readBlobVerified = (
  l: CacheLayout,
  digest: string,
  limit: number
): Effect.Effect<Option.Option<Buffer>, CacheError> =>
  Effect.gen(function*() {
    const p = blobPath(l, digest)
    const stat = yield* Effect.promise(() => fsp.stat(p).catch(() => undefined))
    if (!stat || stat.size > limit) return Option.none()
    const bytes = yield* io("read", p, () => fsp.readFile(p))
    if (`sha256:${createHash("sha256").update(bytes).digest("hex")}` !== digest) {
      yield* io("remove", p, () => fsp.rm(p, { force: true }))
      return Option.none()
    }
    return Option.some(bytes)
  })

/**
 * Re-hashes a stored blob (streaming); one that no longer matches its name is deleted. Used before
 * extracting a layer from a blob this pull did not download, so only verified content is extracted.
 */
export const verifyBlobFile = (l: CacheLayout, digest: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    const p = blobPath(l, digest)
    const hash = createHash("sha256")
    try {
      for await (const chunk of createReadStream(p)) hash.update(chunk as Buffer)
    } catch {
      return false
    }
    if (`sha256:${hash.digest("hex")}` === digest) return true
    await fsp.rm(p, { force: true })
    return false
  })

/**
 * The last records read, by file and text: a start re-reads its image's ref record (another process
 * may have pulled the ref anew) but decodes it again only when the text changed. Bounded: the
 * oldest entry goes first.
 */
const decodedRefs = new Map<string, { readonly text: string; readonly record: Option.Option<RefRecord> }>()
const DECODED_REFS_MAX = 64

/**
 * A ref record, read synchronously: a few hundred bytes in the page cache, where `fs.promises`'
 * open, stat, read and close were four trips through libuv's pool on every start (issue 21).
 */
export const readRef = (l: CacheLayout, ref: string, platform: string) =>
  Effect.sync(() => {
    const p = path.join(l.refs, `${refKey(ref, platform)}.json`)
    let text: string
    try {
      text = readFileSync(p, "utf8")
    } catch {
      return Option.none<RefRecord>()
    }
    const known = decodedRefs.get(p)
    if (known !== undefined && known.text === text) return known.record
    const record = decodeRecord(text)
    decodedRefs.delete(p)
    decodedRefs.set(p, { text, record })
    if (decodedRefs.size > DECODED_REFS_MAX) decodedRefs.delete(decodedRefs.keys().next().value!)
    return record
  })

const decodeRecord = (text: string): Option.Option<RefRecord> => {
  try {
    return Either.getRight(Schema.decodeUnknownEither(RefRecord)(JSON.parse(text)))
  } catch {
    return Option.none()
  }
}

export const writeRef = (l: CacheLayout, record: RefRecord) =>
  Effect.scoped(Effect.gen(function*() {
    const tmp = yield* tmpPath(l, "ref")
    const p = path.join(l.refs, `${refKey(record.ref, record.platform)}.json`)
    yield* io("write", tmp, () => fsp.writeFile(tmp, JSON.stringify(record, null, 2) + "\n"))
    yield* io("rename", tmp, () => fsp.rename(tmp, p))
  }))

/** Every readable ref record (unreadable ones are ignored, as if absent). */
export const listRefs = (l: CacheLayout) =>
  Effect.gen(function*() {
    const names = yield* io("readdir", l.refs, () => fsp.readdir(l.refs))
    const out: Array<RefRecord & { readonly file: string }> = []
    for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
      const file = path.join(l.refs, name)
      const text = yield* Effect.promise(() => fsp.readFile(file, "utf8").catch(() => ""))
      const rec = decodeRecord(text)
      if (Option.isSome(rec)) out.push({ ...rec.value, file })
    }
    return out
  })

export const removeFile = (p: string) => io("remove", p, () => fsp.rm(p, { force: true }))

/** Digests present under `blobs/` or `layers/`. */
export const listDigests = (dir: string) =>
  io("readdir", dir, () => fsp.readdir(dir)).pipe(
    Effect.map((names) => names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`))
  )

/** Removes a layer directory: first renamed into `tmp/` so it vanishes atomically, then deleted. */
export const removeLayer = (l: CacheLayout, digest: string) =>
  Effect.scoped(Effect.gen(function*() {
    const tmp = yield* tmpPath(l, "gone")
    yield* io("rename", layerPath(l, digest), () => fsp.rename(layerPath(l, digest), tmp))
  }))

export const fileSize = (p: string) => Effect.promise(() => fsp.stat(p).then((s) => s.size, () => 0))
