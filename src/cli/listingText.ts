/**
 * The output formats of every listing command and the text a listing prints in each but yaml (whose
 * printer is loaded lazily: listing.ts). Pure and free of Effect's runtime and of Schema: listing.ts
 * prints through it, and so does `tank ps`'s lite path (quickPsLite.ts).
 */
import { Option } from "effect"

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
