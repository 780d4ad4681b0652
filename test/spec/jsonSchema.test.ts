/**
 * `tank schema` / docs/pod.schema.json: generated from the Pod schema, and the checked-in copy that
 * YAML files can point editors at is the current one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { podJsonSchema } from "../../src/spec/jsonSchema.js"

const root = path.resolve(import.meta.dirname, "../..")

describe("pod JSON Schema", () => {
  it("describes the spec as written: only name and containers required, enums and every field", () => {
    const s = podJsonSchema() as unknown as {
      required: ReadonlyArray<string>
      properties: Record<string, unknown>
      $defs: Record<string, { enum?: ReadonlyArray<string> }>
    }
    assert.deepStrictEqual(s.required, ["name", "containers"])
    for (
      const field of ["name", "labels", "restart", "hostUsers", "network", "volumes", "initContainers", "containers"]
    ) {
      assert.property(s.properties, field)
    }
    assert.deepStrictEqual(s.$defs["RestartPolicy"]?.enum, ["always", "on_failure", "never"])
  })

  it("docs/pod.schema.json is up to date (regenerate: tank schema > docs/pod.schema.json)", () => {
    const file = JSON.parse(fs.readFileSync(path.join(root, "docs/pod.schema.json"), "utf8"))
    assert.deepStrictEqual(file, JSON.parse(JSON.stringify(podJsonSchema())))
  })
})
