/**
 * The security fields of a container, as Schemas (pure): capabilities to add or drop, the seccomp
 * profile, no_new_privs, rlimits and host devices passed through. What they mean at run time lives
 * in src/runtime/security/; here is only what a spec may say, each problem named by its field.
 *
 * Every field is absent when it says the default, so the canonical JSON of a pod (its identity, see
 * decode.ts `canonicalJson`) does not change for pods written before these fields existed.
 */
import { Option, Schema } from "effect"
import { AbsPath } from "./fields.js"

/** Linux capabilities, in bit order (linux/capability.h), without the CAP_ prefix. */
export const CAPABILITY_NAMES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE"
] as const
export type CapabilityName = typeof CAPABILITY_NAMES[number]

const KNOWN = new Set<string>(CAPABILITY_NAMES)

const capabilityProblem = (s: string): string | undefined => {
  if (s === "ALL" || KNOWN.has(s)) return undefined
  if (/^CAP_/i.test(s) && KNOWN.has(s.slice(4).toUpperCase())) {
    return `write capability "${s}" without the CAP_ prefix: "${s.slice(4).toUpperCase()}"`
  }
  if (KNOWN.has(s.toUpperCase())) return `capability "${s}" is written in capitals: "${s.toUpperCase()}"`
  return `unknown capability "${s}" (known: ALL, ${CAPABILITY_NAMES.join(", ")})`
}

/** A capability name as Kubernetes writes it (`NET_ADMIN`), or `ALL`. */
export const Capability = Schema.String.pipe(
  Schema.filter((s) => capabilityProblem(s) ?? true),
  Schema.annotations({ identifier: "Capability" })
)

/** On top of the default set (docker's): `drop` first (`ALL` empties it), then `add`. */
export const Capabilities = Schema.Struct({
  add: Schema.optionalWith(Schema.Array(Capability), { default: () => [] }),
  drop: Schema.optionalWith(Schema.Array(Capability), { default: () => [] })
}).annotations({ identifier: "Capabilities" })
export type Capabilities = typeof Capabilities.Type

/**
 * "default": Tank's default filter (docker's default profile, adjusted to the container's
 * capabilities); "unconfined": none; `{ profile }`: a JSON profile on the agent's host, in the
 * docker/OCI seccomp format (the one users already have for `docker run --security-opt seccomp=`).
 */
export const SeccompSpec = Schema.Union(
  Schema.Literal("default", "unconfined"),
  Schema.Struct({ profile: AbsPath("seccomp profile path") })
).annotations({ identifier: "Seccomp" })
export type SeccompSpec = typeof SeccompSpec.Type

/** rlimit names, lowercase without RLIMIT_ (as `ulimit` and podman's --ulimit name them). */
export const RLIMIT_NAMES = [
  "as",
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack"
] as const
export type RlimitName = typeof RLIMIT_NAMES[number]

/** A limit value: a non-negative integer or "unlimited". */
const RlimitValue = Schema.Union(
  Schema.Number.pipe(
    Schema.filter((n) => Number.isSafeInteger(n) && n >= 0 ? true : `must be a non-negative integer (got ${n})`)
  ),
  Schema.Literal("unlimited")
)
export type RlimitValue = typeof RlimitValue.Type

const asNumber = (v: RlimitValue) => v === "unlimited" ? Infinity : v

export const Rlimit = Schema.Struct({ soft: RlimitValue, hard: RlimitValue }).pipe(
  Schema.filter((r) =>
    asNumber(r.soft) <= asNumber(r.hard) ? true : `soft limit ${r.soft} is above the hard limit ${r.hard}`
  ),
  Schema.annotations({ identifier: "Rlimit" })
)
export type Rlimit = typeof Rlimit.Type

export const Rlimits = Schema.Record({
  key: Schema.String.pipe(Schema.filter((k) => k !== "__proto__")),
  value: Rlimit
}).pipe(
  Schema.filter((r) => {
    const issues = Object.keys(r).flatMap((k) =>
      (RLIMIT_NAMES as ReadonlyArray<string>).includes(k)
        ? []
        : [{ path: [k], message: `unknown rlimit "${k}" (known: ${RLIMIT_NAMES.join(", ")})` }]
    )
    return issues.length === 0 ? true : issues
  }),
  Schema.annotations({ identifier: "Rlimits" })
)
export type Rlimits = typeof Rlimits.Type

/** A host device passed through (same path inside): /dev/fuse, /dev/kvm, /dev/net/tun, a GPU. */
export const Device = Schema.Struct({
  path: AbsPath("device path").pipe(
    Schema.filter((p) => p.startsWith("/dev/") ? true : `device path "${p}" must be under /dev/`)
  ),
  /** r: read, w: write, m: mknod (cgroup device permissions). */
  permissions: Schema.optionalWith(
    Schema.String.pipe(
      Schema.filter((s) =>
        /^(?!.*(.).*\1)[rwm]{1,3}$/.test(s) ? true : `permissions "${s}" must be one to three of r, w, m`
      )
    ),
    { default: () => "rwm" }
  )
}).annotations({ identifier: "Device" })
export type Device = typeof Device.Type

/** Absent when `isDefault`: see the module comment. */
const optionalUnlessDefault = <A, I>(s: Schema.Schema<A, I>, isDefault: (a: A) => boolean) =>
  Schema.optionalToOptional(s, Schema.typeSchema(s), {
    decode: Option.filter((a) => !isDefault(a)),
    encode: (o) => o
  })

/** The container fields, spread into `Container` (Pod.ts). */
export const securityFields = {
  capabilities: optionalUnlessDefault(Capabilities, (c) => c.add.length === 0 && c.drop.length === 0),
  seccomp: optionalUnlessDefault(SeccompSpec, (s) => s === "default"),
  /** no_new_privs (default true): setuid binaries and file capabilities grant nothing. */
  noNewPrivileges: optionalUnlessDefault(Schema.Boolean, (b) => b),
  devices: optionalUnlessDefault(
    Schema.Array(Device).pipe(
      Schema.filter((ds) => ds.length <= 64 ? true : `at most 64 devices (got ${ds.length})`)
    ),
    (ds) => ds.length === 0
  ),
  rlimits: optionalUnlessDefault(Rlimits, (r) => Object.keys(r).length === 0)
}
