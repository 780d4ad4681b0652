/**
 * Change notification for a SQLite file written by other processes, without polling: an inotify
 * watch (fs.watch) on the database's directory, filtered to the database file and its WAL. Every
 * commit by any process writes the WAL (or, out of WAL mode, the file), so a watcher hears of it at
 * once; it then asks SQLite (`PRAGMA data_version`) whether anything really changed.
 *
 * Why the directory and not the WAL itself: SQLite deletes and recreates `-wal` (last connection
 * closing, checkpoints with truncate), and a watch on a file follows its inode, not its name.
 * Why a trailing nudge: a commit writes its WAL frames *before* it publishes them in the shared
 * wal-index, so a check racing the write can see no change; one more nudge shortly after the last
 * write of a burst closes that window. The caller keeps a slow poll as a fallback for whatever this
 * cannot see (a watch that could not be set up, inotify queue overflow, network filesystems).
 */
import { Effect, Queue, Runtime, type Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

/** How long after the last write of a burst the trailing nudge comes. */
const TRAILING_MS = 10

/** The names in the database's directory whose modification means "another commit may exist". */
export const watchedNames = (dbFile: string): ReadonlySet<string> => {
  const base = path.basename(dbFile)
  return new Set([base, `${base}-wal`])
}

/**
 * A stream of nudges, one (at least) per burst of writes to `dbFile` by any process, set up in the
 * current scope right away (so writes after this returns are never missed). When the watch cannot
 * be set up, the stream is empty and `watching` is false: the caller polls faster instead.
 */
export const writeNudges = (
  dbFile: string
): Effect.Effect<{ readonly nudges: Stream.Stream<void>; readonly watching: boolean }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.sliding<void>(1)
    yield* Effect.addFinalizer(() => Queue.shutdown(queue))
    const names = watchedNames(dbFile)
    let trailing: NodeJS.Timeout | undefined
    const nudge = () => {
      queue.unsafeOffer(undefined)
      if (trailing) trailing.refresh()
      else trailing = setTimeout(() => (trailing = undefined, queue.unsafeOffer(undefined)), TRAILING_MS).unref()
    }
    const watcher = yield* Effect.acquireRelease(
      Effect.try(() =>
        fs.watch(path.dirname(dbFile), { persistent: false }, (_event, name) => {
          // No name (overflow, or a kernel that omits it): something changed, check.
          if (name === null || names.has(name)) nudge()
        })
      ),
      (w) =>
        Effect.sync(() => {
          w.close()
          if (trailing) clearTimeout(trailing)
        })
    ).pipe(
      Effect.tapError((e) =>
        Effect.logWarning(`store: cannot watch ${path.dirname(dbFile)} for writes (${e.message}); polling instead`)
      ),
      Effect.option
    )
    if (watcher._tag === "None") return { nudges: Stream.empty, watching: false }
    // A watch that dies later (the directory removed, ...) leaves the poll to carry on; say so once.
    const runtime = yield* Effect.runtime<never>()
    watcher.value.on("error", (e) => {
      Runtime.runFork(runtime)(Effect.logWarning(`store: write watch on ${dbFile} failed (${e.message}); polling`))
    })
    return { nudges: Stream.fromQueue(queue), watching: true }
  })
