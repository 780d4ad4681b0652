/**
 * Whiteout rules (pure): how OCI/Docker layer tarballs mark deletions, and the overlayfs form Tank
 * stores them in so extracted layer directories stack directly as overlayfs `lowerdir`s.
 *
 * In a layer tar (OCI image spec, "Whiteouts"):
 * - `dir/.wh.<name>` deletes `dir/<name>` from the layers below; the marker itself is never
 *   extracted. Tank writes it as a character device 0/0 named `<name>` (overlayfs's whiteout).
 * - `dir/.wh..wh..opq` makes `dir` opaque: nothing from lower layers shows through. Tank sets the
 *   xattr `trusted.overlay.opaque=y` on `dir`.
 * - Other `.wh..wh.`-prefixed names are AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): they
 *   and everything below them are skipped, as Docker does (Docker additionally resolves hard links
 *   into `.wh..wh.plnk`; Tank does not, such a link fails as a missing target).
 */

export const WHITEOUT_PREFIX = ".wh."
export const OPAQUE_MARKER = ".wh..wh..opq"
const META_PREFIX = ".wh..wh."
/** The xattr overlayfs reads to treat a directory as opaque. */
export const OPAQUE_XATTR = "trusted.overlay.opaque"

export type Classified =
  /** An ordinary entry: extract it. */
  | { readonly _tag: "Entry" }
  /** `<dir>/.wh.<name>`: hide `<dir>/<name>` of lower layers. */
  | { readonly _tag: "Whiteout"; readonly dir: string; readonly name: string }
  /** `<dir>/.wh..wh..opq`: `<dir>` hides all lower contents. */
  | { readonly _tag: "Opaque"; readonly dir: string }
  /** AUFS metadata (`.wh..wh.*` other than the opaque marker): skip. */
  | { readonly _tag: "Meta" }
  /** A whiteout naming nothing usable (`.wh.`, `.wh..`, `.wh...`): the layer is malformed. */
  | { readonly _tag: "Invalid"; readonly reason: string }

const ENTRY: Classified = { _tag: "Entry" }

/** Classifies a tar entry name (separators `/`; a trailing `/` is ignored). */
export const classify = (entryName: string): Classified => {
  const trimmed = entryName.replace(/\/+$/, "")
  const slash = trimmed.lastIndexOf("/")
  const base = trimmed.slice(slash + 1)
  if (!trimmed.includes(WHITEOUT_PREFIX)) return ENTRY
  const dir = slash < 0 ? "" : trimmed.slice(0, slash)
  if (dir.split("/").some((c) => c.startsWith(META_PREFIX))) return { _tag: "Meta" } // inside .wh..wh.plnk/ etc.
  if (!base.startsWith(WHITEOUT_PREFIX)) return ENTRY
  if (base === OPAQUE_MARKER) return { _tag: "Opaque", dir }
  if (base.startsWith(META_PREFIX)) return { _tag: "Meta" }
  const name = base.slice(WHITEOUT_PREFIX.length)
  if (name === "" || name === "." || name === "..") {
    return { _tag: "Invalid", reason: `whiteout "${base}" names no file` }
  }
  return { _tag: "Whiteout", dir, name }
}

/** True for an overlayfs whiteout: a character device with device number 0/0. */
export const isWhiteoutNode = (st: { readonly mode: number; readonly rdev: number }): boolean =>
  (st.mode & 0o170000) === 0o020000 && st.rdev === 0
