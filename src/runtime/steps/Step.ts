/**
 * One bring-up step: `{ name, acquire, release }`. The runner (runner.ts) journals each step in the
 * run record before and after `acquire`, so its `release` can always be called with what is known:
 *
 * - `acquire(run)` does the step's work and returns its result (persisted: everything `release`
 *   needs). It may use `run.scope` for what lives only in this process (a connection, a finalizer
 *   that is faster than the persisted undo); that scope is closed before `release` runs.
 * - `release(undo, done, result)` undoes it from the persisted result, also in another agent after
 *   this one was killed. `done` is false when the step began but did not complete (the agent died
 *   inside it, or it failed): `result` is then what it saved so far, if anything, and the rest is
 *   found by what the layout names. Idempotent; fails with a message instead of stopping the
 *   teardown (every other step is still released).
 */
import type { Effect, Option, Scope } from "effect"
import type { Cgroups } from "../../cgroups/Cgroups.js"
import type { HostPathPolicy } from "../../config/hostPaths.js"
import type { Host } from "../../host/Host.js"
import type { Images } from "../../image/Images.js"
import type { Network } from "../../net/Network.js"
import type { PodNetworksService } from "../../net/PodNetworks.js"
import type { Pod } from "../../spec/Pod.js"
import type { PodLayout } from "../layout.js"
import type { Launched, LaunchSettings } from "../monitors.js"
import type { PreparedContainer } from "../prepare.js"
import type { RunRecord, StepName, StepResults } from "../record.js"
import type { Progress, SetupFailed } from "../Runtime.js"
import type { SecurityContext } from "../security/policy.js"
import type { Trash } from "../trash.js"
import type { IdRange, UserNamespacesService } from "../userns/UserNamespaces.js"
import type { StepHooks } from "./hooks.js"

/** What the steps use of the machine (built once by RuntimeLive). */
export interface StepDeps {
  readonly dataDir: string
  readonly images: Images["Type"]
  readonly cgroups: Cgroups["Type"]
  readonly network: Network["Type"]
  readonly host: Host["Type"]
  readonly podNetworks: PodNetworksService
  readonly userNamespaces: Option.Option<UserNamespacesService>
  readonly settings: LaunchSettings
  readonly security: SecurityContext
  readonly hostPaths: HostPathPolicy
  readonly stopGraceMs: number
  /** The node running the pod (fieldEnv `spec.nodeName`). */
  readonly nodeName: string
  readonly hooks?: StepHooks
  /**
   * Run dirs whose every monitor this runtime started and recorded (a fresh bring-up whose monitors
   * step completed; a restart takes its run out until its new monitor is recorded). Their undo
   * needs no search of /proc for unrecorded monitors (2-8 ms a stop). Absent: always searched.
   */
  readonly monitorsRecorded?: Set<string>
  /** Where an undone run dir goes (trash.ts); absent, it is removed in place. */
  readonly trash?: Trash
  /** Where an undone run's writable layers go (on the data dir's file system); absent, removed in place. */
  readonly layerTrash?: Trash
  /**
   * No other bring-up is under way: a start's few file calls (run dir, `/etc` files, overlay dirs)
   * are then made on the agent's thread, where each trip through libuv's pool cost a thread's
   * wake-up (the run dir's mkdir alone 2.6-5 ms of a lone start at load 5, 0.1-0.5 ms made
   * synchronously). A burst keeps the pool (see 07-files.ts). Absent: always the pool.
   */
  readonly alone?: () => boolean
  readonly parentNetns?: string
  readonly macSeed?: string
}

/** What a bring-up carries from step to step (results are also in the journal). */
export interface Run {
  readonly deps: StepDeps
  readonly pod: Pod
  readonly layout: PodLayout
  /** This step's own scope (closed before its release). */
  readonly scope: Scope.Scope
  /** The results of the steps done so far. */
  readonly results: () => StepResults
  /** Persist part of this step's result before it is done (monitors: each one as it starts). */
  readonly save: <K extends StepName>(name: K, partial: NonNullable<StepResults[K]>) => Effect.Effect<void, SetupFailed>
  /** The run's phase moves on (proceed: the workloads are about to be told to run). */
  readonly setPhase: (phase: RunRecord["phase"]) => Effect.Effect<void, SetupFailed>
  /** In-memory outputs that are not worth persisting. */
  readonly live: LiveOutputs
  /** A test-only hook point inside a step (hooks.ts). */
  readonly hook: (point: string) => Effect.Effect<void>
  /** Tell the observed status where bring-up is (images: pulling, then starting). */
  readonly progress: (p: Progress) => Effect.Effect<void>
}

export interface LiveOutputs {
  ids?: IdRange
  volumes?: ReadonlyMap<string, string>
  prepared?: ReadonlyArray<PreparedContainer>
  inits?: ReadonlyArray<PreparedContainer>
  /** cgroup.procs files per container name. */
  procs?: ReadonlyMap<string, ReadonlyArray<string>>
  addresses?: ReadonlyArray<string>
  dns?: ReadonlyArray<string>
  launched?: ReadonlyArray<Launched>
  /** The scope the container monitors live in (restarts of a container add theirs). */
  monitorsScope?: Scope.Scope
}

/** Undo context: enough to find everything of a pod's run by name, without its spec. */
export interface Undo {
  readonly deps: StepDeps
  readonly pod: string
  readonly layout: PodLayout
}

export interface Step<K extends StepName> {
  readonly name: K
  /**
   * False when the step has nothing to do for this pod (no user namespace, no volume mounted, no
   * init container): the runner then neither begins, journals nor releases it for this run, and
   * fires none of its hook points. Each step costs a start ~0.3 ms of the agent's thread even when
   * it does nothing (its scope, journal entry, timing, release: issue 21). Its release by name (a
   * teardown without a record) still runs, as for every step. Absent: always needed.
   */
  readonly needed?: (pod: Pod) => boolean
  /** The result (undefined: nothing to keep). */
  readonly acquire: (run: Run) => Effect.Effect<StepResults[K], SetupFailed, Scope.Scope>
  readonly release: (
    undo: Undo,
    done: boolean,
    result: StepResults[K] | undefined
  ) => Effect.Effect<void, ReleaseFailed>
}

export type AnyStep = { [K in StepName]: Step<K> }[StepName]

/** One release that failed (the teardown goes on with the others). */
export interface ReleaseFailed {
  readonly step: string
  readonly message: string
}

export const releaseFailed = (step: string) => (e: unknown): ReleaseFailed => ({
  step,
  message: e instanceof Error ? e.message : typeof e === "object" && e !== null && "message" in e
    ? String((e as { message: unknown }).message)
    : String(e)
})
