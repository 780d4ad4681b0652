/**
 * `tank delete POD...`: remove desired state; the agent stops the pod and cleans up.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"
import { CliExit, dataDirOption, describe, err, out, podArg, withStore } from "./common.js"

export const del = Command.make(
  "delete",
  {
    dataDir: dataDirOption,
    pods: podArg.pipe(Args.withDescription("Pod names."), Args.atLeast(1))
  },
  ({ dataDir, pods }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const Api = yield* Effect.promise(() => import("../api/Api.js"))
        let missing = 0
        for (const name of pods) {
          if (yield* Api.remove(name)) yield* out(`pod/${name} deleted`)
          else {
            missing++
            yield* err(`tank: pod "${name}" not found`)
          }
        }
        if (missing) return yield* new CliExit({ code: 1 })
      }), { readOnly: true })
).pipe(
  Command.withDescription(
    describe(
      "delete",
      "Delete pods: their desired state goes at once; the running agent stops them and removes their run dirs.",
      [
        ["tank delete web", "delete one pod"],
        ["tank delete web db cache", "several at once (exit 1 if any was not found; the others are still deleted)"]
      ]
    )
  )
)
