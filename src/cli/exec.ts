/**
 * `tank exec [-i] [-t] [-c CONTAINER] POD -- CMD...`: run a command in a running pod (all of its
 * namespaces and cgroups, its user, env and working dir). The command's exit status is passed through;
 * failing to enter exits 125 (126 not executable, 127 not found), like docker. The options and help;
 * what it does is execRun.ts, shared with the quick entry.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"
import { dataDirOption, describe, podArg, resolveDataDir } from "./common.js"
import { runExec } from "./execRun.js"

export { enterFailure, EXIT_ENTER_FAILED, exitCodeOf, otherNodeFailure, withConfigLayer } from "./execRun.js"

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
  (o) => Effect.flatMap(resolveDataDir(o.dataDir), (dataDir) => runExec({ ...o, dataDir }))
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
