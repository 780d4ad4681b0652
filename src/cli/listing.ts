/**
 * Output formats: `-o table|wide|json|yaml|name` (and `--json`) on every listing command; the
 * machine-readable ones stable and pretty, one value per command. The `-o` option itself is in
 * output.ts (this module stays free of @effect/cli for the quick entry, quick.ts).
 */
import { Effect } from "effect"
import { out } from "./base.js"
import { type Format, type Listing, listingText } from "./listingText.js"

// The formats and a listing's text are pure and Schema-free (listingText.ts: ps's lite path prints them).
export { type Format, formatOf, FORMATS, type Listing, listingText } from "./listingText.js"

export const printJson = (value: unknown) => out(JSON.stringify(value, null, 2))

// yaml is CommonJS: a dynamic import in the bundle yields it as `default`.
export const loadYaml = /* @__PURE__ */ Effect.promise(() =>
  import("yaml").then((m) => (m as unknown as { default?: typeof m }).default ?? m)
)

export const printYaml = (value: unknown) => Effect.flatMap(loadYaml, (YAML) => out(YAML.stringify(value)))

/** Several documents as a YAML stream (`---` between), ready for `tank apply -f -`. */
export const printYamlDocs = (values: ReadonlyArray<unknown>) =>
  Effect.flatMap(loadYaml, (YAML) => out(values.map((v) => YAML.stringify(v)).join("---\n")))

/**
 * Print a listing in `format`: `value` for json/yaml, `names` (already `kind/name`) for name, the
 * command's own table (or its wide form) otherwise.
 */
export const printListing = (format: Format, listing: Listing) => {
  if (format === "yaml") return printYaml(listing.value)
  const text = listingText(format, listing)
  return text === undefined ? Effect.void : out(text)
}
