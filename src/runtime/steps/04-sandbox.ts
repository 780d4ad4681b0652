/**
 * Step 4, sandbox: the pod's net (unless "host"), uts and ipc namespaces — inside its own user
 * namespace with `hostUsers: false` — pinned under `<run>/ns` (native helper `sandbox`). Undo:
 * unmount the pins (the namespaces die with their last process); the files go with the run dir.
 */
import { Effect } from "effect"
import { sandbox as makeSandbox } from "../helper/sandbox.js"
import { step } from "../monitors.js"
import { detachSandbox } from "../unpin.js"
import { releaseFailed, type Step } from "./Step.js"

export const sandbox: Step<"sandbox"> = {
  name: "sandbox",
  // Uninterruptible: an interrupted wait would leave the helper pinning namespaces after the undo
  // has run (it takes milliseconds; the undo then unpins what it made).
  acquire: (run) =>
    Effect.uninterruptible(
      makeSandbox({
        dir: run.layout.ns,
        net: run.pod.network !== "host",
        uts: true,
        ipc: true,
        hostname: run.pod.hostname ?? run.pod.name,
        ...(run.live.ids ? { userns: run.live.ids } : {})
      }, run.deps.settings.runLine).pipe(
        Effect.map((sb) => ({ dir: sb.dir, ...(sb.net ? { net: sb.net } : {}) })),
        Effect.mapError(step(run.pod.name, "sandbox"))
      )
    ),
  release: (undo, _done, result) =>
    detachSandbox(result?.dir ?? undo.layout.ns).pipe(Effect.mapError(releaseFailed("sandbox")))
}
