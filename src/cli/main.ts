/**
 * The `tank` command line: kubectl/podman-like verbs over the store, the image cache and the agent.
 *
 * Exit codes: 0 ok, 1 error, 2 usage; `exec` passes the command's own status through.
 * This file stays light: each command imports what it needs when it runs, so `tank ps` starts fast.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Option } from "effect"
import { apply } from "./apply.js"
import { CliExit, describe, ExitCode, out, tankRoot } from "./common.js"
import { daemon } from "./daemon.js"
import { del } from "./delete.js"
import { get } from "./get.js"
import { images, prune } from "./images.js"
import { list, ps } from "./ps.js"
import { pull } from "./pull.js"
import { restart } from "./restart.js"
import { status } from "./status.js"
import * as Args from "@effect/cli/Args"

export const VERSION = "0.1.0"

const version = Command.make("version", {}, () => out(`tank ${VERSION}`)).pipe(
  Command.withDescription("Print Tank's version.")
)

// `completion` needs the finished command tree; it is filled in below (the tree contains `completion`).
let tree: Command.Command<"tank", never, unknown, unknown> | undefined

const completion = Command.make(
  "completion",
  { shell: Args.choice([["bash", "bash"], ["zsh", "zsh"], ["fish", "fish"]] as const, { name: "SHELL" }) },
  ({ shell }) =>
    Effect.gen(function*() {
      const t = tree!
      const lines = shell === "bash"
        ? yield* Command.getBashCompletions(t, "tank")
        : shell === "zsh"
        ? yield* Command.getZshCompletions(t, "tank")
        : yield* Command.getFishCompletions(t, "tank")
      yield* out(lines.join("\n"))
    })
).pipe(Command.withDescription(describe("Print a shell completion script.", [
  ["source <(tank completion bash)", "completions in the current bash"],
  ["tank completion zsh > \"${fpath[1]}/_tank\"", "install for zsh"],
  ["tank completion fish > ~/.config/fish/completions/tank.fish", "install for fish"]
])))

const root = tankRoot.pipe(
  Command.withDescription(HelpDoc.p(
    "Tank: declarative pods on one machine. Declare pods with `tank apply`, run the agent with `tank daemon`, " +
      "watch them with `tank ps`. Every command takes --data-dir (or $TANK_DATA_DIR)."
  )),
  Command.withSubcommands([
    daemon,
    apply,
    get,
    ps,
    list,
    status,
    del,
    restart,
    pull,
    images,
    prune,
    completion,
    version
  ])
)
tree = root as unknown as typeof tree

const cli = Command.run(root, { name: "tank", version: VERSION })

const messageOf = (e: unknown): string =>
  e instanceof Error || (typeof e === "object" && e !== null && "message" in e)
    ? String((e as { message: unknown }).message)
    : String(e)

/** Errors become `tank: message` on stderr and an exit code; usage errors (already printed) exit 2. */
const program = Effect.suspend(() => cli(process.argv)).pipe(
  Effect.catchAll((e) => {
    if (e instanceof CliExit) {
      return e.message ? Effect.zipRight(Effect.sync(() => process.stderr.write(`tank: ${e.message}\n`)), Effect.fail(e)) : Effect.fail(e)
    }
    if (ValidationError.isValidationError(e)) return Effect.fail(new CliExit({ code: ExitCode.usage }))
    return Effect.zipRight(
      Effect.sync(() => process.stderr.write(`tank: ${messageOf(e)}\n`)),
      Effect.fail(new CliExit({ code: ExitCode.error }))
    )
  }),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return onExit(ExitCode.ok)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure) && failure.value instanceof CliExit) return onExit(failure.value.code)
    process.stderr.write(`tank: internal error\n${Cause.pretty(exit.cause)}\n`)
    onExit(ExitCode.error)
  }
})
