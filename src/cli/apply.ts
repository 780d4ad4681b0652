/**
 * `tank apply -f FILE|DIR|- [--dry-run]`: validate every pod of every source first, then store them
 * all at once (Api.applyAll): one invalid document stores nothing. Errors name the file, the
 * document and the field. `--dry-run` runs the same checks and says what each pod would become.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"
import type { Store } from "../store/Store.js"
import { dataDirOption, describe, loadConfig, out, withStore } from "./common.js"

/** `-f`: files, directories or `-`, repeatable (apply, diff, delete). */
export const filesOption = Options.text("filename").pipe(
  Options.withAlias("f"),
  Options.withPseudoName("FILE"),
  Options.withDescription(
    "A YAML or JSON file of pods, a directory (its .yaml/.yml/.json files, sorted), or - for stdin. Repeatable."
  )
)

export const apply = Command.make(
  "apply",
  {
    dataDir: dataDirOption,
    files: filesOption.pipe(Options.atLeast(1)),
    dryRun: Options.boolean("dry-run").pipe(
      Options.withDescription(
        "Validate and print what each pod would become (created/configured/unchanged); store nothing."
      )
    )
  },
  ({ dataDir, dryRun, files }) =>
    Effect.gen(function*() {
      const { readValidSpecs } = yield* Effect.promise(() => import("./specInput.js"))
      const config = yield* loadConfig(dataDir)
      const specs = yield* readValidSpecs(files, config, "nothing was applied")
      const raw = specs.map((s) => s.spec)
      const results = yield* withStore(dataDir, () =>
        Effect.flatMap(
          Effect.promise(() => import("../api/Api.js")),
          (Api): Effect.Effect<ReadonlyArray<{ readonly name: string; readonly outcome: string }>, unknown, Store> =>
            dryRun ? Api.plan(raw, files.join(",")) : Api.applyAll(raw, files.join(","))
        ), { readOnly: dryRun })
      for (const p of results) {
        yield* out(`pod/${p.name} ${p.outcome}${dryRun ? " (dry run)" : ""}`)
      }
    })
).pipe(
  Command.withDescription(
    describe(
      "apply",
      "Declare pods from YAML or JSON: create them or replace their spec. The running agent converges.",
      [
        ["tank apply -f web.yaml", "one or more pods (YAML documents separated by ---)"],
        ["tank apply -f pods/", "every .yaml, .yml and .json file of a directory, in name order"],
        ["tank get web -o json | tank apply -f -", "read from stdin"],
        ["tank apply -f a.yaml -f b.yaml", "several files; if any pod is invalid, nothing is applied"],
        ["tank apply --dry-run -f pods/", "check everything and say what would change; store nothing"]
      ],
      "Every pod is validated before any is stored; errors name the file, the document and the field.\n" +
        "Each pod is reported created, configured (its spec changed) or unchanged (same spec: nothing is written).\n" +
        "tank diff -f shows the changes themselves."
    )
  )
)
