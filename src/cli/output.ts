/**
 * Machine-readable output for `--json` and `-o json|yaml`: stable, pretty, one value per command.
 */
import { Effect } from "effect"
import { out } from "./common.js"

export const printJson = (value: unknown) => out(JSON.stringify(value, null, 2))

// yaml is CommonJS: a dynamic import in the bundle yields it as `default`.
const loadYaml = Effect.promise(() => import("yaml").then((m) => (m as unknown as { default?: typeof m }).default ?? m))

export const printYaml = (value: unknown) => Effect.flatMap(loadYaml, (YAML) => out(YAML.stringify(value)))

/** Several documents as a YAML stream (`---` between), ready for `tank apply -f -`. */
export const printYamlDocs = (values: ReadonlyArray<unknown>) =>
  Effect.flatMap(loadYaml, (YAML) => out(values.map((v) => YAML.stringify(v)).join("---\n")))
