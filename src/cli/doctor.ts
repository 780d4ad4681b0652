/**
 * `tank doctor [--fix] [--remove POD]... [--json]`: list the store's records that cannot be read
 * (written behind Tank's back: another writer's bug, a downgrade, disk damage) and remove them.
 *
 * Statuses and events are derived data (the agent writes them again): `--fix` removes the invalid
 * ones. A pods record is the user's desired state: removed only when named with `--remove` (the
 * agent then stops what still runs of that pod, as for `tank delete`); re-applying the pod repairs
 * it instead. Exit 0 when no invalid record remains, 1 otherwise (so scripts can check).
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"
import type { InvalidRecord } from "../store/Store.js"
import { CliExit, dataDirOption, describe, jsonOption, out, withStore } from "./common.js"
import { printJson } from "./output.js"
import { renderTable } from "./table.js"

const rowOf = (r: InvalidRecord) => [r.kind, r.where, r.revision !== undefined ? String(r.revision) : "-", r.reason]

const recordJson = (r: InvalidRecord) => ({
  kind: r.kind,
  key: r.key,
  where: r.where,
  ...(r.revision !== undefined ? { revision: r.revision } : {}),
  reason: r.reason
})

/** What `tank doctor` prints (pure). */
export const doctorText = (report: {
  readonly found: ReadonlyArray<InvalidRecord>
  readonly removed: ReadonlyArray<InvalidRecord>
  readonly remaining: ReadonlyArray<InvalidRecord>
}): string => {
  if (report.found.length === 0) return "no invalid records\n"
  const lines = [renderTable(["KIND", "RECORD", "REVISION", "PROBLEM"], report.found.map(rowOf))]
  for (const r of report.removed) lines.push(`removed ${r.where}\n`)
  const pods = report.remaining.filter((r) => r.kind === "pod")
  const derived = report.remaining.filter((r) => r.kind !== "pod")
  if (derived.length > 0) {
    lines.push(`${derived.length} invalid status/event record(s): tank doctor --fix removes them\n`)
  }
  for (const r of pods) {
    lines.push(`pod ${r.where}: re-apply the pod to replace it, or remove it with tank doctor --remove ${r.key}\n`)
  }
  return lines.join("")
}

export const doctor = Command.make(
  "doctor",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    fix: Options.boolean("fix").pipe(
      Options.withDescription("Remove invalid statuses and events (derived data the agent writes again).")
    ),
    remove: Options.text("remove").pipe(
      Options.withPseudoName("POD"),
      Options.withDescription("Remove this pod's invalid record (its desired state). Repeatable."),
      Options.repeated
    )
  },
  ({ dataDir, fix, json, remove }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const Api = yield* Effect.promise(() => import("../api/Api.js"))
        const report = yield* Api.doctor({ fix, remove })
        yield* json
          ? printJson({
            found: report.found.map(recordJson),
            removed: report.removed.map(recordJson),
            remaining: report.remaining.map(recordJson)
          })
          : out(doctorText(report))
        if (report.remaining.length > 0) return yield* new CliExit({ code: 1 })
      }), { readOnly: !fix && remove.length === 0 })
).pipe(
  Command.withDescription(describe(
    "doctor",
    "List stored records that cannot be read (pods, statuses, events) and remove them.",
    [
      ["tank doctor", "list invalid records; exit 1 if there are any"],
      ["tank doctor --fix", "also remove invalid statuses and events (the agent writes them again)"],
      ["tank doctor --remove web", "remove pod \"web\"'s invalid record (the agent stops what still runs of it)"]
    ],
    "An invalid pod is reported \"invalid\" by tank ps and is neither started nor stopped by the agent.\n" +
      "Re-applying the pod (tank apply) replaces its record and is usually the better repair."
  ))
)
