/**
 * Removing a pod sandbox's namespace pins from Node (umount2 through the `Libc` service), the same
 * steps as `tank-helper sandbox-remove` without spawning a process: detach each pin, unlink it,
 * detach the directory's self-bind, remove it. Idempotent; missing parts are fine.
 */
import { Data, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Libc, type LibcError, MNT_DETACH } from "../host/libc.js"

const mountPoints = (): Set<string> =>
  new Set(
    fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) =>
      (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    )
  )

export class UnpinError extends Data.TaggedError("UnpinError")<{ readonly path: string; readonly message: string }> {}

const io = <A>(p: string, f: () => A): Effect.Effect<A, UnpinError> =>
  Effect.try({ try: f, catch: (e) => new UnpinError({ path: p, message: String(e) }) })

const unmountFailed = (p: string) => (e: LibcError) => new UnpinError({ path: p, message: `unmount: ${e.code}` })

/** The removal on whatever libc the context provides (tests script its failures). */
export const unpin = (dir: string): Effect.Effect<void, UnpinError, Libc> =>
  Effect.gen(function*() {
    const libc = yield* Libc
    if (!(yield* io(dir, () => fs.existsSync(dir)))) return
    // "user" last: the others were made inside it (hostUsers: false). Before the teardown reported
    // its failures, a forgotten user pin went unnoticed (and stayed mounted).
    for (const ns of ["net", "uts", "ipc", "user"]) {
      const p = path.join(dir, ns)
      // EINVAL: not a mount point (never pinned, or detached already); ENOENT: not there at all.
      yield* libc.umount2(p, MNT_DETACH).pipe(
        Effect.catchIf((e) => e.code === "EINVAL" || e.code === "ENOENT", () => Effect.void),
        Effect.mapError(unmountFailed(p))
      )
      yield* io(p, () => fs.rmSync(p, { force: true }))
    }
    for (let i = 0; i < 8 && (yield* io(dir, mountPoints)).has(dir); i++) {
      yield* libc.umount2(dir, MNT_DETACH).pipe(Effect.mapError(unmountFailed(dir)))
    }
    yield* io(dir, () => fs.rmdirSync(dir))
  })

export const unpinSandbox = (dir: string): Effect.Effect<void, UnpinError> => unpin(dir).pipe(Effect.provide(Libc.Live))
