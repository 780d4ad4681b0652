/**
 * `tank attach [-c CONTAINER] POD`: take over the terminal of a `tty: true` container's main process.
 * Ctrl-P Ctrl-Q detaches (the workload keeps running); if the process ends, its status is ours.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import { CliExit, dataDirOption, describe, ensureOnThisNode, err, loadConfig, podArg } from "./common.js"
import { enterFailure, exitCodeOf, otherNodeFailure, withConfigLayer } from "./exec.js"

export const attach = Command.make(
  "attach",
  {
    dataDir: dataDirOption,
    container: Options.text("container").pipe(
      Options.withAlias("c"),
      Options.withDescription("The container (default: the pod's first)."),
      Options.optional
    ),
    detachKeys: Options.text("detach-keys").pipe(
      Options.withDescription("Key sequence that detaches (docker notation, default ctrl-p,ctrl-q; \"\" disables)."),
      Options.optional
    ),
    pod: podArg.pipe(Args.withDescription("The pod."))
  },
  ({ container, dataDir, detachKeys, pod }) =>
    Effect.gen(function*() {
      if (!process.stdin.isTTY) return yield* new CliExit({ code: 1, message: "attach needs a terminal on stdin" })
      const config = yield* loadConfig(dataDir)
      yield* ensureOnThisNode(config, [pod]).pipe(Effect.mapError(otherNodeFailure))
      const [Attach, { parseDetachKeys }, configLayer] = yield* Effect.promise(() =>
        Promise.all([import("../exec/Attach.js"), import("../exec/detachKeys.js"), withConfigLayer(config)])
      )
      if (Option.isSome(detachKeys) && detachKeys.value !== "") {
        const parsed = parseDetachKeys(detachKeys.value)
        if (typeof parsed === "string") return yield* new CliExit({ code: 2, message: `--detach-keys: ${parsed}` })
      }
      const result = yield* Attach.attach(pod, {
        ...(Option.isSome(container) ? { container: container.value } : {}),
        ...(Option.isSome(detachKeys) ? { detachKeys: detachKeys.value } : {})
      }).pipe(Effect.provide(configLayer), Effect.mapError(enterFailure))
      if (result === "detached") return yield* err(`\r\ndetached from pod/${pod} (it keeps running)\r`)
      const code = exitCodeOf(result)
      if (code !== 0) return yield* new CliExit({ code })
    })
).pipe(Command.withDescription(describe(
  "attach",
  "Attach your terminal to a tty pod's main process; Ctrl-P Ctrl-Q detaches.",
  [
    ["tank attach console", "attach to pod \"console\" (its spec has tty: true)"],
    ["tank attach --detach-keys ctrl-x,x console", "another detach sequence"]
  ],
  "One attacher at a time. If the process ends while attached, tank exits with its status."
)))
