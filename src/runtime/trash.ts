/**
 * A trash, `<root>/trash/`: the run root's for run dirs, the data dir's for writable layers
 * (layout.ts; a rename cannot cross file systems). A torn-down run dir is renamed into it (one rename on
 * the same file system: microseconds, where removing a run dir's few dozen entries took 3-10 ms of
 * every stop) and removed there in the background, on a worker thread (trashWorker.ts: never
 * through a symlink or a mount). The rename is atomic: a reader of `run/` (the
 * CLI, `lookup.ts`, `leftovers`) sees the whole dir or none of it, never a half-removed one, and a
 * new run of the same pod can begin at once.
 *
 * Nothing is lost by a crash between the rename and the removal: the trash holds only dirs whose
 * run was undone, and it is emptied when the runtime starts, shortly after each discard (one
 * removal for what a burst of stops discarded), and when it closes.
 */
import { Duration, Effect, FiberSet, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeTrashRemover } from "./trashWorker.js"

export interface Trash {
  /** Move `dir` out of its place now (gone from there when this returns); its removal follows. */
  readonly discard: (dir: string) => Effect.Effect<void>
  /** Remove everything in the trash now (after a removal already under way). */
  readonly empty: Effect.Effect<void>
}

export const trashDir = (root: string) => path.join(root, "trash")

/**
 * How long a removal waits, gathering what else is discarded meanwhile. Removing at once ran each
 * stop's removal (a few dozen syscalls through libuv's pool, and their callbacks on the agent's
 * thread) into the next start on a busy 2-core machine: back-to-back starts got slower than the
 * removal saved. One removal per batch touches at most one start of a burst.
 */
const SWEEP_DELAY = Duration.millis(250)

const errno = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code

/**
 * Remove a run dir (or a trash entry) in place, now. The one removal of an undone run's dir, with
 * or without a trash. A failure is logged, not raised: the dir holds only a run that was already
 * undone (no data of a live pod), and it is found again as a leftover or by the next emptying.
 */
export const removeRunDir = (dir: string): Effect.Effect<void> =>
  Effect.tryPromise(() => fs.promises.rm(dir, { recursive: true, force: true })).pipe(
    Effect.catchAll((e) => Effect.logWarning(`cannot remove the run dir ${dir}: ${String(e.cause)}`))
  )

/**
 * The trash of `root` (a run root or a data dir) for the scope's lifetime: emptied in the background at once (what an
 * agent killed mid-removal left), and before the scope's end (a closed runtime leaves none).
 */
export const makeTrash = (root: string): Effect.Effect<Trash, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = trashDir(root)
    const lock = yield* Effect.makeSemaphore(1)
    // On a worker thread (trashWorker.ts): removing here cost the agent's thread ~3 ms per run dir.
    // Made before the fibers' set: closed after them, so no emptying outlives its worker.
    const remover = yield* makeTrashRemover()
    const fibers = yield* FiberSet.make()
    let seq = 0
    /** An emptying waits already: a burst of stops queues one, not one each. */
    let queued = false

    const empty = lock.withPermits(1)(Effect.suspend(() => {
      queued = false
      // Nothing to remove (most starts, and every close after the last emptying): no worker started.
      try {
        if (fs.readdirSync(dir).length === 0) return Effect.void
      } catch (e) {
        if (errno(e) === "ENOENT") return Effect.void // else the worker lists it and reports why not
      }
      return remover.empty(dir).pipe(
        Effect.flatMap((failures) =>
          Effect.forEach(failures, (f) => Effect.logWarning(`cannot remove ${f.path} from the trash: ${f.error}`), {
            discard: true
          })
        ),
        // What it did not remove stays in the trash for the next emptying (a new worker), or the next
        // runtime's: never lost, and said loudly.
        Effect.catchTag("TrashWorkerFailed", (e) =>
          Effect.logError(`the trash's remover failed, ${e.dir} is left for the next emptying: ${e.reason}`))
      )
    }))

    const emptyLater = Effect.suspend(() => {
      if (queued) {
        return Effect.void
      }
      queued = true
      return Effect.asVoid(FiberSet.run(fibers, Effect.zipRight(Effect.sleep(SWEEP_DELAY), empty)))
    })

    const discard = (run: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const target = path.join(dir, `${path.basename(run)}.${process.pid}.${Date.now()}.${seq++}`)
        try {
          fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
          fs.renameSync(run, target)
        } catch (e) {
          if (errno(e) === "ENOENT" && !fs.existsSync(run)) {
            return Effect.void
          }
          // Another file system (EXDEV) or a trash that cannot be made: removed in place, as before.
          return removeRunDir(run)
        }
        return emptyLater
      })

    // Closed: whatever is in the trash goes first (the fibers' set, made before, is closed after).
    yield* Effect.addFinalizer(() =>
      empty
    )
    yield* emptyLater
    return { discard, empty }
  })
