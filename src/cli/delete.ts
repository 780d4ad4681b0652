/**
 * `tank delete POD... | -f FILE|DIR|-`: remove desired state; the agent stops the pods and cleans up.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import { filesOption } from "./apply.js"
import { CliExit, dataDirOption, describe, err, out, podArg, selectNames, selectorOption, withStore } from "./common.js"

export const del = Command.make(
  "delete",
  {
    dataDir: dataDirOption,
    files: filesOption.pipe(Options.repeated),
    selector: selectorOption,
    pods: podArg.pipe(Args.withDescription("Pod names."), Args.repeated)
  },
  ({ dataDir, files, pods, selector }) =>
    Effect.gen(function*() {
      if (pods.length === 0 && files.length === 0 && Option.isNone(selector)) {
        return yield* new CliExit({ code: 2, message: "name the pods to delete, or give -f FILE or -l SELECTOR" })
      }
      const { readNames } = yield* Effect.promise(() => import("./specInput.js"))
      const fromFiles = files.length ? yield* readNames(files, "nothing was deleted") : []
      yield* withStore(dataDir, () =>
        Effect.gen(function*() {
          const Api = yield* Effect.promise(() => import("../api/Api.js"))
          const names = yield* selectNames([...new Set([...pods, ...fromFiles])], selector)
          let missing = 0
          for (const name of names) {
            if (yield* Api.remove(name)) yield* out(`pod/${name} deleted`)
            else {
              missing++
              yield* err(`tank: pod "${name}" not found`)
            }
          }
          if (missing) return yield* new CliExit({ code: 1 })
        }), { readOnly: true })
    })
).pipe(
  Command.withDescription(
    describe(
      "delete",
      "Delete pods: their desired state goes at once; the running agent stops them and removes their run dirs.",
      [
        ["tank delete web", "delete one pod"],
        ["tank delete web db cache", "several at once (exit 1 if any was not found; the others are still deleted)"],
        ["tank delete -f pods/", "the pods a file or directory declares (only their names are read)"],
        ["tank delete -l app=web", "every pod labelled app=web"]
      ],
      "`tank wait --for deleted POD` returns once the agent has stopped and removed the pod."
    )
  )
)
