/**
 * Reads an image tarball (OCI layout or docker-archive) into a private temp dir: every regular file
 * is written under a generated name (never a name from the archive, so an entry like `../../etc/x`
 * cannot place anything), and looked up by its normalised archive path. Symlinks (old docker saves
 * share layers that way) become aliases of the entry they point at inside the archive.
 */
import { Effect } from "effect"
import { createReadStream, createWriteStream } from "node:fs"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import * as tar from "tar-stream"
import { InvalidContent } from "../errors.js"

/** Archive path → file on disk. */
export type Entries = ReadonlyMap<string, string>

/** `./a//b/` → `a/b`; undefined for names that climb out (`..`) or are empty. */
export const normalizeName = (name: string): string | undefined => {
  const n = path.posix.normalize(name.replace(/^\/+/, "")).replace(/\/+$/, "")
  return n === "" || n === "." || n === ".." || n.startsWith("../") ? undefined : n
}

export const readEntries = (file: string, dir: string): Effect.Effect<Entries, InvalidContent> =>
  Effect.tryPromise({
    try: async () => {
      const files = new Map<string, string>()
      const links = new Map<string, string>()
      const extract = tar.extract()
      let n = 0
      const reading = pipeline(createReadStream(file), extract)
      for await (const entry of extract) {
        const name = normalizeName(entry.header.name)
        if (name !== undefined && entry.header.type === "file") {
          const dest = path.join(dir, String(n++))
          await pipeline(entry, createWriteStream(dest, { flags: "wx", mode: 0o600 }))
          files.set(name, dest)
          continue
        }
        if (name !== undefined && entry.header.type === "symlink" && entry.header.linkname) {
          const target = normalizeName(path.posix.join(path.posix.dirname(name), entry.header.linkname))
          if (target !== undefined) links.set(name, target)
        }
        entry.resume()
      }
      await reading
      for (const [name, target] of links) {
        const f = files.get(target)
        if (f !== undefined && !files.has(name)) files.set(name, f)
      }
      return files as Entries
    },
    catch: (e) => new InvalidContent({ what: `image archive ${file}`, issues: `not a readable tar: ${String(e)}` })
  })
