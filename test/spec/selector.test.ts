/**
 * Label selectors (src/spec/selector.ts) and pod labels (the node-label rules, reused).
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { Effect } from "effect"
import { decodePod } from "../../src/spec/decode.js"
import { matches, parseSelector } from "../../src/spec/selector.js"

const pick = (selector: string, pods: Record<string, Record<string, string> | undefined>) => {
  const sel = Either.getOrThrow(parseSelector(selector))
  return Object.entries(pods).filter(([, l]) => matches(sel, l)).map(([n]) => n)
}

const pods = {
  web: { app: "web", tier: "front", env: "prod" },
  api: { app: "api", tier: "back", env: "staging" },
  db: { app: "db", tier: "back", env: "prod", legacy: "" },
  bare: undefined
}

describe("label selectors", () => {
  it("=, ==, !=, in, notin, exists, !exists; all must hold", () => {
    assert.deepStrictEqual(pick("app=web", pods), ["web"])
    assert.deepStrictEqual(pick("app==web", pods), ["web"])
    // != and notin also pick pods without the key (kubectl's rule).
    assert.deepStrictEqual(pick("tier!=back", pods), ["web", "bare"])
    assert.deepStrictEqual(pick("env in (prod, staging),tier=back", pods), ["api", "db"])
    assert.deepStrictEqual(pick("env notin (prod)", pods), ["api", "bare"])
    assert.deepStrictEqual(pick("legacy", pods), ["db"])
    assert.deepStrictEqual(pick("!legacy,tier", pods), ["web", "api"])
    assert.deepStrictEqual(pick("example.com/team=x", pods), [])
  })

  it("a malformed selector names the part and the problem", () => {
    const bad = (s: string) => Either.getOrThrowWith(Either.flip(parseSelector(s)), () => new Error(s)).message
    assert.match(bad("app=web,,x"), /"" ?: empty requirement/)
    assert.match(bad("app=-web"), /"app=-web": label value "-web" must be empty or 1-63/)
    assert.match(bad("bad key=1"), /label key/)
    assert.match(bad("env in ()"), /a set needs at least one value/)
  })
})

describe("pod labels", () => {
  it.effect("decode with the node-label rules; empty labels are no labels (canonical form)", () =>
    Effect.gen(function*() {
      const base = { name: "p", containers: [{ name: "c", image: "busybox" }] }
      const ok = yield* decodePod({ ...base, labels: { app: "web", "example.com/tier": "front" } })
      assert.deepStrictEqual(ok.labels, { app: "web", "example.com/tier": "front" })
      assert.isUndefined((yield* decodePod({ ...base, labels: {} })).labels)
      const key = yield* Effect.flip(decodePod({ ...base, labels: { "-x": "1" } }))
      assert.include(key.message, `label key "-x" must be [prefix/]name`)
      const value = yield* Effect.flip(decodePod({ ...base, labels: { app: "a b" } }))
      assert.include(value.message, `labels.app: label value "a b" must be empty`)
    }))
})
