/**
 * The filesystem seam of the drivers: the handful of cgroupfs operations they perform.
 * `liveCgroupFs` is node:fs on the real cgroupfs; the tests put a small cgroupfs simulator
 * behind the same interface (control files appear on mkdir, rmdir refuses busy groups, …),
 * because a plain temp dir behaves unlike cgroupfs exactly where it matters.
 */
import { Effect } from "effect"
import * as nodeFs from "node:fs"
import { constants } from "node:fs"
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

const attempt = <A>(op: string, path: string, f: () => A, what?: string): Effect.Effect<A, CgroupError> =>
  Effect.try({ try: f, catch: (e) => fsError(op, path, e, what) })

/**
 * Synchronous on purpose: cgroupfs lives in kernel memory, so each call is a few microseconds,
 * while a round trip through libuv's pool (4 threads, shared with every step's disk I/O, one
 * promise and one fiber resumption each) cost more than the call itself — a start makes ~35 of
 * them (issue 21). The one cgroupfs write that may wait (moving a task into cgroup.procs, which
 * can wait for an RCU grace period) is not made here at a start: the helper does it.
 */
export const liveCgroupFs: CgroupFs = {
  mkdir: (path) =>
    attempt("mkdir", path, () => {
      nodeFs.mkdirSync(path)
      return true
    }).pipe(Effect.catchIf((e) => e.code === "EEXIST", () => Effect.succeed(false))),
  rmdir: (path) => attempt("rmdir", path, () => nodeFs.rmdirSync(path)),
  write: (path, value) =>
    attempt(
      "write",
      path,
      () => {
        const fd = nodeFs.openSync(path, WRITE_FLAGS)
        try {
          nodeFs.writeSync(fd, value)
        } finally {
          nodeFs.closeSync(fd)
        }
      },
      `write ${JSON.stringify(value)} to`
    ),
  writeEach: (path, values) =>
    attempt("write", path, () => nodeFs.openSync(path, WRITE_FLAGS)).pipe(
      Effect.flatMap((fd) =>
        Effect.forEach(
          values,
          (value) =>
            attempt("write", path, () => void nodeFs.writeSync(fd, value), `write ${JSON.stringify(value)} to`),
          { discard: true }
        ).pipe(Effect.ensuring(Effect.sync(() => nodeFs.closeSync(fd))))
      )
    ),
  read: (path) => attempt("read", path, () => nodeFs.readFileSync(path, "utf8")),
  subdirs: (path) =>
    attempt(
      "readdir",
      path,
      () => nodeFs.readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
    ),
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
