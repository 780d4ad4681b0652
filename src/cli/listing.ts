/**
 * Output formats: `-o table|wide|json|yaml|name` (and `--json`) on every listing command; the
 * machine-readable ones stable and pretty, one value per command. The `-o` option itself is in
 * output.ts (this module stays free of @effect/cli for the quick entry, quick.ts).
 */
import { Effect, Option } from "effect"
import { out } from "./base.js"

export const printJson = (value: unknown) => out(JSON.stringify(value, null, 2))

// yaml is CommonJS: a dynamic import in the bundle yields it as `default`.
export const loadYaml = /* @__PURE__ */ Effect.promise(() =>
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

/** What a listing command prints, in every format. */
export interface Listing {
  readonly value: unknown
  readonly names: ReadonlyArray<string>
  readonly table: () => string
  readonly wide?: () => string
}

/**
 * The text a listing prints in `format` (yaml aside: its printer is loaded lazily), without its final
 * newline; undefined when it prints nothing (`-o name` of nothing). Pure: `printListing` prints it,
 * and so does `tank ps`'s quick path (src/cli/quickPs.ts), which runs without Effect's runtime.
 */
export const listingText = (format: Exclude<Format, "yaml">, listing: Listing): string | undefined => {
  switch (format) {
    case "json":
      return JSON.stringify(listing.value, null, 2)
    case "name":
      return listing.names.length ? listing.names.join("\n") : undefined
    case "wide":
      return (listing.wide ?? listing.table)()
    case "table":
      return listing.table()
  }
}

/**
 * Print a listing in `format`: `value` for json/yaml, `names` (already `kind/name`) for name, the
 * command's own table (or its wide form) otherwise.
 */
export const printListing = (format: Format, listing: Listing) => {
  if (format === "yaml") return printYaml(listing.value)
  const text = listingText(format, listing)
  return text === undefined ? Effect.void : out(text)
}
