/**
 * Step 10, proceed: the run's phase becomes `proceeding` (from here a new agent finishes the
 * bring-up instead of undoing it), then every container's workload is told to run (sync 3: its
 * rootfs, mounts, identity, exec). Nothing of its own to undo: the monitors step's undo stops the
 * workloads.
 */
import { Effect } from "effect"
import { proceedOne } from "../monitors.js"
import type { Step } from "./Step.js"

export const proceed: Step<"proceed"> = {
  name: "proceed",
  acquire: (run) =>
    Effect.gen(function*() {
      yield* run.setPhase("proceeding")
      yield* run.hook("proceed:proceeding")
      yield* Effect.forEach(run.live.launched ?? [], (s) => proceedOne(run.pod.name, s), { discard: true })
      return {}
    }),
  release: () => Effect.void
}
