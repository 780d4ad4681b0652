/**
 * Pieces both drivers share: undoing a half-done create, and the scoped `create` built from
 * `ensure` + `remove`.
 */
import { Effect } from "effect"
import type { CgroupFs } from "./fs.js"
import type { CgroupError, CgroupHandle, CgroupLimits, CgroupPath, CreateOptions, RemoveOptions } from "./model.js"

/**
 * Runs `body` with a list it appends every directory it creates to. If `body` fails, exactly
 * those directories are removed again (deepest first, best effort), so a failed create leaves
 * nothing behind and never touches a group that existed before (a re-adopted running pod).
 */
export const undoOnFailure = <A>(
  fs: CgroupFs,
  body: (created: Array<string>) => Effect.Effect<A, CgroupError>
): Effect.Effect<A, CgroupError> =>
  Effect.suspend(() => {
    const created: Array<string> = []
    return body(created).pipe(
      Effect.tapError(() =>
        Effect.forEach(
          [...created].sort((a, b) => b.length - a.length),
          (dir) => Effect.ignore(fs.rmdir(dir)),
          { discard: true }
        )
      )
    )
  })

/**
 * `create` = `ensure` now, `remove` when the scope closes. A failed removal is logged, not
 * raised: it must not replace the way the workload ended, and the agent's sweeper retries it.
 */
export const scopedCreate = (
  ensure: (path: CgroupPath, limits?: CgroupLimits) => Effect.Effect<CgroupHandle, CgroupError>,
  remove: (path: CgroupPath, options?: RemoveOptions) => Effect.Effect<void, CgroupError>
) =>
(path: CgroupPath, limits?: CgroupLimits, options?: CreateOptions) =>
  Effect.acquireRelease(ensure(path, limits), () =>
    remove(path, { force: options?.force ?? true }).pipe(
      Effect.catchAll((e) => Effect.logWarning(`cgroup ${path.pod}/${path.container ?? ""} left behind: ${e.message}`))
    ))
