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
import * as fs from "node:fs"
import * as path from "node:path"

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

/** Entries only Tank puts in a data dir (src/runtime/layout.ts, the store, the lock, the cache). */
export const DATA_DIR_MARKERS: ReadonlyArray<string> = [
  "tank.db",
  "config.yaml",
  "agent.lock",
  "images",
  "run",
  "sock",
  "volumes",
  "logs"
]
/** Entries of an image cache dir (src/image/cache.ts). */
export const CACHE_DIR_MARKERS: ReadonlyArray<string> = ["blobs", "layers", "refs", "tmp"]

const LOOSE = 0o077

export type DirVerdict =
  | { readonly _tag: "Ok" }
  | { readonly _tag: "Tighten" }
  | { readonly _tag: "Refuse"; readonly reason: string }

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0")

/** What to do with an existing directory (pure): keep it, chmod it 0700, or refuse it. */
export const judgeDir = (
  st: { readonly mode: number; readonly uid: number; readonly isDirectory: boolean },
  euid: number | undefined,
  entries: ReadonlyArray<string>,
  markers: ReadonlyArray<string>
): DirVerdict => {
  if (!st.isDirectory) return { _tag: "Refuse", reason: "is not a directory" }
  if (euid !== undefined && st.uid !== euid) {
    return {
      _tag: "Refuse",
      reason: `is owned by uid ${st.uid}, not by this user (uid ${euid}): whoever owns it could change ` +
        `what Tank runs; chown it or choose another directory`
    }
  }
  if ((st.mode & LOOSE) === 0) return { _tag: "Ok" }
  if (entries.length === 0 || entries.some((e) => markers.includes(e))) return { _tag: "Tighten" }
  return {
    _tag: "Refuse",
    reason: `is open to other users (mode ${octal(st.mode)}) and does not look like Tank's ` +
      `(none of ${markers.join(", ")}): chmod 700 it, or choose a new or empty directory`
  }
}

/** What `f` threw while handling `p`, as a PrivatePathError (a failed fs call keeps its errno name). */
const asPrivatePathError = (p: string, e: unknown): PrivatePathError => {
  if (e instanceof PrivatePathError) return e
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

const makePrivateDir = (dir: string, markers: ReadonlyArray<string>): void => {
  const created = fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  // mkdir's mode passes through the umask; a stricter one (0277) must not leave Tank locked out.
  if (created !== undefined) {
    const top = path.resolve(created)
    for (let d = path.resolve(dir); d.startsWith(top); d = path.dirname(d)) fs.chmodSync(d, 0o700)
    return
  }
  const st = fs.statSync(dir)
  const verdict = judgeDir(
    { mode: st.mode, uid: st.uid, isDirectory: st.isDirectory() },
    process.geteuid?.(),
    st.isDirectory() && (st.mode & LOOSE) !== 0 ? fs.readdirSync(dir) : [],
    markers
  )
  if (verdict._tag === "Refuse") throw new PrivatePathError({ path: dir, reason: verdict.reason })
  if (verdict._tag === "Tighten") fs.chmodSync(dir, 0o700)
}

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

const makePrivateSqlite = (file: string): void => {
  const euid = process.geteuid?.()
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
  try {
    tightenFd(fd, file, euid)
  } finally {
    fs.closeSync(fd)
  }
  for (const side of [`${file}-wal`, `${file}-shm`]) {
    let sfd: number
    try {
      sfd = fs.openSync(side, fs.constants.O_RDONLY)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue
      throw e
    }
    try {
      tightenFd(sfd, side, euid)
    } finally {
      fs.closeSync(sfd)
    }
  }
}

const tightenFd = (fd: number, file: string, euid: number | undefined) => {
  const st = fs.fstatSync(fd)
  if (!st.isFile()) throw new PrivatePathError({ path: file, reason: "is not a regular file" })
  if (euid !== undefined && st.uid !== euid) {
    throw new PrivatePathError({
      path: file,
      reason: `is owned by uid ${st.uid}, not by this user (uid ${euid}); chown it or choose another store file`
    })
  }
  if ((st.mode & LOOSE) !== 0) fs.fchmodSync(fd, 0o600)
}

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
  const e = attemptSync(config.dataDir, () => makePrivateDir(config.dataDir, DATA_DIR_MARKERS))
  if (e !== undefined) return e
  const storeDir = path.dirname(config.storeFile)
  return config.etcd === undefined && path.resolve(storeDir) !== path.resolve(config.dataDir)
    ? attemptSync(storeDir, () => fs.mkdirSync(storeDir, { recursive: true, mode: 0o700 }))
    : undefined
}
