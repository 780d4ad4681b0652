/**
 * What is accepted can be stored, read back and started: the spec size limit (after YAML alias
 * expansion), the fields that end up in fixed-size kernel or helper buffers, the three specs that
 * were accepted but could never start, and escaping of everything echoed. At the decoder and at the
 * API (`Api.apply` stores nothing).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Api from "../../src/api/Api.js"
import { decodePodEither, type InvalidSpec } from "../../src/spec/decode.js"
import { jsonBytesWithin, MAX_SPEC_BYTES } from "../../src/spec/limits.js"
import { printable, printableText } from "../../src/spec/printable.js"
import * as Memory from "../../src/store/memory.js"
import { Store } from "../../src/store/Store.js"

type Obj = Record<string, unknown>
const ctr = (over: Obj = {}): Obj => ({ name: "app", image: "busybox", ...over })
const pod = (over: Obj = {}): Obj => ({ name: "web", volumes: [{ name: "data" }], containers: [ctr()], ...over })
const withC = (over: Obj): Obj => pod({ containers: [ctr(over)] })

const rejected = (input: unknown): InvalidSpec => {
  const r = decodePodEither(input)
  if (Either.isRight(r)) return assert.fail("accepted")
  return r.left
}
const accepted = (input: unknown) => {
  const r = decodePodEither(input)
  if (Either.isLeft(r)) assert.fail(r.left.message)
}
/** The one issue of a rejected spec, as `path: message`. */
const issue = (input: unknown): string => {
  const issues = rejected(input).issues
  assert.strictEqual(issues.length, 1, issues.map((i) => `${i.path}: ${i.message}`).join("\n"))
  return `${issues[0]!.path}: ${issues[0]!.message}`
}

const MiB = 1 << 20

describe("spec size", () => {
  it("90 aliases of a 1 MiB string (95 MB as JSON) are refused naming the limit, in bounded time", () => {
    const big = "x".repeat(MiB)
    const env = Object.fromEntries(Array.from({ length: 90 }, (_, i) => [`V${i}`, big]))
    const t0 = performance.now()
    const msg = issue(withC({ env }))
    assert.isBelow(performance.now() - t0, 500)
    assert.match(msg, /^: the spec is more than 1048576 bytes as JSON \(YAML aliases expanded\); the limit is 1048576/)
  })

  it("a 50 MB spec is refused before it is decoded", () => {
    const t0 = performance.now()
    assert.include(issue(withC({ args: ["y".repeat(50 * 1000 * 1000)] })), "the limit is 1048576")
    assert.isBelow(performance.now() - t0, 500)
  })

  it("the stored form is checked too: escapes can make it larger than the input", () => {
    // 300 host paths of 1000 control characters: 300 KB as input, 1.8 MB once JSON-escaped.
    const component = "\u0001".repeat(250)
    const volumes = Array.from({ length: 300 }, (_, i) => ({
      name: `v${i}`,
      source: { host: `/${component}/${component}/${component}/${component}` }
    }))
    const msg = issue(pod({ volumes }))
    assert.match(msg, /^: the spec is \d+ bytes as JSON .* the limit is 1048576/)
  })

  it("jsonBytesWithin counts like JSON.stringify for plain data and stops early on cycles", () => {
    const v = { a: [1, "xé", true, null], b: { c: "d" } }
    assert.strictEqual(jsonBytesWithin(v, 1000), Buffer.byteLength(JSON.stringify(v)))
    assert.isUndefined(jsonBytesWithin(v, 10))
    const cyclic: Array<unknown> = []
    cyclic.push(cyclic)
    assert.isUndefined(jsonBytesWithin(cyclic, MAX_SPEC_BYTES))
  })
})

describe("accepted but could never start: refused at apply, naming the field", () => {
  it("cpu.quota under the kernel's 1000 µs minimum", () => {
    assert.match(issue(withC({ limits: { cpu: { quota: 999 } } })), /^containers\[0\]\.limits\.cpu\.quota: .*1000/)
    accepted(withC({ limits: { cpu: { quota: 1000 } } }))
  })

  it("a repository name over 255 characters (and any reference the puller refuses)", () => {
    const long = `127.0.0.1:5000/${"a".repeat(256)}:latest`
    assert.match(issue(withC({ image: long })), /^containers\[0\]\.image: .*repository name longer than 255 characters/)
    accepted(withC({ image: `127.0.0.1:5000/${"a".repeat(255)}:latest` }))
    assert.match(issue(withC({ image: "Busybox" })), /^containers\[0\]\.image: /)
  })

  it("a volume mounted at /", () => {
    assert.match(
      issue(withC({ mounts: [{ volume: "data", path: "/" }] })),
      /^containers\[0\]\.mounts\[0\]\.path: a volume cannot be mounted at "\/"/
    )
  })

  it("at the API: InvalidSpec, nothing stored", () =>
    Effect.gen(function*() {
      for (
        const bad of [withC({ limits: { cpu: { quota: 1 } } }), withC({ mounts: [{ volume: "data", path: "/" }] })]
      ) {
        const err = yield* Effect.flip(Api.apply(bad))
        assert.strictEqual(err._tag, "InvalidSpec")
      }
      assert.deepStrictEqual((yield* Effect.flatMap(Store, (s) => s.list)).pods, [])
    }).pipe(Effect.provide(Memory.layerMemory)))
})

describe("fields that end up in fixed-size kernel and helper buffers", () => {
  it("one argument or environment string: at most MAX_ARG_STRLEN - 1 bytes", () => {
    accepted(withC({ args: ["a".repeat(131071)] }))
    assert.match(
      issue(withC({ args: ["a".repeat(131072)] })),
      /^containers\[0\]\.args\[0\]: the string is 131072 bytes/
    )
    // Bytes, not characters: 43691 three-byte characters are 131073 bytes.
    assert.match(
      issue(withC({ command: ["€".repeat(43691)] })),
      /^containers\[0\]\.command\[0\]: the string is 131073 bytes/
    )
    // NAME=value is one string.
    assert.match(
      issue(withC({ env: { K: "v".repeat(131070) } })),
      /^containers\[0\]\.env\.K: "NAME=value" is 131072 bytes/
    )
    accepted(withC({ env: { K: "v".repeat(131069) } }))
  })

  it("a container's argv, env and mounts fit its share of the monitor's 1 MiB config file", () => {
    const args = Array.from({ length: 5 }, () => "a".repeat(120_000))
    assert.match(
      issue(withC({ args })),
      /^containers\[0\]: command, args, env, mounts and workingDir take 600\d+ bytes.*at most 524288/
    )
    accepted(withC({ args: args.slice(0, 4) }))
  })

  it("paths: PATH_MAX in bytes, NAME_MAX per component", () => {
    const comp = "c".repeat(255)
    accepted(withC({ workingDir: `/${comp}` }))
    assert.match(
      issue(withC({ workingDir: `/${comp}c` })),
      /^containers\[0\]\.workingDir: .*256 bytes; a file name holds at most 255/
    )
    // 2121 characters, 4221 bytes.
    const deep = Array.from({ length: 21 }, () => "é".repeat(100)).join("/")
    assert.match(
      issue(withC({ workingDir: `/${deep}` })),
      /^containers\[0\]\.workingDir: .*4221 bytes, longer than PATH_MAX allows \(4095\)/
    )
  })

  it("uid/gid fit the kernel's 32 bits without being -1; rootfs paths fit overlayfs options", () => {
    accepted(withC({ user: "4294967294:4294967294" }))
    assert.match(
      issue(withC({ user: "4294967295" })),
      /^containers\[0\]\.user: .*id 4294967295 is larger than 4294967294/
    )
    assert.match(
      issue(withC({ image: { rootfs: "/srv/a,b" } })),
      /^containers\[0\]\.image\.rootfs: .*must not contain ':' or ','/
    )
  })
})

describe("control characters are escaped wherever the input is echoed", () => {
  it("printable escapes C0, DEL, C1, bidi overrides and lone surrogates, keeps other text, bounds length", () => {
    assert.strictEqual(
      printable("a\u001b]0;x\u0007b\n\t\u007f\u0085\u202e\ud800é日本"),
      "a\\x1b]0;x\\x07b\\n\\t\\x7f\\x85\\u202e\\ud800é日本"
    )
    assert.strictEqual(printable("x".repeat(10), 4), "xxxx… (6 more characters)")
    assert.strictEqual(printable("😀😀", 3), "😀… (2 more characters)")
    assert.strictEqual(printableText("line\u001b[2J\nnext\tok"), "line\\x1b[2J\nnext\tok")
  })

  it("a pod name with terminal controls is escaped in the error, never raw", () => {
    const err = rejected({ name: "\u001b]0;owned\u0007\u001b[2J", containers: [ctr()] })
    assert.notInclude(err.message, "\u001b")
    assert.notInclude(err.message, "\u0007")
    assert.include(err.message, `\\x1b]0;owned\\x07\\x1b[2J`)
    assert.include(err.issues[0]!.message, `pod name "\\x1b]0;owned\\x07\\x1b[2J" must be a DNS label`)
  })

  it("an echoed huge value is cut", () => {
    const err = rejected({ name: "N".repeat(100_000), containers: [ctr()] })
    assert.isBelow(err.message.length, 2_000)
  })
})
