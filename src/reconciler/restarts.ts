/**
 * Restart decisions: pure, no Effect, no clock reads (the caller passes `now`).
 *
 * Given how a run ended, the pod's restart policy and its restart history, say whether to restart
 * and after how long. The delay is `min(base · 2ⁿ, cap)` where n is the number of consecutive
 * restarts, reset to 0 when the run that just ended lasted at least the stable window — the
 * kubelet's CrashLoopBackOff and the original Tank reconciler's rule (tank-original.md §1.4).
 */
import type { Ending } from "../runtime/ending.js"
import type { RestartPolicy } from "../spec/Pod.js"

/**
 * Default backoff parameters, with their source:
 * - base 10 s: kubelet `initialCrashLoopBackOff = 10 * time.Second` (pkg/kubelet/kubelet.go),
 *   also the original Tank's `:backoff_base` default.
 * - cap 300 s: kubelet `MaxCrashLoopBackOff = v1beta1.MaxContainerBackOff` = 300 s
 *   (pkg/kubelet/apis/config/v1beta1/defaults.go), the original's `:backoff_cap`.
 * - stable window 600 s: client-go `flowcontrol.Backoff` forgets an entry after 2 × max of quiet
 *   (2 × 300 s), the original's `:stable_window`.
 */
export const BACKOFF_BASE_MS = 10_000
export const BACKOFF_CAP_MS = 300_000
export const STABLE_WINDOW_MS = 600_000

export interface BackoffConfig {
  readonly baseMs: number
  readonly capMs: number
  /** A run that lasted at least this long resets the backoff exponent. */
  readonly stableWindowMs: number
}

export const defaultBackoff: BackoffConfig = {
  baseMs: BACKOFF_BASE_MS,
  capMs: BACKOFF_CAP_MS,
  stableWindowMs: STABLE_WINDOW_MS
}

/** How a run ended (the one exit type, src/runtime/ending.ts). */
export type { Ending } from "../runtime/ending.js"

export interface History {
  /** Consecutive restarts so far (the backoff exponent before this decision). */
  readonly restarts: number
  /** Epoch millis when the run that just ended was started (or attempted). */
  readonly lastStartAt: number
}

export interface Decision {
  readonly action: "restart" | "terminal"
  /** Delay before the restart (0 when terminal). */
  readonly delayMs: number
  /** Restart count after this decision (unchanged when terminal). */
  readonly restarts: number
  readonly reason: string
}

/** Does the policy want a restart after this ending? */
export const wantsRestart = (policy: RestartPolicy, ending: Ending): boolean => {
  switch (policy) {
    case "always":
      return true
    case "never":
      return false
    case "on_failure":
      return !(ending._tag === "Exited" && ending.code === 0)
  }
}

/** `min(base · 2ⁿ, cap)`, safe for large n. */
export const backoffDelay = (n: number, config: Pick<BackoffConfig, "baseMs" | "capMs">): number =>
  n >= 52 ? config.capMs : Math.min(config.baseMs * 2 ** n, config.capMs)

export const decide = (
  policy: RestartPolicy,
  ending: Ending,
  history: History,
  now: number,
  config: BackoffConfig = defaultBackoff
): Decision => {
  const what = describeEnding(ending)
  if (!wantsRestart(policy, ending)) {
    return { action: "terminal", delayMs: 0, restarts: history.restarts, reason: `${what}; restart policy ${policy}` }
  }
  const ranFor = now - history.lastStartAt
  const n = ranFor >= config.stableWindowMs ? 0 : history.restarts
  const delayMs = backoffDelay(n, config)
  return { action: "restart", delayMs, restarts: n + 1, reason: `${what}; restarting in ${formatDelay(delayMs)}` }
}

const SIGNAL_NAMES: Readonly<Record<number, string>> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM"
}

export const signalName = (signal: number): string => SIGNAL_NAMES[signal] ?? `signal ${signal}`

export const describeEnding = (ending: Ending): string => {
  switch (ending._tag) {
    case "Exited":
      return `exited with code ${ending.code}`
    case "Signaled":
      return ending.oomKilled
        ? `killed by ${signalName(ending.signal)} (out of memory)`
        : `killed by ${signalName(ending.signal)}`
    case "SetupFailed":
      return `failed to start at step ${ending.step}: ${ending.message}`
  }
}

export const formatDelay = (ms: number): string =>
  ms < 1000 ? `${ms} ms` : ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
