/**
 * Placement fields of a pod (cluster mode): `node`, `nodeSelector`, `reschedule`. Each rejected input
 * carries one fault and must come back as one issue naming its field.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { InvalidSpec } from "../../src/spec/decode.js"
import { canonicalJson, decodePodEither, encodePod } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"

type Obj = Record<string, unknown>
const pod = (over: Obj = {}): Obj => ({ name: "web", containers: [{ name: "app", image: "busybox" }], ...over })

const accept = (input: unknown): Pod => {
  const r = decodePodEither(input)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const reject = (input: unknown): InvalidSpec => {
  const r = decodePodEither(input)
  if (Either.isRight(r)) throw new Error(`accepted: ${JSON.stringify(r.right)}`)
  return r.left
}

const LABEL_KEY = /must be \[prefix\/\]name/
const LABEL_VALUE = /label value .* must be empty or 1-63/

const rejections: ReadonlyArray<readonly [string, unknown, string, RegExp]> = [
  ["an uppercase node", pod({ node: "Node1" }), "node", /node name "Node1" must be a DNS label/],
  ["an empty node", pod({ node: "" }), "node", /node name must not be empty/],
  ["a node of 64 characters", pod({ node: "n".repeat(64) }), "node", /at most 63 characters \(got 64\)/],
  ["a node with a dot", pod({ node: "a.b" }), "node", /must be a DNS label/],
  ["a node that is a number", pod({ node: 5 }), "node", /expected string/i],
  ["a null node", pod({ node: null }), "node", /expected string/i],
  ["reschedule as a string", pod({ reschedule: "yes" }), "reschedule", /expected boolean/i],
  ["nodeSelector as a list", pod({ nodeSelector: ["a"] }), "nodeSelector", /expected an object/i],
  ["a nodeSelector value that is a number", pod({ nodeSelector: { zone: 1 } }), "nodeSelector.zone", /string/i],
  ["a label key starting with '-'", pod({ nodeSelector: { "-zone": "a" } }), "nodeSelector[\"-zone\"]", LABEL_KEY],
  ["an empty label key", pod({ nodeSelector: { "": "a" } }), "nodeSelector[\"\"]", LABEL_KEY],
  ["a label key with a space", pod({ nodeSelector: { "my zone": "a" } }), "nodeSelector[\"my zone\"]", LABEL_KEY],
  ["a label name of 64", pod({ nodeSelector: { ["k".repeat(64)]: "a" } }), `nodeSelector.${"k".repeat(64)}`, LABEL_KEY],
  [
    "an empty name after the prefix",
    pod({ nodeSelector: { "tank.io/": "a" } }),
    "nodeSelector[\"tank.io/\"]",
    LABEL_KEY
  ],
  [
    "an uppercase prefix",
    pod({ nodeSelector: { "Tank.io/zone": "a" } }),
    "nodeSelector[\"Tank.io/zone\"]",
    /prefix before '\/' must be a DNS subdomain/
  ],
  [
    "two slashes",
    pod({ nodeSelector: { "a/b/c": "a" } }),
    "nodeSelector[\"a/b/c\"]",
    LABEL_KEY
  ],
  ["a value ending in '-'", pod({ nodeSelector: { zone: "a-" } }), "nodeSelector.zone", LABEL_VALUE],
  ["a value of 64", pod({ nodeSelector: { zone: "v".repeat(64) } }), "nodeSelector.zone", LABEL_VALUE],
  ["a value with '/'", pod({ nodeSelector: { zone: "a/b" } }), "nodeSelector.zone", LABEL_VALUE],
  [
    "a __proto__ key (own key from JSON)",
    pod({ nodeSelector: JSON.parse(`{"__proto__":"x"}`) }),
    "nodeSelector.__proto__",
    /"__proto__" is not allowed/
  ],
  [
    "a pinned pod that asks to be rescheduled",
    pod({ node: "n1", reschedule: true }),
    "reschedule",
    /pinned to node "n1" cannot be rescheduled/
  ],
  [
    "a pinned pod with a nodeSelector",
    pod({ node: "n1", nodeSelector: { zone: "a" } }),
    "nodeSelector",
    /give "node" or "nodeSelector", not both/
  ],
  ["a misspelt field (nodeName)", pod({ nodeName: "n1" }), "nodeName", /unknown field/]
]

describe("placement fields reject", () => {
  it.each(rejections)("%s", (_what, input, path, message) => {
    const err = reject(input)
    expect(err.issues.map((i) => i.path)).toEqual([path])
    expect(err.issues[0]!.message).toMatch(message)
    expect(err.message).toContain(`${path}: `)
  })
})

describe("placement fields accept", () => {
  it("node, nodeSelector and reschedule as given", () => {
    const pinned = accept(pod({ node: "node-1" }))
    assert.strictEqual(pinned.node, "node-1")
    assert.isUndefined(pinned.reschedule)
    const sel = accept(pod({
      nodeSelector: { zone: "a", "tank.io/disk": "ssd", "example.com/empty": "", "A_b.c": "X_y.Z" },
      reschedule: true
    }))
    assert.deepStrictEqual(sel.nodeSelector, {
      zone: "a",
      "tank.io/disk": "ssd",
      "example.com/empty": "",
      "A_b.c": "X_y.Z"
    })
    assert.strictEqual(sel.reschedule, true)
    // A pinned pod may say reschedule: false (it is the default).
    assert.strictEqual(accept(pod({ node: "n1", reschedule: false })).node, "n1")
  })

  it("a prefix of 253 and a name of 63 are the longest keys", () => {
    const prefix = Array.from({ length: 4 }, () => "p".repeat(62)).join(".") + ".a" // 253
    assert.strictEqual(prefix.length, 253)
    const key = `${prefix}/${"n".repeat(63)}`
    assert.deepStrictEqual(accept(pod({ nodeSelector: { [key]: "v".repeat(63) } })).nodeSelector, {
      [key]: "v".repeat(63)
    })
    const tooLong = reject(pod({ nodeSelector: { [`x${prefix}/n`]: "v" } }))
    expect(tooLong.issues[0]!.message).toMatch(/at most 253/)
  })

  it("reports every bad label key at once", () => {
    const err = reject(pod({ nodeSelector: { "-a": "x", ok: "x", "b-": "x" } }))
    expect(err.issues.map((i) => i.path)).toEqual(["nodeSelector[\"-a\"]", "nodeSelector[\"b-\"]"])
  })
})

describe("placement fields in the canonical form", () => {
  const plain = accept(pod())

  it("are absent when not given: a pod's canonical JSON is what it was before they existed", () => {
    assert.notProperty(plain, "node")
    assert.notProperty(plain, "nodeSelector")
    assert.notProperty(plain, "reschedule")
    assert.strictEqual(
      canonicalJson(plain),
      `{"containers":[{"args":[],"command":[],"env":{},"image":"busybox","limits":{},"mounts":[],"name":"app","tty":false}],` +
        `"initContainers":[],"name":"web","network":"none","restart":"always","volumes":[]}`
    )
  })

  it("reschedule: false and nodeSelector: {} are the same pod as leaving them out", () => {
    const spelled = accept(pod({ reschedule: false, nodeSelector: {} }))
    assert.deepStrictEqual(spelled, plain)
    assert.strictEqual(canonicalJson(spelled), canonicalJson(plain))
    assert.deepStrictEqual(encodePod(spelled), encodePod(plain))
  })

  it("round-trip through encode and JSON, and change canonicalJson when set", () => {
    for (
      const input of [
        pod({ node: "n1" }),
        pod({ nodeSelector: { zone: "a" }, reschedule: true }),
        pod({ reschedule: true })
      ]
    ) {
      const p = accept(input)
      assert.deepStrictEqual(accept(encodePod(p)), p)
      assert.deepStrictEqual(accept(JSON.parse(JSON.stringify(encodePod(p)))), p)
      assert.notStrictEqual(canonicalJson(p), canonicalJson(plain))
    }
    assert.notStrictEqual(
      canonicalJson(accept(pod({ nodeSelector: { zone: "a" } }))),
      canonicalJson(accept(pod({ nodeSelector: { zone: "b" } })))
    )
  })
})
