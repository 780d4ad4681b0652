/**
 * The syscalls layer extraction needs, on the libc binding of src/host/libc.ts.
 *
 * Node's `fs` resolves every path from the process root and follows symlinks in every component,
 * so it cannot confine writes to a directory tree that the (untrusted) layer itself is building.
 * Here every path is resolved by the kernel relative to a directory fd with `openat2(2)` and
 * `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, and every final component is
 * created or changed with a `*at` call that does not follow it. The kernel then guarantees that
 * nothing outside the extraction root is touched, even if something else changes the tree
 * concurrently (a user-space lstat-then-write check would be open to that race).
 *
 * Calls are synchronous (a few µs each) and throw `SysError`; the extractor catches them and turns
 * them into typed `ExtractError`s. Paths are "byte strings" (one char per byte, latin1), so file
 * names that are not valid UTF-8 survive unchanged.
 */
import { constants as fsConstants } from "node:fs"
import { errno, errnoName, libc as fns } from "../../host/libc.js"

export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly code: string,
    readonly path: string
  ) {
    super(`${syscall}(${path}): ${code}`)
  }
}

// Open flags differ between architectures (arm64 has O_DIRECTORY 0o40000, O_NOFOLLOW 0o100000):
// take them from Node, which has the platform's values. O_PATH and O_CLOEXEC are the same on
// x86_64 and arm64 (Node does not export them).
export const O_RDONLY = fsConstants.O_RDONLY
export const O_WRONLY = fsConstants.O_WRONLY
export const O_CREAT = fsConstants.O_CREAT
export const O_EXCL = fsConstants.O_EXCL
export const O_DIRECTORY = fsConstants.O_DIRECTORY
export const O_NOFOLLOW = fsConstants.O_NOFOLLOW
export const O_CLOEXEC = 0o2000000
export const O_PATH = 0o10000000
export const AT_FDCWD = -100
export const AT_SYMLINK_NOFOLLOW = 0x100
export const AT_REMOVEDIR = 0x200
export const RESOLVE_NO_MAGICLINKS = 0x02
export const RESOLVE_NO_SYMLINKS = 0x04
export const RESOLVE_BENEATH = 0x08
const SYS_openat2 = 437 // same number on every architecture (added after the syscall table unification)

/** Confinement used for every lookup below the layer root. */
export const RESOLVE_CONFINED = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS

export const S_IFMT = 0o170000
export const S_IFDIR = 0o040000
export const S_IFCHR = 0o020000
export const S_IFBLK = 0o060000
export const S_IFIFO = 0o010000

/** NUL-terminated bytes of a byte string, for a `const char *` argument. */
export const cstr = (bytes: string): Buffer => Buffer.from(bytes + "\0", "latin1")
/** Printable form of a byte string (for messages). */
export const show = (bytes: string): string => Buffer.from(bytes, "latin1").toString("utf8")

const check = (rc: number | bigint, syscall: string, path: string): number => {
  const n = Number(rc)
  if (n < 0) {
    const e = errno()
    throw new SysError(syscall, e, errnoName(e), show(path))
  }
  return n
}

/** openat2(2); returns the new fd. */
export const openat2 = (dirfd: number, path: string, flags: number, mode: number, resolve: number): number => {
  const how = Buffer.alloc(24)
  how.writeBigUInt64LE(BigInt(flags | O_CLOEXEC), 0)
  how.writeBigUInt64LE(BigInt(mode), 8)
  how.writeBigUInt64LE(BigInt(resolve), 16)
  return check(
    fns.syscall(SYS_openat2, "int", dirfd, "const void *", cstr(path), "void *", how, "size_t", 24),
    "openat2",
    path
  )
}

export const mkdirat = (dirfd: number, name: string, mode: number): void => {
  check(fns.mkdirat(dirfd, cstr(name), mode), "mkdirat", name)
}

/** Linux `makedev` (the glibc encoding of dev_t). */
export const makedev = (major: number, minor: number): bigint => {
  const ma = BigInt(major >>> 0)
  const mi = BigInt(minor >>> 0)
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn)
}

export const mknodat = (dirfd: number, name: string, mode: number, dev: bigint): void => {
  check(fns.mknodat(dirfd, cstr(name), mode, dev), "mknodat", name)
}

export const symlinkat = (target: string, dirfd: number, name: string): void => {
  check(fns.symlinkat(cstr(target), dirfd, cstr(name)), "symlinkat", name)
}

/** linkat without AT_SYMLINK_FOLLOW: links the target entry itself, never what a symlink points to. */
export const linkat = (olddirfd: number, oldname: string, newdirfd: number, newname: string): void => {
  check(fns.linkat(olddirfd, cstr(oldname), newdirfd, cstr(newname), 0), "linkat", newname)
}

export const unlinkat = (dirfd: number, name: string, flags: number): void => {
  check(fns.unlinkat(dirfd, cstr(name), flags), "unlinkat", name)
}

export const fchownat = (dirfd: number, name: string, uid: number, gid: number): void => {
  check(fns.fchownat(dirfd, cstr(name), uid >>> 0, gid >>> 0, AT_SYMLINK_NOFOLLOW), "fchownat", name)
}

/** chmod of a node we just created (device, fifo) and know is not a symlink. */
export const fchmodat = (dirfd: number, name: string, mode: number): void => {
  check(fns.fchmodat(dirfd, cstr(name), mode, 0), "fchmodat", name)
}

export const fchown = (fd: number, uid: number, gid: number, what: string): void => {
  check(fns.fchown(fd, uid >>> 0, gid >>> 0), "fchown", what)
}

export const fchmod = (fd: number, mode: number, what: string): void => {
  check(fns.fchmod(fd, mode), "fchmod", what)
}

const timespecs = (mtimeNs: bigint): Buffer => {
  const b = Buffer.alloc(32)
  const sec = mtimeNs / 1_000_000_000n
  const nsec = mtimeNs - sec * 1_000_000_000n
  for (const off of [0, 16]) { // atime = mtime, as tar does when the archive has no atime
    b.writeBigInt64LE(nsec < 0n ? sec - 1n : sec, off)
    b.writeBigInt64LE(nsec < 0n ? nsec + 1_000_000_000n : nsec, off + 8)
  }
  return b
}

export const futimens = (fd: number, mtimeNs: bigint, what: string): void => {
  check(fns.futimens(fd, timespecs(mtimeNs)), "futimens", what)
}

export const utimensatNoFollow = (dirfd: number, name: string, mtimeNs: bigint): void => {
  check(fns.utimensat(dirfd, cstr(name), timespecs(mtimeNs), AT_SYMLINK_NOFOLLOW), "utimensat", name)
}

export const fsetxattr = (fd: number, key: string, value: Buffer, what: string): void => {
  check(fns.fsetxattr(fd, key, value, value.length, 0), "fsetxattr", what)
}

/** setxattr on `name` inside `dirfd` without following it (for symlinks and device nodes). */
export const lsetxattrAt = (dirfd: number, name: string, key: string, value: Buffer): void => {
  check(fns.lsetxattr(cstr(`/proc/self/fd/${dirfd}/${name}`), key, value, value.length, 0), "lsetxattr", name)
}

/** An xattr of `path` itself (not following a final symlink); undefined when absent or unsupported. */
export const lgetxattr = (path: string, key: string): Buffer | undefined => {
  const buf = Buffer.alloc(256)
  const n = Number(fns.lgetxattr(path, key, buf, buf.length))
  if (n >= 0) return buf.subarray(0, n)
  const e = errno()
  const code = errnoName(e)
  if (code === "ENODATA" || code === "EOPNOTSUPP" || code === "ENOTSUP") return undefined
  throw new SysError("lgetxattr", e, code, path)
}

export const close = (fd: number): void => {
  fns.close(fd)
}
