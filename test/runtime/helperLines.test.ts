import { describe, expect, it } from "@effect/vitest"
import { lineSplitter } from "../../src/runtime/helper/lines.js"

describe("lineSplitter (the helper's newline-delimited replies)", () => {
  it("keeps a line cut across chunks, splits a chunk of several, holds back an unfinished tail", () => {
    const split = lineSplitter()
    expect(split("{\"a\":")).toEqual([])
    expect(split("1}\n{\"b\":2}\n{\"c\"")).toEqual(["{\"a\":1}", "{\"b\":2}"])
    expect(split(":3}\n")).toEqual(["{\"c\":3}"])
    expect(split("\n")).toEqual([""])
  })
})
