/**
 * `tank restart POD`: ask the agent to restart a pod now and reset its backoff.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"
import { dataDirOption, describe, out, podArg, withStore } from "./common.js"

export const restart = Command.make(
  "restart",
  { dataDir: dataDirOption, pod: podArg.pipe(Args.withDescription("The pod to restart.")) },
  ({ dataDir, pod }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const Api = yield* Effect.promise(() => import("../api/Api.js"))
        yield* Api.restart(pod)
        yield* out(`pod/${pod} restart requested`)
      }), { readOnly: true })
).pipe(
  Command.withDescription(
    describe(
      "restart",
      "Restart a pod now (its restart count and backoff reset). The agent acts on it, from any process.",
      [["tank restart web", "restart pod \"web\"; `tank ps` shows it starting again"]]
    )
  )
)
