/**
 * A directory tree that a layer is written into, confined to its root by the kernel.
 *
 * Every parent directory is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a path
 * component that is a symlink (even one pointing inside the layer) is refused with ELOOP, and
 * nothing can resolve above the root. Final components are created with O_EXCL / *at calls that
 * never follow them. Entries are applied strictly in archive order, one at a time: later entries
 * replace earlier ones (a file over a directory removes the directory, and so on), which is what
 * tar and Docker do.
 *
 * Directory modes and times are applied at the end (`finish`), after their contents, so writing
 * into a read-only directory works and directory mtimes are the archive's.
 */
import * as fs from "node:fs"
import { isWhiteoutNode, OPAQUE_XATTR } from "../whiteout.js"
import { Refusal } from "./errors.js"
import { isWithin, splitParent } from "./paths.js"
import * as sys from "./sys.js"

export interface Meta {
  /** Permission bits incl. setuid/setgid/sticky (0o7777). */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly mtimeNs: bigint
  readonly xattrs: ReadonlyArray<readonly [string, Buffer]>
}

export interface TreeOptions {
  /** Running with CAP_CHOWN/CAP_MKNOD (root): apply ownership and create device nodes. */
  readonly privileged: boolean
  /** Told about entries skipped for lack of privilege or filesystem support. */
  readonly onSkip: (what: string) => void
}

/** Overlay metadata only ever comes from our own whiteout conversion, never from the archive. */
const isReservedXattr = (key: string): boolean => key.startsWith("trusted.overlay.") || key.startsWith("user.overlay.")

const ENOENT = "ENOENT"
const EEXIST = "EEXIST"
const codeOf = (e: unknown): string | undefined => e instanceof sys.SysError ? e.code : undefined

export class LayerTree {
  private cached: { rel: string; fd: number } | undefined
  private readonly dirMeta = new Map<string, Meta>()

  constructor(private readonly rootFd: number, private readonly opts: TreeOptions) {}

  /** An O_PATH fd for directory `rel`; missing components are created 0755 when `create`. */
  private openDir(rel: string, create: boolean): number {
    try {
      return sys.openat2(this.rootFd, rel === "" ? "." : rel, sys.O_PATH | sys.O_DIRECTORY, 0, sys.RESOLVE_CONFINED)
    } catch (e) {
      const code = codeOf(e)
      if (code === "ELOOP" || code === "EXDEV") {
        throw new Refusal("Hostile", `a component of "${sys.show(rel)}" is a symlink; refusing to write through it`)
      }
      // ENOTDIR may be a whiteout of this layer, which the walk below turns back into a directory
      const walk = create && (code === ENOENT || code === "ENOTDIR")
      if (!walk && code === "ENOTDIR") {
        throw new Refusal("Corrupt", `a component of "${sys.show(rel)}" is not a directory`)
      }
      if (!walk) throw e
    }
    // Create what is missing, one component at a time, each opened without following symlinks.
    let fd = sys.openat2(this.rootFd, ".", sys.O_PATH | sys.O_DIRECTORY, 0, sys.RESOLVE_CONFINED)
    try {
      for (const part of rel.split("/")) {
        try {
          sys.mkdirat(fd, part, 0o755)
        } catch (e) {
          if (codeOf(e) !== EEXIST) throw e
          const st = this.lstatAt(fd, part)
          if (st !== undefined && isWhiteoutNode(st)) {
            // `.wh.d` then `d/x` in one layer: d comes back as an opaque directory (see mkdir)
            sys.unlinkat(fd, part, 0)
            sys.mkdirat(fd, part, 0o755)
            const dfd = sys.openat2(fd, part, sys.O_RDONLY | sys.O_DIRECTORY, 0, sys.RESOLVE_CONFINED)
            try {
              sys.fsetxattr(dfd, OPAQUE_XATTR, Buffer.from("y"), sys.show(rel))
            } finally {
              sys.close(dfd)
            }
          }
        }
        const next = sys.openat2(fd, part, sys.O_PATH | sys.O_DIRECTORY, 0, sys.RESOLVE_CONFINED)
        sys.close(fd)
        fd = next
      }
      return fd
    } catch (e) {
      sys.close(fd)
      if (codeOf(e) === "ELOOP") throw new Refusal("Hostile", `"${sys.show(rel)}" traverses a symlink`)
      if (codeOf(e) === "ENOTDIR") throw new Refusal("Corrupt", `a component of "${sys.show(rel)}" is not a directory`)
      throw e
    }
  }

  /** The parent directory fd for `rel` (cached: archives list siblings together). */
  private parentOf(rel: string): { fd: number; base: string } {
    const { base, parent } = splitParent(rel)
    if (this.cached?.rel !== parent) {
      this.dropCache()
      this.cached = { rel: parent, fd: this.openDir(parent, true) }
    }
    return { fd: this.cached.fd, base }
  }

  private dropCache(): void {
    if (this.cached !== undefined) sys.close(this.cached.fd)
    this.cached = undefined
  }

  private lstatAt(dirfd: number, base: string): fs.Stats | undefined {
    return fs.lstatSync(Buffer.from(`/proc/self/fd/${dirfd}/${base}`, "latin1"), { throwIfNoEntry: false })
  }

  /** Removes whatever is at `rel` (never following symlinks; directories recursively). */
  private remove(dirfd: number, base: string, rel: string, isDir: boolean): void {
    if (isDir) {
      const fd = sys.openat2(dirfd, base, sys.O_RDONLY | sys.O_DIRECTORY | sys.O_NOFOLLOW, 0, sys.RESOLVE_CONFINED)
      try {
        for (const ent of fs.readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true, encoding: "buffer" })) {
          const name = ent.name.toString("latin1")
          this.remove(fd, name, `${rel}/${name}`, ent.isDirectory())
        }
      } finally {
        sys.close(fd)
      }
      sys.unlinkat(dirfd, base, sys.AT_REMOVEDIR)
    } else {
      sys.unlinkat(dirfd, base, 0)
    }
    for (const k of this.dirMeta.keys()) if (isWithin(k, rel)) this.dirMeta.delete(k)
    if (this.cached !== undefined && this.cached.fd !== dirfd && isWithin(this.cached.rel, rel)) this.dropCache()
  }

  /**
   * Runs `create`; if the name is taken, removes the old entry and runs it again. When `keepDir`
   * and the existing entry is a directory, keeps it and creates nothing. Says whether an overlay
   * whiteout (char 0/0) was replaced.
   */
  private replace(
    rel: string,
    keepDir: boolean,
    create: (dirfd: number, base: string) => void
  ): { readonly replacedWhiteout: boolean } {
    if (rel === "") throw new Refusal("Corrupt", "only a directory can be the layer root")
    const { base, fd } = this.parentOf(rel)
    try {
      create(fd, base)
      return { replacedWhiteout: false }
    } catch (e) {
      if (codeOf(e) !== EEXIST) throw e
    }
    const st = this.lstatAt(fd, base)
    if (st?.isDirectory() && keepDir) return { replacedWhiteout: false }
    if (st !== undefined) this.remove(fd, base, rel, st.isDirectory())
    const again = this.parentOf(rel) // removal may have dropped the cache
    create(again.fd, again.base)
    return { replacedWhiteout: st !== undefined && isWhiteoutNode(st) }
  }

  private setXattrs(set: (key: string, value: Buffer) => void, xattrs: Meta["xattrs"], rel: string): void {
    for (const [key, value] of xattrs) {
      if (isReservedXattr(key)) {
        this.opts.onSkip(`xattr ${key} on ${sys.show(rel)} (reserved for overlay metadata)`)
        continue
      }
      try {
        set(key, value)
      } catch (e) {
        const code = codeOf(e)
        if (code === "EOPNOTSUPP" || code === "ENOTSUP" || (code === "EPERM" && !this.opts.privileged)) {
          this.opts.onSkip(`xattr ${key} on ${sys.show(rel)} (${code})`)
        } else throw e
      }
    }
  }

  /** Ownership, mode, xattrs, times on an open fd, in the order that keeps each (chown clears setuid and caps). */
  private applyFd(fd: number, rel: string, meta: Meta, withModeAndTime: boolean): void {
    const what = sys.show(rel)
    if (this.opts.privileged) sys.fchown(fd, meta.uid, meta.gid, what)
    if (withModeAndTime) sys.fchmod(fd, meta.mode, what)
    this.setXattrs((k, v) => sys.fsetxattr(fd, k, v, what), meta.xattrs, rel)
    if (withModeAndTime) sys.futimens(fd, meta.mtimeNs, what)
  }

  /** Same for an entry that must not be opened (symlink, device, fifo). */
  private applyAt(rel: string, meta: Meta, chmod: boolean): void {
    const { base, fd } = this.parentOf(rel)
    if (this.opts.privileged) sys.fchownat(fd, base, meta.uid, meta.gid)
    if (chmod) sys.fchmodat(fd, base, meta.mode)
    this.setXattrs((k, v) => sys.lsetxattrAt(fd, base, k, v), meta.xattrs, rel)
    sys.utimensatNoFollow(fd, base, meta.mtimeNs)
  }

  private openExisting(rel: string): number {
    const dirfd = this.openDir(rel, true)
    try {
      return sys.openat2(dirfd, ".", sys.O_RDONLY | sys.O_DIRECTORY, 0, sys.RESOLVE_CONFINED)
    } finally {
      sys.close(dirfd)
    }
  }

  /**
   * A directory. Replacing a whiteout of this same layer (`.wh.d` then `d/`) it becomes opaque: the
   * whiteout still hides the lower layers' `d`, and only this layer's contents show.
   */
  mkdir(rel: string, meta: Meta): void {
    const { replacedWhiteout } = rel === ""
      ? { replacedWhiteout: false }
      : this.replace(rel, true, (fd, base) => sys.mkdirat(fd, base, 0o700))
    const fd = this.openExisting(rel)
    try {
      this.applyFd(fd, rel, meta, false)
      if (replacedWhiteout) sys.fsetxattr(fd, OPAQUE_XATTR, Buffer.from("y"), sys.show(rel))
    } finally {
      sys.close(fd)
    }
    this.dirMeta.set(rel, meta)
  }

  /** Creates a regular file and returns its fd for writing; call `closeFile` after the data. */
  createFile(rel: string): number {
    let out = -1
    this.replace(rel, false, (fd, base) => {
      out = sys.openat2(fd, base, sys.O_WRONLY | sys.O_CREAT | sys.O_EXCL | sys.O_NOFOLLOW, 0o600, sys.RESOLVE_CONFINED)
    })
    return out
  }

  closeFile(fd: number, rel: string, meta: Meta): void {
    try {
      this.applyFd(fd, rel, meta, true)
    } finally {
      sys.close(fd)
    }
  }

  symlink(rel: string, target: string, meta: Meta): void {
    this.replace(rel, false, (fd, base) => sys.symlinkat(target, fd, base))
    this.applyAt(rel, { ...meta, xattrs: meta.xattrs.filter(([k]) => !k.startsWith("user.")) }, false)
  }

  /** A hard link to `target`, an entry already in this layer reached without symlinks. */
  hardlink(rel: string, target: string): void {
    if (rel === target) return
    if (target === "") throw new Refusal("Hostile", "hard link to the layer root")
    const t = splitParent(target)
    let tdir: number
    try {
      tdir = this.openDir(t.parent, false)
    } catch (e) {
      if (codeOf(e) === ENOENT) throw new Refusal("Corrupt", `hard link target "${sys.show(target)}" does not exist`)
      throw e
    }
    try {
      const st = this.lstatAt(tdir, t.base)
      if (st === undefined) throw new Refusal("Corrupt", `hard link target "${sys.show(target)}" does not exist`)
      if (st.isDirectory()) throw new Refusal("Corrupt", `hard link target "${sys.show(target)}" is a directory`)
      if (isWithin(target, rel)) {
        throw new Refusal("Corrupt", `hard link "${sys.show(rel)}" would replace its own target`)
      }
      this.replace(rel, false, (fd, base) => sys.linkat(tdir, t.base, fd, base))
    } finally {
      sys.close(tdir)
    }
  }

  /** Character/block device or fifo. Devices need CAP_MKNOD: skipped (and reported) without it. */
  node(rel: string, kind: "char" | "block" | "fifo", major: number, minor: number, meta: Meta): void {
    if (kind !== "fifo" && !this.opts.privileged) {
      this.opts.onSkip(`${kind} device ${sys.show(rel)} (needs root)`)
      return
    }
    const type = kind === "char" ? sys.S_IFCHR : kind === "block" ? sys.S_IFBLK : sys.S_IFIFO
    const dev = kind === "fifo" ? 0n : sys.makedev(major, minor)
    this.replace(rel, false, (fd, base) => sys.mknodat(fd, base, type | 0o600, dev))
    this.applyAt(rel, meta, true)
  }

  /**
   * `.wh.<name>` → an overlayfs whiteout (char 0/0) named `<name>`. A whiteout only hides lower
   * layers (OCI image spec): an entry this layer already wrote stays; if it is a directory it
   * becomes opaque, any other entry hides the lower ones by itself.
   */
  whiteout(rel: string, uid: number, gid: number): void {
    if (rel === "") throw new Refusal("Corrupt", "whiteout of the layer root")
    const { base, fd } = this.parentOf(rel)
    try {
      sys.mknodat(fd, base, sys.S_IFCHR, 0n)
    } catch (e) {
      if (codeOf(e) !== EEXIST) throw e
      if (this.lstatAt(fd, base)?.isDirectory()) this.opaque(rel)
      return
    }
    if (this.opts.privileged) sys.fchownat(fd, base, uid, gid)
  }

  /** `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory (created if the archive had not yet). */
  opaque(dirRel: string): void {
    const fd = this.openExisting(dirRel)
    try {
      sys.fsetxattr(fd, OPAQUE_XATTR, Buffer.from("y"), sys.show(dirRel))
    } finally {
      sys.close(fd)
    }
  }

  /** Applies deferred directory modes and times, deepest first, then releases fds. */
  finish(): void {
    this.dropCache()
    const dirs = [...this.dirMeta.entries()].sort(([a], [b]) => b.length - a.length)
    for (const [rel, meta] of dirs) {
      const fd = this.openExisting(rel)
      try {
        sys.fchmod(fd, meta.mode, sys.show(rel))
        sys.futimens(fd, meta.mtimeNs, sys.show(rel))
      } finally {
        sys.close(fd)
      }
    }
  }

  close(): void {
    this.dropCache()
  }
}
