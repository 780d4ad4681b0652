/**
 * The pod fields that say how its containers stop: `init` and `terminationGracePeriodSeconds`.
 * Absent, a pod's canonical JSON is what it was before they existed (running pods are not replaced
 * by an agent upgrade); `init: false` is kept (it opts out of the config's default).
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { canonicalJson, decodePodEither, encodePod } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"

const pod = (over: Record<string, unknown> = {}) => ({
  name: "web",
  containers: [{ name: "app", image: "busybox" }],
  ...over
})

const accept = (input: unknown): Pod => {
  const r = decodePodEither(input)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

const issues = (input: unknown) => {
  const r = decodePodEither(input)
  return Either.isLeft(r) ? r.left.issues.map((i) => `${i.path}: ${i.message}`) : []
}

describe("init and terminationGracePeriodSeconds", () => {
  it("absent: the canonical JSON of a pod is unchanged", () => {
    const plain = accept(pod())
    assert.notProperty(plain, "init")
    assert.notProperty(plain, "terminationGracePeriodSeconds")
    assert.strictEqual(
      canonicalJson(plain),
      `{"containers":[{"args":[],"command":[],"env":{},"image":"busybox","limits":{},"mounts":[],"name":"app","tty":false}],` +
        `"initContainers":[],"name":"web","network":"none","restart":"always","volumes":[]}`
    )
  })

  it("set: kept (false too), round-trip, and a different spec", () => {
    const plain = canonicalJson(accept(pod()))
    for (const over of [{ init: true }, { init: false }, { terminationGracePeriodSeconds: 0 }]) {
      const p = accept(pod(over))
      assert.deepInclude(p, over)
      assert.deepStrictEqual(accept(JSON.parse(JSON.stringify(encodePod(p)))), p)
      assert.notStrictEqual(canonicalJson(p), plain)
    }
  })

  it("refused: not a boolean, not whole seconds from 0 to 3600", () => {
    assert.deepStrictEqual(issues(pod({ init: "yes" })), [`init: Expected boolean, actual "yes"`])
    for (const bad of [-1, 1.5, 3601]) {
      assert.deepStrictEqual(issues(pod({ terminationGracePeriodSeconds: bad })), [
        "terminationGracePeriodSeconds: must be a whole number of seconds from 0 to 3600"
      ])
    }
    assert.strictEqual(issues(pod({ terminationGracePeriodSeconds: "10" })).length, 1)
  })
})
