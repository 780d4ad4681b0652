/**
 * The checks behind privateDir.ts (see there for the rules), as plain synchronous code that throws:
 * PathRefused when Tank refuses a path, else what the filesystem call threw. Free of Schema and of
 * Effect, so `tank ps`'s lite path (src/cli/quickPsLite.ts) makes the data dir and the store private
 * exactly as the Store's open does without loading them; privateDir.ts turns what these throw into
 * its PrivatePathError.
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** A path Tank refuses to use, and why (privateDir.ts reports it as a PrivatePathError). */
export class PathRefused extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`${path}: ${reason}`)
  }
}

/**
 * Entries only Tank puts in a data dir (src/runtime/layout.ts, the store, the lock, the cache);
 * `run` and `sock` are in the run root since, still named for data dirs made before.
 */
export const DATA_DIR_MARKERS: ReadonlyArray<string> = [
  "tank.db",
  "config.yaml",
  "agent.lock",
  "images",
  "run",
  "sock",
  "volumes",
  "logs",
  "layers",
  "trash"
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

/**
 * Creates `dir` (missing parents too) 0700, or checks an existing one and tightens it to 0700 when it
 * is Tank's (privateDir.ts says when). Throws PathRefused, or what a filesystem call threw.
 */
export const makePrivateDir = (dir: string, markers: ReadonlyArray<string>): void => {
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
  if (verdict._tag === "Refuse") throw new PathRefused(dir, verdict.reason)
  if (verdict._tag === "Tighten") fs.chmodSync(dir, 0o700)
}

/** The SQLite file (created 0600) and its -wal/-shm files made private (privateDir.ts says why). */
export const makePrivateSqlite = (file: string): void => {
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
  if (!st.isFile()) throw new PathRefused(file, "is not a regular file")
  if (euid !== undefined && st.uid !== euid) {
    throw new PathRefused(
      file,
      `is owned by uid ${st.uid}, not by this user (uid ${euid}); chown it or choose another store file`
    )
  }
  if ((st.mode & LOOSE) !== 0) fs.fchmodSync(fd, 0o600)
}

/**
 * The data dir, and the store file's own dir when it lies elsewhere (SQLite only): what
 * privateDir.ts's ensureDataDir makes, as [path, make] steps (each step's errors name its path).
 */
export const dataDirSteps = (
  config: { readonly dataDir: string; readonly storeFile: string; readonly etcd: unknown }
): ReadonlyArray<readonly [string, () => void]> => {
  const storeDir = path.dirname(config.storeFile)
  return [
    [config.dataDir, () => makePrivateDir(config.dataDir, DATA_DIR_MARKERS)],
    ...(config.etcd === undefined && path.resolve(storeDir) !== path.resolve(config.dataDir)
      ? [[storeDir, () => void fs.mkdirSync(storeDir, { recursive: true, mode: 0o700 })] as const]
      : [])
  ]
}
