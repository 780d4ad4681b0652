/**
 * `tank restart POD`: ask the agent to restart a pod now and reset its backoff.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect, Option } from "effect"
import {
  CliExit,
  dataDirOption,
  describe,
  ExitCode,
  out,
  podArg,
  selectNames,
  selectorOption,
  withStore
} from "./common.js"

export const restart = Command.make(
  "restart",
  {
    dataDir: dataDirOption,
    selector: selectorOption,
    pods: podArg.pipe(Args.withDescription("The pods to restart."), Args.repeated)
  },
  ({ dataDir, pods, selector }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const Api = yield* Effect.promise(() => import("../api/Api.js"))
        const names = yield* selectNames(pods, selector)
        if (names.length === 0) {
          return yield* new CliExit({
            code: Option.isNone(selector) ? ExitCode.usage : ExitCode.error,
            message: Option.isNone(selector)
              ? "name the pods to restart, or give -l SELECTOR"
              : "no pod matches the selector"
          })
        }
        for (const pod of names) {
          yield* Api.restart(pod)
          yield* out(`pod/${pod} restart requested`)
        }
      }), { readOnly: true })
).pipe(
  Command.withDescription(
    describe(
      "restart",
      "Restart a pod now (its restart count and backoff reset). The agent acts on it, from any process.",
      [["tank restart web && tank wait web --for ready", "restart pod \"web\" and wait until it runs again"]],
      "-l SELECTOR restarts every pod it picks (tank restart -l app=web)."
    )
  )
)
