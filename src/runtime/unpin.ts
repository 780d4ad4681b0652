/**
 * Removing a pod sandbox's namespace pins from Node (koffi umount2), the same steps as
 * `tank-helper sandbox-remove` without spawning a process: detach each pin, unlink it, detach the
 * directory's self-bind, remove it. Idempotent; missing parts are fine.
 */
import { Data, Effect } from "effect"
import koffi from "koffi"
import * as fs from "node:fs"
import * as path from "node:path"

const libc = koffi.load("libc.so.6")
const umount2 = libc.func("int umount2(const char *target, int flags)")
const MNT_DETACH = 2
const EINVAL = 22
const ENOENT = 2

const mountPoints = (): Set<string> =>
  new Set(
    fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) =>
      (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    )
  )

export class UnpinError extends Data.TaggedError("UnpinError")<{ readonly path: string; readonly message: string }> {}

export const unpinSandbox = (dir: string): Effect.Effect<void, UnpinError> =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(dir)) return
      // "user" last: the others were made inside it (hostUsers: false). Before the teardown reported
      // its failures, a forgotten user pin went unnoticed (and stayed mounted).
      for (const ns of ["net", "uts", "ipc", "user"]) {
        const p = path.join(dir, ns)
        if (umount2(p, MNT_DETACH) < 0) {
          const errno = koffi.errno()
          if (errno !== EINVAL && errno !== ENOENT) {
            throw new UnpinError({ path: p, message: `unmount: errno ${errno}` })
          }
        }
        fs.rmSync(p, { force: true })
      }
      for (let i = 0; i < 8 && mountPoints().has(dir); i++) {
        if (umount2(dir, MNT_DETACH) < 0) {
          throw new UnpinError({ path: dir, message: `unmount: errno ${koffi.errno()}` })
        }
      }
      fs.rmdirSync(dir)
    },
    catch: (e) => e instanceof UnpinError ? e : new UnpinError({ path: dir, message: String(e) })
  })
