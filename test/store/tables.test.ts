/**
 * tables.ts's plain row check against the Store's own decoder: `podColumns` (what `tank ps`'s lite
 * path, free of Schema, accepts before it trusts a row) must accept exactly the `pods` rows layout.ts's
 * PodRow decodes, so the lite path never lists a row the Store would call invalid — nor hands over
 * one it could serve. Every column in turn takes every kind of value SQLite can return and some it
 * cannot; a change to PodRow that the plain check does not follow fails here.
 */
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { PodRow } from "../../src/store/layout.js"
import { podColumns } from "../../src/store/tables.js"

const good: Record<string, unknown> = {
  name: "web",
  spec: "{\"name\":\"web\"}",
  revision: 3,
  created_revision: 1,
  updated_at: 1764800000000,
  restart_generation: 0,
  node: null,
  spec_bytes: 14
}

const values: ReadonlyArray<unknown> = [
  "text",
  "",
  0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  10n,
  null,
  undefined,
  Buffer.from("blob"),
  {},
  [],
  true
]

describe("podColumns (tables.ts) and PodRow (layout.ts)", () => {
  it("accept the same rows: each column with each kind of value, and a column missing", () => {
    const decode = Schema.decodeUnknownEither(PodRow)
    const rows: Array<Record<string, unknown>> = [good]
    for (const column of Object.keys(good)) {
      for (const v of values) rows.push({ ...good, [column]: v })
      const { [column]: _, ...without } = good
      rows.push(without)
    }
    for (const row of rows) {
      const plain = podColumns(row) !== undefined
      const store = Either.isRight(decode(row))
      expect({ row, plain }).toEqual({ row, plain: store })
    }
    expect(podColumns(good)).toBeDefined()
  })
})
