/**
 * The filesystem seam of the drivers: the handful of cgroupfs operations they perform.
 * `liveCgroupFs` is node:fs on the real cgroupfs; the tests put a small cgroupfs simulator
 * behind the same interface (control files appear on mkdir, rmdir refuses busy groups, …),
 * because a plain temp dir behaves unlike cgroupfs exactly where it matters.
 */
import { Effect } from "effect"
import { constants } from "node:fs"
import * as fsp from "node:fs/promises"
import { CgroupError } from "./model.js"

export interface CgroupFs {
  /** mkdir(2); succeeds with false when the directory already exists. */
  readonly mkdir: (path: string) => Effect.Effect<boolean, CgroupError>
  readonly rmdir: (path: string) => Effect.Effect<void, CgroupError>
  /** One write(2) of `value` to an existing control file (never creates a file). */
  readonly write: (path: string, value: string) => Effect.Effect<void, CgroupError>
  /**
   * One write(2) per value, in order, through one open of the file: for files the kernel parses
   * one entry per write (v1 devices.allow). Fails at the first refused value, naming it.
   */
  readonly writeEach: (path: string, values: ReadonlyArray<string>) => Effect.Effect<void, CgroupError>
  readonly read: (path: string) => Effect.Effect<string, CgroupError>
  /** Names of the subdirectories (child groups) of `path`. */
  readonly subdirs: (path: string) => Effect.Effect<ReadonlyArray<string>, CgroupError>
  /** SIGKILL `pid`; a process that is already gone is not an error. */
  readonly kill: (pid: number) => Effect.Effect<void, CgroupError>
}

export const fsError = (op: string, path: string, cause: unknown, what?: string): CgroupError => {
  const e = cause as NodeJS.ErrnoException
  const code = typeof e?.code === "string" ? e.code : undefined
  return new CgroupError({
    op,
    path,
    ...(code === undefined ? {} : { code }),
    message: `${what ?? op} ${path}: ${e instanceof Error ? e.message : String(cause)}`
  })
}

// O_CREAT is left out on purpose: cgroupfs refuses to create files anyway, and a missing control
// file must surface as ENOENT (controller not enabled) instead of a silently created regular file.
const WRITE_FLAGS = constants.O_WRONLY | constants.O_TRUNC

export const liveCgroupFs: CgroupFs = {
  mkdir: (path) =>
    Effect.tryPromise({ try: () => fsp.mkdir(path).then(() => true), catch: (e) => fsError("mkdir", path, e) }).pipe(
      Effect.catchIf((e) => e.code === "EEXIST", () => Effect.succeed(false))
    ),
  rmdir: (path) => Effect.tryPromise({ try: () => fsp.rmdir(path), catch: (e) => fsError("rmdir", path, e) }),
  write: (path, value) =>
    Effect.tryPromise({
      try: () => fsp.writeFile(path, value, { flag: WRITE_FLAGS }),
      catch: (e) => fsError("write", path, e, `write ${JSON.stringify(value)} to`)
    }),
  writeEach: (path, values) =>
    Effect.tryPromise({ try: () => fsp.open(path, WRITE_FLAGS), catch: (e) => fsError("write", path, e) }).pipe(
      Effect.flatMap((fh) =>
        Effect.forEach(values, (value) =>
          Effect.tryPromise({
            try: () => fh.write(value),
            catch: (e) => fsError("write", path, e, `write ${JSON.stringify(value)} to`)
          }), { discard: true }).pipe(Effect.ensuring(Effect.promise(() => fh.close())))
      )
    ),
  read: (path) => Effect.tryPromise({ try: () => fsp.readFile(path, "utf8"), catch: (e) => fsError("read", path, e) }),
  subdirs: (path) =>
    Effect.tryPromise({
      try: () =>
        fsp.readdir(path, { withFileTypes: true }).then((es) => es.filter((e) => e.isDirectory()).map((e) => e.name)),
      catch: (e) => fsError("readdir", path, e)
    }),
  kill: (pid) =>
    Effect.try({
      try: () => {
        process.kill(pid, "SIGKILL")
      },
      catch: (e) => fsError("kill", String(pid), e)
    }).pipe(Effect.catchIf((e) => e.code === "ESRCH", () => Effect.void))
}

/** `read`, with a missing file as undefined (an optional counter, or a group already gone). */
export const readOptional = (fs: CgroupFs, path: string): Effect.Effect<string | undefined, CgroupError> =>
  fs.read(path).pipe(Effect.catchIf((e) => e.code === "ENOENT", () => Effect.succeed(undefined)))

/** `subdirs`, with a missing directory as empty. */
export const subdirsOptional = (fs: CgroupFs, path: string): Effect.Effect<ReadonlyArray<string>, CgroupError> =>
  fs.subdirs(path).pipe(Effect.catchIf((e) => e.code === "ENOENT", () => Effect.succeed([])))
