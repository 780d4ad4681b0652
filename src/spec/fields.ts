/**
 * Field-level schemas for pod specs: names, paths, IPv4 addresses. Pure; no effects.
 *
 * Names become file paths, cgroup names, hostnames and link names, so they are held to
 * DNS-label rules (RFC 1123): lowercase alphanumerics and '-', starting and ending alphanumeric.
 * Values that end up in a fixed-size kernel buffer are held to its size here, at apply, rather than
 * failing every start (limits.ts has the numbers). Values echoed in messages go through `quoted`.
 */
import { Schema } from "effect"
import { MAX_ARG_STRLEN, MAX_ID, NAME_MAX, PATH_MAX, utf8Bytes } from "./limits.js"
import { quoted } from "./printable.js"

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** A DNS-1123 label of at most `max` characters. */
export const label = (what: string, max: number) =>
  Schema.String.pipe(
    Schema.filter((s) => {
      if (s.length === 0) return `${what} must not be empty`
      if (s.length > max) return `${what} must be at most ${max} characters (got ${s.length})`
      if (!LABEL.test(s)) {
        return `${what} ${
          quoted(s)
        } must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit`
      }
      return true
    }),
    Schema.annotations({ identifier: what })
  )

/** Pod names are hostnames and path components: 63 characters, like a Kubernetes pod name label. */
export const PodName = label("pod name", 63)
/** Container names appear in log file names and cgroup names. */
export const ContainerName = label("container name", 63)
/** Volume names are directory names under the data dir. */
export const VolumeName = label("volume name", 63)
/** NIC names are Linux interface names: IFNAMSIZ leaves 15 usable bytes. */
export const NicName = label("NIC name", 15)

/** Address pool names (agent config `network.pools`). */
export const PoolName = label("pool name", 63)

/** Link names for a NIC's parent: what the kernel accepts as an interface name. */
export const LinkName = Schema.String.pipe(
  Schema.filter((s) =>
    /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/.test(s) && s !== "." && s !== ".."
      ? true
      : `${quoted(s)} is not a valid interface name (1-15 characters of letters, digits, '_', '.', '-', ':', '@')`
  ),
  Schema.annotations({ identifier: "LinkName" })
)

/**
 * A plain string that can cross to execve: no NUL bytes, and within the kernel's limit for one
 * argument or environment string (MAX_ARG_STRLEN; execve fails with E2BIG beyond it).
 */
export const CString = Schema.String.pipe(Schema.filter((s) => {
  if (s.includes("\0")) return "string must not contain a NUL byte"
  const bytes = utf8Bytes(s)
  return bytes < MAX_ARG_STRLEN
    ? true
    : `the string is ${bytes} bytes; the kernel takes at most ${MAX_ARG_STRLEN - 1} per argument or environment string`
}))

/**
 * An absolute, normalised path: starts with '/', no '.' or '..' segments, no empty segments, no NUL.
 * Normalised paths make "two mounts at the same path" a string comparison. Within the kernel's
 * PATH_MAX and NAME_MAX (per component), in bytes, so no mkdir or mount of it fails ENAMETOOLONG.
 */
export const AbsPath = (what: string) =>
  Schema.String.pipe(
    Schema.filter((s) => {
      if (!s.startsWith("/")) return `${what} ${quoted(s)} must be an absolute path`
      if (s.includes("\0")) return `${what} must not contain a NUL byte`
      const bytes = utf8Bytes(s)
      if (bytes >= PATH_MAX) return `${what} is ${bytes} bytes, longer than PATH_MAX allows (${PATH_MAX - 1})`
      if (s !== "/" && (s.endsWith("/") || s.split("/").slice(1).some((p) => p === "" || p === "." || p === ".."))) {
        return `${what} ${quoted(s)} must be normalised (no '.', '..', '//' or trailing '/')`
      }
      const long = s.split("/").find((p) => utf8Bytes(p) > NAME_MAX)
      if (long !== undefined) {
        return `${what}: the component ${quoted(long, 40)} is ${
          utf8Bytes(long)
        } bytes; a file name holds at most ${NAME_MAX}`
      }
      return true
    }),
    Schema.annotations({ identifier: what })
  )

/** Strict dotted-quad IPv4: four decimal octets 0..255, no leading zeros, no shorthand like "127.1". */
export const parseIpv4 = (s: string): ReadonlyArray<number> | undefined => {
  const parts = s.split(".")
  if (parts.length !== 4) return undefined
  const out: Array<number> = []
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out.push(n)
  }
  return out
}

export const Ipv4 = Schema.String.pipe(
  Schema.filter((s) => parseIpv4(s) ? true : `${quoted(s)} is not an IPv4 address (expected a.b.c.d, each 0-255)`),
  Schema.annotations({ identifier: "Ipv4" })
)

/** "a.b.c.d/p" with p in 0..32. */
export const Ipv4Cidr = Schema.String.pipe(
  Schema.filter((s) => {
    const m = /^([^/]+)\/(0|[1-9][0-9]?)$/.exec(s)
    if (!m) return `${quoted(s)} is not an address with a prefix (expected a.b.c.d/p)`
    if (!parseIpv4(m[1]!)) return `${quoted(m[1]!)} is not an IPv4 address (expected a.b.c.d, each 0-255)`
    if (Number(m[2]) > 32) return `prefix /${m[2]} is out of range (0..32)`
    return true
  }),
  Schema.annotations({ identifier: "Ipv4Cidr" })
)

/** A positive safe integer (limits). */
export const PositiveInt = (what: string, max = Number.MAX_SAFE_INTEGER) =>
  Schema.Number.pipe(
    Schema.filter((n) =>
      Number.isSafeInteger(n) && n > 0 && n <= max ?
        true :
        `${what} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` at most ${max}` : ""} (got ${n})`
    ),
    Schema.annotations({ identifier: what })
  )

/** Environment variable names: no '=' (it separates name from value), no NUL, not empty. */
export const envNameProblem = (s: string): string | undefined =>
  s.length > 0 && !s.includes("=") && !s.includes("\0")
    ? undefined
    : `env name ${quoted(s)} must be non-empty without '=' or NUL`

export const EnvName = Schema.String.pipe(Schema.filter((s) => envNameProblem(s) ?? true))

/**
 * `user:` as the OCI image config spells it: name or uid, optionally `:group` or `:gid`. A numeric
 * id must fit the kernel's uid_t/gid_t without being -1 (at most 4294967294).
 */
export const UserSpec = Schema.String.pipe(
  Schema.filter((s) => {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(s) || s.length > 256) {
      return `user ${quoted(s)} must be "name", "uid", "name:group" or "uid:gid"`
    }
    const big = s.split(":").find((part) => /^[0-9]+$/.test(part) && Number(part) > MAX_ID)
    return big === undefined ? true : `user ${quoted(s)}: id ${big} is larger than ${MAX_ID}`
  }),
  Schema.annotations({ identifier: "UserSpec" })
)

/** Cluster node names (`node:` in a pod, `node.name` in the config): DNS labels, like the config's. */
export const NodeName = label("node name", 63)

// Label keys and values: plain rules (labels.ts: ps's lite tier checks `-l` with them, without Schema).
export { labelKeyProblem, labelValueProblem } from "./labels.js"
