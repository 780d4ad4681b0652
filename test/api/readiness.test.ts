/**
 * Readiness as `tank status`, `ps` and `Tank.status` show it (src/api/readiness.ts): a container is
 * ready when it runs and its readiness/startup probe passes, a pod when it runs and every container
 * is; not ready says why (the probe that failed last, with its output, or the container's state).
 * Then the same through Api.status / Api.statusAll on the memory store, and `tank status`'s text.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Api from "../../src/api/Api.js"
import { withReadiness } from "../../src/api/readiness.js"
import { statusText } from "../../src/cli/status.js"
import { decodePodEither } from "../../src/spec/decode.js"
import { layerMemory } from "../../src/store/memory.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"

const probe = { exec: { command: ["cat", "/tmp/ready"] } }
const podInput = (probed: ReadonlyArray<boolean>) => ({
  name: "p",
  containers: probed.map((p, i) => ({ name: `c${i}`, image: "busybox", ...(p ? { readinessProbe: probe } : {}) }))
})
const spec = (probed: ReadonlyArray<boolean>) => Either.getOrThrow(decodePodEither(podInput(probed)))
const base: PodStatus = { name: "p", phase: "running", restarts: 0, specRevision: 1, updatedAt: "2026-01-01T00:00:00Z" }
const WHY = "readiness probe exec [cat /tmp/ready] failed (exit 1: cat: can't open '/tmp/ready')"

describe("withReadiness", () => {
  it("one container: ready when running and its probe passed; the agent's reason otherwise", () => {
    expect(withReadiness(base, spec([false]))).toMatchObject({ ready: true })
    expect(withReadiness(base, spec([false])).readyReason).toBeUndefined()
    expect(withReadiness({ ...base, ready: true }, spec([true]))).toMatchObject({ ready: true })
    expect(withReadiness(base, spec([true]))).toMatchObject({
      ready: false,
      readyReason: "its probe has not passed since it started"
    })
    expect(withReadiness({ ...base, ready: false, readyReason: WHY }, spec([true]))).toMatchObject({
      ready: false,
      readyReason: WHY
    })
  })

  it("not running: not ready, and a stale reason of the agent's is dropped (the phase says why)", () => {
    const s = withReadiness({ ...base, phase: "backing-off", ready: true, readyReason: WHY }, spec([true]))
    expect(s.ready).toBe(false)
    expect(s.readyReason).toBeUndefined()
  })

  it("several containers: each one's verdict, and the pod's names the containers that are not ready", () => {
    const s = withReadiness({
      ...base,
      containers: [
        { name: "c0", state: "running", restarts: 0, ready: false, readyReason: WHY },
        { name: "c1", state: "backing-off", restarts: 1 },
        { name: "c2", state: "running", restarts: 0 }
      ]
    }, spec([true, false, false]))
    expect(s.containers!.map((c) => [c.name, c.ready, c.readyReason])).toEqual([
      ["c0", false, WHY],
      ["c1", false, "not running (backing-off)"],
      ["c2", true, undefined]
    ])
    expect(s.ready).toBe(false)
    expect(s.readyReason).toBe(`container c0: ${WHY}; container c1: not running (backing-off)`)
    // Idempotent: readers may derive what was derived already.
    expect(withReadiness(s, spec([true, false, false]))).toEqual(s)
  })

  it("a startup probe gates readiness as a readiness probe does", () => {
    const startup = Either.getOrThrow(decodePodEither({
      name: "p",
      containers: [{ name: "c0", image: "busybox", startupProbe: probe }]
    }))
    expect(withReadiness(base, startup).ready).toBe(false)
    expect(withReadiness({ ...base, ready: true }, startup).ready).toBe(true)
  })
})

describe("Api.status and statusAll derive it", () => {
  const layer = layerMemory
  it.scoped("ready, and why not, for every declared pod", () =>
    Effect.gen(function*() {
      const store = yield* Store
      const p = yield* Api.apply(podInput([true]))
      yield* Api.apply({ ...podInput([false]), name: "q" })
      const at = new Date().toISOString()
      yield* store.putStatus({ ...base, specRevision: p.revision, ready: false, readyReason: WHY, updatedAt: at })
      yield* store.putStatus({ ...base, name: "q", specRevision: p.revision + 1, updatedAt: at })
      const one = yield* Api.status("p")
      assert.strictEqual(one.ready, false)
      assert.strictEqual(one.readyReason, WHY)
      const all = yield* Api.statusAll
      assert.deepStrictEqual(all.map((s) => [s.name, s.ready]), [["p", false], ["q", true]])
      // tank status prints the same.
      expect(statusText(one, Date.now())).toContain(`Ready:`)
      expect(statusText(one, Date.now())).toMatch(new RegExp(`Ready: +no \\(${WHY.replace(/[[\]()]/g, "\\$&")}\\)\n`))
      expect(statusText(all[1]!, Date.now())).toMatch(/Ready: +yes\n/)
    }).pipe(Effect.provide(layer)))
})

describe("tank status text", () => {
  it("a pod of several containers: READY and HEALTH columns, and why a running container is not ready", () => {
    const s = withReadiness({
      ...base,
      containers: [
        { name: "c0", state: "running", restarts: 0, ready: false, readyReason: WHY },
        {
          name: "c1",
          state: "running",
          restarts: 0,
          health: { status: "unhealthy", failingStreak: 2, output: "exit 1: down" }
        }
      ]
    }, spec([true, false]))
    const text = statusText(s, Date.parse(base.updatedAt))
    const lines = text.split("\n")
    const at = lines.indexOf("Containers:")
    expect(lines.slice(at + 1, at + 4).map((l) => l.trim().split(/\s+/).slice(0, 4))).toEqual([
      ["NAME", "STATE", "READY", "HEALTH"],
      ["c0", "running", "no", "-"],
      ["c1", "running", "yes", "unhealthy"]
    ])
    expect(text).toContain(`  c0 not ready: ${WHY}\n`)
    expect(text).toContain("  c1 health: unhealthy (2 failures in a row: exit 1: down)\n")
    expect(text).toMatch(/Ready: +no \(container c0: /)
  })
})
