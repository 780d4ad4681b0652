/**
 * Step 2, volumes: managed volumes created (owned by the pod's range in a user namespace, and by
 * its fsGroup), host directories checked against the host-path policy, tmpfs volumes mounted under
 * the run dir. Managed volumes outlive runs (removed with the pod by RuntimeLive `purge`); undo
 * unmounts the tmpfs ones (before the run dir is removed: a removal would empty a mounted one).
 */
import { Effect } from "effect"
import { unmountTmpfs } from "../podVolumes.js"
import { volumeSources } from "../prepare.js"
import { releaseFailed, type Step } from "./Step.js"

export const volumes: Step<"volumes"> = {
  name: "volumes",
  // Only mounted volumes are made (volumeSources): a pod that mounts none has nothing here.
  needed: (pod) => [...pod.initContainers, ...pod.containers].some((c) => c.mounts.length > 0),
  acquire: (run) =>
    volumeSources(run.pod, run.layout, run.deps.hostPaths, run.live.ids).pipe(
      Effect.tap((v) => Effect.sync(() => (run.live.volumes = v))),
      Effect.map((v) => Object.fromEntries(v))
    ),
  release: (undo) => unmountTmpfs(undo.layout.run).pipe(Effect.mapError(releaseFailed("volumes")))
}
