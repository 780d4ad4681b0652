import { assert, describe, it } from "@effect/vitest"
import { type DesiredPod, isEmpty, plan, steps } from "../../src/reconciler/plan.js"
import { canonicalJson, decodePodEither } from "../../src/spec/decode.js"

const spec = (input: Record<string, unknown>) => {
  const r = decodePodEither({ containers: [{ name: "app", image: "busybox" }], ...input })
  if (r._tag === "Left") throw r.left
  return r.right
}
const desired = (name: string, revision = 1, extra: Record<string, unknown> = {}): DesiredPod => ({
  name,
  revision,
  specKey: canonicalJson(spec({ name, ...extra }))
})
const observed = (...ds: ReadonlyArray<DesiredPod>) => new Map(ds.map((d) => [d.name, { specKey: d.specKey }]))
const names = (ds: ReadonlyArray<DesiredPod>) => ds.map((d) => d.name)

describe("plan (tank-original plan_test)", () => {
  it("nothing desired, nothing tracked: all empty", () => {
    const p = plan([], new Map())
    assert.deepStrictEqual(p, { start: [], stop: [], replace: [], keep: [], hold: [] })
    assert.isTrue(isEmpty(p))
  })

  it("desired only: start", () => {
    const web = desired("web")
    const p = plan([web], new Map())
    assert.deepStrictEqual(p.start, [web])
    assert.deepStrictEqual([p.stop, p.replace, p.keep], [[], [], []])
  })

  it("tracked only: stop, by name", () => {
    const p = plan([], observed(desired("web")))
    assert.deepStrictEqual(p.stop, ["web"])
    assert.deepStrictEqual([p.start, p.replace, p.keep], [[], [], []])
  })

  it("identical: nothing to do (keep)", () => {
    const web = desired("web")
    const p = plan([web], observed(web))
    assert.isTrue(isEmpty(p))
    assert.deepStrictEqual(p.keep, [web])
  })

  it("changed restart policy: replace with the new spec", () => {
    const old = desired("web", 1, { restart: "always" })
    const neu = desired("web", 2, { restart: "never" })
    const p = plan([neu], observed(old))
    assert.deepStrictEqual(p.replace, [neu])
    assert.deepStrictEqual([p.start, p.stop, p.keep], [[], [], []])
  })

  it("mixed: keep, changed, added, gone", () => {
    const keep = desired("keep")
    const changedOld = desired("changed", 1, { restart: "always" })
    const changedNew = desired("changed", 5, { restart: "on_failure" })
    const add = desired("add")
    const gone = desired("gone")
    const p = plan([keep, changedNew, add], observed(keep, changedOld, gone))
    assert.deepStrictEqual(names(p.start), ["add"])
    assert.deepStrictEqual(p.stop, ["gone"])
    assert.deepStrictEqual(p.replace, [changedNew])
    assert.deepStrictEqual(names(p.keep), ["keep"])
  })
})

describe("plan: any field change replaces the pod", () => {
  const base = { restart: "always" }
  const changes: ReadonlyArray<[string, Record<string, unknown>]> = [
    ["restart", { restart: "never" }],
    ["network", { network: "host" }],
    ["volumes", { volumes: [{ name: "data" }] }],
    ["image", { containers: [{ name: "app", image: "busybox:1.36" }] }],
    ["command", { containers: [{ name: "app", image: "busybox", command: ["/bin/sh"] }] }],
    ["args", { containers: [{ name: "app", image: "busybox", args: ["-c", "true"] }] }],
    ["env", { containers: [{ name: "app", image: "busybox", env: { A: "1" } }] }],
    ["workingDir", { containers: [{ name: "app", image: "busybox", workingDir: "/srv" }] }],
    ["user", { containers: [{ name: "app", image: "busybox", user: "1000:1000" }] }],
    ["limits", { containers: [{ name: "app", image: "busybox", limits: { memory: 1 << 21 } }] }],
    ["tty", { containers: [{ name: "app", image: "busybox", tty: true }] }],
    ["container name", { containers: [{ name: "main", image: "busybox" }] }],
    ["second container", {
      containers: [{ name: "app", image: "busybox" }, { name: "side", image: "busybox" }]
    }]
  ]
  for (const [field, change] of changes) {
    it(field, () => {
      const old = desired("web", 1, base)
      const neu = desired("web", 2, { ...base, ...change })
      assert.notStrictEqual(old.specKey, neu.specKey)
      assert.deepStrictEqual(plan([neu], observed(old)).replace, [neu])
    })
  }

  it("a new revision of the same spec (defaults spelled out or not) is kept, not replaced", () => {
    const old = desired("web", 1, {})
    const neu = desired("web", 7, { restart: "always", network: "none", volumes: [] })
    const p = plan([neu], observed(old))
    assert.deepStrictEqual(p.keep, [neu])
    assert.isTrue(isEmpty(p))
  })
})

describe("steps", () => {
  it("every stop (removed, then replaced) comes before any start", () => {
    const a = desired("a")
    const bOld = desired("b", 1, { restart: "never" })
    const bNew = desired("b", 2)
    const c = desired("c")
    const s = steps(plan([bNew, c], observed(a, bOld)))
    assert.deepStrictEqual(s.map((x) => x._tag === "Stop" ? `stop ${x.name}` : `start ${x.pod.name}`), [
      "stop a",
      "stop b",
      "start b",
      "start c"
    ])
  })
})
