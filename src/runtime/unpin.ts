/**
 * Removing a pod sandbox's namespace pins from Node (umount2 through the `Libc` service), the same
 * result as `tank-helper sandbox-remove` without spawning a process. The directory's self-bind is
 * detached first, taking the pins mounted inside it along in one `umount2` (each umount that
 * removes mounts waits for an RCU grace period: one instead of four, several ms on a busy machine);
 * then each pin is detached on its own if it still is a mount (a dir without its self-bind),
 * unlinked, and the directory removed. Idempotent; missing parts are fine.
 */
import { Data, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Libc, type LibcError, MNT_DETACH } from "../host/libc.js"

export class UnpinError extends Data.TaggedError("UnpinError")<{ readonly path: string; readonly message: string }> {}

const io = <A>(p: string, f: () => A): Effect.Effect<A, UnpinError> =>
  Effect.try({ try: f, catch: (e) => new UnpinError({ path: p, message: String(e) }) })

const unmountFailed = (p: string) => (e: LibcError) => new UnpinError({ path: p, message: `unmount: ${e.code}` })

/** EINVAL: not a mount point (never pinned, or detached already); ENOENT: not there at all. */
const notMounted = (e: LibcError) => e.code === "EINVAL" || e.code === "ENOENT"

/**
 * Unmount the dir's self-bind and each pin; with `remove`, each pin file once it is unmounted and
 * the dir at the end. Without it the pins and the dir stay as plain files for whoever removes the
 * dir around them (a pod's teardown removes the run dir the sandbox is in, off the stop's path).
 */
const release = (dir: string, remove: boolean): Effect.Effect<void, UnpinError, Libc> =>
  Effect.gen(function*() {
    const libc = yield* Libc
    // The self-bind and everything mounted below it, until the dir is no mount point (a sandbox
    // made twice over the same dir stacks binds: at most a few).
    for (let i = 0; i < 8; i++) {
      const gone = yield* libc.umount2(dir, MNT_DETACH).pipe(
        Effect.as(false),
        Effect.catchIf(notMounted, () => Effect.succeed(true)),
        Effect.mapError(unmountFailed(dir))
      )
      if (gone) break
    }
    // "user" last: the others were made inside it (hostUsers: false). Before the teardown reported
    // its failures, a forgotten user pin went unnoticed (and stayed mounted).
    for (const ns of ["net", "uts", "ipc", "user"]) {
      const p = path.join(dir, ns)
      yield* libc.umount2(p, MNT_DETACH).pipe(
        Effect.catchIf(notMounted, () => Effect.void),
        Effect.mapError(unmountFailed(p))
      )
      if (remove) yield* io(p, () => fs.rmSync(p, { force: true }))
    }
    if (remove) yield* io(dir, () => fs.rmdirSync(dir))
  })

/** The removal on whatever libc the context provides (tests script its failures). */
export const unpin = (dir: string): Effect.Effect<void, UnpinError, Libc> =>
  Effect.flatMap(io(dir, () => fs.existsSync(dir)), (exists) => exists ? release(dir, true) : Effect.void)

/** The unmounting alone (idempotent: a dir or pin not there is fine); the files stay. */
export const detach = (dir: string): Effect.Effect<void, UnpinError, Libc> => release(dir, false)

export const unpinSandbox = (dir: string): Effect.Effect<void, UnpinError> => unpin(dir).pipe(Effect.provide(Libc.Live))

/**
 * A pod's teardown: the namespaces let go, the files left to the run dir's removal, which the
 * runner does after every release succeeded (renamed into the trash, removed there off the stop's
 * path). The rmdir alone took 0.2-3.5 ms (median of 30: 3.45 ms) of every stop on this VM's ext4
 * at load 10, the unlinks ~0.25 ms. A release that fails keeps the run dir, as before.
 */
export const detachSandbox = (dir: string): Effect.Effect<void, UnpinError> =>
  detach(dir).pipe(Effect.provide(Libc.Live))
