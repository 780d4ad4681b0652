/**
 * `tank ps` / `tank list`: one row per pod, like `podman ps` (the command's options and help; what it
 * does is psList.ts, shared with the quick entry).
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"
import { dataDirOption, describe, jsonOption, resolveDataDir, selectorOption } from "./common.js"
import { outputOption } from "./output.js"
import { type PsOptions, runPs } from "./psList.js"

export { loadReport, type PsRow, psTable, readyColumn, warnInvalid } from "./psList.js"

const help = describe(
  "ps",
  "List pods with their observed state: phase, restarts, age, image, addresses, host pid and last exit.",
  [
    ["tank ps", "every declared pod (and pods still being torn down)"],
    ["tank ps --json | jq '.[] | select(.phase==\"running\") | .name'", "names of the running pods"],
    ["tank ps -q -l app=web | xargs tank restart", "restart the pods labelled app=web"],
    ["tank ps -w", "the table, then each change as it happens"],
    ["TANK_ETCD_ENDPOINTS=https://10.0.0.5:2379 tank ps", "pods of a cluster, with the node each is bound to"]
  ],
  "A pod the agent has not acted on yet shows as \"pending\" (is `tank daemon` running?); a deleted one\n" +
    "\"terminating\" until it is gone. In cluster mode a pod not placed yet shows NODE \"-\" (\"unschedulable\"\n" +
    "when no ready node fits it: `tank status POD` says why), the pods of a node that is not ready\n" +
    "\"unknown\"; `tank nodes` lists the nodes."
)

const options = {
  dataDir: dataDirOption,
  json: jsonOption,
  output: outputOption,
  quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("Only pod names, one a line.")),
  selector: selectorOption,
  watch: Options.boolean("watch").pipe(
    Options.withAlias("w"),
    Options.withDescription("After the table, print each change as it happens (Ctrl-C stops).")
  )
}

/** The data dir from the command's own `--data-dir`, else the root's (common.ts). */
const run = (o: PsOptions) => Effect.flatMap(resolveDataDir(o.dataDir), (dataDir) => runPs({ ...o, dataDir }))

export const ps = Command.make("ps", options, run).pipe(Command.withDescription(help))
export const list = Command.make("list", options, run).pipe(Command.withDescription(help))
