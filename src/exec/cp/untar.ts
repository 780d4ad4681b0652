/**
 * Extracting an archive that came out of a pod onto the host. The archive is untrusted: a hostile
 * container can send any tar it likes (its `tar` is its own binary). Every entry is checked before
 * anything is written:
 *  - its name must stay below the copied path (no absolute names, no `..` segments);
 *  - no directory on the way to it, below the destination the user named, may be a symlink or
 *    anything but a real directory (an archive that first plants `x -> /etc` and then writes
 *    `x/passwd` is refused), and a file is created with O_EXCL|O_NOFOLLOW after removing what was
 *    there (never written through a link);
 *  - a hard link must point at a regular file this same copy placed below the destination;
 *  - devices, fifos and sockets are skipped (counted), set-id bits dropped: the files belong to the
 *    user running cp (as docker cp), so a set-uid-root binary from a pod must not appear on the host.
 * The user's own destination is trusted as given (resolved once).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import * as tar from "tar-stream"
import { CpInvalid, CpRefused } from "./errors.js"
import { entrySegments, type Placement, safeMode } from "./paths.js"

export interface UntarResult {
  readonly entries: number
  /** Names of entries that were not copied (devices, fifos, sockets). */
  readonly skipped: ReadonlyArray<string>
}

const lstatOrNull = async (p: string) => {
  try {
    return await fs.promises.lstat(p)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null
    throw e
  }
}

/**
 * Extract `input` (made with `tar -C dir root`). `place` is asked where the archive's root lands
 * once its first entry (the root, whose type decides docker's rules) has been read.
 */
export const untarSafely = async (
  input: Readable,
  root: string,
  place: (rootKind: "file" | "directory") => Placement
): Promise<UntarResult> => {
  const extract = tar.extract()
  const feeding = pipeline(input, extract)
  // Surfaces the input's error via the iterator; avoid an unhandled rejection meanwhile.
  feeding.catch(() => {})
  let base: string | undefined
  let top: string | undefined
  let entries = 0
  const skipped: Array<string> = []
  const written = new Set<string>()
  const dirModes: Array<{ p: string; mode: number; mtime: Date | undefined }> = []

  /** Every directory from below `top` to `p`'s parent must be a real directory (created if missing). */
  const parentsOf = async (segments: ReadonlyArray<string>, name: string) => {
    let at = base!
    for (const seg of segments.slice(0, -1)) {
      at = path.join(at, seg)
      const st = await lstatOrNull(at)
      if (st === null) {
        await fs.promises.mkdir(at, { mode: 0o700 })
      } else if (!st.isDirectory()) {
        throw new CpRefused({
          entry: name,
          reason: st.isSymbolicLink()
            ? `its parent ${
              path.relative(base!, at) || "."
            } is a symlink (a write through it could leave the destination)`
            : `its parent ${path.relative(base!, at)} is not a directory`
        })
      }
    }
    return path.join(base!, ...segments)
  }

  /** Remove what stands where a non-directory goes; a directory there is refused. */
  const clear = async (p: string, name: string) => {
    const st = await lstatOrNull(p)
    if (st === null) return
    if (st.isDirectory()) throw new CpRefused({ entry: name, reason: "a directory is in the way" })
    await fs.promises.unlink(p)
  }

  for await (const entry of extract) {
    const h = entry.header
    const seg = entrySegments(h.name, root)
    if ("refused" in seg) throw new CpRefused({ entry: h.name, reason: seg.refused })
    if (base === undefined) {
      if (seg.segments.length !== 0) {
        throw new CpRefused({ entry: h.name, reason: `the archive does not start with the copied path ${root}` })
      }
      const kind = h.type === "directory" ? "directory" : "file"
      const where = place(kind)
      if ("error" in where) throw new CpInvalid({ reason: where.error })
      // The user's destination, as given: its links are theirs to follow.
      const dir = await fs.promises.realpath(where.dir)
      if (where.as === "" && kind === "file") throw new CpInvalid({ reason: `${where.dir}: is a directory` })
      top = where.as
      base = dir
    }
    // The root entry lands at `base/top`; all paths are resolved from `base` one segment at a time.
    const segments = top === "" ? seg.segments : [top!, ...seg.segments]
    entries++
    if (segments.length === 0) {
      // The contents of a directory into the existing destination: leave its own mode alone.
      entry.resume()
      continue
    }
    const target = await parentsOf(segments, h.name)
    const mtime = h.mtime
    switch (h.type) {
      case "directory": {
        const st = await lstatOrNull(target)
        if (st === null) await fs.promises.mkdir(target, { mode: 0o700 })
        else if (!st.isDirectory()) {
          throw new CpRefused({
            entry: h.name,
            reason: st.isSymbolicLink() ? "a symlink is where its directory goes" : "a file is where its directory goes"
          })
        }
        // Applied at the end, deepest first: a read-only directory must not block its own contents.
        dirModes.push({ p: target, mode: safeMode(h.mode, 0o755), mtime })
        entry.resume()
        break
      }
      case "file":
      case "contiguous-file": {
        await clear(target, h.name)
        const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = fs.constants
        const fh = await fs.promises.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        try {
          for await (const chunk of entry) await fh.write(chunk as Uint8Array)
          await fh.chmod(safeMode(h.mode, 0o644))
          if (mtime) await fh.utimes(mtime, mtime)
        } finally {
          await fh.close()
        }
        written.add(target)
        break
      }
      case "symlink": {
        await clear(target, h.name)
        // The link's text is stored, never followed here.
        await fs.promises.symlink(h.linkname ?? "", target)
        if (mtime) await fs.promises.lutimes(target, mtime, mtime)
        entry.resume()
        break
      }
      case "link": {
        const from = entrySegments(h.linkname ?? "", root)
        if ("refused" in from) throw new CpRefused({ entry: h.name, reason: `its link target is ${from.refused}` })
        const fromSegments = top === "" ? from.segments : [top!, ...from.segments]
        const source = await parentsOf(fromSegments, h.name)
        const st = fromSegments.length === 0 ? null : await lstatOrNull(source)
        if (st === null || !st.isFile() || !written.has(source)) {
          throw new CpRefused({ entry: h.name, reason: "a hard link to something this copy did not write" })
        }
        await clear(target, h.name)
        await fs.promises.link(source, target)
        entry.resume()
        break
      }
      default:
        // Devices, fifos, sockets: nothing a copy to the host should create.
        skipped.push(h.name)
        entry.resume()
    }
  }
  await feeding
  if (base === undefined) throw new CpRefused({ entry: root, reason: "the archive from the pod was empty" })
  for (const d of dirModes.reverse()) {
    await fs.promises.chmod(d.p, d.mode)
    if (d.mtime) await fs.promises.utimes(d.p, d.mtime, d.mtime)
  }
  return { entries, skipped }
}
