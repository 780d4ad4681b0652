/**
 * What `tank wait --for` and `Tank.waitFor` wait for, decided from one state of a pod. Pure.
 *
 * - `running`: the workload runs (phase "running").
 * - `ready`: running the spec stored when the wait began (or a newer one), every container running
 *   and ready (readiness and startup probes passed): after an apply or a restart this waits for the
 *   new run, not the old one still up.
 * - `exited`: ended for good: phase "terminal" (the restart policy starts it no more), for the spec
 *   stored when the wait began or a newer one.
 * - `deleted`: its status is gone (the agent stopped it and purged what it owned).
 *
 * Some states make a condition unreachable without another apply: a terminal pod will not run again,
 * a deleted pod neither runs nor exits. Those fail at once instead of waiting for the timeout.
 */
import type { PodStatus } from "../store/status.js"
import { stateText } from "./statusText.js"

export const WAIT_CONDITIONS = ["running", "ready", "exited", "deleted"] as const
export type WaitCondition = typeof WAIT_CONDITIONS[number]

export type Verdict =
  | { readonly _tag: "Met" }
  | { readonly _tag: "Waiting" }
  | { readonly _tag: "Unreachable"; readonly why: string }

const met: Verdict = { _tag: "Met" }
const waiting: Verdict = { _tag: "Waiting" }
const unreachable = (why: string): Verdict => ({ _tag: "Unreachable", why })

/**
 * `state`: the pod's status as readers see it (Api.status), undefined once it is gone.
 * `sinceRevision`: the stored spec revision when the wait began (for `ready`).
 */
export const verdict = (
  condition: WaitCondition,
  state: PodStatus | undefined,
  sinceRevision = 0
): Verdict => {
  if (condition === "deleted") return state === undefined ? met : waiting
  if (state === undefined) return unreachable("it was deleted")
  if (state.phase === "invalid") return unreachable(stateText(state))
  // A status about an older spec than the one the wait began with says nothing of the new run yet
  // (a job re-applied after it ended reads "terminal" until the agent acts on the new spec).
  const current = state.specRevision >= sinceRevision
  switch (condition) {
    case "running":
    case "ready": {
      if (state.phase === "terminal" && current) {
        return unreachable(`${stateText(state)}; it will not run again until re-applied`)
      }
      if (state.phase === "terminating") return unreachable(`${stateText(state)}`)
      if (state.phase !== "running") return waiting
      if (condition === "running") return met
      const containersUp = (state.containers ?? []).every((c) => c.state === "running")
      // Readers fill `ready` from the readiness/startup probes (src/api/readiness.ts): a pod whose
      // probe has not passed yet is running but not ready.
      return containersUp && state.ready !== false && current ? met : waiting
    }
    case "exited":
      if (state.phase === "terminating") return unreachable(stateText(state))
      return state.phase === "terminal" && current ? met : waiting
  }
}
