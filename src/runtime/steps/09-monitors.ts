/**
 * Step 9, monitors: one native monitor per container (tank-helper monitor, PROTOCOL.md §3), each
 * with its workload cloned into its namespaces and cgroups and parked at the checkpoint. Each is
 * written to the record as soon as it is up. Undo: every recorded monitor is stopped (grace, then
 * SIGKILL; abort while parked) and let go; then any other monitor found under the run dir (started,
 * not yet recorded) likewise. Stale socket files of dead monitors are removed; a live monitor's
 * never are (it removes its own), or a second monitor could start beside it.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { withFieldEnv } from "../fieldEnv.js"
import { isListening } from "../helper/socket.js"
import { containerRecord, launch, stopMonitor } from "../monitors.js"
import { monitorAlive, stillOurs } from "../record.js"
import { stopMonitorsByName } from "./monitorsByName.js"
import type { Step } from "./Step.js"

export const monitors: Step<"monitors"> = {
  name: "monitors",
  acquire: (run) =>
    Effect.gen(function*() {
      const { deps, layout, pod } = run
      run.live.monitorsScope = run.scope
      const launched = []
      const facts = { addresses: run.live.addresses ?? [], nodeName: deps.nodeName }
      for (const c of run.live.prepared ?? []) {
        launched.push(
          yield* launch(
            deps.settings,
            pod,
            layout,
            withFieldEnv(c, facts),
            run.live.procs?.get(c.spec.name) ?? [],
            run.scope
          )
        )
        run.live.launched = [...launched]
        yield* run.save("monitors", launched.map(containerRecord))
      }
      deps.monitorsRecorded?.add(layout.run)
      return launched.map(containerRecord)
    }),
  release: (undo, done, result) =>
    Effect.gen(function*() {
      const recorded = result ?? []
      // A monitor whose process and workload are both gone (stopped by this agent's own scope a
      // moment ago) has nothing to stop; a monitor at its socket path that the record does not
      // name is found by name below.
      yield* Effect.forEach(
        recorded.filter((c) => monitorAlive(c) || stillOurs(c)),
        stopMonitor(undo.deps.stopGraceMs),
        { concurrency: "unbounded", discard: true }
      )
      // A stale socket file (its monitor killed outright) goes; a released monitor removed its own,
      // so the common case is one stat, not a connect attempt.
      yield* Effect.forEach(recorded.filter((c) => fs.existsSync(c.socketPath)), (c) =>
        Effect.flatMap(
          isListening(c.socketPath),
          (listening) =>
            listening || monitorAlive(c)
              ? Effect.void
              : Effect.promise(() => fs.promises.rm(c.socketPath, { force: true }))
        ), { discard: true })
      // Only this runtime's complete record is known to name every monitor of the run; otherwise
      // (another agent's run, one cut short) any other monitor is found by name.
      const allRecorded = (undo.deps.monitorsRecorded?.delete(undo.layout.run) ?? false) && done
      if (!allRecorded) yield* stopMonitorsByName(undo)
      const alive = recorded.filter(monitorAlive)
      if (alive.length > 0) {
        return yield* Effect.fail({
          step: "monitors",
          message: `still alive: ${alive.map((c) => `monitor ${c.monitorPid} of container ${c.name}`).join(", ")}`
        })
      }
    })
}
