/**
 * Device access rules (an allow list) and their cgroup v1 form. Pure: no effects.
 *
 * A group with a device policy denies every device access (mknod, read, write) except what its
 * rules allow. v1 enforces it with the `devices` controller (`devices.deny`/`devices.allow`, lines
 * like `c 1:3 rwm`); v2 has no device controller, so the v2 driver attaches a
 * BPF_PROG_TYPE_CGROUP_DEVICE program built from the same lines by the native helper
 * (`tank-helper cgroup-devices`, native/src/devices.c).
 */
import { Either, ParseResult, Schema } from "effect"

/** The kernel's limits: a dev_t has 12 bits of major and 20 bits of minor. */
const MAX_MAJOR = 4095
const MAX_MINOR = (1 << 20) - 1

const sortAccess = (access: string) => ["r", "w", "m"].filter((c) => access.includes(c)).join("")

/**
 * One allowed device class. `type`: `c` char, `b` block, `a` every device (only as `a *:* rwm`,
 * i.e. no restriction at all, because v1 cannot express anything narrower for `a`). `major`/`minor`
 * absent = any. `access`: a non-empty subset of `rwm` (read, write, mknod).
 */
export const DeviceRule = Schema.Struct({
  type: Schema.Literal("c", "b", "a"),
  major: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, MAX_MAJOR)), { exact: true }),
  minor: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, MAX_MINOR)), { exact: true }),
  access: Schema.String.pipe(
    Schema.pattern(/^(?!.*(.).*\1)[rwm]{1,3}$/, { message: () => "access must be a non-empty subset of \"rwm\"" })
  )
}).pipe(
  Schema.filter((r) =>
    r.type !== "a" || (r.major === undefined && r.minor === undefined && sortAccess(r.access) === "rwm") ||
    "type \"a\" means every device: only `a *:* rwm` is allowed"
  )
)
export type DeviceRule = typeof DeviceRule.Type

const rule = (type: "c" | "b", major: number | undefined, minor: number | undefined, access: string): DeviceRule => ({
  type,
  ...(major === undefined ? {} : { major }),
  ...(minor === undefined ? {} : { minor }),
  access
})

/**
 * runc's default allow list (libcontainer/specconv `AllowedDevices`, the same as docker's and
 * podman's defaults): creating any device node is allowed (`m`), opening one is not, except the
 * pseudo devices every program expects plus the terminal devices a container's own devpts needs.
 * runc's extra `c 10:200 rwm` (/dev/net/tun) is left out: a tun device is host networking.
 */
export const DEFAULT_DEVICE_RULES: ReadonlyArray<DeviceRule> = [
  rule("c", undefined, undefined, "m"), // mknod of any char device
  rule("b", undefined, undefined, "m"), // mknod of any block device
  rule("c", 1, 3, "rwm"), // /dev/null
  rule("c", 1, 5, "rwm"), // /dev/zero
  rule("c", 1, 7, "rwm"), // /dev/full
  rule("c", 1, 8, "rwm"), // /dev/random
  rule("c", 1, 9, "rwm"), // /dev/urandom
  rule("c", 5, 0, "rwm"), // /dev/tty
  rule("c", 5, 1, "rwm"), // /dev/console
  rule("c", 5, 2, "rwm"), // /dev/ptmx
  rule("c", 136, undefined, "rwm") // /dev/pts/*
]

/** The v1 line: `c 1:3 rwm`, `c *:* m`, `a *:* rwm`; access always in `rwm` order. */
export const formatDeviceRule = (r: DeviceRule): string =>
  `${r.type} ${r.major ?? "*"}:${r.minor ?? "*"} ${sortAccess(r.access)}`

/** Decodes one rule; the error names each bad field (`.access: ...`) or the whole rule. */
const decodeRule = (input: unknown): Either.Either<DeviceRule, string> =>
  Schema.decodeUnknownEither(DeviceRule)(input).pipe(
    Either.mapLeft((e) =>
      ParseResult.ArrayFormatter.formatErrorSync(e).map((i) =>
        `${i.path.map((p) => `.${String(p)}`).join("")}${i.path.length > 0 ? ": " : ""}${i.message}`
      ).join("; ")
    )
  )

const LINE = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]+)$/

/** Parses one v1 line (`c 1:3 rwm`, `*` for any; as in `devices.list`). */
export const parseDeviceRule = (line: string): Either.Either<DeviceRule, string> => {
  const m = LINE.exec(line.trim())
  if (m === null) return Either.left(`device rule ${JSON.stringify(line)} is not "<a|b|c> <major|*>:<minor|*> <rwm>"`)
  const num = (s: string) => (s === "*" ? undefined : Number(s))
  const [type, major, minor] = [m[1]!, num(m[2]!), num(m[3]!)]
  return decodeRule({
    type,
    ...(major === undefined ? {} : { major }),
    ...(minor === undefined ? {} : { minor }),
    access: m[4]!
  }).pipe(Either.mapLeft((e) => `device rule ${JSON.stringify(line)}: ${e}`))
}

/** Checks rules handed in by a caller (they reach a kernel file or a BPF program). */
export const validateDeviceRules = (
  rules: ReadonlyArray<DeviceRule>
): Either.Either<ReadonlyArray<DeviceRule>, string> => {
  const out: Array<DeviceRule> = []
  for (const [i, r] of rules.entries()) {
    const d = decodeRule(r)
    if (Either.isLeft(d)) {
      return Either.left(`devices[${i}]${d.left.startsWith(".") ? "" : ": "}${d.left} (in ${JSON.stringify(r)})`)
    }
    out.push(d.right)
  }
  return Either.right(out)
}

/**
 * What a v1 `devices.list` says: either "everything allowed" (the kernel prints `a *:* rwm` for a
 * default-allow group, whatever deny exceptions it holds) or a default-deny group's exceptions, one
 * per (type, major, minor), as the kernel merges them.
 */
export type V1DevicesState =
  | { readonly allowAll: true }
  | { readonly allowAll: false; readonly allowed: ReadonlyMap<string, string> }

const keyOf = (r: DeviceRule) => `${r.type} ${r.major ?? "*"}:${r.minor ?? "*"}`

/** rules → (type major:minor) → merged access, the way the kernel stores exceptions. */
const merge = (rules: ReadonlyArray<DeviceRule>): Map<string, string> => {
  const m = new Map<string, string>()
  for (const r of rules) m.set(keyOf(r), sortAccess((m.get(keyOf(r)) ?? "") + r.access))
  return m
}

export const parseDevicesList = (text: string): Either.Either<V1DevicesState, string> => {
  const rules: Array<DeviceRule> = []
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const r = parseDeviceRule(line)
    if (Either.isLeft(r)) return Either.left(r.left)
    if (r.right.type === "a") return Either.right({ allowAll: true })
    rules.push(r.right)
  }
  return Either.right({ allowAll: false, allowed: merge(rules) })
}

export interface DevicesWrite {
  readonly file: "devices.deny" | "devices.allow"
  readonly value: string
}

/**
 * The writes that take a v1 group from `current` to exactly `rules`, in order.
 *
 * From "everything allowed" (a new group under a group without policy): `a` to devices.deny,
 * then every rule to devices.allow. From an existing deny-by-default state (a group whose policy
 * is re-applied, or a new group that inherited its parent's exceptions) only the difference is
 * written — removals to devices.deny, additions to devices.allow — as runc's device emulator does:
 * the kernel refuses `a` on a group that has children (EINVAL, e.g. a pod group), and a blanket
 * deny would, for an instant, refuse /dev/null to a workload already running there.
 */
export const v1DeviceWrites = (
  current: V1DevicesState,
  rules: ReadonlyArray<DeviceRule>
): ReadonlyArray<DevicesWrite> => {
  const allow = (key: string, access: string): DevicesWrite => ({ file: "devices.allow", value: `${key} ${access}` })
  if (rules.some((r) => r.type === "a")) return current.allowAll ? [] : [{ file: "devices.allow", value: "a" }]
  const target = merge(rules)
  if (current.allowAll) {
    return [{ file: "devices.deny", value: "a" }, ...[...target].map(([key, access]) => allow(key, access))]
  }
  const denies: Array<DevicesWrite> = []
  for (const [key, access] of current.allowed) {
    const extra = [...access].filter((c) => !(target.get(key) ?? "").includes(c)).join("")
    if (extra !== "") denies.push({ file: "devices.deny", value: `${key} ${extra}` })
  }
  const allows = [...target]
    .filter(([key, access]) => [...access].some((c) => !(current.allowed.get(key) ?? "").includes(c)))
    .map(([key, access]) => allow(key, access))
  return [...denies, ...allows]
}

/** Consecutive writes to one file, grouped: one open per run, still one write(2) per rule. */
export const consecutiveRuns = (
  writes: ReadonlyArray<DevicesWrite>
): ReadonlyArray<{ readonly file: DevicesWrite["file"]; readonly values: ReadonlyArray<string> }> =>
  writes.reduce<Array<{ file: DevicesWrite["file"]; values: Array<string> }>>((runs, w) => {
    const last = runs[runs.length - 1]
    if (last !== undefined && last.file === w.file) last.values.push(w.value)
    else runs.push({ file: w.file, values: [w.value] })
    return runs
  }, [])
