/**
 * The desired-state model: a pod and everything in it, as Effect Schemas.
 *
 * The encoded form is the canonical JSON/YAML/TS shape from DESIGN.md (plain data, camelCase keys).
 * Decoding fills the seeds' defaults (network "none", restart "always", volumes [], parent "auto", ...)
 * and rejects unknown fields; encoding gives the canonical form back with every default spelled out.
 */
import { Either, Option, Schema } from "effect"
import { parseReference } from "../image/reference.js"
import {
  AbsPath,
  ContainerName,
  CString,
  envNameProblem,
  Ipv4,
  Ipv4Cidr,
  labelKeyProblem,
  labelValueProblem,
  LinkName,
  NicName,
  NodeName,
  PodName,
  PoolName,
  PositiveInt,
  UserSpec,
  VolumeName
} from "./fields.js"
import { containerBudgetIssue, MAX_ARG_STRLEN, utf8Bytes } from "./limits.js"
import { quoted } from "./printable.js"
import { probeFields, probeIssues } from "./probes.js"
import { containerRunFields, keyedSource, podRunFields } from "./runFields.js"
import { securityFields } from "./security.js"

/** A local rootfs is an overlayfs lower directory, whose option syntax has no room for ':' or ','. */
export const ImageRootfs = Schema.Struct({
  rootfs: AbsPath("rootfs path").pipe(
    Schema.filter((p) => /[:,]/.test(p) ? `rootfs path ${quoted(p)} must not contain ':' or ','` : true)
  )
})
/**
 * An OCI reference string ("busybox", "ghcr.io/o/a:tag", "host:5000/a@sha256:...") or a local rootfs.
 * Parsed as the puller will (repository at most 255 characters, tag and digest syntax).
 */
export const ImageSource = Schema.Union(
  Schema.String.pipe(
    Schema.filter((s) => {
      if (!(s.trim() === s && s.length > 0 && s.length <= 1024 && !/[\s\0]/.test(s))) {
        return `image reference ${quoted(s)} must be non-empty, at most 1024 characters, without whitespace`
      }
      const ref = parseReference(s)
      return Either.isRight(ref) ? true : `image reference ${quoted(s)}: ${ref.left.reason}`
    })
  ),
  ImageRootfs
).annotations({ identifier: "Image" })
export type ImageSource = typeof ImageSource.Type

/** A port of a bridge pod published on the host (DNAT), like `docker run -p hostIP:hostPort:containerPort`. */
export const PortMapping = Schema.Struct({
  containerPort: PositiveInt("containerPort", 65535),
  hostPort: PositiveInt("hostPort", 65535),
  protocol: Schema.optionalWith(
    Schema.Literal("tcp", "udp").annotations({ message: () => `protocol must be "tcp" or "udp"` }),
    { default: () => "tcp" as const }
  ),
  /** Only connections to this host address (default: every address of the host, loopback included). */
  hostIP: Schema.optionalWith(Ipv4, { exact: true })
}).annotations({ identifier: "PortMapping" })
export type PortMapping = typeof PortMapping.Type

/**
 * Node labels a pod requires (cluster mode): every pair must be among the node's labels. Keys are
 * checked by a filter for the same reason as env names (see `Env` below).
 */
const LabelMap = Schema.Record({
  key: Schema.String.pipe(Schema.filter((k) => k !== "__proto__")),
  value: Schema.String.pipe(Schema.filter((v) => labelValueProblem(v) ?? true))
}).pipe(
  Schema.filter((sel) => {
    const issues = Object.keys(sel).flatMap((k) => {
      const problem = labelKeyProblem(k)
      return problem === undefined ? [] : [{ path: [k], message: problem }]
    })
    return issues.length === 0 ? true : issues
  })
)
export const NodeSelector = LabelMap.annotations({ identifier: "NodeSelector" })
/** A pod's own labels (the same rules), picked by `-l` selectors (src/spec/selector.ts). */
export const Labels = LabelMap.annotations({ identifier: "Labels" })

const optionalArray = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(Schema.Array(s), { default: () => [] })

export const RestartPolicy = Schema.Literal("always", "on_failure", "never").annotations({
  identifier: "RestartPolicy",
  message: () => `restart must be one of "always", "on_failure", "never"`
})
export type RestartPolicy = typeof RestartPolicy.Type

export const HostSource = Schema.Struct({ host: AbsPath("host path") })

export const Volume = Schema.Struct({
  name: VolumeName,
  /**
   * "managed": a directory under the data dir that Tank creates; `{ host }`: an existing host
   * directory; `{ tmpfs }`: in memory, emptied with each run of the pod.
   */
  source: Schema.optionalWith(
    Schema.Union(Schema.Literal("managed"), keyedSource(AbsPath("host path"))),
    { default: () => "managed" as const }
  )
}).annotations({ identifier: "Volume" })
export type Volume = typeof Volume.Type

export const Mount = Schema.Struct({
  volume: VolumeName,
  // A volume over "/" would hide the image from the workload but not from `exec` (which enters the
  // container's root before mounts apply to it): refused rather than half-working.
  path: AbsPath("mount path").pipe(
    Schema.filter((p) => p !== "/" ? true : `a volume cannot be mounted at "/" (it would replace the image's root)`)
  ),
  readOnly: Schema.optionalWith(Schema.Boolean, { default: () => false })
}).annotations({ identifier: "Mount" })
export type Mount = typeof Mount.Type

export const Cpu = Schema.Struct({
  /** CFS quota in microseconds per period: the kernel refuses less than 1 ms. */
  quota: Schema.Number.pipe(
    Schema.filter((n) =>
      Number.isInteger(n) && n >= 1000 && n <= 1_000_000_000
        ? true
        : `cpu.quota must be 1000..1000000000 µs (the kernel's minimum is 1000; got ${n})`
    )
  ),
  /** CFS period in microseconds: the kernel accepts 1 ms .. 1 s. */
  period: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) =>
        Number.isInteger(n) && n >= 1000 && n <= 1_000_000 ? true : `cpu.period must be 1000..1000000 µs (got ${n})`
      )
    ),
    { default: () => 100_000 }
  )
}).annotations({ identifier: "Cpu" })

export const Limits = Schema.Struct({
  /** Memory limit in bytes. The kernel needs room for the process itself: at least 1 MiB. */
  memory: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) =>
        Number.isSafeInteger(n) && n >= 1 << 20
          ? true
          : `memory must be an integer number of bytes, at least 1048576 (got ${n})`
      )
    ),
    { exact: true }
  ),
  /** Maximum number of tasks (processes and threads). */
  pids: Schema.optionalWith(PositiveInt("pids", 4_194_304), { exact: true }),
  cpu: Schema.optionalWith(Cpu, { exact: true })
}).annotations({ identifier: "Limits" })
export type Limits = typeof Limits.Type

/**
 * Environment as a NAME → value object. Names are checked by a filter rather than a refined Record
 * key: with `onExcessProperty: "error"` a refined key turns a bad name into "unknown field", which
 * hides the real problem.
 */
export const Env = Schema.Record({
  // "__proto__" (an own key when parsed from JSON/YAML) cannot be stored in a plain object: it would
  // set the prototype and the variable would vanish silently. Reject it here; decode.ts names it.
  key: Schema.String.pipe(Schema.filter((k) => k !== "__proto__")),
  value: CString
}).pipe(
  Schema.filter((env) => {
    const issues = Object.entries(env).flatMap(([k, v]) => {
      const problem = envNameProblem(k) ??
        (utf8Bytes(k) + 1 + utf8Bytes(v) >= MAX_ARG_STRLEN
          ? `"NAME=value" is ${utf8Bytes(k) + 1 + utf8Bytes(v)} bytes; the kernel takes at most ${
            MAX_ARG_STRLEN - 1
          } per environment string`
          : undefined)
      return problem === undefined ? [] : [{ path: [k], message: problem }]
    })
    return issues.length === 0 ? true : issues
  }),
  Schema.annotations({ identifier: "Env" })
)

export const Container = Schema.Struct({
  name: ContainerName,
  image: ImageSource,
  /** Replaces the image's Entrypoint (and drops its Cmd). */
  command: optionalArray(CString),
  /** Replaces the image's Cmd. */
  args: optionalArray(CString),
  env: Schema.optionalWith(Env, { default: () => ({}) }),
  workingDir: Schema.optionalWith(AbsPath("workingDir"), { exact: true }),
  user: Schema.optionalWith(UserSpec, { exact: true }),
  mounts: optionalArray(Mount),
  limits: Schema.optionalWith(Limits, { default: () => ({}) }),
  tty: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  ...securityFields,
  ...containerRunFields,
  ...probeFields
}).annotations({ identifier: "Container" })
export type Container = typeof Container.Type

/** `{ pool: "lan" }`: an address allocated from a pool of the agent's config (sticky per pod and NIC). */
export const PoolRef = Schema.Struct({ pool: PoolName }).annotations({ identifier: "PoolRef" })
export type PoolRef = typeof PoolRef.Type

export const Nic = Schema.Struct({
  name: NicName,
  mode: Schema.optionalWith(
    Schema.Literal("macvlan", "bridge").annotations({ message: () => `mode must be "macvlan" or "bridge"` }),
    { default: () => "macvlan" as const }
  ),
  /** macvlan: "auto" resolves to the Host service's uplink at bring-up. Bridge NICs use their pool's bridge. */
  parent: Schema.optionalWith(Schema.Union(Schema.Literal("auto"), LinkName), { default: () => "auto" as const }),
  /** "a.b.c.d/p", or `{ pool }`. A bridge NIC without one gets an address from the default bridge pool. */
  address: Schema.optionalWith(Schema.Union(Ipv4Cidr, PoolRef), { exact: true }),
  gateway: Schema.optionalWith(Ipv4, { exact: true })
}).annotations({ identifier: "Nic" })
export type Nic = typeof Nic.Type

export const NetworkSpec = Schema.Struct({
  nics: optionalArray(Nic),
  /** Absent unless given, so pods without ports keep their canonical form. */
  ports: Schema.optionalWith(Schema.Array(PortMapping), { exact: true }),
  dns: optionalArray(Ipv4)
}).annotations({ identifier: "NetworkSpec" })
export type NetworkSpec = typeof NetworkSpec.Type

export const Network = Schema.Union(Schema.Literal("none", "host"), NetworkSpec).annotations({ identifier: "Network" })
export type Network = typeof Network.Type

/**
 * An optional field whose "nothing" value (`false`, `{}`) decodes to absent, so the canonical form
 * (and `canonicalJson`) of a pod does not depend on whether the user spelled it out, and pods written
 * before these fields existed keep their canonical JSON.
 */
const optionalUnlessEmpty = <A, I>(
  from: Schema.Schema<A, I>,
  to: Schema.Schema<A>,
  isEmpty: (a: A) => boolean
) =>
  Schema.optionalToOptional(from, to, {
    decode: Option.filter((a) => !isEmpty(a)),
    encode: (o) => o
  })

const PodFields = Schema.Struct({
  name: PodName,
  labels: optionalUnlessEmpty(
    Labels,
    Schema.Record({ key: Schema.String, value: Schema.String }),
    (l) => Object.keys(l).length === 0
  ),
  /**
   * Placement (cluster mode; single-machine Tank ignores these). `node`: pinned to that node, which the
   * scheduler binds it to even while the node is not ready (it waits there).
   */
  node: Schema.optionalWith(NodeName, { exact: true }),
  /** Only nodes carrying all these labels. Not together with `node`. */
  nodeSelector: optionalUnlessEmpty(
    NodeSelector,
    Schema.Record({ key: Schema.String, value: Schema.String }),
    (sel) => Object.keys(sel).length === 0
  ),
  /**
   * When the pod's node stays not ready past the grace period: false (absent) reports the pod lost;
   * true moves it to another ready node. A pinned pod cannot move, so not together with `node`.
   */
  reschedule: optionalUnlessEmpty(Schema.Boolean, Schema.Boolean, (b) => !b),
  restart: Schema.optionalWith(RestartPolicy, { default: () => "always" as const }),
  /**
   * Kubernetes' name and meaning: false runs the pod's containers in a user namespace of their own
   * (container root is an unprivileged host id of a range the agent allocates). Absent = true.
   */
  hostUsers: optionalUnlessEmpty(Schema.Boolean, Schema.Boolean, (b) => b),
  /**
   * A tiny init as PID 1 of each container (docker's `--init`): it forwards signals to the workload
   * and reaps orphans, so programs without signal handlers (`sleep`, shell scripts) stop at once.
   * Absent: the agent's config `init` (default false); `false` opts out of a config default.
   */
  init: Schema.optionalWith(Schema.Boolean, { exact: true }),
  /** Seconds between the stop signal and SIGKILL (default: the agent's `stopGracePeriodMs`). */
  terminationGracePeriodSeconds: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.filter((n) =>
        Number.isInteger(n) && n >= 0 && n <= 3600 ? true : `must be a whole number of seconds from 0 to 3600`
      )
    ),
    { exact: true }
  ),
  ...podRunFields,
  network: Schema.optionalWith(Network, { default: () => "none" as const }),
  volumes: optionalArray(Volume),
  /** Run to completion, in order, before `containers` start (Kubernetes initContainers). */
  initContainers: Schema.optionalWith(
    Schema.Array(Container).pipe(
      Schema.filter((cs) => cs.length <= 16 ? true : `a pod may have at most 16 init containers (got ${cs.length})`)
    ),
    { default: () => [] }
  ),
  containers: Schema.Array(Container).pipe(
    Schema.filter((cs) => cs.length > 0 ? true : "a pod needs at least one container"),
    Schema.filter((cs) => cs.length <= 64 ? true : `a pod may have at most 64 containers (got ${cs.length})`)
  )
})

type Issue = { readonly path: ReadonlyArray<PropertyKey>; readonly message: string }

const duplicates = <A>(
  items: ReadonlyArray<A>,
  key: (a: A) => string,
  path: (i: number) => ReadonlyArray<PropertyKey>,
  what: string
): Array<Issue> => {
  const seen = new Map<string, number>()
  const out: Array<Issue> = []
  items.forEach((item, i) => {
    const k = key(item)
    const first = seen.get(k)
    if (first === undefined) seen.set(k, i)
    else out.push({ path: path(i), message: `duplicate ${what} "${k}" (also at index ${first})` })
  })
  return out
}

/**
 * Placement fields that contradict each other. `node` with `nodeSelector` is refused rather than
 * given a meaning (pin wins? selector vetoes the pin?): either reading surprises someone.
 */
const placementIssues = (pod: typeof PodFields.Type): Array<Issue> => [
  ...(pod.node !== undefined && pod.reschedule === true
    ? [{
      path: ["reschedule"],
      message: `a pod pinned to node "${pod.node}" cannot be rescheduled elsewhere: drop "node" or "reschedule"`
    }]
    : []),
  ...(pod.node !== undefined && pod.nodeSelector !== undefined
    ? [{
      path: ["nodeSelector"],
      message: `a pod pinned to node "${pod.node}" is not placed by labels: give "node" or "nodeSelector", not both`
    }]
    : [])
]

/** A NIC's static address without its prefix, or undefined for a pool address. */
export const staticIp = (nic: Nic): string | undefined =>
  typeof nic.address === "string" ? nic.address.split("/")[0]! : undefined

/** NIC names and static addresses unique; macvlan NICs need an address; ports need a bridge NIC, once each. */
const networkIssues = (net: NetworkSpec): Array<Issue> => {
  const at = (i: number, field: string) => ["network", "nics", i, field]
  const statics = net.nics.flatMap((n, i) => typeof n.address === "string" ? [{ ip: staticIp(n)!, i }] : [])
  const issues = [
    ...duplicates(net.nics, (n) => n.name, (i) => at(i, "name"), "NIC name"),
    ...duplicates(statics, (x) => x.ip, (j) => at(statics[j]!.i, "address"), "NIC address")
  ]
  net.nics.forEach((n, i) => {
    if (n.mode === "macvlan" && n.address === undefined) {
      issues.push({ path: at(i, "address"), message: `a macvlan NIC needs an address ("a.b.c.d/p" or { pool })` })
    }
    if (n.mode === "bridge" && n.parent !== "auto") {
      issues.push({ path: at(i, "parent"), message: `a bridge NIC has no parent (it attaches to its pool's bridge)` })
    }
  })
  const ports = net.ports ?? []
  if (ports.length > 0 && !net.nics.some((n) => n.mode === "bridge")) {
    issues.push({ path: ["network", "ports"], message: `ports are published through a bridge NIC; this pod has none` })
  }
  issues.push(
    ...duplicates(ports, (p) => `${p.protocol}/${p.hostPort}`, (i) => ["network", "ports", i, "hostPort"], "host port")
  )
  return issues
}

/** Rules that span fields: uniqueness of names and paths, mounts naming declared volumes. */
export const crossFieldIssues = (pod: typeof PodFields.Type): Array<Issue> => {
  const declared = new Set(pod.volumes.map((v) => v.name))
  // Init and regular containers share one name space (cgroups, logs, exec -c).
  const all = [
    ...pod.initContainers.map((c, i) => ({ c, at: ["initContainers", i] as const })),
    ...pod.containers.map((c, i) => ({ c, at: ["containers", i] as const }))
  ]
  const issues: Array<Issue> = [
    ...placementIssues(pod),
    ...duplicates(all, (x) => x.c.name, (i) => [...all[i]!.at, "name"], "container name"),
    ...duplicates(pod.volumes, (v) => v.name, (i) => ["volumes", i, "name"], "volume name")
  ]
  if (typeof pod.network === "object") issues.push(...networkIssues(pod.network))
  all.forEach(({ at, c }) => {
    const budget = containerBudgetIssue(c)
    if (budget !== undefined) issues.push({ path: at, message: budget })
    issues.push(...duplicates(c.mounts, (m) => m.path, (mi) => [...at, "mounts", mi, "path"], "mount path"))
    issues.push(...duplicates(c.devices ?? [], (d) => d.path, (di) => [...at, "devices", di, "path"], "device path"))
    for (const k of Object.keys(c.fieldEnv ?? {})) {
      if (k in c.env) issues.push({ path: [...at, "fieldEnv", k], message: `"${k}" is also set in env` })
    }
    issues.push(...probeIssues(c, at))
    for (const k of ["livenessProbe", "readinessProbe", "startupProbe", "healthcheck"] as const) {
      if (at[0] === "initContainers" && c[k] !== undefined) {
        issues.push({ path: [...at, k], message: "init containers run to completion: they take no probes" })
      }
    }
    c.mounts.forEach((m, mi) => {
      if (!declared.has(m.volume)) {
        issues.push({
          path: [...at, "mounts", mi, "volume"],
          message: `volume "${m.volume}" is not declared in volumes`
        })
      }
    })
  })
  return issues
}

export const Pod = PodFields.pipe(
  Schema.filter((pod) => {
    const issues = crossFieldIssues(pod)
    return issues.length === 0 ? true : issues
  }),
  Schema.annotations({ identifier: "Pod" })
)
/** A validated pod spec, defaults filled in. */
export type Pod = typeof Pod.Type
/** What users write: the canonical plain-data form. */
export type PodInput = typeof Pod.Encoded
