/**
 * Tank.apply is typed as the canonical spec: editors complete fields and a misspelled one does not
 * compile. (`npm test` type-checks this file: an unused @ts-expect-error is itself an error.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Tank } from "../../src/index.js"

describe("Tank.apply types", () => {
  it("a misspelled field or a wrong type is a compile error", () => {
    const typo = () =>
      // @ts-expect-error "contianers" is not a pod field
      Tank.apply({ name: "x", contianers: [] })
    const wrongType = () =>
      // @ts-expect-error restart is "always" | "on_failure" | "never"
      Tank.apply({ name: "x", restart: "sometimes", containers: [{ name: "a", image: "busybox" }] })
    const fine = () => Tank.apply({ name: "x", containers: [{ name: "a", image: "busybox" }] })
    expect([typo, wrongType, fine].every((f) => typeof f === "function")).toBe(true)
  })
})
