/**
 * `tank exec [-i] [-t] [-c CONTAINER] POD -- CMD...`: run a command in a running pod (all of its
 * namespaces and cgroups, its user, env and working dir). The command's exit status is passed through;
 * failing to enter exits 125 (126 not executable, 127 not found), like docker.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Layer, Option } from "effect"
import { Readable } from "node:stream"
import type { TankConfigShape } from "../config/Config.js"
import { CliExit, dataDirOption, describe, ensureOnThisNode, loadConfig, podArg } from "./common.js"

/** Could not enter the pod (docker's 125). */
export const EXIT_ENTER_FAILED = 125

/** `exited n` → n, `signaled s` → 128 + s (as shells report it). */
export const exitCodeOf = (r: { readonly exited: number } | { readonly signaled: number }) =>
  "exited" in r ? r.exited : 128 + r.signaled

/** exec/attach failures as `tank: message` and docker's codes. */
export const enterFailure = (e: { readonly _tag: string; readonly message: string; readonly exitCode?: number }) =>
  new CliExit({
    code: e._tag === "EnterFailed" && e.exitCode !== undefined ? e.exitCode : EXIT_ENTER_FAILED,
    message: e._tag === "EnterFailed" ? `exec failed: ${e.message}` : e.message
  })

/** A pod on another node (cluster mode) could not be entered from here: 125 with the node named. */
export const otherNodeFailure = (e: unknown) =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "PodOnOtherNode"
    ? new CliExit({ code: EXIT_ENTER_FAILED, message: (e as { message: string }).message })
    : e

export const withConfigLayer = async (config: TankConfigShape) => {
  const Config = await import("../config/Config.js")
  return Layer.succeed(Config.TankConfig, config)
}

export const exec = Command.make(
  "exec",
  {
    dataDir: dataDirOption,
    interactive: Options.boolean("interactive").pipe(
      Options.withAlias("i"),
      Options.withDescription("Keep stdin open and pass it to the command.")
    ),
    tty: Options.boolean("tty").pipe(
      Options.withAlias("t"),
      Options.withDescription("Give the command a terminal (your terminal goes raw for the session).")
    ),
    container: Options.text("container").pipe(
      Options.withAlias("c"),
      Options.withDescription("The container (default: the pod's first)."),
      Options.optional
    ),
    env: Options.keyValueMap("env").pipe(
      Options.withAlias("e"),
      Options.withDescription("Set environment variables (KEY=VALUE, repeatable)."),
      Options.optional
    ),
    user: Options.text("user").pipe(
      Options.withAlias("u"),
      Options.withPseudoName("USER[:GROUP]"),
      Options.withDescription(
        "Run as this user (names from the container's /etc/passwd and /etc/group, or numeric ids)."
      ),
      Options.optional
    ),
    workdir: Options.text("workdir").pipe(
      Options.withAlias("w"),
      Options.withDescription("Working directory inside the container."),
      Options.optional
    ),
    pod: podArg.pipe(Args.withDescription("The pod.")),
    command: Args.text({ name: "CMD" }).pipe(
      Args.withDescription("The command and its arguments (after --)."),
      Args.atLeast(1)
    )
  },
  ({ command, container, dataDir, env, interactive, pod, tty, user, workdir }) =>
    Effect.gen(function*() {
      if (tty && !process.stdin.isTTY) {
        return yield* new CliExit({ code: 1, message: "-t needs a terminal on stdin (drop -t to pipe)" })
      }
      const config = yield* loadConfig(dataDir)
      yield* ensureOnThisNode(config, [pod]).pipe(Effect.mapError(otherNodeFailure))
      const [Exec, configLayer] = yield* Effect.promise(() =>
        Promise.all([import("../exec/Exec.js"), withConfigLayer(config)])
      )
      const result = yield* Exec.exec(pod, command, {
        tty,
        ...(Option.isSome(container) ? { container: container.value } : {}),
        ...(Option.isSome(env) ? { env: Object.fromEntries(env.value) } : {}),
        ...(Option.isSome(workdir) ? { cwd: workdir.value } : {}),
        ...(Option.isSome(user) ? { user: user.value } : {}),
        // Without -i the command reads EOF at once (docker's default), not our stdin.
        ...(interactive || tty ? {} : { stdin: Readable.from([]) })
      }).pipe(Effect.provide(configLayer), Effect.mapError(enterFailure))
      const code = exitCodeOf(result)
      if (code !== 0) return yield* new CliExit({ code })
    })
).pipe(Command.withDescription(describe(
  "exec",
  "Run a command in a running pod; its exit status is passed through.",
  [
    ["tank exec web -- cat /etc/hostname", "run a command (output streams back)"],
    ["tank exec -it web -- sh", "an interactive shell (exit or Ctrl-D leaves; the pod keeps running)"],
    ["tank exec -c sidecar -e DEBUG=1 web -- env", "another container, extra environment"],
    ["tank exec -u nobody:nogroup web -- id", "as another user (names from the container, or UID:GID)"],
    ["echo hi | tank exec -i web -- wc -c", "pass stdin through"]
  ],
  "Exit status: the command's own; 125 if the pod could not be entered (not running, no such container,\n" +
    "or in cluster mode bound to another node: run tank exec on that node);\n" +
    "126 if the command is not executable, 127 if it was not found; 128+N if it died of signal N."
)))
