/**
 * User resolution for a container: a user spec ("name", "uid", "u:g", or none) → uid, gid,
 * supplementary groups and home, read from the image's own /etc/passwd and /etc/group.
 *
 * The image is given as its extracted layer directories (overlayfs form, see extract.ts) in
 * manifest order, bottom layer first; files are read from the merged view without mounting.
 */
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ImageFileProblem, locate } from "./user/imageFile.js"
import {
  parseGroup,
  parsePasswd,
  type ResolvedUser,
  resolveUserIn,
  type UnknownGroup,
  type UnknownUser
} from "./user/passwd.js"

export {
  type GroupEntry,
  parseGroup,
  parseId,
  parsePasswd,
  type PasswdEntry,
  type ResolvedUser,
  resolveUserIn,
  UnknownGroup,
  UnknownUser
} from "./user/passwd.js"

/** passwd/group files larger than this are refused (a hostile image could ship a huge one). */
export const MAX_IMAGE_FILE_BYTES = 16 * 1024 * 1024

export class ImageFileError extends Schema.TaggedError<ImageFileError>()("ImageFileError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `reading ${this.path} from the image: ${this.detail}`
  }
}

/**
 * The content of `file` (absolute, inside the image) as overlayfs would show it over `layers`
 * (layer directories, bottom first); `None` when the image has no such file.
 */
export const readImageFile = (
  layers: ReadonlyArray<string>,
  file: string
): Effect.Effect<Option.Option<Buffer>, ImageFileError> =>
  Effect.try({
    try: () => {
      const found = locate([...layers].reverse(), file)
      if (found === undefined) return Option.none()
      if (!found.st.isFile()) throw new ImageFileProblem("not a regular file")
      const fd = fs.openSync(path.join(found.layer, found.rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
      try {
        const st = fs.fstatSync(fd)
        if (st.size > MAX_IMAGE_FILE_BYTES) throw new ImageFileProblem(`larger than ${MAX_IMAGE_FILE_BYTES} bytes`)
        return Option.some(fs.readFileSync(fd))
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: (e) => new ImageFileError({ path: file, detail: e instanceof Error ? e.message : String(e) })
  })

const textOf = (layers: ReadonlyArray<string>, file: string) =>
  Effect.map(readImageFile(layers, file), Option.match({ onNone: () => "", onSome: (b) => b.toString("utf8") }))

/**
 * Resolves `spec` (undefined, "" and "root" mean root) through the image's /etc/passwd and
 * /etc/group; see `user/passwd.ts` for the exact rules.
 */
export const resolveUser = (
  layers: ReadonlyArray<string>,
  spec: string | undefined
): Effect.Effect<ResolvedUser, UnknownUser | UnknownGroup | ImageFileError> =>
  Effect.gen(function*() {
    const passwd = parsePasswd(yield* textOf(layers, "/etc/passwd"))
    const groups = parseGroup(yield* textOf(layers, "/etc/group"))
    return yield* resolveUserIn(spec, passwd, groups)
  })
