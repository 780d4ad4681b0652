/**
 * Tank's own files are private to the user that runs it: the data dir and the image cache are 0700,
 * the SQLite store and its -wal/-shm files 0600. Extracted layers hold setuid binaries and device
 * nodes chosen by images, run dirs hold monitor sockets, the store holds every spec and its env: on
 * a shared machine, none of it may be reachable by other users.
 *
 * Every entry point (CLI, `Tank.*` scripts, the agent, `tank pull`, the Images layer, the SQLite
 * layer) goes through these functions, so whichever runs first creates the files right whatever
 * the umask. An existing directory with looser permissions is tightened only when it is Tank's: owned
 * by this user and empty or holding Tank's own entries (`markers`). Anything else is refused with
 * an error saying what to do, rather than chmod-ing a directory someone pointed Tank at by mistake
 * (`/tmp`, a home directory).
 */
import { Effect, Schema } from "effect"
import { dataDirSteps, makePrivateDir, makePrivateSqlite, PathRefused } from "./privatePaths.js"

// The checks themselves are plain code (privatePaths.ts: `tank ps`'s lite path runs them without Schema).
export { CACHE_DIR_MARKERS, DATA_DIR_MARKERS, type DirVerdict, judgeDir } from "./privatePaths.js"

export class PrivatePathError extends Schema.TaggedError<PrivatePathError>()("PrivatePathError", {
  path: Schema.String,
  reason: Schema.String,
  /** The errno name when a filesystem call failed; absent when Tank refused the path. */
  code: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/** What `f` threw while handling `p`, as a PrivatePathError (a failed fs call keeps its errno name). */
const asPrivatePathError = (p: string, e: unknown): PrivatePathError => {
  if (e instanceof PrivatePathError) return e
  if (e instanceof PathRefused) return new PrivatePathError({ path: e.path, reason: e.reason })
  const err = e as NodeJS.ErrnoException
  return new PrivatePathError({
    path: p,
    reason: err?.message ?? String(e),
    ...(typeof err?.code === "string" ? { code: err.code } : {})
  })
}

const attempt = <A>(p: string, f: () => A) => Effect.try({ try: f, catch: (e) => asPrivatePathError(p, e) })

/**
 * `f` run synchronously, what it threw as a PrivatePathError: for `tank ps`'s one-shot read
 * (src/store/psReader.ts), which runs without Effect's runtime. The Effect functions below run the
 * same bodies.
 */
const attemptSync = (p: string, f: () => void): PrivatePathError | undefined => {
  try {
    f()
    return undefined
  } catch (e) {
    return asPrivatePathError(p, e)
  }
}

/**
 * Creates `dir` (missing parents too) 0700, or checks an existing one and tightens it to 0700 when it
 * is Tank's (see the module comment). Symlinks are followed: a data dir may live elsewhere.
 */
export const ensurePrivateDir = (dir: string, markers: ReadonlyArray<string>): Effect.Effect<void, PrivatePathError> =>
  attempt(dir, () => makePrivateDir(dir, markers))

/**
 * A SQLite database and its -wal/-shm files readable by this user only. The database file is created
 * 0600 before SQLite opens it (SQLite creates -wal and -shm with the database's permissions, whatever
 * the umask); existing ones of ours that are looser (an older Tank) are tightened.
 */
export const ensurePrivateSqlite = (file: string): Effect.Effect<void, PrivatePathError> =>
  attempt(file, () => makePrivateSqlite(file))

/** `ensurePrivateSqlite`, synchronously: the error, or undefined once the files are private. */
export const ensurePrivateSqliteSync = (file: string): PrivatePathError | undefined =>
  attemptSync(file, () => makePrivateSqlite(file))

/**
 * The data dir (always: the agent keeps run dirs, volumes and the image cache there even with etcd)
 * and, for a SQLite store elsewhere, the store file's directory when it is missing (an existing one
 * is not Tank's to judge; the file itself is made private by `ensurePrivateSqlite`).
 */
export const ensureDataDir = (config: DataDirConfig): Effect.Effect<void, PrivatePathError> =>
  Effect.suspend(() => {
    const e = ensureDataDirSync(config)
    return e === undefined ? Effect.void : Effect.fail(e)
  })

type DataDirConfig = { readonly dataDir: string; readonly storeFile: string; readonly etcd: unknown }

/** `ensureDataDir`, synchronously: the error, or undefined once the dirs are there and private. */
export const ensureDataDirSync = (config: DataDirConfig): PrivatePathError | undefined => {
  for (const [p, make] of dataDirSteps(config)) {
    const e = attemptSync(p, make)
    if (e !== undefined) return e
  }
  return undefined
}
