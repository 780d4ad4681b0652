/**
 * The JSON Schema of a pod spec as users write it (`tank schema`), generated from the Schema itself
 * so it cannot drift: the encoded side (fields with defaults are optional, as in a file), keeping
 * the named parts and enums. Editors complete fields from it: in a YAML file,
 * `# yaml-language-server: $schema=<path to pod.schema.json>`.
 */
import { JSONSchema, Schema } from "effect"
import { Pod } from "./Pod.js"

export const podJsonSchema = () => ({
  ...JSONSchema.make(Schema.encodedBoundSchema(Pod)),
  title: "Tank pod spec"
})
