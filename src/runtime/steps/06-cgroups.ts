/**
 * Step 6, cgroups: the pod's group and one per container (init containers too), with the spec's
 * limits and device policy. The pod group allows the union of its containers' devices (a child can
 * never exceed its parent); a container group that passes fewer gets its own list. Undo: the pod
 * group and everything under it (what still runs there is killed: by then the monitors step was
 * undone, so only strays are).
 */
import { Effect } from "effect"
import { SetupFailed } from "../errors.js"
import { cgroupName } from "../layout.js"
import { step } from "../monitors.js"
import { containerField } from "../prepare.js"
import { deviceRules, passDevices } from "../security/devices.js"
import { releaseFailed, type Step } from "./Step.js"

export const cgroups: Step<"cgroups"> = {
  name: "cgroups",
  acquire: (run) =>
    Effect.gen(function*() {
      const { deps, pod } = run
      const specs = [...pod.initContainers, ...pod.containers]
      const passed = yield* Effect.forEach(specs, (c) =>
        passDevices(c.devices ?? [], `${containerField(pod, c)}.devices`).pipe(
          Effect.mapError((e) =>
            new SetupFailed({ pod: pod.name, step: "security", message: `${e.field}: ${e.message}` })
          )
        ))
      const name = cgroupName(deps.dataDir, pod.name)
      // Saved before anything exists, so an undo knows the name whatever happens next.
      const containers = specs.map((c) =>
        c.name
      )
      yield* run.save("cgroups", { name, containers })
      const all = passed.flat()
      yield* deps.cgroups.ensure({ pod: name }, { devices: deviceRules(all) }).pipe(
        Effect.mapError(step(pod.name, "cgroup"))
      )
      // A container group inherits its pod group's policy (v1 copies the parent's list, v2 runs the
      // ancestors' programs): it needs its own only when it passes fewer devices than the union.
      const handles = yield* Effect.forEach(specs, (c, i) =>
        deps.cgroups.ensure(
          { pod: name, container: c.name },
          passed[i]!.length === all.length ? c.limits : { ...c.limits, devices: deviceRules(passed[i]!) }
        ).pipe(Effect.mapError(step(pod.name, "cgroup"))))
      run.live.procs = new Map(specs.map((c, i) => [c.name, handles[i]!.procsFiles]))
      return { name, containers }
    }),
  release: (undo, _done, result) =>
    undo.deps.cgroups.remove(
      { pod: result?.name ?? cgroupName(undo.deps.dataDir, undo.pod) },
      // The container groups by name: no listing of the pod group's dirs (any other is still found).
      { force: true, ...(result?.containers ? { children: result.containers } : {}) }
    ).pipe(Effect.mapError(releaseFailed("cgroups")))
}
