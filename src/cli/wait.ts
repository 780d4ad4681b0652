/**
 * `tank wait POD... --for running|ready|exited|deleted [--timeout 60s]`: block until every pod meets
 * the condition (src/api/conditions.ts), from the store's event feed. Exit 0 when all are met; 1 with
 * each failing pod's last state and reason (timed out, or a state that rules the condition out).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { Duration, Effect, Either, Option } from "effect"
import { WAIT_CONDITIONS } from "../api/conditions.js"
import { parseDurationMs } from "../observe/time.js"
import {
  CliExit,
  dataDirOption,
  describe,
  err,
  ExitCode,
  out,
  selectNames,
  selectorOption,
  withStore
} from "./common.js"

const timeoutOption = Options.text("timeout").pipe(
  Options.withPseudoName("DURATION"),
  Options.withDescription("Give up after this long (30s, 2m, 1h; 0: wait forever)."),
  Options.withDefault("60s"),
  Options.mapEffect((s) => {
    const ms = parseDurationMs(s)
    return ms === undefined
      ? Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--timeout ${s}: not a duration (30s, 2m, 1h)`)))
      : Effect.succeed(ms)
  })
)

export const wait = Command.make(
  "wait",
  {
    dataDir: dataDirOption,
    condition: Options.choice("for", WAIT_CONDITIONS).pipe(
      Options.withDescription(
        "running: the workload runs; ready: the current spec runs, every container up; " +
          "exited: ended for good (terminal); deleted: gone."
      )
    ),
    timeout: timeoutOption,
    pods: Args.text({ name: "POD" }).pipe(
      Args.mapEffect((name) =>
        name.startsWith("-") ? Effect.fail(HelpDoc.p(`unknown option ${name}`)) : Effect.succeed(name)
      ),
      Args.repeated
    ),
    selector: selectorOption
  },
  ({ condition, dataDir, pods: named, selector, timeout }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const pods = yield* selectNames(named, selector)
        if (pods.length === 0) {
          return yield* new CliExit({
            code: Option.isNone(selector) ? ExitCode.usage : ExitCode.error,
            message: Option.isNone(selector)
              ? "name the pods to wait for, or give -l SELECTOR"
              : "no pod matches the selector"
          })
        }
        const [{ waitFor }, { describeExit }] = yield* Effect.promise(() =>
          Promise.all([import("../api/watch.js"), import("../api/statusText.js")])
        )
        const results = yield* Effect.forEach(
          pods,
          (pod) =>
            waitFor(pod, condition, timeout > 0 ? { timeout: Duration.millis(timeout) } : {}).pipe(
              Effect.either,
              Effect.tap(Either.match({
                onLeft: (e) => Effect.ignore(err(`tank: ${e.message}`)),
                onRight: (s) =>
                  out(
                    `pod/${pod} ${condition}${
                      condition === "exited" && s?.lastExit ? ` (${describeExit(s.lastExit)})` : ""
                    }`
                  )
              }))
            ),
          { concurrency: "unbounded" }
        )
        // Each failure is already on stderr, one line per pod.
        if (results.some(Either.isLeft)) return yield* new CliExit({ code: ExitCode.error })
      }), { readOnly: true })
).pipe(Command.withDescription(describe(
  "wait",
  "Wait until pods are running, ready, exited or deleted (exit 1 naming each pod's state when not).",
  [["tank apply -f web.yaml && tank wait web --for ready --timeout 30s", "apply, then block until it runs"]],
  "Driven by the store's events (no polling). A pod that cannot get there without another apply\n" +
    "(a terminal pod waited for running, a deleted one) fails at once."
)))
