/**
 * The trash's remover: a worker thread that empties `<dataDir>/trash/` (trash.ts) off the agent's
 * thread. Node's `fs.promises.rm` runs its recursion's JS on the calling thread: ~2.9 ms of the
 * agent's thread per run dir, landing inside later starts; `rmSync` was 1.2 ms of CPU but blocked
 * the thread 7-13 ms on a loaded machine. In a worker it costs the agent one message each way.
 *
 * The worker starts at the first emptying, stays while more trash follows (a burst of stops), and
 * exits after `IDLE_MS` without work; the scope's end terminates it. Its code is a plain CommonJS
 * string run with `eval`: the same in the bundle, from source (tsx) and in tests, with no bundle
 * entry of its own and without tsx's loader hooks (`execArgv: []`), which would start it in seconds.
 *
 * Its guarantees are the old removal's and one more: it never follows a symlink (`rmSync` unlinks
 * the link), and it never removes through a mount: an entry with a mount under it (a release that
 * did not undo it, or a file system mounted there by hand) is left in place and reported, since a
 * recursive removal would empty the mounted file system (a volume, an image layer).
 */
import { Effect, Schema, type Scope } from "effect"
import { Worker } from "node:worker_threads"

/** How long an idle worker is kept for the next emptying (a burst's stops come 250 ms apart). */
const IDLE_MS = 5_000

/**
 * The worker's code (CommonJS; `require` only node's own modules). A job `{ id, dir }` removes every
 * entry of `dir` but those with a mount at or under them, and replies `{ id, removed, failures }`.
 * The mounts are read once per job from `/proc/self/mountinfo` (the agent's mount namespace: the
 * worker is a thread of it), mount points being its fifth field with `\\ooo` escapes.
 */
export const TRASH_WORKER_SOURCE = String.raw`"use strict"
const fs = require("node:fs")
const path = require("node:path")
const { parentPort } = require("node:worker_threads")
const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))
const mountsUnder = (dir) =>
  fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")
    .map((line) => line.split(" ")[4])
    .filter((m) => m !== undefined)
    .map(unescape)
    .filter((m) => m.startsWith(dir + "/"))
parentPort.on("message", ({ id, dir }) => {
  const failures = []
  let removed = 0
  let entries = []
  try {
    entries = fs.readdirSync(dir)
  } catch (e) {
    if (e.code !== "ENOENT") failures.push({ path: dir, error: "cannot list it: " + String(e) })
  }
  let mounts = []
  if (entries.length > 0) {
    try {
      mounts = mountsUnder(fs.realpathSync(dir))
    } catch (e) {
      failures.push({ path: dir, error: "cannot tell the mounts under it, nothing removed: " + String(e) })
      entries = []
    }
  }
  const real = entries.length > 0 ? fs.realpathSync(dir) : dir
  for (const name of entries) {
    const entry = path.join(real, name)
    const mount = mounts.find((m) => m === entry || m.startsWith(entry + "/"))
    if (mount !== undefined) {
      failures.push({ path: entry, error: "a mount is left at " + mount + ": not removed through it" })
      continue
    }
    try {
      fs.rmSync(entry, { recursive: true, force: true })
      removed++
    } catch (e) {
      failures.push({ path: entry, error: String(e) })
    }
  }
  parentPort.postMessage({ id, removed, failures })
})
`

/** The worker's reply to one job: decoded, as anything a thread sends (a bad one is a defect). */
export const Reply = Schema.Struct({
  id: Schema.Number,
  removed: Schema.Number,
  failures: Schema.Array(Schema.Struct({ path: Schema.String, error: Schema.String }))
})
export type Reply = typeof Reply.Type

/** The worker died, exited or could not start: the job's entries are still in the trash. */
export class TrashWorkerFailed extends Schema.TaggedError<TrashWorkerFailed>()("TrashWorkerFailed", {
  dir: Schema.String,
  reason: Schema.String
}) {}

export interface TrashRemover {
  /** Remove every entry of `dir` on the worker; what could not be removed, per entry. */
  readonly empty: (dir: string) => Effect.Effect<Reply["failures"], TrashWorkerFailed>
  /** Whether a worker thread runs now (none before the first emptying, nor once idle for `idleMs`). */
  readonly running: Effect.Effect<boolean>
}

export interface TrashRemoverOptions {
  /** How long an idle worker is kept (default 5 s). */
  readonly idleMs?: number
  /** The worker's code (default TRASH_WORKER_SOURCE; tests wrap it to make a worker die). */
  readonly source?: string
}

interface Waiting {
  readonly dir: string
  readonly resume: (e: Effect.Effect<Reply["failures"], TrashWorkerFailed>) => void
}

/** The remover for the scope's lifetime: its worker (when one runs) is terminated at the end. */
export const makeTrashRemover = (
  { idleMs = IDLE_MS, source = TRASH_WORKER_SOURCE }: TrashRemoverOptions = {}
): Effect.Effect<TrashRemover, never, Scope.Scope> =>
  Effect.gen(function*() {
    let worker: Worker | undefined
    let idle: NodeJS.Timeout | undefined
    let nextId = 0
    let closed = false
    const waiting = new Map<number, Waiting>()

    /** Every job waiting fails with `reason`; the worker is dropped (the next job starts another). */
    const lost = (w: Worker, reason: string) => {
      if (worker !== w) return
      worker = undefined
      if (idle !== undefined) clearTimeout(idle)
      for (const [id, job] of waiting) {
        waiting.delete(id)
        job.resume(Effect.fail(new TrashWorkerFailed({ dir: job.dir, reason })))
      }
    }

    const start = (): Worker => {
      const w = new Worker(source, { eval: true, execArgv: [], env: {}, stdout: false, stderr: false })
      w.on("message", (m: unknown) => {
        const reply = Schema.decodeUnknownEither(Reply)(m)
        if (reply._tag === "Left") return lost(w, `bad reply: ${reply.left.message}`)
        const job = waiting.get(reply.right.id)
        waiting.delete(reply.right.id)
        settle(w)
        job?.resume(Effect.succeed(reply.right.failures))
      })
      w.on("error", (e) => lost(w, `died: ${String(e)}`))
      w.on("exit", (code) => lost(w, `exited (${code})`))
      return w
    }

    /** Idle: the worker keeps no agent alive and exits after IDLE_MS unless a job comes first. */
    const settle = (w: Worker) => {
      if (waiting.size > 0) return
      w.unref()
      idle = setTimeout(() => {
        if (worker !== w || waiting.size > 0) return
        worker = undefined
        void w.terminate()
      }, idleMs)
      idle.unref()
    }

    const empty = (dir: string) =>
      Effect.async<Reply["failures"], TrashWorkerFailed>((resume) => {
        if (closed) return resume(Effect.fail(new TrashWorkerFailed({ dir, reason: "the runtime closed" })))
        try {
          worker ??= start()
        } catch (e) {
          return resume(Effect.fail(new TrashWorkerFailed({ dir, reason: `cannot start: ${String(e)}` })))
        }
        if (idle !== undefined) clearTimeout(idle)
        idle = undefined
        worker.ref()
        const id = nextId++
        waiting.set(id, { dir, resume })
        worker.postMessage({ id, dir })
        // Interrupted: the job runs on (the worker cannot be stopped mid-removal); its reply is dropped.
        return Effect.sync(() => waiting.delete(id))
      })

    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        closed = true
        const w = worker
        if (w === undefined) return
        lost(w, "the runtime closed") // nothing waits past the scope
        await w.terminate()
      })
    )
    return { empty, running: Effect.sync(() => worker !== undefined) }
  })
