/**
 * Output formats: `-o table|wide|json|yaml|name` (and `--json`) on every listing command; the
 * machine-readable ones stable and pretty, one value per command. The `-o` option itself is in
 * output.ts (this module stays free of @effect/cli for the quick entry, quick.ts).
 */
import { Effect, Option } from "effect"
import { out } from "./base.js"

export const printJson = (value: unknown) => out(JSON.stringify(value, null, 2))

// yaml is CommonJS: a dynamic import in the bundle yields it as `default`.
export const loadYaml = Effect.promise(() =>
  import("yaml").then((m) => (m as unknown as { default?: typeof m }).default ?? m)
)

export const printYaml = (value: unknown) => Effect.flatMap(loadYaml, (YAML) => out(YAML.stringify(value)))

/** Several documents as a YAML stream (`---` between), ready for `tank apply -f -`. */
export const printYamlDocs = (values: ReadonlyArray<unknown>) =>
  Effect.flatMap(loadYaml, (YAML) => out(values.map((v) => YAML.stringify(v)).join("---\n")))

/** `-o` of every listing command (kubectl's words); `--json` stays as an alias of `-o json`. */
export const FORMATS = ["table", "wide", "json", "yaml", "name"] as const
export type Format = typeof FORMATS[number]

/** The format asked for: `--json`, else `-o`, else the command's own default. */
export const formatOf = (
  o: { readonly json: boolean; readonly output: Option.Option<Format> },
  fallback: Format = "table"
): Format => o.json ? "json" : Option.getOrElse(o.output, () => fallback)

/**
 * Print a listing in `format`: `value` for json/yaml, `names` (already `kind/name`) for name, the
 * command's own table (or its wide form) otherwise.
 */
export const printListing = (
  format: Format,
  listing: {
    readonly value: unknown
    readonly names: ReadonlyArray<string>
    readonly table: () => string
    readonly wide?: () => string
  }
) => {
  switch (format) {
    case "json":
      return printJson(listing.value)
    case "yaml":
      return printYaml(listing.value)
    case "name":
      return listing.names.length ? out(listing.names.join("\n")) : Effect.void
    case "wide":
      return out((listing.wide ?? listing.table)())
    case "table":
      return out(listing.table())
  }
}
