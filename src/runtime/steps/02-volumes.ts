/**
 * Step 2, volumes: managed volumes created (owned by the pod's range in a user namespace), host
 * directories checked against the host-path policy. Volumes outlive runs (removed with the pod by
 * RuntimeLive `purge`): nothing to undo.
 */
import { Effect } from "effect"
import { volumeSources } from "../prepare.js"
import type { Step } from "./Step.js"

export const volumes: Step<"volumes"> = {
  name: "volumes",
  acquire: (run) =>
    volumeSources(run.pod, run.layout, run.deps.hostPaths, run.live.ids).pipe(
      Effect.tap((v) => Effect.sync(() => (run.live.volumes = v))),
      Effect.map((v) => Object.fromEntries(v))
    ),
  release: () => Effect.void
}
