/**
 * `tank cp POD[:CONTAINER]:/path LOCAL` and `tank cp LOCAL POD[:CONTAINER]:/path`: copy files and
 * directories out of and into a running pod, with docker cp's directory rules (exec/cp/paths.ts).
 * tar runs inside the pod, so paths there resolve in the container's root (exec/cp/Cp.ts).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"
import { CliExit, dataDirOption, describe, ensureOnThisNode, loadConfig } from "./common.js"
import { enterFailure, otherNodeFailure, withConfigLayer } from "./exec.js"

const usage = (message: string) => new CliExit({ code: 2, message })

export const cp = Command.make(
  "cp",
  {
    dataDir: dataDirOption,
    src: Args.text({ name: "SRC" }).pipe(Args.withDescription("POD[:CONTAINER]:/path, or a local path.")),
    dest: Args.text({ name: "DEST" }).pipe(Args.withDescription("A local path, or POD[:CONTAINER]:/path."))
  },
  ({ dataDir, dest, src }) =>
    Effect.gen(function*() {
      const Cp = yield* Effect.promise(() => import("../exec/cp/Cp.js"))
      const job = Cp.cpJob(src, dest)
      if (job instanceof Cp.CpInvalid) return yield* usage(job.message)
      const config = yield* loadConfig(dataDir)
      yield* ensureOnThisNode(config, [job.pod]).pipe(Effect.mapError(otherNodeFailure))
      const configLayer = withConfigLayer(config)
      const copy = job.copy
      const result = yield* copy.pipe(
        Effect.provide(configLayer),
        Effect.mapError((e) =>
          e._tag === "EnterFailed" || e._tag === "NotRunning" || e._tag === "ContainerNotFound" ||
            e._tag === "PodMonitorBusy"
            ? enterFailure(e)
            : new CliExit({ code: 1, message: e.message })
        )
      )
      for (const s of result.skipped) yield* Effect.logWarning(`not copied (device, fifo or socket): ${s}`)
    })
).pipe(Command.withDescription(describe(
  "cp",
  "Copy files and directories between a running pod and this machine (docker cp's rules).",
  [
    ["tank cp web:/etc/nginx ./nginx", "a directory out of the pod (./nginx created, or ./nginx/nginx if it exists)"],
    ["tank cp ./site/. web:/var/www", "a directory's contents into an existing directory in the pod"],
    ["tank cp web:sidecar:/var/log/app.log .", "a file from another container"]
  ],
  "The pod's own tar does the work inside it (as the pod's root), so a symlink there resolves in the\n" +
    "pod, never on this machine; what comes back is refused if it would leave DEST. Files copied out\n" +
    "belong to you and lose set-id bits; devices and fifos are skipped. Exit 125 if the pod could not\n" +
    "be entered."
)))
