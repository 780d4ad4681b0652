/**
 * `tank schema`: the JSON Schema of the pod spec (src/spec/jsonSchema.ts), for editors.
 */
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"
import { describe } from "./common.js"
import { printJson } from "./output.js"

export const schema = Command.make(
  "schema",
  {},
  () =>
    Effect.flatMap(
      Effect.promise(() => import("../spec/jsonSchema.js")),
      (m) => printJson(m.podJsonSchema())
    )
).pipe(Command.withDescription(describe(
  "schema",
  "Print the JSON Schema of a pod spec (generated from Tank's own schema), for editors' completion.",
  [["tank schema > pod.schema.json", "then in web.yaml: # yaml-language-server: $schema=./pod.schema.json"]]
)))
