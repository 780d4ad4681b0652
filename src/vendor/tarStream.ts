/**
 * The one use of tar-stream internals: replacing, on one Extract instance, how it decodes PAX and
 * GNU long headers (`_decodeLongHeader`, `_header`, `_pax`), so that PAX records reach Tank raw
 * (byte-exact names, xattrs, sizes counted against the layer budget: see image/extract/pax.ts).
 * tar-stream has no public hook for it. Checked when installed on an instance: a missing or
 * reshaped internal is a `PackageInternalMissing` defect, never a silently different decoding.
 */
import type * as tar from "tar-stream"
import { PackageInternalMissing } from "./internal.js"

/** The tar-stream version these internals were read from (= package.json's pin; a test checks both). */
export const TAR_STREAM_VERSION = "3.2.2"

interface Internals {
  _header: { type?: unknown } | null
  _pax: unknown
  _decodeLongHeader: (buf: Buffer) => void
}

const missing = (internal: string, problem: string) =>
  new PackageInternalMissing("tar-stream", TAR_STREAM_VERSION, internal, problem)

/** What a long-header handler may do with the header being decoded. */
export interface LongHeader {
  /** "pax-header", "pax-global-header", "gnu-long-path" or "gnu-long-link-path". */
  readonly type: string
  /** Set the PAX attributes applied to the next entry (tar-stream's own shape: `path`, `size`...). */
  readonly setPax: (pax: Record<string, string>) => void
  /** tar-stream's own decoding of this header. */
  readonly decodeAsUsual: (buf: Buffer) => void
}

/** Route every PAX/GNU long header of `ex` through `handler`. Throws PackageInternalMissing. */
export const onLongHeader = (ex: tar.Extract, handler: (buf: Buffer, header: LongHeader) => void): void => {
  const inner = ex as unknown as Internals
  if (typeof inner._decodeLongHeader !== "function") throw missing("Extract#_decodeLongHeader", "is not a function")
  if (!("_pax" in inner)) throw missing("Extract#_pax", "is absent")
  if (!("_header" in inner)) throw missing("Extract#_header", "is absent")
  const original = inner._decodeLongHeader.bind(inner)
  inner._decodeLongHeader = (buf: Buffer) => {
    const type = inner._header?.type
    if (typeof type !== "string") throw missing("Extract#_header.type", "is not a string while decoding a long header")
    handler(buf, { type, setPax: (pax) => (inner._pax = pax), decodeAsUsual: original })
  }
}
