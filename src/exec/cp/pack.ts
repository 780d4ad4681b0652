/**
 * Packing a local path for a pod: the tar `tank cp ./local POD:/path` sends to `tar -x` inside the
 * pod. Symlinks are stored as links (never followed, as docker cp without -L), files with their
 * permission bits and mtime, everything owned by root in the pod (docker cp's default). Sockets,
 * fifos and devices are skipped. Entry names are relative to the pod directory tar extracts into.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import type * as tar from "tar-stream"

export interface PackResult {
  readonly entries: number
  readonly skipped: ReadonlyArray<string>
}

/**
 * Write `src` into `pack` as `as` (for `as` empty: src's contents at the top, src a directory), then
 * finalize. Local read errors reject (the pack is destroyed so the pod's tar sees a broken archive).
 */
export const packLocal = async (pack: tar.Pack, src: string, as: string): Promise<PackResult> => {
  let entries = 0
  const skipped: Array<string> = []
  const owner = { uid: 0, gid: 0, uname: "root", gname: "root" }

  const add = (header: Partial<tar.Header> & Pick<tar.Header, "name">, body?: string) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(header, body ?? "", (e) => (e ? reject(e) : resolve()))
    })

  const walk = async (local: string, name: string): Promise<void> => {
    const st = await fs.promises.lstat(local)
    const common = { ...owner, name, mode: st.mode & 0o7777, mtime: st.mtime }
    if (st.isDirectory()) {
      if (name !== "") {
        await add({ ...common, type: "directory" })
        entries++
      }
      const children = (await fs.promises.readdir(local)).sort()
      for (const c of children) await walk(path.join(local, c), name === "" ? c : `${name}/${c}`)
    } else if (st.isSymbolicLink()) {
      await add({ ...common, type: "symlink", linkname: await fs.promises.readlink(local) })
      entries++
    } else if (st.isFile()) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...common, type: "file", size: st.size }, (e) => (e ? reject(e) : resolve()))
        pipeline(fs.createReadStream(local), sink).catch(reject)
      })
      entries++
    } else {
      skipped.push(local)
    }
  }

  try {
    await walk(src, as)
    pack.finalize()
  } catch (e) {
    pack.destroy(e as Error)
    throw e
  }
  return { entries, skipped }
}
