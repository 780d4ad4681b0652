/**
 * The security fields of a container (pure): what a spec may say, each rejected input naming its
 * field; the defaults spelled out decode to absent (a pod's identity does not change).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { InvalidSpec } from "../../src/spec/decode.js"
import { canonicalJson, decodePodEither } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"

type Obj = Record<string, unknown>
const pod = (c: Obj = {}): Obj => ({ name: "web", containers: [{ name: "app", image: "busybox", ...c }] })

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

const C = "containers[0]"
const rejections: ReadonlyArray<readonly [string, unknown, string, RegExp]> = [
  [
    "an unknown capability",
    pod({ capabilities: { add: ["FLY"] } }),
    `${C}.capabilities.add[0]`,
    /unknown capability "FLY"/
  ],
  [
    "a CAP_ prefix",
    pod({ capabilities: { drop: ["CAP_NET_RAW"] } }),
    `${C}.capabilities.drop[0]`,
    /without the CAP_ prefix: "NET_RAW"/
  ],
  [
    "a lowercase name",
    pod({ capabilities: { add: ["net_admin"] } }),
    `${C}.capabilities.add[0]`,
    /in capitals: "NET_ADMIN"/
  ],
  ["capabilities as a list", pod({ capabilities: ["NET_ADMIN"] }), `${C}.capabilities`, /expected/i],
  [
    "an unknown capabilities key",
    pod({ capabilities: { remove: ["ALL"] } }),
    `${C}.capabilities.remove`,
    /unknown field/
  ],
  [
    "a bad seccomp word",
    pod({ seccomp: "strict" }),
    `${C}.seccomp`,
    /expected "default" \| "unconfined" \| \{ profile: \.\.\. \}, got "strict"/
  ],
  ["a relative profile", pod({ seccomp: { profile: "p.json" } }), `${C}.seccomp.profile`, /must be an absolute path/],
  ["noNewPrivileges as a string", pod({ noNewPrivileges: "no" }), `${C}.noNewPrivileges`, /boolean/i],
  [
    "a device outside /dev",
    pod({ devices: [{ path: "/etc/passwd" }] }),
    `${C}.devices[0].path`,
    /must be under \/dev\//
  ],
  ["a device path with ..", pod({ devices: [{ path: "/dev/../etc/shadow" }] }), `${C}.devices[0].path`, /normalised/],
  [
    "bad device permissions",
    pod({ devices: [{ path: "/dev/fuse", permissions: "rx" }] }),
    `${C}.devices[0].permissions`,
    /one to three of r, w, m/
  ],
  [
    "repeated permissions",
    pod({ devices: [{ path: "/dev/fuse", permissions: "rr" }] }),
    `${C}.devices[0].permissions`,
    /one to three/
  ],
  [
    "the same device twice",
    pod({ devices: [{ path: "/dev/fuse" }, { path: "/dev/fuse", permissions: "r" }] }),
    `${C}.devices[1].path`,
    /duplicate device path "\/dev\/fuse"/
  ],
  [
    "an unknown rlimit",
    pod({ rlimits: { files: { soft: 1, hard: 2 } } }),
    `${C}.rlimits.files`,
    /unknown rlimit "files"/
  ],
  [
    "soft above hard",
    pod({ rlimits: { nofile: { soft: 10, hard: 5 } } }),
    `${C}.rlimits.nofile`,
    /soft limit 10 is above the hard limit 5/
  ],
  [
    "a negative limit",
    pod({ rlimits: { nproc: { soft: -1, hard: 5 } } }),
    `${C}.rlimits.nproc.soft`,
    /non-negative integer/
  ],
  [
    "soft unlimited under a finite hard",
    pod({ rlimits: { core: { soft: "unlimited", hard: 0 } } }),
    `${C}.rlimits.core`,
    /above the hard limit/
  ]
]

describe("security fields reject", () => {
  it.each(rejections)("%s", (_what, input, path, message) => {
    const err = reject(input)
    expect(err.issues.map((i) => i.path)).toContain(path)
    expect(err.issues.find((i) => i.path === path)!.message).toMatch(message)
  })
})

describe("security fields accept", () => {
  it("every field as given", () => {
    const c = accept(pod({
      capabilities: { add: ["NET_ADMIN", "ALL"], drop: ["ALL"] },
      seccomp: { profile: "/etc/tank/profile.json" },
      noNewPrivileges: false,
      devices: [{ path: "/dev/fuse" }, { path: "/dev/net/tun", permissions: "rw" }],
      rlimits: { nofile: { soft: 1024, hard: "unlimited" }, core: { soft: 0, hard: 0 } }
    })).containers[0]!
    assert.deepStrictEqual(c.capabilities, { add: ["NET_ADMIN", "ALL"], drop: ["ALL"] })
    assert.deepStrictEqual(c.seccomp, { profile: "/etc/tank/profile.json" })
    assert.strictEqual(c.noNewPrivileges, false)
    assert.deepStrictEqual(c.devices, [{ path: "/dev/fuse", permissions: "rwm" }, {
      path: "/dev/net/tun",
      permissions: "rw"
    }])
    assert.deepStrictEqual(c.rlimits, { nofile: { soft: 1024, hard: "unlimited" }, core: { soft: 0, hard: 0 } })
    assert.strictEqual(accept(pod({ seccomp: "unconfined" })).containers[0]!.seccomp, "unconfined")
  })

  it("the defaults, spelled out, are the same pod as leaving them out", () => {
    const plain = accept(pod())
    const spelled = accept(pod({
      capabilities: { add: [], drop: [] },
      seccomp: "default",
      noNewPrivileges: true,
      devices: [],
      rlimits: {}
    }))
    assert.strictEqual(canonicalJson(spelled), canonicalJson(plain))
    const c = spelled.containers[0]!
    for (const k of ["capabilities", "seccomp", "noNewPrivileges", "devices", "rlimits"] as const) {
      assert.isUndefined(c[k], k)
    }
  })
})
