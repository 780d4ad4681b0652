/**
 * The validation catalogue (tank-original.md §2, translated to the canonical shape in DESIGN.md "Spec
 * shape"), plus the holes the original left open. Each rejected input carries exactly one fault, so the
 * decoder must report exactly one issue: at that path, saying what is wrong.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { canonicalJson, decodePod, decodePodEither, encodePod, InvalidSpec } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"

type Obj = Record<string, unknown>

const ctr = (over: Obj = {}): Obj => ({ name: "app", image: "busybox", ...over })
const pod = (over: Obj = {}): Obj => ({ name: "web", containers: [ctr()], ...over })
/** A pod whose one container gets `over`; volume "data" is declared so mounts can name it. */
const withC = (over: Obj): Obj => pod({ volumes: [{ name: "data" }], containers: [ctr(over)] })
const withVolume = (v: Obj): Obj => pod({ volumes: [v] })
const withMount = (m: Obj): Obj => withC({ mounts: [{ volume: "data", path: "/ok" }, m] })
const withNet = (network: unknown): Obj => pod({ network })
const withNic = (over: Obj, more: ReadonlyArray<Obj> = []): Obj =>
  withNet({ nics: [{ name: "eth0", address: "10.0.0.5/24", ...over }, ...more] })
const withLimits = (limits: unknown): Obj => withC({ limits })
const addr = (a: string) => withNic({ address: a })

/** [what is rejected, input, path of the one issue, what the message must say] */
type Rejection = readonly [string, unknown, string, RegExp]

const DNS_LABEL = /must be a DNS label/
const NOT_IPV4 = /is not an IPv4 address/
const UNKNOWN = /unknown field/
const MISSING = /is missing/
const NOT_NORMALISED = /must be normalised/
const NOT_ABSOLUTE = /must be an absolute path/

const podRules: ReadonlyArray<Rejection> = [
  ["a non-object spec (a bare string)", "web", "", /expected an object/i],
  ["a null spec", null, "", /expected an object/i],
  ["an unknown pod field (restartt)", pod({ restartt: "always" }), "restartt", UNKNOWN],
  ["a snake_case alias at pod level", pod({ restart_policy: "never" }), "restart_policy", UNKNOWN],
  ["an empty pod name", pod({ name: "" }), "name", /must not be empty/],
  ["a missing pod name", { containers: [ctr()] }, "name", MISSING],
  ["a non-string pod name", pod({ name: 5 }), "name", /expected string/i],
  ["a pod name with '/'", pod({ name: "a/b" }), "name", DNS_LABEL],
  ["a pod name '..'", pod({ name: ".." }), "name", DNS_LABEL],
  ["an uppercase pod name", pod({ name: "Web" }), "name", DNS_LABEL],
  ["a pod name starting with '-'", pod({ name: "-web" }), "name", DNS_LABEL],
  ["a pod name with a NUL byte", pod({ name: "web\0" }), "name", DNS_LABEL],
  ["a pod name longer than 63", pod({ name: "a".repeat(64) }), "name", /at most 63 characters \(got 64\)/],
  ["an empty containers list", pod({ containers: [] }), "containers", /at least one container/],
  ["a pod without containers", { name: "web" }, "containers", MISSING],
  ["containers given as an object", pod({ containers: {} }), "containers", /expected a list/i],
  ["a container that is a string", pod({ containers: ["x"] }), "containers[0]", /expected an object/i],
  [
    "more than 64 containers",
    pod({ containers: Array.from({ length: 65 }, (_, i) => ctr({ name: `c${i}` })) }),
    "containers",
    /at most 64 containers/
  ],
  [
    "duplicate container names",
    pod({ containers: [ctr({ name: "c", image: "a" }), ctr({ name: "c", image: "b" })] }),
    "containers[1].name",
    /duplicate container name "c"/
  ],
  [
    "duplicate volume names",
    pod({ volumes: [{ name: "v" }, { name: "v" }] }),
    "volumes[1].name",
    /duplicate volume name "v"/
  ],
  ["network 'Host' (wrong case)", withNet("Host"), "network", /"none" \| "host" \| an object/],
  ["network null", withNet(null), "network", /"none" \| "host" \| an object, got null/],
  ["network 5", withNet(5), "network", /"none" \| "host" \| an object, got 5/],
  ["restart 'sometimes'", pod({ restart: "sometimes" }), "restart", /"always" \| "on_failure" \| "never"/],
  ["restart 'on-failure' (dash)", pod({ restart: "on-failure" }), "restart", /got "on-failure"/],
  [
    "a mount naming an undeclared volume",
    withMount({ volume: "nope", path: "/x" }),
    "containers[0].mounts[1].volume",
    /volume "nope" is not declared/
  ]
]

const containerRules: ReadonlyArray<Rejection> = [
  ["an unknown container field (imagee)", withC({ imagee: "a" }), "containers[0].imagee", UNKNOWN],
  ["snake_case working_dir", withC({ working_dir: "/a" }), "containers[0].working_dir", UNKNOWN],
  ["a container without a name", pod({ containers: [{ image: "a" }] }), "containers[0].name", MISSING],
  ["an empty container name", withC({ name: "" }), "containers[0].name", /must not be empty/],
  ["a container name '..'", withC({ name: ".." }), "containers[0].name", DNS_LABEL],
  ["a container name with '/'", withC({ name: "a/b" }), "containers[0].name", DNS_LABEL],
  ["an uppercase container name", withC({ name: "App" }), "containers[0].name", DNS_LABEL],
  ["a container name longer than 63", withC({ name: "c".repeat(64) }), "containers[0].name", /at most 63/],
  ["a container without an image", pod({ containers: [{ name: "c" }] }), "containers[0].image", MISSING],
  ["an empty image", withC({ image: "" }), "containers[0].image", /image reference "" must be non-empty/],
  ["an image with leading space", withC({ image: " busybox" }), "containers[0].image", /without whitespace/],
  ["an image with a NUL byte", withC({ image: "busy\0box" }), "containers[0].image", /without whitespace/],
  ["a relative rootfs", withC({ image: { rootfs: "rootfs" } }), "containers[0].image.rootfs", NOT_ABSOLUTE],
  ["a non-string rootfs", withC({ image: { rootfs: 1 } }), "containers[0].image.rootfs", /expected string/i],
  ["an unnormalised rootfs", withC({ image: { rootfs: "/img/../x" } }), "containers[0].image.rootfs", NOT_NORMALISED],
  ["an unknown field next to rootfs", withC({ image: { rootfs: "/a", x: 1 } }), "containers[0].image.x", UNKNOWN],
  ["command as a string", withC({ command: "x" }), "containers[0].command", /expected a list/i],
  ["a non-string command element", withC({ command: [1] }), "containers[0].command[0]", /expected string/i],
  ["a NUL byte in command", withC({ command: ["a\0b"] }), "containers[0].command[0]", /NUL/],
  ["args as a string", withC({ args: "--x" }), "containers[0].args", /expected a list/i],
  ["a non-string args element", withC({ args: [1] }), "containers[0].args[0]", /expected string/i],
  ["a NUL byte in args", withC({ args: ["\0"] }), "containers[0].args[0]", /NUL/],
  ["an env number value", withC({ env: { PORT: 8080 } }), "containers[0].env.PORT", /expected string/i],
  ["an env boolean value", withC({ env: { DEBUG: true } }), "containers[0].env.DEBUG", /expected string/i],
  ["a NUL byte in an env value", withC({ env: { A: "x\0" } }), "containers[0].env.A", /NUL/],
  ["env given as a list", withC({ env: ["A=1"] }), "containers[0].env", /expected an object/i],
  ["an env name containing '='", withC({ env: { "A=B": "x" } }), "containers[0].env[\"A=B\"]", /env name "A=B"/],
  ["an empty env name", withC({ env: { "": "x" } }), "containers[0].env[\"\"]", /env name "" must be non-empty/],
  ["a NUL byte in an env name", withC({ env: { "A\0": "x" } }), "containers[0].env[\"A\\u0000\"]", /env name/],
  [
    "an env name __proto__ (from JSON, would vanish silently)",
    withC({ env: JSON.parse(`{"__proto__": "x", "A": "1"}`) }),
    "containers[0].env.__proto__",
    /"__proto__" is not allowed/
  ],
  ["a relative workingDir", withC({ workingDir: "app" }), "containers[0].workingDir", NOT_ABSOLUTE],
  ["a non-string workingDir", withC({ workingDir: 1 }), "containers[0].workingDir", /expected string/i],
  ["a workingDir with '..'", withC({ workingDir: "/a/../b" }), "containers[0].workingDir", NOT_NORMALISED],
  ["a workingDir with '//'", withC({ workingDir: "/a//b" }), "containers[0].workingDir", NOT_NORMALISED],
  ["a workingDir with trailing '/'", withC({ workingDir: "/a/" }), "containers[0].workingDir", NOT_NORMALISED],
  ["a NUL byte in workingDir", withC({ workingDir: "/a\0" }), "containers[0].workingDir", /NUL/],
  ["an empty user", withC({ user: "" }), "containers[0].user", /user "" must be/],
  ["a numeric user", withC({ user: 1000 }), "containers[0].user", /expected string/i],
  ["a user with a space", withC({ user: "a b" }), "containers[0].user", /must be "name", "uid"/],
  ["a user with an empty group", withC({ user: "root:" }), "containers[0].user", /must be "name", "uid"/],
  ["tty 'yes'", withC({ tty: "yes" }), "containers[0].tty", /expected boolean/i],
  ["tty 1", withC({ tty: 1 }), "containers[0].tty", /expected boolean/i]
]

const limitRules: ReadonlyArray<Rejection> = [
  ["an unknown limit (swap)", withLimits({ swap: 1 }), "containers[0].limits.swap", UNKNOWN],
  ["limits as a list", withLimits([]), "containers[0].limits", /expected limits/i],
  ["memory 0", withLimits({ memory: 0 }), "containers[0].limits.memory", /at least 1048576 \(got 0\)/],
  ["memory below 1 MiB", withLimits({ memory: 1048575 }), "containers[0].limits.memory", /at least 1048576/],
  ["fractional memory", withLimits({ memory: 1048576.5 }), "containers[0].limits.memory", /integer/],
  ["memory as a string", withLimits({ memory: "1G" }), "containers[0].limits.memory", /expected number/i],
  ["pids 0", withLimits({ pids: 0 }), "containers[0].limits.pids", /positive integer/],
  ["pids -1", withLimits({ pids: -1 }), "containers[0].limits.pids", /positive integer .*got -1/],
  ["fractional pids", withLimits({ pids: 1.5 }), "containers[0].limits.pids", /positive integer/],
  ["cpu as a bare number", withLimits({ cpu: 50000 }), "containers[0].limits.cpu", /expected an object/i],
  ["cpu as a tuple", withLimits({ cpu: [50000, 100000] }), "containers[0].limits.cpu", /expected an object/i],
  ["cpu quota 0", withLimits({ cpu: { quota: 0 } }), "containers[0].limits.cpu.quota", /1000\.\.1000000000/],
  // The kernel refuses a CFS quota under 1 ms: such a pod could never start.
  ["cpu quota 999", withLimits({ cpu: { quota: 999 } }), "containers[0].limits.cpu.quota", /kernel's minimum is 1000/],
  ["cpu without a quota", withLimits({ cpu: { period: 100000 } }), "containers[0].limits.cpu.quota", MISSING],
  [
    "cpu period 999",
    withLimits({ cpu: { quota: 1000, period: 999 } }),
    "containers[0].limits.cpu.period",
    /1000\.\.1000000/
  ],
  [
    "cpu period 1000001",
    withLimits({ cpu: { quota: 1000, period: 1_000_001 } }),
    "containers[0].limits.cpu.period",
    /1000\.\.1000000/
  ],
  ["an unknown cpu field", withLimits({ cpu: { quota: 1000, shares: 2 } }), "containers[0].limits.cpu.shares", UNKNOWN]
]

const mountRules: ReadonlyArray<Rejection> = [
  [
    "an unknown mount field (ro)",
    withMount({ volume: "data", path: "/x", ro: true }),
    "containers[0].mounts[1].ro",
    UNKNOWN
  ],
  [
    "an empty mount volume",
    withMount({ volume: "", path: "/x" }),
    "containers[0].mounts[1].volume",
    /must not be empty/
  ],
  ["a missing mount volume", withMount({ path: "/x" }), "containers[0].mounts[1].volume", MISSING],
  ["a relative mount path", withMount({ volume: "data", path: "rel" }), "containers[0].mounts[1].path", NOT_ABSOLUTE],
  ["a missing mount path", withMount({ volume: "data" }), "containers[0].mounts[1].path", MISSING],
  ["a NUL byte in a mount path", withMount({ volume: "data", path: "/x\0" }), "containers[0].mounts[1].path", /NUL/],
  [
    "a mount path with '.'",
    withMount({ volume: "data", path: "/a/./b" }),
    "containers[0].mounts[1].path",
    NOT_NORMALISED
  ],
  [
    "a mount path with '..'",
    withMount({ volume: "data", path: "/a/.." }),
    "containers[0].mounts[1].path",
    NOT_NORMALISED
  ],
  [
    "a duplicate mount path",
    withMount({ volume: "data", path: "/ok", readOnly: true }),
    "containers[0].mounts[1].path",
    /duplicate mount path "\/ok"/
  ],
  [
    "readOnly 'yes'",
    withMount({ volume: "data", path: "/x", readOnly: "yes" }),
    "containers[0].mounts[1].readOnly",
    /expected boolean/i
  ]
]

const volumeRules: ReadonlyArray<Rejection> = [
  ["an unknown volume field", withVolume({ name: "v", readOnly: true }), "volumes[0].readOnly", UNKNOWN],
  ["a volume without a name", withVolume({ source: "managed" }), "volumes[0].name", MISSING],
  ["a volume name with '/'", withVolume({ name: "a/b" }), "volumes[0].name", DNS_LABEL],
  ["a volume name '..'", withVolume({ name: ".." }), "volumes[0].name", DNS_LABEL],
  ["a volume name longer than 63", withVolume({ name: "v".repeat(64) }), "volumes[0].name", /at most 63/],
  ["volume source 'tmpfs'", withVolume({ name: "v", source: "tmpfs" }), "volumes[0].source", /"managed" \| \{ host/],
  [
    "a relative host source",
    withVolume({ name: "v", source: { host: "rel" } }),
    "volumes[0].source.host",
    NOT_ABSOLUTE
  ],
  [
    "an unnormalised host source",
    withVolume({ name: "v", source: { host: "/var//log" } }),
    "volumes[0].source.host",
    NOT_NORMALISED
  ],
  ["a NUL byte in a host source", withVolume({ name: "v", source: { host: "/a\0" } }), "volumes[0].source.host", /NUL/],
  [
    "an unknown field in a host source",
    withVolume({ name: "v", source: { host: "/a", ro: true } }),
    "volumes[0].source.ro",
    UNKNOWN
  ]
]

const networkRules: ReadonlyArray<Rejection> = [
  ["an unknown network field", withNet({ nics: [], foo: 1 }), "network.foo", UNKNOWN],
  ["nics as a string", withNet({ nics: "eth0" }), "network.nics", /expected a list/i],
  ["dns as a string", withNet({ dns: "1.1.1.1" }), "network.dns", /expected a list/i],
  ["dns 'nope'", withNet({ dns: ["nope"] }), "network.dns[0]", NOT_IPV4],
  ["an IPv6 dns server", withNet({ dns: ["::1"] }), "network.dns[0]", NOT_IPV4],
  ["shorthand dns 127.1", withNet({ dns: ["127.1"] }), "network.dns[0]", NOT_IPV4],
  [
    "duplicate NIC names",
    withNic({}, [{ name: "eth0", address: "10.0.0.6/24" }]),
    "network.nics[1].name",
    /duplicate NIC name "eth0"/
  ],
  [
    "duplicate NIC addresses (different prefixes)",
    withNic({}, [{ name: "eth1", address: "10.0.0.5/16" }]),
    "network.nics[1].address",
    /duplicate NIC address "10.0.0.5"/
  ]
]

const nicRules: ReadonlyArray<Rejection> = [
  ["the seeds' ip field", withNic({ ip: ["10.0.0.5", 24] }), "network.nics[0].ip", UNKNOWN],
  [
    "a macvlan NIC without an address",
    withNet({ nics: [{ name: "eth0" }] }),
    "network.nics[0].address",
    /a macvlan NIC needs an address/
  ],
  ["a NIC without a name", withNet({ nics: [{ address: "10.0.0.5/24" }] }), "network.nics[0].name", MISSING],
  [
    "a NIC name of 16 characters",
    withNic({ name: "n".repeat(16) }),
    "network.nics[0].name",
    /at most 15 characters \(got 16\)/
  ],
  ["an uppercase NIC name", withNic({ name: "Eth0" }), "network.nics[0].name", DNS_LABEL],
  ["a NIC name with '/'", withNic({ name: "e/0" }), "network.nics[0].name", DNS_LABEL],
  ["mode 'vlan'", withNic({ mode: "vlan" }), "network.nics[0].mode", /"macvlan" \| "bridge"/],
  ["mode 'ipvlan'", withNic({ mode: "ipvlan" }), "network.nics[0].mode", /"macvlan" \| "bridge"/],
  [
    "a bridge NIC with a parent",
    withNic({ mode: "bridge", parent: "eth0" }),
    "network.nics[0].parent",
    /a bridge NIC has no parent/
  ],
  ["an empty parent", withNic({ parent: "" }), "network.nics[0].parent", /"" is not a valid interface name/],
  ["a numeric parent", withNic({ parent: 1 }), "network.nics[0].parent", /got 1/],
  ["a parent of 16 characters", withNic({ parent: "p".repeat(16) }), "network.nics[0].parent", /not a valid interface/],
  ["a parent with '/'", withNic({ parent: "a/b" }), "network.nics[0].parent", /not a valid interface/],
  ["a parent '..'", withNic({ parent: ".." }), "network.nics[0].parent", /not a valid interface/],
  ["gateway 'nope'", withNic({ gateway: "nope" }), "network.nics[0].gateway", NOT_IPV4],
  ["a gateway with a prefix", withNic({ gateway: "10.0.0.1/24" }), "network.nics[0].gateway", NOT_IPV4],
  ["an address without a prefix", addr("10.0.0.5"), "network.nics[0].address", /expected a\.b\.c\.d\/p/],
  ["an address 10.0.0.999", addr("10.0.0.999/24"), "network.nics[0].address", /"10.0.0.999" is not an IPv4/],
  ["a shorthand address 127.1", addr("127.1/8"), "network.nics[0].address", NOT_IPV4],
  ["a leading-zero octet 01.2.3.4", addr("01.2.3.4/8"), "network.nics[0].address", NOT_IPV4],
  ["an octet 256", addr("1.2.3.256/24"), "network.nics[0].address", NOT_IPV4],
  ["a leading space", addr(" 1.2.3.4/24"), "network.nics[0].address", NOT_IPV4],
  ["a trailing space before the prefix", addr("1.2.3.4 /24"), "network.nics[0].address", NOT_IPV4],
  ["three octets", addr("1.2.3/24"), "network.nics[0].address", NOT_IPV4],
  ["five octets", addr("1.2.3.4.5/24"), "network.nics[0].address", NOT_IPV4],
  ["a hex octet", addr("0x1.2.3.4/24"), "network.nics[0].address", NOT_IPV4],
  ["an exponent octet", addr("1e2.1.1.1/24"), "network.nics[0].address", NOT_IPV4],
  ["a signed octet", addr("+1.2.3.4/24"), "network.nics[0].address", NOT_IPV4],
  ["an empty octet", addr("1..2.3/24"), "network.nics[0].address", NOT_IPV4],
  ["prefix /33", addr("10.0.0.5/33"), "network.nics[0].address", /prefix \/33 is out of range \(0\.\.32\)/],
  ["prefix /-1", addr("10.0.0.5/-1"), "network.nics[0].address", /expected a\.b\.c\.d\/p/],
  ["prefix /01", addr("10.0.0.5/01"), "network.nics[0].address", /expected a\.b\.c\.d\/p/],
  ["an empty prefix", addr("10.0.0.5/"), "network.nics[0].address", /expected a\.b\.c\.d\/p/],
  ["a fractional prefix", addr("10.0.0.5/1.5"), "network.nics[0].address", /expected a\.b\.c\.d\/p/],
  ["a prefix with trailing space", addr("10.0.0.5/24 "), "network.nics[0].address", /expected a\.b\.c\.d\/p/]
]

const rejectedBy = (input: unknown): InvalidSpec => {
  const r = decodePodEither(input)
  if (Either.isRight(r)) throw new Error(`accepted: ${JSON.stringify(r.right)}`)
  return r.left
}

const catalogue: ReadonlyArray<readonly [string, ReadonlyArray<Rejection>]> = [
  ["Pod", podRules],
  ["Container", containerRules],
  ["Limits", limitRules],
  ["Mount", mountRules],
  ["Volume", volumeRules],
  ["Pod.Network", networkRules],
  ["Nic", nicRules]
]

for (const [section, rules] of catalogue) {
  describe(`${section} rejects`, () => {
    it.each(rules)("%s", (_what, input, path, message) => {
      const err = rejectedBy(input)
      assert.instanceOf(err, InvalidSpec)
      assert.strictEqual(err._tag, "InvalidSpec")
      // One fault in, one issue out: no noise from union branches or from the checks that did pass.
      expect(err.issues.map((i) => i.path)).toEqual([path])
      expect(err.issues[0]!.message).toMatch(message)
      // The human-readable message carries the path too.
      expect(err.message).toContain(`${path || "(root)"}: `)
    })
  })
}

describe("InvalidSpec", () => {
  it("reports every bad field at once, with the pod name and source", () => {
    const err = rejectedBy({ name: "Web", restart: "x", containers: [ctr({ image: "", tty: 3 })] })
    expect(err.issues.map((i) => i.path)).toEqual(["name", "restart", "containers[0].image", "containers[0].tty"])
    assert.strictEqual(err.pod, "Web")
    const sourced = Either.getLeft(decodePodEither(pod({ restart: "x" }), "web.yaml"))
    assert.strictEqual(sourced._tag === "Some" && sourced.value.source, "web.yaml")
    expect(sourced._tag === "Some" && sourced.value.message).toMatch(
      /^invalid pod spec \(web\.yaml: pod "web"\)\n {2}restart: /
    )
  })

  it.effect("decodePod fails in the error channel with the same InvalidSpec", () =>
    Effect.gen(function*() {
      const err = yield* Effect.flip(decodePod(withMount({ volume: "nope", path: "/x" })))
      assert.instanceOf(err, InvalidSpec)
      assert.deepStrictEqual(err.issues.map((i) => i.path), ["containers[0].mounts[1].volume"])
    }))
})

/** §3.3 pod_test's full spec, in the canonical shape. */
const full = {
  name: "web",
  restart: "on_failure",
  volumes: [{ name: "data" }, { name: "logs", source: { host: "/var/log/web" } }],
  network: {
    nics: [{ name: "eth0", parent: "eth0", address: "10.0.0.5/24", gateway: "10.0.0.1" }],
    dns: ["10.0.0.1"]
  },
  containers: [{
    name: "app",
    image: "nginx:1.27",
    command: ["/usr/sbin/nginx"],
    args: ["-g", "daemon off;"],
    env: { PORT: "8080" },
    workingDir: "/",
    user: "nginx",
    mounts: [{ volume: "data", path: "/var/lib/data" }],
    limits: { memory: 256 * 1024 * 1024, pids: 100, cpu: { quota: 50_000, period: 100_000 } }
  }]
}

/** The same with every default spelled out: the canonical form `encodePod` gives back. */
const fullCanonical = {
  name: "web",
  restart: "on_failure",
  network: {
    nics: [{ name: "eth0", mode: "macvlan", parent: "eth0", address: "10.0.0.5/24", gateway: "10.0.0.1" }],
    dns: ["10.0.0.1"]
  },
  volumes: [{ name: "data", source: "managed" }, { name: "logs", source: { host: "/var/log/web" } }],
  initContainers: [],
  containers: [{
    name: "app",
    image: "nginx:1.27",
    command: ["/usr/sbin/nginx"],
    args: ["-g", "daemon off;"],
    env: { PORT: "8080" },
    workingDir: "/",
    user: "nginx",
    mounts: [{ volume: "data", path: "/var/lib/data", readOnly: false }],
    limits: { memory: 268435456, pids: 100, cpu: { quota: 50000, period: 100000 } },
    tty: false
  }]
}

const accept = (input: unknown): Pod => {
  const r = decodePodEither(input)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

/** Reverse the key order of every object, recursively. */
const reverseKeys = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(reverseKeys)
    : v !== null && typeof v === "object"
    ? Object.fromEntries(Object.keys(v).reverse().map((k) => [k, reverseKeys((v as Obj)[k])]))
    : v

describe("accepted specs", () => {
  it("the full spec from the seeds decodes to the canonical tree", () => {
    assert.deepStrictEqual(accept(full), fullCanonical as unknown as Pod)
  })

  it("fills the defaults: network none, restart always, volumes [], empty command/args/env/mounts/limits, tty false", () => {
    assert.deepStrictEqual(accept({ name: "web", containers: [{ name: "app", image: "busybox" }] }), {
      name: "web",
      restart: "always",
      network: "none",
      volumes: [],
      initContainers: [],
      containers: [{
        name: "app",
        image: "busybox",
        command: [],
        args: [],
        env: {},
        mounts: [],
        limits: {},
        tty: false
      }]
    })
  })

  it("fills nested defaults: readOnly false, source managed, NIC mode macvlan, parent auto, cpu period 100000", () => {
    const p = accept({
      name: "web",
      volumes: [{ name: "v" }],
      network: { nics: [{ name: "eth0", address: "10.0.0.5/24" }] },
      containers: [ctr({ mounts: [{ volume: "v", path: "/v" }], limits: { cpu: { quota: 1000 } } })]
    })
    assert.deepStrictEqual(p.volumes[0], { name: "v", source: "managed" })
    assert.deepStrictEqual(p.containers[0]!.mounts[0], { volume: "v", path: "/v", readOnly: false })
    assert.deepStrictEqual(p.containers[0]!.limits.cpu, { quota: 1000, period: 100_000 })
    assert.deepStrictEqual(p.network, {
      nics: [{ name: "eth0", mode: "macvlan", parent: "auto", address: "10.0.0.5/24" }],
      dns: []
    })
  })

  it.each(
    [
      ["network \"host\"", pod({ network: "host" })],
      ["network \"none\"", pod({ network: "none" })],
      ["an empty network object", pod({ network: {} })],
      ["a rootfs image", withC({ image: { rootfs: "/img/rootfs" } })],
      ["a digest reference", withC({ image: "127.0.0.1:5000/a/b@sha256:" + "0".repeat(64) })],
      ["tty true", withC({ tty: true })],
      ["user uid:gid", withC({ user: "1000:1000" })],
      ["prefix /0 and /32", withNic({ address: "0.0.0.0/0" }, [{ name: "eth1", address: "255.255.255.255/32" }])],
      ["a 15-character NIC name and a 15-character parent", withNic({ name: "n".repeat(15), parent: "enp0s31f6.100" })],
      ["63-character pod, container and volume names", {
        name: "p".repeat(63),
        volumes: [{ name: "v".repeat(63) }],
        containers: [ctr({ name: "c".repeat(63) })]
      }],
      ["memory of exactly 1 MiB, pids 1, cpu quota 1000, cpu period 1000 and 1000000", {
        name: "web",
        containers: [
          ctr({ name: "a", limits: { memory: 1048576, pids: 1, cpu: { quota: 1000, period: 1000 } } }),
          ctr({ name: "b", limits: { cpu: { quota: 1000, period: 1_000_000 } } })
        ]
      }],
      ["env names with lowercase, digits and dots", withC({ env: { path: "x", A1: "", "java.opts": "-X" } })],
      ["the same mount path in two containers", {
        name: "web",
        volumes: [{ name: "v" }],
        containers: [
          ctr({ name: "a", mounts: [{ volume: "v", path: "/v" }] }),
          ctr({
            name: "b",
            mounts: [{ volume: "v", path: "/v" }]
          })
        ]
      }]
    ] as const
  )("accepts %s", (_what, input) => {
    accept(input)
  })
})

describe("encode/decode", () => {
  it("encode(decode(x)) is the canonical form, with every default spelled out", () => {
    assert.deepStrictEqual(encodePod(accept(full)), fullCanonical as unknown)
  })

  it("decode(encode(p)) equals p, also through JSON text", () => {
    for (const input of [full, pod(), pod({ network: "host" }), withC({ image: { rootfs: "/r" }, tty: true })]) {
      const p = accept(input)
      assert.deepStrictEqual(accept(encodePod(p)), p)
      assert.deepStrictEqual(accept(JSON.parse(JSON.stringify(encodePod(p)))), p)
    }
  })

  it("decoding an already-decoded pod gives it back unchanged", () => {
    const p = accept(full)
    assert.deepStrictEqual(accept(p), p)
  })

  it("canonicalJson is stable under key order and default spelling, and changes with the spec", () => {
    const a = canonicalJson(accept(full))
    assert.strictEqual(canonicalJson(accept(reverseKeys(full))), a)
    assert.strictEqual(canonicalJson(accept(fullCanonical)), a)
    assert.strictEqual(canonicalJson(accept(reverseKeys(fullCanonical))), a)
    assert.notStrictEqual(canonicalJson(accept({ ...full, restart: "always" })), a)
    // Keys sorted at every level: the string does not depend on insertion order.
    assert.strictEqual(a, JSON.stringify(JSON.parse(a), Object.keys(flattenKeys(JSON.parse(a))).sort()))
  })
})

/** Every key that occurs anywhere in `v` (for JSON.stringify's key allow-list). */
const flattenKeys = (v: unknown, out: Obj = {}): Obj => {
  if (Array.isArray(v)) v.forEach((x) => flattenKeys(x, out))
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out[k] = true
      flattenKeys(x, out)
    }
  }
  return out
}

describe("init containers", () => {
  const base = { name: "web", containers: [{ name: "app", image: "busybox" }] }
  it("share the container name space and the volume rules", () => {
    const dup = decodePodEither({ ...base, initContainers: [{ name: "app", image: "busybox" }] })
    assert.isTrue(
      dup._tag === "Left" && dup.left.issues.some((i) => i.path === "containers[0].name" && /duplicate/.test(i.message))
    )
    const vol = decodePodEither({
      ...base,
      initContainers: [{ name: "init", image: "busybox", mounts: [{ volume: "nope", path: "/x" }] }]
    })
    assert.isTrue(vol._tag === "Left" && vol.left.issues.some((i) => i.path === "initContainers[0].mounts[0].volume"))
  })
})
