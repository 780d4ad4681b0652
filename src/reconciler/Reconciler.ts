/**
 * The Reconciler: converges the machine to the desired pods in the Store and keeps it there.
 *
 * Level-triggered: every pass lists the desired pods and diffs them against the pods it tracks
 * (`plan.ts`); passes are triggered by the store's change feed (debounced) and by a periodic resync,
 * so a missed change never loses convergence. Each pod has one worker fiber (kubelet pod-worker
 * style) that owns its runs, restarts them per policy with backoff (`restarts.ts`) and is the only
 * writer of the pod's observed status and events. The live layer is in `ReconcilerLive.ts`.
 */
import type { Effect } from "effect"
import { Context } from "effect"
import { PodNotFound as NotFound } from "../api/Api.js"
import type { Pod } from "../spec/Pod.js"
import type { PodStatus } from "../store/status.js"
import type { StoreError } from "../store/Store.js"
import { type BackoffConfig, defaultBackoff } from "./restarts.js"

// The API's error, so a caller catches one tag for "no such pod" whichever layer noticed.
export { NotFound }

export interface ReconcilerConfig {
  /** Periodic full pass, whatever the change feed says. */
  readonly resyncIntervalMs: number
  /** Quiet time after a change before a pass, so a burst of writes converges in one pass. */
  readonly debounceMs: number
  readonly backoff: BackoffConfig
  /** Pod bring-ups running at once (the rest wait their turn, in phase "pending"). */
  readonly startConcurrency: number
  /** Stop every pod when the reconciler shuts down (default: leave them running for the next agent). */
  readonly stopPodsOnExit: boolean
  /** Written into every status, so readers can tell whose status it is. */
  readonly agentPid: number
  /**
   * SIGTERM → SIGKILL for pods without `terminationGracePeriodSeconds` (the runtime enforces it;
   * the reconciler reports the deadline).
   */
  readonly stopGracePeriodMs: number
}

export const defaultConfig: ReconcilerConfig = {
  // The original Tank's `:interval` default (tank-original.md §1.4).
  resyncIntervalMs: 5_000,
  // Long enough to coalesce a script's burst of writes (a pass is cheap: the pod list is decoded
  // once per revision), short enough that an apply right after a pass is not held back: the
  // original's 100 ms cost every such apply up to 100 ms (an apply just after a delete finished).
  debounceMs: 10,
  backoff: defaultBackoff,
  startConcurrency: 8,
  stopPodsOnExit: false,
  agentPid: process.pid,
  stopGracePeriodMs: 10_000
}

export interface ReconcilerConfigInput extends Partial<Omit<ReconcilerConfig, "backoff">> {
  readonly backoff?: Partial<BackoffConfig>
}

export const resolveConfig = (input: ReconcilerConfigInput = {}): ReconcilerConfig => ({
  ...defaultConfig,
  ...input,
  backoff: { ...defaultConfig.backoff, ...input.backoff }
})

/** A pod's stop grace period: its own `terminationGracePeriodSeconds`, else the agent's default. */
export const stopGraceMs = (pod: Pod, defaultMs: number): number =>
  pod.terminationGracePeriodSeconds !== undefined ? pod.terminationGracePeriodSeconds * 1000 : defaultMs

export interface ReconcilerService {
  /** Run a pass now and wait until its stops are done and its starts dispatched. */
  readonly sync: Effect.Effect<void, StoreError>
  /** Restart a pod now (stop, then start fresh) and reset its backoff. Returns once the old run stopped. */
  readonly restart: (name: string) => Effect.Effect<void, NotFound | StoreError>
  /** The observed status of every tracked pod, as this reconciler last wrote it (no store read). */
  readonly observed: Effect.Effect<ReadonlyArray<PodStatus>>
}

export class Reconciler extends Context.Tag("tank/Reconciler")<Reconciler, ReconcilerService>() {}
