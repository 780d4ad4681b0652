/**
 * `tank ps`'s READY column (pure): ready containers / containers, a probed container counting only
 * once the agent wrote `ready: true` for its current start.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { psTable, readyColumn } from "../../src/cli/ps.js"
import { decodePodEither } from "../../src/spec/decode.js"
import type { PodStatus } from "../../src/store/status.js"

const probe = { exec: { command: ["true"] } }
const spec = (probed: ReadonlyArray<boolean>) =>
  Either.getOrThrow(decodePodEither({
    name: "p",
    containers: probed.map((p, i) => ({ name: `c${i}`, image: "busybox", ...(p ? { readinessProbe: probe } : {}) }))
  }))
const base: PodStatus = { name: "p", phase: "running", restarts: 0, specRevision: 1, updatedAt: "2026-01-01T00:00:00Z" }
const running = (name: string, ready?: boolean) => ({
  name,
  state: "running" as const,
  restarts: 0,
  ...(ready !== undefined ? { ready } : {})
})

describe("READY", () => {
  it("one container: the pod's ready", () => {
    expect(readyColumn(base, spec([true]))).toBe("0/1")
    expect(readyColumn({ ...base, ready: false }, spec([true]))).toBe("0/1")
    expect(readyColumn({ ...base, ready: true }, spec([true]))).toBe("1/1")
    expect(readyColumn(base, spec([false]))).toBe("1/1")
    expect(readyColumn({ ...base, phase: "backing-off" }, spec([false]))).toBe("-")
  })

  it("several containers: each one's ready; an unprobed one is ready while it runs", () => {
    const s = { ...base, containers: [running("c0", true), running("c1")] }
    expect(readyColumn(s, spec([true, true]))).toBe("1/2")
    expect(readyColumn(s, spec([true, false]))).toBe("2/2")
    expect(
      readyColumn(
        { ...s, containers: [running("c0", true), { ...running("c1"), state: "backing-off" as const }] },
        spec([true, false])
      )
    )
      .toBe("1/2")
  })

  it("the column shows only when a listed pod has a readiness probe", () => {
    const row = (probed: boolean) => ({ status: { ...base, ready: true }, spec: spec([probed]), declaredAt: undefined })
    expect(psTable([row(false)], Date.now()).split("\n")[0]).not.toContain("READY")
    expect(psTable([row(true)], Date.now()).split("\n")[0]).toMatch(/^NAME\s+PHASE\s+READY\s+RESTARTS/)
    expect(psTable([row(true)], Date.now()).split("\n")[1]).toMatch(/^p\s+running\s+1\/1\s/)
  })
})
