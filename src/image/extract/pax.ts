/**
 * PAX extended headers (pure), decoded byte-exact.
 *
 * tar-stream decodes PAX values as UTF-8 text, which corrupts binary xattr values such as
 * `security.capability`. The extractor therefore decodes PAX records itself (see `extract.ts`),
 * keeping each value as raw bytes, and hands tar-stream only the fields it interprets
 * (`path`, `linkpath`, `size`) as byte strings.
 */

/** The raw records behind a tar-stream `header.pax` object (attached under this symbol). */
export const RAW = Symbol.for("tank/image/pax-raw")

export type PaxRecords = ReadonlyMap<string, Buffer>

/** Parses `"<len> <key>=<value>\n"` records (values copied out of `buf`); throws on malformed input. */
export const decodePaxRecords = (buf: Buffer): Map<string, Buffer> => {
  const out = new Map<string, Buffer>()
  let pos = 0
  while (pos < buf.length) {
    if (buf[pos] === 0) break // NUL padding after the last record
    const space = buf.indexOf(0x20, pos)
    if (space < 0) throw new Error("malformed PAX record: no length")
    const lenText = buf.toString("latin1", pos, space)
    if (!/^[0-9]{1,9}$/.test(lenText)) throw new Error(`malformed PAX record length "${lenText}"`)
    const len = Number(lenText)
    const end = pos + len
    if (len <= space - pos + 2 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw new Error("malformed PAX record: bad length")
    }
    const eq = buf.indexOf(0x3d, space + 1)
    if (eq < 0 || eq >= end) throw new Error("malformed PAX record: no '='")
    // A copy, not a view: a view would pin tar-stream's whole header buffer (up to 4 MiB) for as
    // long as the value lives, and directories keep their xattrs until the layer is finished.
    out.set(buf.toString("utf8", space + 1, eq), Buffer.from(buf.subarray(eq + 1, end - 1)))
    pos = end
  }
  return out
}

/** The object tar-stream expects in `_pax`: interpreted fields as byte strings, raw records attached. */
export const paxForTarStream = (records: PaxRecords): Record<string, string> & { [RAW]: PaxRecords } => {
  const obj: Record<string, string> & { [RAW]: PaxRecords } = { [RAW]: records } as any
  for (const key of ["path", "linkpath", "size"]) {
    const v = records.get(key)
    if (v !== undefined) obj[key] = v.toString("latin1")
  }
  return obj
}

const XATTR_PREFIX = "SCHILY.xattr."
const LIBARCHIVE_PREFIX = "LIBARCHIVE.xattr."

/**
 * xattrs carried as `SCHILY.xattr.<name>` records (GNU tar, Docker, buildah), or as libarchive's
 * `LIBARCHIVE.xattr.<url-encoded name>=<base64 value>` (bsdtar) when no SCHILY record names them.
 */
export const xattrsOf = (records: PaxRecords): Array<readonly [string, Buffer]> => {
  const out = new Map<string, Buffer>()
  for (const [k, v] of records) if (k.startsWith(XATTR_PREFIX)) out.set(k.slice(XATTR_PREFIX.length), v)
  for (const [k, v] of records) {
    if (!k.startsWith(LIBARCHIVE_PREFIX)) continue
    const name = decodeURIComponent(k.slice(LIBARCHIVE_PREFIX.length))
    if (!out.has(name)) out.set(name, Buffer.from(v.toString("latin1"), "base64"))
  }
  return [...out]
}

/** A PAX decimal id (`uid`, `gid`), or undefined when absent. Throws when present but invalid. */
export const paxId = (records: PaxRecords, key: "uid" | "gid"): number | undefined => {
  const v = records.get(key)
  if (v === undefined) return undefined
  const s = v.toString("latin1")
  if (!/^[0-9]{1,10}$/.test(s) || Number(s) > 0xffffffff) throw new Error(`invalid PAX ${key} "${s}"`)
  return Number(s)
}

/** A PAX time (`mtime`: seconds with an optional fraction) in nanoseconds, or undefined when absent. */
export const paxTimeNs = (records: PaxRecords, key: string): bigint | undefined => {
  const v = records.get(key)
  if (v === undefined) return undefined
  const m = /^(-?)([0-9]{1,15})(?:\.([0-9]*))?$/.exec(v.toString("latin1"))
  if (m === null) throw new Error(`invalid PAX ${key} "${v.toString("latin1")}"`)
  const ns = BigInt(m[2]!) * 1_000_000_000n + BigInt(((m[3] ?? "") + "000000000").slice(0, 9))
  return m[1] === "-" ? -ns : ns
}

/** True when the entry uses GNU sparse PAX records, which tar-stream cannot expand. */
export const isSparse = (records: PaxRecords): boolean => {
  for (const k of records.keys()) if (k.startsWith("GNU.sparse.")) return true
  return false
}
