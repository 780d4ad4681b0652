/**
 * `tank top POD`: the pod's processes (from its cgroups) with user, CPU and memory, like `docker top`.
 * Read on this machine from cgroups and /proc; no agent needed.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect, Layer, type Option } from "effect"
import { dataDirOption, describe, ensureOnThisNode, jsonOption, loadConfig, podArg } from "./common.js"
import { type Format, formatOf, outputOption, printListing } from "./output.js"
import { formatBytes, renderTable } from "./table.js"

export const top = Command.make(
  "top",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    output: outputOption,
    pod: podArg.pipe(Args.withDescription("A running pod."))
  },
  ({ dataDir, json, output, pod }: {
    dataDir: Option.Option<string>
    json: boolean
    output: Option.Option<Format>
    pod: string
  }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      yield* ensureOnThisNode(config, [pod])
      const [Top, Config, { Cgroups }] = yield* Effect.promise(() =>
        Promise.all([import("../observe/top.js"), import("../config/Config.js"), import("../cgroups/Cgroups.js")])
      )
      const procs = yield* Top.top(pod).pipe(
        Effect.provide(Layer.merge(Layer.succeed(Config.TankConfig, config), Cgroups.layer))
      )
      const table = (wide: boolean) => () =>
        renderTable(
          ["PID", "PPID", "UID", ...(wide ? ["GID", "CONTAINER"] : []), "%CPU", "RSS", "TIME", "COMMAND"],
          procs.map((p) => [
            String(p.pid),
            String(p.ppid),
            String(p.uid),
            ...(wide ? [String(p.gid), p.container] : []),
            p.cpuPercent.toFixed(1),
            formatBytes(p.rssBytes),
            `${Math.floor(p.cpuSeconds / 60)}:${(p.cpuSeconds % 60).toFixed(2).padStart(5, "0")}`,
            p.command
          ])
        )
      yield* printListing(formatOf({ json, output }), {
        value: procs,
        names: procs.map((p) => `process/${p.pid}`),
        table: table(false),
        wide: table(true)
      })
    })
).pipe(Command.withDescription(describe(
  "top",
  "Show the processes of a running pod (from its cgroups): pid, host uid, CPU, memory, command.",
  [["tank top web", "what runs in pod \"web\", also what an exec started"]],
  "UID is the host's view: in a pod with its own user namespace, the mapped host id."
)))
