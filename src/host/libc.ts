/**
 * The one place Tank binds libc (through koffi): every C signature the project calls is declared
 * here, once, and loaded once. It lives in `host/` because it is the host kernel's interface, like
 * the host facts beside it (no other module imports koffi).
 *
 * Two ways in:
 * - `libc.*`: the raw, typed functions, for synchronous callers outside Effect (the netlink socket,
 *   setns on the main thread, layer extraction in a worker thread). They return the C result; on a
 *   negative one read `errno()` at once (the next call may overwrite it).
 * - the `Libc` service (`Libc.Live`): the calls Effect code makes, failing with a typed `LibcError`
 *   (errno and its name). Tests swap in a recording double (test/support/recordingLibc.ts) to drive
 *   error paths that only a root-owned, broken machine would produce.
 */
import { Context, Effect, Layer, Schema } from "effect"
import koffi from "koffi"
import { constants } from "node:os"

const lib = koffi.load("libc.so.6")
// koffi functions are untyped (`any`): each declaration names the TypeScript type callers get.
const fn = <F>(decl: string): F => lib.func(decl) as F

type Ptr = Buffer
type Str = string | Buffer
type Long = number | bigint

/** Every libc function Tank calls. Pointer arguments take Buffers; `Str` ones a string too. */
export const libc = {
  // fds, namespaces
  open: fn<(path: Str, flags: number) => number>("int open(const char *path, int flags)"),
  close: fn<(fd: number) => number>("int close(int fd)"),
  setns: fn<(fd: number, nstype: number) => number>("int setns(int fd, int nstype)"),
  flock: fn<(fd: number, operation: number) => number>("int flock(int fd, int operation)"),
  fcntl: fn<(fd: number, cmd: number, ...typedArgs: Array<unknown>) => number>("int fcntl(int fd, int cmd, ...)"),
  /** Variadic: each argument is preceded by its C type, e.g. `syscall(nr, "int", fd, "void *", buf)`. */
  syscall: fn<(nr: number, ...typedArgs: Array<unknown>) => Long>("long syscall(long nr, ...)"),
  strerror: fn<(errnum: number) => string>("const char *strerror(int errnum)"),
  // sockets
  socket: fn<(domain: number, type: number, protocol: number) => number>(
    "int socket(int domain, int type, int protocol)"
  ),
  setsockopt: fn<(fd: number, level: number, name: number, value: Ptr, len: number) => number>(
    "int setsockopt(int fd, int level, int name, const void *value, uint32_t len)"
  ),
  bind: fn<(fd: number, addr: Ptr, len: number) => number>("int bind(int fd, const void *addr, uint32_t len)"),
  listen: fn<(fd: number, backlog: number) => number>("int listen(int fd, int backlog)"),
  send: fn<(fd: number, buf: Ptr, len: number, flags: number) => Long>(
    "long send(int fd, const void *buf, size_t len, int flags)"
  ),
  sendto: fn<(fd: number, buf: Ptr, len: number, flags: number, addr: Ptr, alen: number) => Long>(
    "long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)"
  ),
  recv: fn<(fd: number, buf: Ptr, len: number, flags: number) => Long>(
    "long recv(int fd, _Out_ void *buf, size_t len, int flags)"
  ),
  // mounts
  mount: fn<(source: Str, target: Str, fstype: Str, flags: number, data: Str | null) => number>(
    "int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)"
  ),
  umount2: fn<(target: Str, flags: number) => number>("int umount2(const char *target, int flags)"),
  // *at file calls (paths as NUL-terminated byte Buffers: names need not be UTF-8)
  mkdirat: fn<(dirfd: number, name: Ptr, mode: number) => number>("int mkdirat(int, const void *, uint32_t)"),
  mknodat: fn<(dirfd: number, name: Ptr, mode: number, dev: bigint) => number>(
    "int mknodat(int, const void *, uint32_t, uint64_t)"
  ),
  symlinkat: fn<(target: Ptr, dirfd: number, name: Ptr) => number>("int symlinkat(const void *, int, const void *)"),
  linkat: fn<(olddirfd: number, oldname: Ptr, newdirfd: number, newname: Ptr, flags: number) => number>(
    "int linkat(int, const void *, int, const void *, int)"
  ),
  unlinkat: fn<(dirfd: number, name: Ptr, flags: number) => number>("int unlinkat(int, const void *, int)"),
  fchownat: fn<(dirfd: number, name: Ptr, uid: number, gid: number, flags: number) => number>(
    "int fchownat(int, const void *, uint32_t, uint32_t, int)"
  ),
  fchmodat: fn<(dirfd: number, name: Ptr, mode: number, flags: number) => number>(
    "int fchmodat(int, const void *, uint32_t, int)"
  ),
  fchown: fn<(fd: number, uid: number, gid: number) => number>("int fchown(int, uint32_t, uint32_t)"),
  fchmod: fn<(fd: number, mode: number) => number>("int fchmod(int, uint32_t)"),
  utimensat: fn<(dirfd: number, name: Ptr, times: Ptr, flags: number) => number>(
    "int utimensat(int, const void *, const void *, int)"
  ),
  futimens: fn<(fd: number, times: Ptr) => number>("int futimens(int, const void *)"),
  // xattrs
  fsetxattr: fn<(fd: number, key: Str, value: Ptr, size: number, flags: number) => number>(
    "int fsetxattr(int, const char *, const void *, size_t, int)"
  ),
  lsetxattr: fn<(path: Str, key: Str, value: Ptr, size: number, flags: number) => number>(
    "int lsetxattr(const char *, const char *, const void *, size_t, int)"
  ),
  lgetxattr: fn<(path: Str, key: Str, value: Ptr, size: number) => Long>(
    "long lgetxattr(const char *, const char *, void *, size_t)"
  )
} as const

/** The calling thread's errno (read it right after the failed call). */
export const errno = (): number => koffi.errno()

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]))

/** "ENOENT" (or "errno 123" for a number Node does not name). */
export const errnoName = (n: number): string => errnoNames.get(n) ?? `errno ${n}`

/** "ENODEV (No such device)". */
export const describeErrno = (n: number): string => `${errnoName(n)} (${String(libc.strerror(n))})`

/** A libc call that returned failure: which call, on what, and errno with its name. */
export class LibcError extends Schema.TaggedError<LibcError>()("LibcError", {
  call: Schema.String,
  target: Schema.String,
  errno: Schema.Number,
  code: Schema.String
}) {
  override get message() {
    return `${this.call}(${this.target}): ${this.code}`
  }
  static of(call: string, target: string, n: number): LibcError {
    return new LibcError({ call, target, errno: n, code: errnoName(n) })
  }
}

/** The calls Effect code makes through the service (add one here when a caller needs it). */
export interface LibcService {
  readonly mount: (
    source: string,
    target: string,
    fstype: string,
    flags: number,
    data: string
  ) => Effect.Effect<void, LibcError>
  readonly umount2: (target: string, flags: number) => Effect.Effect<void, LibcError>
  readonly flock: (fd: number, operation: number) => Effect.Effect<void, LibcError>
}

/** Runs a call and turns a negative result into LibcError with the errno read at once. */
const run = (call: string, target: string, f: () => Long): Effect.Effect<number, LibcError> =>
  Effect.suspend(() => {
    const rc = Number(f())
    return rc < 0 ? Effect.fail(LibcError.of(call, target, errno())) : Effect.succeed(rc)
  })

const live: LibcService = {
  mount: (source, target, fstype, flags, data) =>
    Effect.asVoid(run("mount", target, () => libc.mount(source, target, fstype, flags, data))),
  umount2: (target, flags) => Effect.asVoid(run("umount2", target, () => libc.umount2(target, flags))),
  flock: (fd, operation) => Effect.asVoid(run("flock", `fd ${fd}`, () => libc.flock(fd, operation)))
}

export class Libc extends Context.Tag("tank/Libc")<Libc, LibcService>() {
  /** The real libc. */
  static Live: Layer.Layer<Libc> = Layer.succeed(Libc, live)
}

export const MNT_DETACH = 2
export const MS_NOSUID = 2
export const MS_NODEV = 4
export const LOCK_EX = 2
export const LOCK_NB = 4
