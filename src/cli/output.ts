/**
 * The `-o table|wide|json|yaml|name` option of every listing command; the formats and printers are in
 * listing.ts (re-exported here).
 */
import * as Options from "@effect/cli/Options"
import { FORMATS } from "./listing.js"

export * from "./listing.js"

export const outputOption = Options.choice("output", FORMATS).pipe(
  Options.withAlias("o"),
  Options.withPseudoName("FORMAT"),
  Options.withDescription("table, wide (more columns), json, yaml, or name (one kind/name a line)."),
  Options.optional
)
