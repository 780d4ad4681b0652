/**
 * Entry-name rules (pure). Names are byte strings (one char per byte).
 *
 * Like Docker's and containerd's appliers, a name is taken relative to the layer root whatever it
 * looks like: leading `/` and `.` components are dropped and `..` is resolved lexically. A name
 * whose `..` would climb above the root is refused (Docker's "breakout" error), never clamped:
 * no honest layer contains one.
 */

/** Longest entry name or link target accepted (PATH_MAX). */
export const MAX_NAME_BYTES = 4096
/** Largest regular file accepted in a layer (64 GiB). */
export const MAX_ENTRY_BYTES = 64 * 1024 ** 3

export type Normalised =
  | { readonly ok: true; readonly rel: string; readonly parts: ReadonlyArray<string> }
  | { readonly ok: false; readonly reason: string }

/** Normalises an entry name (or hardlink target) to a path relative to the layer root; "" is the root. */
export const normalise = (name: string): Normalised => {
  if (name.length > MAX_NAME_BYTES) return { ok: false, reason: `name longer than ${MAX_NAME_BYTES} bytes` }
  if (name.includes("\0")) return { ok: false, reason: "name contains a NUL byte" }
  const parts: Array<string> = []
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (parts.length === 0) return { ok: false, reason: "name escapes the layer root with '..'" }
      parts.pop()
      continue
    }
    parts.push(part)
  }
  return { ok: true, rel: parts.join("/"), parts }
}

/** Splits a normalised relative path into its parent and final component. */
export const splitParent = (rel: string): { readonly parent: string; readonly base: string } => {
  const i = rel.lastIndexOf("/")
  return i < 0 ? { parent: "", base: rel } : { parent: rel.slice(0, i), base: rel.slice(i + 1) }
}

/** True when `path` is `prefix` or lies below it. */
export const isWithin = (path: string, prefix: string): boolean =>
  prefix === "" || path === prefix || path.startsWith(prefix + "/")
