/**
 * Reading a file from an image's stacked layer directories without mounting them: the same
 * answer overlayfs would give for `lowerdir=<top>:...:<bottom>` (tested against the kernel's).
 *
 * A name is looked up in the merged directory top layer first: a whiteout (char 0/0) hides it, a
 * non-directory wins outright, a directory merges with the same directory of lower layers until
 * one of them is opaque (`trusted.overlay.opaque=y`) or lower layers have a non-directory there.
 * Symlinks inside the image are followed in the merged view (absolute targets from the image
 * root, `..` clamped at the root, at most 40 hops); the host's own filesystem is never followed:
 * a layer directory is only descended into where every component is a real directory.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { lgetxattr } from "../extract/sys.js"
import { isWhiteoutNode, OPAQUE_XATTR } from "../whiteout.js"

const MAX_HOPS = 40

export class ImageFileProblem extends Error {}

interface MergedDir {
  /** Path below the image root, "" for the root. */
  readonly rel: string
  /** Layer dirs that contribute to this directory, top first. */
  readonly layers: ReadonlyArray<string>
}

type Found =
  | { readonly kind: "dir"; readonly dir: MergedDir }
  | { readonly kind: "other"; readonly layer: string; readonly rel: string; readonly st: fs.Stats }

const isOpaque = (p: string): boolean => lgetxattr(p, OPAQUE_XATTR)?.toString() === "y"

const lookup = (parent: MergedDir, name: string): Found | undefined => {
  const rel = parent.rel === "" ? name : `${parent.rel}/${name}`
  for (let i = 0; i < parent.layers.length; i++) {
    const top = parent.layers[i]!
    const st = fs.lstatSync(path.join(top, rel), { throwIfNoEntry: false })
    if (st === undefined) continue
    if (isWhiteoutNode(st)) return undefined
    if (!st.isDirectory()) return { kind: "other", layer: top, rel, st }
    const layers = [top]
    if (!isOpaque(path.join(top, rel))) {
      for (const lower of parent.layers.slice(i + 1)) {
        const lst = fs.lstatSync(path.join(lower, rel), { throwIfNoEntry: false })
        if (lst === undefined) continue
        if (!lst.isDirectory()) break // a whiteout or a file below a directory: nothing further merges
        layers.push(lower)
        if (isOpaque(path.join(lower, rel))) break
      }
    }
    return { kind: "dir", dir: { rel, layers } }
  }
  return undefined
}

/**
 * Finds `file` (an absolute path inside the image) in the merged view of `layersTopFirst`;
 * returns the layer directory and path that hold it, or undefined when the image has no such file.
 */
export const locate = (
  layersTopFirst: ReadonlyArray<string>,
  file: string
): { readonly layer: string; readonly rel: string; readonly st: fs.Stats } | undefined => {
  const root: MergedDir = {
    rel: "",
    layers: layersTopFirst.filter((l) => !isOpaque(l)).length === layersTopFirst.length
      ? layersTopFirst
      : layersTopFirst.slice(0, layersTopFirst.findIndex((l) => isOpaque(l)) + 1)
  }
  let stack: Array<MergedDir> = [root]
  let queue = file.split("/")
  let hops = 0
  while (queue.length > 0) {
    const name = queue.shift()!
    if (name === "" || name === ".") continue
    if (name === "..") {
      if (stack.length > 1) stack.pop()
      continue
    }
    const found = lookup(stack[stack.length - 1]!, name)
    if (found === undefined) return undefined
    if (found.kind === "dir") {
      stack.push(found.dir)
      continue
    }
    if (found.st.isSymbolicLink()) {
      if (++hops > MAX_HOPS) throw new ImageFileProblem(`too many levels of symbolic links resolving ${file}`)
      const target = fs.readlinkSync(path.join(found.layer, found.rel))
      if (target.startsWith("/")) stack = [root]
      queue = [...target.split("/"), ...queue]
      continue
    }
    if (queue.some((n) => n !== "" && n !== ".")) return undefined // a file used as a directory
    return found
  }
  return undefined // the path names a directory
}
