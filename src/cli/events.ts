/**
 * `tank events [--json] [--since T] [-f] [--pod P]`: what the agent did to pods (applied, pulling,
 * running, exited, backing-off, ...), from the store's event log.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Chunk, Effect, Option, Stream } from "effect"
import { dataDirOption, describe, err, jsonOption, withStore } from "./common.js"
import { formatOf, loadYaml, outputOption } from "./output.js"
import { write } from "./stdio.js"

export const events = Command.make(
  "events",
  {
    dataDir: dataDirOption,
    json: jsonOption.pipe(Options.withDescription("One JSON object per line.")),
    output: outputOption,
    since: Options.text("since").pipe(
      Options.withPseudoName("TIME"),
      Options.withDescription("Events at or after TIME: RFC 3339, unix seconds, or a duration ago (10m)."),
      Options.optional
    ),
    follow: Options.boolean("follow").pipe(
      Options.withAlias("f"),
      Options.withDescription("Keep printing new events until interrupted.")
    ),
    pod: Options.text("pod").pipe(Options.withDescription("Only this pod's events."), Options.optional),
    limit: Options.integer("limit").pipe(
      Options.withAlias("n"),
      Options.withDescription("Without --since: how many recent events (default 100)."),
      Options.optional
    )
  },
  ({ dataDir, follow, json, limit, output, pod, since }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        // A stream, so one record per line (json) or per document (yaml), as they come.
        const format = formatOf({ json, output })
        const YAML = format === "yaml" ? yield* loadYaml : undefined
        const [Events, Format] = yield* Effect.promise(() =>
          Promise.all([import("../observe/events.js"), import("../observe/format.js")])
        )
        yield* Events.events({
          follow,
          ...(Option.isSome(since) ? { since: since.value } : {}),
          ...(Option.isSome(pod) ? { pod: pod.value } : {}),
          ...(Option.isSome(limit) ? { limit: limit.value } : {}),
          // Skipped and named on stderr; the listing goes on (exit 0).
          // A warning that cannot be written (stderr gone) must not end the listing.
          onInvalid: (r) => Effect.ignore(err(`tank: warning: ${r.message} (skipped; see tank doctor)`))
        }).pipe(
          // One write per chunk, waiting for a slow reader (stdio.ts).
          Stream.runForEachChunk((chunk) =>
            write(
              "stdout",
              Chunk.toReadonlyArray(chunk).map((e) =>
                format === "json"
                  ? JSON.stringify(Format.eventJson(e)) + "\n"
                  : format === "yaml"
                  ? "---\n" + YAML!.stringify(Format.eventJson(e))
                  : format === "name"
                  ? `event/${e.id}\n`
                  : Format.formatEvent(e) + "\n"
              ).join("")
            )
          )
        )
      }), { readOnly: !follow })
).pipe(Command.withDescription(describe(
  "events",
  "Print pod events from the store: applied, pulling, running, exited, backing-off, deleted, ...",
  [
    ["tank events", "the last 100 events"],
    ["tank events -f", "follow new events (Ctrl-C stops)"],
    ["tank events --since 1h --pod web --json", "one pod's events of the last hour, as JSON lines"]
  ]
)))
