/**
 * Step 1, userns (`hostUsers: false` only): the pod's host id range. Everything after is made for
 * it (volume and layer owners, the sandbox's user namespace). The range belongs to the pod, not to
 * the run: it is given back when the pod is deleted (RuntimeLive `purge`), so nothing to undo here.
 */
import { Effect, Option } from "effect"
import { SetupFailed } from "../errors.js"
import type { Step } from "./Step.js"

export const userns: Step<"userns"> = {
  name: "userns",
  needed: (pod) => pod.hostUsers === false,
  acquire: (run) =>
    run.pod.hostUsers !== false ? Effect.succeed(undefined) : Option.match(run.deps.userNamespaces, {
      onNone: () =>
        Effect.fail(
          new SetupFailed({
            pod: run.pod.name,
            step: "userns",
            message: "hostUsers: false, but this runtime has no host id range for pods"
          })
        ),
      onSome: (u) =>
        u.rangeFor(run.pod.name).pipe(
          Effect.tap((ids) => Effect.sync(() => (run.live.ids = ids))),
          Effect.mapError((e) => new SetupFailed({ pod: run.pod.name, step: "userns", message: e.message }))
        )
    }),
  release: () => Effect.void
}
