/**
 * What a pod's volumes need beyond a directory: tmpfs volumes (Kubernetes' emptyDir with medium
 * Memory) and the fsGroup ownership of volumes.
 *
 * A tmpfs volume is mounted by the agent on the host, under the pod's run dir, before any container
 * starts: each container has a mount namespace of its own (cloned from the host's), so one tmpfs
 * bound into all of them is how they share it. It lives as long as the run: unmounted (detached)
 * before the run dir is removed, also by a sweep of a run a dead agent left.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { errno, errnoName, libc, MNT_DETACH, MS_NODEV, MS_NOSUID } from "../host/libc.js"

/** Where a pod run's tmpfs volumes are mounted. */
export const tmpfsRoot = (runDir: string) => path.join(runDir, "tmpfs")

/** Mount points in this mount namespace under `dir` (mountinfo's octal escapes decoded). */
const mountsUnder = (dir: string): Array<string> =>
  fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) =>
    (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
  ).filter((p) => p.startsWith(dir + "/"))

/**
 * A fresh tmpfs at `<run>/tmpfs/<name>`, `nosuid,nodev`, owned by the pod's root (its host ids in a
 * user namespace). Returns the mount point.
 */
export const mountTmpfs = (
  runDir: string,
  name: string,
  options: { readonly size?: number | undefined; readonly uid: number; readonly gid: number }
): string => {
  const dir = path.join(tmpfsRoot(runDir), name)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const data = [`mode=0755`, `uid=${options.uid}`, `gid=${options.gid}`]
  if (options.size !== undefined) data.push(`size=${options.size}`)
  if (libc.mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, data.join(",")) < 0) {
    throw new Error(`mount a tmpfs on ${dir}: ${errnoName(errno())}`)
  }
  return dir
}

/** The mount point of a run's tmpfs volume when it is mounted already. */
export const tmpfsMounted = (runDir: string, name: string): string | undefined => {
  const dir = path.join(tmpfsRoot(runDir), name)
  return mountsUnder(tmpfsRoot(runDir)).includes(dir) ? dir : undefined
}

/** A container gid as the host sees it (in a user namespace: within the pod's range). */
export const hostGid = (gid: number, ids: { readonly hostGid: number } | undefined): number =>
  ids ? ids.hostGid + gid : gid

/**
 * Detach every tmpfs of a run (idempotent; nothing mounted is fine). Must precede removing the run
 * dir: a recursive removal would empty a mounted volume and then fail on its mount point, so a
 * failure here fails (the run's undo keeps the run dir and says why).
 */
export const unmountTmpfs = (runDir: string): Effect.Effect<void, Error> =>
  Effect.suspend(() => {
    const root = tmpfsRoot(runDir)
    if (!fs.existsSync(root)) return Effect.void
    const failures: Array<string> = []
    // Deepest first: nothing of Tank's is mounted inside a volume, but a stack is undone top down.
    for (const p of mountsUnder(root).sort().reverse()) {
      if (libc.umount2(p, MNT_DETACH) < 0) failures.push(`${p}: ${errnoName(errno())}`)
    }
    return failures.length === 0
      ? Effect.void
      : Effect.fail(new Error(`tmpfs volumes not unmounted: ${failures.join("; ")}`))
  })

/**
 * Kubernetes' fsGroup ownership (pkg/volume/volume_linux.go): every file and directory of the
 * volume gets group `gid`, group read-write (and x on directories, which also get the setgid bit,
 * so what is created later inherits the group). Symlinks are re-grouped without following them.
 */
export const applyFsGroup = (root: string, gid: number): void => {
  const visit = (p: string) => {
    const st = fs.lstatSync(p)
    fs.lchownSync(p, st.uid, gid)
    if (st.isSymbolicLink()) return
    const mask = st.isDirectory() ? 0o2770 : 0o660
    fs.chmodSync(p, (st.mode & 0o7777) | mask)
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p)) visit(path.join(p, e))
    }
  }
  visit(root)
}
