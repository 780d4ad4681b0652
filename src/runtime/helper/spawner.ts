/**
 * The agent's spawner (`tank-helper spawner`, PROTOCOL.md §14): one small helper process kept for
 * the agent's lifetime that forks the one-shot modes (monitor start, sandbox) on request. Node
 * spawning the helper itself forks the whole agent (~250 MB of page tables) and execs: several
 * milliseconds per call, twice per pod start; a fork of the spawner is well under one.
 *
 * `runLine` has the shape of `runForLine` (exec.ts): the child's first stdout line and its status.
 * A spawner that died (killed, OOM) is started again at the next call; calls in flight when it died
 * fail with HelperProtocolError (what they started may have run: their undo finds it by name).
 */
import { Effect, Runtime, Schema } from "effect"
import type { Scope } from "effect"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { helperPath } from "./binary.js"
import { HelperProtocolError } from "./errors.js"
import type { LineResult } from "./exec.js"
import { lineSplitter } from "./lines.js"
import { HelperErrorInfo } from "./schema.js"

export type RunLine = (
  helper: string,
  args: ReadonlyArray<string>
) => Effect.Effect<LineResult, HelperProtocolError>

const SpawnerReply = Schema.Union(
  Schema.Struct({
    id: Schema.Int,
    status: Schema.NullOr(Schema.Int),
    signal: Schema.NullOr(Schema.Int),
    out: Schema.String
  }),
  Schema.Struct({ id: Schema.Int, error: HelperErrorInfo })
)
type SpawnerReply = typeof SpawnerReply.Type
const decodeReply = Schema.decodeUnknownEither(Schema.parseJson(SpawnerReply))

type Waiter = (r: Effect.Effect<LineResult, HelperProtocolError>) => void

/** The first stdout line, as `runForLine` gives it (a request refused by the spawner: its error line). */
export const lineOf = (r: SpawnerReply): LineResult =>
  "error" in r
    ? { line: JSON.stringify({ error: r.error }), code: 125, stderr: "" }
    : { line: r.out.split("\n")[0] ?? "", code: r.status, stderr: "" }

class Process {
  private nextId = 1
  private readonly lines = lineSplitter()
  private readonly waiters = new Map<number, Waiter>()
  private gone: string | undefined
  readonly child: ChildProcessWithoutNullStreams

  constructor(helper: string, pools: SpawnerPools, warn: (message: string) => void) {
    this.child = spawn(helper, [
      "spawner",
      "--sandbox-pool",
      String(pools.sandboxPool),
      ...(pools.monitorPool ? ["--monitor-pool", String(pools.monitorPool)] : [])
    ], { stdio: ["pipe", "pipe", "pipe"] })
    this.child.stdout.setEncoding("utf8").on("data", (d: string) => this.data(d))
    // Only usage errors of the modes go there (their failures are JSON on stdout): said, not dropped.
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => warn(`tank-helper spawner: ${d.trimEnd()}`))
    this.child.stdin.on("error", () => {}) // EPIPE after an exit: the 'close' handler reports it
    this.child.on("error", (e) => this.end(String(e)))
    this.child.on("close", (code, signal) => this.end(`spawner exited (${signal ?? `code ${code}`})`))
  }

  get alive(): boolean {
    return this.gone === undefined
  }

  private data(d: string) {
    for (const line of this.lines(d)) {
      const r = decodeReply(line)
      if (r._tag === "Left") {
        // Not a reply line: nothing can be matched to a request any more.
        this.end(`unreadable reply ${line.slice(0, 200)}`)
        this.child.kill("SIGKILL")
        return
      }
      const w = this.waiters.get(r.right.id)
      this.waiters.delete(r.right.id)
      w?.(Effect.succeed(lineOf(r.right)))
    }
  }

  private end(reason: string) {
    if (this.gone !== undefined) return
    this.gone = reason
    const err = new HelperProtocolError({ expected: "a spawner reply", received: reason })
    for (const w of this.waiters.values()) w(Effect.fail(err))
    this.waiters.clear()
  }

  run(args: ReadonlyArray<string>): Effect.Effect<LineResult, HelperProtocolError> {
    return Effect.async<LineResult, HelperProtocolError>((resume) => {
      if (this.gone !== undefined) {
        return resume(Effect.fail(new HelperProtocolError({ expected: "a spawner reply", received: this.gone })))
      }
      const id = this.nextId++
      this.waiters.set(id, resume)
      this.child.stdin.write(JSON.stringify({ id, argv: args }) + "\n")
      // An interrupted caller stops waiting; what it asked for still runs (its undo finds it by name).
      return Effect.sync(() => this.waiters.delete(id))
    })
  }
}

export interface Spawner {
  readonly runLine: RunLine
  /**
   * Start the process now (an agent does at start-up, so its first pod does not pay Node's spawn);
   * without a built helper nothing happens here: the first call reports it.
   */
  readonly warm: Effect.Effect<void>
}

/**
 * How many sandboxes the spawner keeps made ahead (PROTOCOL.md §14, `--sandbox-pool`): each is a
 * waiting process holding fresh net, uts and ipc namespaces, which a pod's sandbox step (without a
 * user namespace) takes instead of forking a helper that makes them (~1-3 ms of a start's
 * critical path, more on a busy machine). One: a lone start is what waits on it; a burst's starts
 * overlap their sandboxes anyway, and each waiting one holds a process and a network namespace.
 */
export const SANDBOX_POOL = 1

/**
 * How many monitors the spawner keeps exec'd ahead (PROTOCOL.md §14, `--monitor-pool`): each waits
 * for one config path, so a container's start does not wait for the fork, exec and dynamic loading
 * of its monitor (a new process scheduled on a busy machine, too). One, as for sandboxes.
 */
export const MONITOR_POOL = 1

/** The spawner's pools (PROTOCOL.md §14); `monitorPool` absent or 0: none. */
export interface SpawnerPools {
  readonly sandboxPool: number
  readonly monitorPool?: number
}

/**
 * A spawner for the scope's lifetime (killed when it closes, and its waiting sandboxes with it; it
 * also dies with this process), started by `warm` or at the first call. It runs the helper binary
 * `warm` found or the first caller names (callers resolve it with `helperPath`).
 */
export const makeSpawnerWith = (
  options: SpawnerPools
): Effect.Effect<Spawner, never, Scope.Scope> =>
  Effect.gen(function*() {
    const rt = yield* Effect.runtime<never>()
    const warn = (m: string) => Runtime.runFork(rt)(Effect.logWarning(m))
    let current: Process | undefined
    yield* Effect.addFinalizer(() => Effect.sync(() => current?.child.kill("SIGKILL")))
    const proc = (helper: string) =>
      Effect.sync(() => {
        if (current?.alive) return current
        if (current) warn(`tank-helper spawner had stopped; starting a new one`)
        current = new Process(helper, options, warn)
        return current
      })
    const runLine: RunLine = (helper, args) => Effect.flatMap(proc(helper), (p) => p.run(args))
    const warm = Effect.flatMap(helperPath, proc).pipe(Effect.asVoid, Effect.orElse(() => Effect.void))
    return { runLine, warm }
  })

export const makeSpawner: Effect.Effect<Spawner, never, Scope.Scope> = makeSpawnerWith({
  sandboxPool: SANDBOX_POOL,
  monitorPool: MONITOR_POOL
})
