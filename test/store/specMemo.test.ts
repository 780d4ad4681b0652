/**
 * specMemo.ts: ps's memo of spec texts proven to decode to their own JSON. A text is served from the
 * memo only when it is there whole; only a text the decoder accepted AND whose result is its JSON is
 * proven; a memo of another build is empty.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { MEMO_TEXT_MAX, memoDecoder, memoTexts, sameJson } from "../../src/store/specMemo.js"

/** A decoder that counts its calls: accepts objects with a name, fills `restart` when absent. */
const counting = () => {
  let calls = 0
  const decode = (text: string): Either.Either<{ name: string; restart: string }, string> => {
    calls++
    const v = JSON.parse(text) as { name?: unknown; restart?: unknown }
    return typeof v.name === "string"
      ? Either.right({ name: v.name, restart: typeof v.restart === "string" ? v.restart : "always" })
      : Either.left("no name")
  }
  return { decode, calls: () => calls }
}

describe("ps's spec memo", () => {
  it("compares plain data by value and key order", () => {
    expect(sameJson({ a: 1, b: [1, { c: "x" }] }, { a: 1, b: [1, { c: "x" }] })).toBe(true)
    expect(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false)
    expect(sameJson({ a: [1] }, { a: { 0: 1 } })).toBe(false)
    expect(sameJson({ a: 1 }, { a: 1, b: undefined })).toBe(false)
    expect(sameJson({ a: null }, { a: 0 })).toBe(false)
  })

  it("holds only its own build's texts", () => {
    expect([...memoTexts({ tag: "t1", specs: ["a", "b", 3] }, "t1").specs]).toEqual(["a", "b"])
    expect(memoTexts({ tag: "t0", specs: ["a"] }, "t1").specs.size).toBe(0)
    expect(memoTexts("garbage", "t1").specs.size).toBe(0)
    expect(memoTexts({ tag: "t1", specs: "a" }, "t1").specs.size).toBe(0)
    // Statuses apart from specs: a text proven as one kind is never served as the other.
    const both = memoTexts({ tag: "t1", specs: ["s"], statuses: ["b", 4] }, "t1")
    expect([[...both.specs], [...both.statuses]]).toEqual([["s"], ["b"]])
    expect(memoTexts({ tag: "t0", statuses: ["b"] }, "t1").statuses.size).toBe(0)
  })

  it("serves a proven text without the decode, decodes every other text", () => {
    const canonical = JSON.stringify({ name: "web", restart: "always" })
    const d = counting()
    const first = memoDecoder(new Set(), d.decode)
    expect(first.specOf(canonical)).toEqual(Either.right({ name: "web", restart: "always" }))
    expect(d.calls()).toBe(1)
    expect([...first.proven()]).toEqual([canonical])
    expect(first.changed()).toBe(true)

    const again = memoDecoder(first.proven(), d.decode)
    expect(again.specOf(canonical)).toEqual(Either.right({ name: "web", restart: "always" }))
    expect(d.calls()).toBe(1)
    expect(again.changed()).toBe(false)

    // An edited text (one letter) is another text: decoded, and its failure is the decoder's.
    const edited = canonical.replace(`"name"`, `"nome"`)
    expect(again.specOf(edited)).toEqual(Either.left("no name"))
    expect(d.calls()).toBe(2)
    expect(again.proven().has(edited)).toBe(false)
    // So is one that differs only in white space (its JSON would be the same).
    expect(again.specOf(` ${canonical}`)).toEqual(Either.right({ name: "web", restart: "always" }))
    expect(d.calls()).toBe(3)
  })

  it("proves only a text whose decode is its own JSON (a filled default is not)", () => {
    const d = counting()
    const m = memoDecoder(new Set(), d.decode)
    const short = JSON.stringify({ name: "web" })
    const reordered = JSON.stringify({ restart: "always", name: "web" })
    expect(Either.isRight(m.specOf(short))).toBe(true)
    expect(Either.isRight(m.specOf(reordered))).toBe(true)
    expect(m.proven().size).toBe(0)
    expect(m.changed()).toBe(false)
    // A memo entry whose text is gone from the store: the memo changes (rewritten without it).
    expect(memoDecoder(new Set([short + " "]), d.decode).changed()).toBe(true)
  })

  it("does not remember a text over MEMO_TEXT_MAX", () => {
    const d = counting()
    const big = JSON.stringify({ name: "web", restart: "x".repeat(MEMO_TEXT_MAX) })
    const m = memoDecoder(new Set(), d.decode)
    expect(Either.isRight(m.specOf(big))).toBe(true)
    expect(m.proven().size).toBe(0)
  })
})
