/**
 * Deterministic layer tarballs for tests, built with tar-stream's packer, plus the few helpers
 * tests need to inspect what extraction produced (xattrs, temp dirs, tree listings).
 *
 * Every entry gets a fixed mtime unless given one, and gzip output carries no timestamp, so the
 * same entries always give the same bytes (and the same digest).
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"
import { errno, errnoName, libc } from "../../src/host/libc.js"

export const FIXED_MTIME = 1_700_000_000

export type EntryType =
  | "file"
  | "directory"
  | "symlink"
  | "link"
  | "character-device"
  | "block-device"
  | "fifo"
  | "pax-header"

export interface TarEntry {
  readonly name: string
  readonly type?: EntryType
  readonly data?: string | Buffer
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
  /** Seconds since the epoch. */
  readonly mtime?: number
  readonly linkname?: string
  readonly devmajor?: number
  readonly devminor?: number
  /** Extra PAX records (text values), written by tar-stream's own PAX encoder. */
  readonly pax?: Readonly<Record<string, string>>
}

export const file = (name: string, data: string | Buffer = "", extra: Partial<TarEntry> = {}): TarEntry => ({
  name,
  type: "file",
  data,
  ...extra
})
export const dir = (name: string, extra: Partial<TarEntry> = {}): TarEntry => ({ name, type: "directory", ...extra })
export const symlink = (name: string, linkname: string, extra: Partial<TarEntry> = {}): TarEntry => ({
  name,
  type: "symlink",
  linkname,
  ...extra
})
export const hardlink = (name: string, linkname: string): TarEntry => ({ name, type: "link", linkname })

/** Encodes PAX records byte-exact (values may be binary), as `<len> <key>=<value>\n`. */
export const encodePax = (records: ReadonlyArray<readonly [string, string | Buffer]>): Buffer =>
  Buffer.concat(records.map(([k, v]) => {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.isBuffer(v) ? v : Buffer.from(v), Buffer.from("\n")])
    let len = body.length + 1
    while (String(len).length + body.length !== len) len = String(len).length + body.length
    return Buffer.concat([Buffer.from(String(len)), body])
  }))

/** A raw PAX header entry ('x') applying byte-exact records to the entry that follows it. */
export const paxHeader = (records: ReadonlyArray<readonly [string, string | Buffer]>): TarEntry => ({
  name: "PaxHeader",
  type: "pax-header",
  data: encodePax(records)
})

/** A ustar 'x' header block followed by the padded records (tar-stream's packer has no body for 'x'). */
const paxBlock = (data: Buffer): Buffer => {
  const h = Buffer.alloc(512)
  h.write("PaxHeader", 0, "latin1")
  h.write("0000644\0", 100, "latin1")
  h.write("0000000\0", 108, "latin1")
  h.write("0000000\0", 116, "latin1")
  h.write(data.length.toString(8).padStart(11, "0") + "\0", 124, "latin1")
  h.write(FIXED_MTIME.toString(8).padStart(11, "0") + "\0", 136, "latin1")
  h.write("x", 156, "latin1")
  h.write("ustar\x0000", 257, "latin1")
  h.fill(0x20, 148, 156)
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1")
  return Buffer.concat([h, data, Buffer.alloc((512 - (data.length % 512)) % 512)])
}

const packOne = (e: TarEntry): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const pack = tar.pack()
    const chunks: Array<Buffer> = []
    pack.on("data", (c) => chunks.push(c as Buffer))
    pack.on("end", () => resolve(Buffer.concat(chunks).subarray(0, -1024))) // without the end-of-archive blocks
    pack.on("error", reject)
    const header = {
      name: e.name,
      type: e.type ?? "file",
      mode: e.mode ?? (e.type === "directory" ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date((e.mtime ?? FIXED_MTIME) * 1000),
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
      ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor }),
      ...(e.devminor === undefined ? {} : { devminor: e.devminor }),
      ...(e.pax === undefined ? {} : { pax: e.pax })
    } as Parameters<typeof pack.entry>[0]
    if (header.type === "file") pack.entry(header, e.data ?? Buffer.alloc(0))
    else pack.entry(header)
    pack.finalize()
  })

/** The tar bytes of `entries`, in order. */
export const tarOf = async (entries: ReadonlyArray<TarEntry>): Promise<Buffer> => {
  const parts: Array<Buffer> = []
  for (const e of entries) {
    parts.push(e.type === "pax-header" ? paxBlock(Buffer.from(e.data ?? "")) : await packOne(e))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

/** Gzip without a timestamp (deterministic). */
export const gzip = (buf: Buffer): Buffer => zlib.gzipSync(buf, { level: 6 })

export const GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
export const TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"

/** A temp directory, removed (with everything in it) when the scope closes. */
export const tempDir = (prefix = "tank-extract-") =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )

/** Writes `entries` as a layer blob in `dir`; returns its path. */
export const writeLayer = (dir: string, name: string, entries: ReadonlyArray<TarEntry>, compress = true) =>
  Effect.promise(async () => {
    const raw = await tarOf(entries)
    const p = path.join(dir, name)
    fs.writeFileSync(p, compress ? gzip(raw) : raw)
    return p
  })

/**
 * A listing of a tree that shows every property extraction must preserve, one line per entry:
 * `path type mode uid:gid mtime size-or-target-or-dev`. Used to compare trees and to prove a
 * sentinel tree was not touched.
 */
export const listTree = (root: string): Array<string> => {
  const out: Array<string> = []
  // names are handled as bytes (latin1 strings), so non-UTF-8 names list and compare exactly
  const at = (rel: string) => Buffer.concat([Buffer.from(root), Buffer.from(rel === "" ? "" : `/${rel}`, "latin1")])
  const walk = (rel: string) => {
    const p = at(rel)
    const st = fs.lstatSync(p, { bigint: true })
    const mode = Number(st.mode)
    const type = st.isDirectory()
      ? "d"
      : st.isSymbolicLink()
      ? "l"
      : st.isFile()
      ? "f"
      : st.isCharacterDevice()
      ? "c"
      : st.isBlockDevice()
      ? "b"
      : "p"
    const what = type === "l"
      ? fs.readlinkSync(p, { encoding: "buffer" }).toString("latin1")
      : type === "f"
      ? `${st.size}:${createHash("sha256").update(fs.readFileSync(p)).digest("hex").slice(0, 16)}`
      : type === "c" || type === "b"
      ? `${Number(st.rdev) >> 8}/${Number(st.rdev) & 0xff}`
      : ""
    const mtime = type === "d" && rel === "" ? 0n : st.mtimeNs
    out.push(`${rel || "."} ${type} ${(mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${mtime} ${what}`)
    if (type === "d") {
      const names = fs.readdirSync(p, { encoding: "buffer" }).map((n) => n.toString("latin1")).sort()
      for (const n of names) walk(rel === "" ? n : `${rel}/${n}`)
    }
  }
  walk("")
  return out
}

/** An xattr of `p` itself (not following symlinks), or undefined when it has none by that name. */
export const getXattr = (p: string, key: string): Buffer | undefined => {
  const buf = Buffer.alloc(65536)
  const n = Number(libc.lgetxattr(p, key, buf, buf.length))
  return n < 0 ? undefined : Buffer.from(buf.subarray(0, n))
}

export const setXattr = (p: string, key: string, value: Buffer): void => {
  if (libc.lsetxattr(p, key, value, value.length, 0) !== 0) {
    throw new Error(`lsetxattr ${p} ${key}: ${errnoName(errno())}`)
  }
}

/**
 * The merged view overlayfs gives over `layersTopFirst`, read by the kernel: path → file content,
 * or "<dir>" / "<l>" (symlink) / "<c>" ... for other types. Mounted at `mnt` inside a private mount
 * namespace (`unshare -m`) that dies with the command, so no mount can outlive the test. Root only;
 * file names must not contain spaces or newlines.
 */
export const kernelView = (layersTopFirst: ReadonlyArray<string>, mnt: string): Map<string, string> => {
  const script = `mount -t overlay overlay -o lowerdir=${layersTopFirst.join(":")} "$1" && cd "$1" && ` +
    `find . -printf '%y %p\\n' | sort && find . -type f | sort | while read -r f; do printf 'F %s ' "$f"; base64 -w0 "$f"; echo; done`
  const out = execFileSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", mnt], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024
  })
  const view = new Map<string, string>()
  for (const line of out.split("\n")) {
    const [kind, p, content] = line.split(" ")
    if (kind === "F") view.set(p!.slice(1), Buffer.from(content ?? "", "base64").toString())
    else if (kind !== undefined && kind !== "" && p !== ".") view.set(p!.slice(1), kind === "d" ? "<dir>" : `<${kind}>`)
  }
  return view
}
