/**
 * Machine-readable output for `--json` and `-o json|yaml`: stable, pretty, one value per command.
 */
import { Effect } from "effect"
import { out } from "./common.js"

export const printJson = (value: unknown) => out(JSON.stringify(value, null, 2))

export const printYaml = (value: unknown) =>
  Effect.flatMap(Effect.promise(() => import("yaml")), (YAML) => out(YAML.stringify(value)))

/** Several documents as a YAML stream (`---` between), ready for `tank apply -f -`. */
export const printYamlDocs = (values: ReadonlyArray<unknown>) =>
  Effect.flatMap(
    Effect.promise(() => import("yaml")),
    (YAML) => out(values.map((v) => YAML.stringify(v)).join("---\n"))
  )
