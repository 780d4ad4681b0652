/**
 * `tank stats [--no-stream] [--json] [POD...]`: live CPU, memory, pids and network of running pods,
 * like `podman stats` (read from cgroups and the pods' network namespaces; no agent needed).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Layer, Stream } from "effect"
import { CliExit, dataDirOption, describe, ensureOnThisNode, jsonOption, loadConfig, out, podArg } from "./common.js"

export const stats = Command.make(
  "stats",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    noStream: Options.boolean("no-stream").pipe(Options.withDescription("Print one sample and exit.")),
    interval: Options.integer("interval").pipe(
      Options.withPseudoName("SECONDS"),
      Options.withDescription("Seconds between samples."),
      Options.withDefault(2)
    ),
    pods: podArg.pipe(Args.withDescription("Pods (default: every running pod)."), Args.repeated)
  },
  ({ dataDir, interval, json, noStream, pods }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      // Named pods must run here; without names, this node's running pods are shown.
      yield* ensureOnThisNode(config, pods)
      const [Stats, Format, Config, { Cgroups }, { NetworkLive }] = yield* Effect.promise(() =>
        Promise.all([
          import("../observe/stats.js"),
          import("../observe/format.js"),
          import("../config/Config.js"),
          import("../cgroups/Cgroups.js"),
          import("../net/NetworkLive.js")
        ])
      )
      const layer = Layer.mergeAll(Layer.succeed(Config.TankConfig, config), Cgroups.layer, NetworkLive)
      const wanted = pods.length ? pods : undefined
      const tty = process.stdout.isTTY === true && !json
      const stream = Stats.statsStream(wanted, Math.max(1, interval) * 1000).pipe(
        noStream ? Stream.take(1) : (s) => s
      )
      let missing: Array<string> = []
      yield* stream.pipe(
        Stream.runForEach((batch) =>
          Effect.gen(function*() {
            const seen = new Set(batch.map((s) => s.pod))
            missing = (wanted ?? []).filter((p) => !seen.has(p))
            if (json) {
              const rows = batch.map(Format.statsJson)
              return yield* out(noStream ? JSON.stringify(rows, null, 2) : JSON.stringify(rows))
            }
            const table = Format.formatStatsTable(batch)
            // A terminal gets a screen that refreshes in place; a pipe gets one table per sample.
            yield* out(tty && !noStream ? `\x1b[H\x1b[2J${table}` : noStream ? table : `${table}\n`)
          })
        ),
        Effect.provide(layer)
      )
      if (noStream && missing.length) {
        return yield* new CliExit({ code: 1, message: missing.map((p) => `pod "${p}" is not running`).join("\n") })
      }
    })
).pipe(Command.withDescription(describe(
  "stats",
  "Show live resource usage of running pods: CPU, memory, pids, network.",
  [
    ["tank stats", "every running pod, refreshed every 2 s (Ctrl-C stops)"],
    ["tank stats --no-stream web db", "one sample of two pods"],
    ["tank stats --no-stream --json", "one sample as JSON (streaming --json prints one array per line)"]
  ]
)))
