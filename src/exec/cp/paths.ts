/**
 * `tank cp` arguments and docker cp's rules for where things land (pure).
 *
 * A side is in a pod when it reads `POD:/path` or `POD:CONTAINER:/path` (a local path that holds a
 * `:` is written `./a:b`). Directory rules, as `docker cp SRC DEST`:
 *  - SRC a file: DEST missing → written as DEST (a DEST ending in `/` must exist); DEST a file →
 *    overwritten; DEST a directory → DEST/basename(SRC).
 *  - SRC a directory: DEST missing → created, SRC's contents copied into it; DEST a file → error;
 *    DEST a directory → DEST/basename(SRC), or SRC's contents when SRC ends in `/.`.
 */
import * as path from "node:path"

export interface PodPath {
  readonly pod: string
  readonly container?: string
  readonly path: string
}

export type CpSide = { readonly _tag: "pod"; readonly at: PodPath } | { readonly _tag: "local"; readonly path: string }

/** `POD[:CONTAINER]:/abs/path` or a local path; `undefined` with the reason when malformed. */
export const parseSide = (arg: string): CpSide | { readonly _tag: "invalid"; readonly reason: string } => {
  const colon = arg.indexOf(":")
  // A local path: no colon, or a slash before the first colon (`./a:b`, `/x:y`).
  if (colon <= 0 || arg.slice(0, colon).includes("/")) return { _tag: "local", path: arg }
  const pod = arg.slice(0, colon)
  let rest = arg.slice(colon + 1)
  let container: string | undefined
  if (!rest.startsWith("/")) {
    const second = rest.indexOf(":")
    if (second <= 0) return { _tag: "invalid", reason: `${arg}: the path in the pod must be absolute (POD:/path)` }
    container = rest.slice(0, second)
    rest = rest.slice(second + 1)
    if (!rest.startsWith("/")) {
      return { _tag: "invalid", reason: `${arg}: the path in the pod must be absolute (POD:CONTAINER:/path)` }
    }
  }
  return { _tag: "pod", at: { pod, ...(container !== undefined ? { container } : {}), path: rest } }
}

/** What a path names where it lives. */
export type Kind = "file" | "directory" | "missing"

/** SRC split for an archive: the directory to archive from and the one name in it (`.` = contents). */
export interface SourceSplit {
  readonly dir: string
  readonly name: string
  /** `/.` at the end (or the root): the directory's contents, not the directory. */
  readonly contentsOnly: boolean
}

export const splitSource = (p: string): SourceSplit => {
  if (p.endsWith("/.") || p === "." || p === "/") {
    return { dir: p === "/" ? "/" : p.slice(0, -1) || ".", name: ".", contentsOnly: true }
  }
  const trimmed = p.length > 1 ? p.replace(/\/+$/, "") : p
  const name = path.posix.basename(trimmed)
  const dir = path.posix.dirname(trimmed)
  return { dir, name, contentsOnly: false }
}

/**
 * Where the archive's root (SRC itself, or SRC's contents) lands:
 *  - `{ dir, as }`: extract into `dir`, the root entry renamed `as` (a directory created if
 *    missing); `as` empty: the root is `dir` itself (a directory's contents into an existing one);
 *  - an error text (docker's wording) when the rules forbid it.
 */
export type Placement = { readonly dir: string; readonly as: string } | { readonly error: string }

export const placement = (
  src: { readonly kind: "file" | "directory"; readonly split: SourceSplit; readonly shown: string },
  dest: { readonly kind: Kind; readonly path: string }
): Placement => {
  const destDir = dest.path.endsWith("/") && dest.path.length > 1 ? dest.path.replace(/\/+$/, "") : dest.path
  const parent = path.posix.dirname(destDir)
  const base = path.posix.basename(destDir)
  if (src.kind === "file") {
    if (src.split.contentsOnly) return { error: `${src.shown}: not a directory` }
    switch (dest.kind) {
      case "directory":
        return { dir: destDir, as: src.split.name }
      case "file":
        return dest.path.endsWith("/") ? { error: `${dest.path}: not a directory` } : { dir: parent, as: base }
      case "missing":
        return dest.path.endsWith("/")
          ? { error: `${dest.path}: no such directory` }
          : { dir: parent, as: base }
    }
  }
  switch (dest.kind) {
    case "file":
      return { error: `cannot copy directory ${src.shown} onto file ${dest.path}` }
    case "missing":
      return { dir: parent, as: base }
    case "directory":
      return { dir: destDir, as: src.split.contentsOnly ? "" : src.split.name }
  }
}

/**
 * An archive entry's name as path segments relative to the archive's root entry, or the reason it
 * is refused: absolute names and `..` segments (a hostile archive's way out of the destination).
 * `root` is the name the archive was made with (`.` for contents).
 */
export const entrySegments = (
  name: string,
  root: string
): { readonly segments: ReadonlyArray<string> } | { readonly refused: string } => {
  if (name.startsWith("/")) return { refused: "an absolute path" }
  if (name.includes("\0")) return { refused: "a NUL byte in the name" }
  const parts = name.split("/").filter((s) => s !== "" && s !== ".")
  if (parts.includes("..")) return { refused: "a '..' segment" }
  if (root === ".") return { segments: parts }
  if (parts[0] !== root) return { refused: `outside the copied path ${root}` }
  return { segments: parts.slice(1) }
}

/** Modes kept on files copied out of a pod: permissions and sticky, never set-id bits (see untar.ts). */
export const safeMode = (mode: number | undefined, fallback: number): number => (mode ?? fallback) & 0o1777
