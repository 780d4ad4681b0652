/**
 * The run root (layout.ts `runRootOf`): where a data dir's runs keep their state, on a tmpfs.
 *
 * crun, runc and containerd keep theirs under /run, which systemd mounts as a tmpfs; on a host whose
 * /run is on disk (this VM's is ext4), a tmpfs of Tank's own is mounted on the run root: 64 MiB,
 * `nosuid,nodev,noexec`, mode 0700 (a run's state is a few KiB; tmpfs volumes and the pods'
 * writable layers are elsewhere). What it holds describes kernel objects (namespaces, monitors,
 * mounts) that a reboot ends as well, so losing it at a reboot loses nothing; an agent that exits or
 * dies leaves it mounted for the next one (live restore).
 *
 * Let go at the runtime's end only when no run is left in it: the tmpfs Tank mounted is unmounted
 * and the dirs removed (then /run/tank when empty). Several runtimes of one data dir in a process
 * (tests, a sweep beside an agent) share it: the last one out lets it go.
 */
import { Effect, Schema, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseMountinfo } from "../cgroups/mountinfo.js"
import { errno, errnoName, libc, MS_NODEV, MS_NOSUID } from "../host/libc.js"
import { runRootOf } from "./layout.js"
import { removeRunRootDir } from "./runRootDir.js"

const TMPFS_MAGIC = 0x01021994
const MS_NOEXEC = 8
/** The mount's source, as mountinfo shows it: how a let-go tells Tank's tmpfs from the host's. */
export const RUN_ROOT_SOURCE = "tank-run"
const SIZE = "64m"

/** The run root could not be made ready: a link or someone else's dir there, or no tmpfs could be mounted. */
export class RunRootFailed extends Schema.TaggedError<RunRootFailed>()("RunRootFailed", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `the run root ${this.path} cannot be used: ${this.reason}`
  }
}

/** Runtimes of this process holding each run root. */
const holders = new Map<string, number>()

/** Whether `dir` is the mount point of Tank's tmpfs. */
const ownTmpfsAt = (dir: string): boolean =>
  parseMountinfo(fs.readFileSync("/proc/self/mountinfo", "utf8")).some((m) =>
    m.mountPoint === dir && m.fsType === "tmpfs" && m.source === RUN_ROOT_SOURCE
  )

/** A dir of root's (or this user's) own, not a link: /run/tank is shared by every data dir. */
const ownDir = (dir: string) => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = fs.lstatSync(dir)
  if (!st.isDirectory()) throw new Error("not a directory")
  if (st.uid !== process.geteuid?.()) throw new Error(`owned by uid ${st.uid}, not by this user`)
  if ((st.mode & 0o022) !== 0) throw new Error(`writable by others (mode ${(st.mode & 0o777).toString(8)})`)
}

const isEmptyDir = (dir: string) => {
  try {
    return fs.readdirSync(dir).length === 0
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT"
  }
}

const acquire = (root: string): Effect.Effect<void, RunRootFailed> =>
  Effect.try({
    try: () => {
      const held = holders.get(root) ?? 0
      if (held === 0) {
        ownDir(path.dirname(root))
        ownDir(root)
        if (fs.statfsSync(root).type !== TMPFS_MAGIC) {
          const flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
          if (libc.mount(RUN_ROOT_SOURCE, root, "tmpfs", flags, `mode=0700,size=${SIZE}`) < 0) {
            throw new Error(`mount a tmpfs: ${errnoName(errno())}`)
          }
        }
      }
      holders.set(root, held + 1)
    },
    catch: (e) => new RunRootFailed({ path: root, reason: e instanceof Error ? e.message : String(e) })
  })

/** The last holder out: unmount Tank's tmpfs and remove the dirs, unless a run is still in there. */
const release = (root: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    const held = (holders.get(root) ?? 1) - 1
    if (held > 0) {
      holders.set(root, held)
      return Effect.void
    }
    holders.delete(root)
    // A run left running (live restore), or one an undo could not finish: its state stays.
    if (!isEmptyDir(path.join(root, "run")) || !isEmptyDir(path.join(root, "trash"))) return Effect.void
    try {
      // Not detached: something still open in it (it should not be) keeps it, and is said.
      if (ownTmpfsAt(root) && libc.umount2(root, 0) < 0) {
        return Effect.logWarning(`the run root ${root} stays mounted: ${errnoName(errno())}`)
      }
      removeRunRootDir(root)
    } catch (e) {
      return Effect.logWarning(`cannot remove the run root ${root}: ${String(e)}`)
    }
    return Effect.void
  })

/** The run root of `dataDir`, ready for runs for the scope's lifetime. */
export const openRunRoot = (dataDir: string): Effect.Effect<string, RunRootFailed, Scope.Scope> => {
  const root = runRootOf(dataDir)
  return Effect.as(Effect.acquireRelease(acquire(root), () => release(root)), root)
}
