/**
 * How a run of a container ended: one type from the helper's exit record to the pod status
 * (issue 19 found four for this one idea). Converters live at the edges only: helper JSON →
 * `Ending` here (`fromExitRecord`), `Ending` → the stored status in reconciler/record.ts
 * (`toLastExit`).
 */
import type { ExitRecord } from "./helper/schema.js"

export type Ending =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: number; readonly oomKilled?: boolean }
  /** Bring-up failed at a step: no workload ran. */
  | { readonly _tag: "SetupFailed"; readonly step: string; readonly message: string }

/** The endings of a workload that ran (what the runtime's `wait` yields; setup failures are errors of `start`). */
export type RunExit = Exclude<Ending, { readonly _tag: "SetupFailed" }>

/** The helper's exit record; `oomKilled` when the container cgroup counted an OOM kill meanwhile. */
export const fromExitRecord = (r: ExitRecord, oomKilled: boolean): RunExit =>
  r.reason === "exited"
    ? { _tag: "Exited", code: r.exitCode }
    : r.reason === "signaled"
    ? { _tag: "Signaled", signal: r.signal, ...(oomKilled ? { oomKilled } : {}) }
    // A setup failure after proceed was already reported by start; if it is all we know (adopted),
    // report it like the shell does for an exec failure.
    : { _tag: "Exited", code: 127 }

/** An OOM kill seen as exit code 137 under tank-init (PID 1 cannot die of the signal itself). */
export const oomKill: RunExit = { _tag: "Signaled", signal: 9, oomKilled: true }
