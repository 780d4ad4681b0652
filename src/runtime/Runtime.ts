/**
 * The Runtime port: brings one pod up and tells how its workload ended. The reconciler depends on
 * this Tag only; the live layer drives the native helper, images, cgroups and network.
 */
import type { Effect, Option, Scope } from "effect"
import { Context } from "effect"
import type { Pod } from "../spec/Pod.js"
import type { RunExit } from "./ending.js"
import type { SetupFailed, TeardownFailed } from "./errors.js"
import type { RecordUnreadable } from "./record.js"

/** How a workload ended on its own (or after a stop): the one exit type, less setup failures. */
export type { Ending, RunExit } from "./ending.js"

export { SetupFailed, TeardownFailed } from "./errors.js"
export { RecordUnreadable } from "./record.js"

export type Progress = "pulling" | "starting"

/** One container of a running pod (its current incarnation). */
export interface ContainerRun {
  readonly name: string
  readonly hostPid: number
  readonly startedAt: Date
  /** Completes when this container's workload ends. */
  readonly wait: Effect.Effect<RunExit>
}

export interface RunHandle {
  readonly pod: string
  readonly hostPid: number
  readonly startedAt: Date
  /** Addresses configured on the pod's NICs ("10.0.0.5/24"). */
  readonly addresses: ReadonlyArray<string>
  /** hostUsers: false — the host ids its container ids 0..size-1 are. */
  readonly userNamespace?: { readonly hostUid: number; readonly hostGid: number; readonly size: number }
  /**
   * Completes when the workload ends: for a one-container pod, its container; for several, the first
   * container to end (a supervisor of several containers uses `containers`/`restartContainer`).
   * Never fails: setup failures surface from `start`.
   */
  readonly wait: Effect.Effect<RunExit>
  /** The containers as started (or adopted), in spec order. */
  readonly containers: ReadonlyArray<ContainerRun>
  /**
   * Start a fresh incarnation of one container inside the running pod (same sandbox, network,
   * cgroup and volumes; a fresh writable layer), after its previous one ended. The pod record is
   * updated, so exec, attach and a later agent find the new process.
   */
  readonly restartContainer: (name: string) => Effect.Effect<ContainerRun, SetupFailed>
  /**
   * Leave the workload and its resources in place when the scope closes (agent shutdown with live
   * restore: a later agent re-adopts it). Without this, closing the scope stops the workload
   * (SIGTERM, grace period, SIGKILL) and undoes every bring-up step.
   */
  readonly keepOnClose: Effect.Effect<void>
}

/** Something the pod's events should say that is not a phase change (a teardown that left something behind). */
export interface RuntimeNotice {
  readonly type: "teardown-failed"
  readonly message: string
}

export interface StartOptions {
  /** Called as bring-up moves through its phases (for observed status). */
  readonly onProgress?: (p: Progress) => Effect.Effect<void>
  /** Called when the run's teardown (at the end of its scope) could not undo everything. */
  readonly onNotice?: (n: RuntimeNotice) => Effect.Effect<void>
}

export interface RuntimeService {
  /** Bring the pod up inside the given scope. */
  readonly start: (pod: Pod, options?: StartOptions) => Effect.Effect<RunHandle, SetupFailed, Scope.Scope>
  /**
   * Re-adopt a pod whose monitor outlived the previous agent. `None` when nothing of it survives
   * (its leftovers are removed), or its bring-up was cut short (undone). A run whose workloads were
   * being told to run is finished. A workload that exited meanwhile is adopted too: `wait` returns
   * at once. A record that exists but cannot be read fails with RecordUnreadable and nothing of the
   * run is touched: its processes keep running.
   */
  readonly adopt: (
    pod: Pod,
    options?: Pick<StartOptions, "onNotice">
  ) => Effect.Effect<Option.Option<RunHandle>, RecordUnreadable, Scope.Scope>
  /** Names of pods with something left on the machine (run dirs, monitors, cgroups). */
  readonly leftovers: Effect.Effect<ReadonlyArray<string>>
  /**
   * Remove everything of a pod's run (stopping whatever still runs): for pods that are gone. With its
   * record unreadable, everything is found by name. Every step is undone even when one fails; the
   * failures come together in TeardownFailed.
   */
  readonly sweep: (name: string) => Effect.Effect<void, TeardownFailed>
  /** A pod was deleted: sweep, and also remove what outlives runs (managed volumes, logs unless kept). */
  readonly purge: (name: string) => Effect.Effect<void, TeardownFailed>
}

export class Runtime extends Context.Tag("tank/Runtime")<Runtime, RuntimeService>() {}
