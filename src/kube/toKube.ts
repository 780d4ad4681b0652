/**
 * A Tank pod → a Kubernetes `v1 Pod` manifest (pure), for `tank get POD -o kube`.
 *
 * Each Tank field is written as the Kubernetes field fromKube.ts reads back to the same value; a
 * field (or value) Kubernetes cannot express goes into the `tank/extra` annotation (JSON), which
 * fromKube.ts applies over the mapped fields. So `tank apply -f` of the export is the same pod, and
 * the manifest keeps the shape `kubectl apply --dry-run=client` accepts. Fields this module does not
 * know (added to the spec later) land in `tank/extra` too, so they are never lost.
 */
import { encodePod } from "../spec/decode.js"
import type { Pod } from "../spec/Pod.js"
import { EXTRA_ANNOTATION } from "./fromKube.js"
import { formatBytes, formatMillis } from "./quantity.js"

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

/** Kubernetes expands `$(VAR)` and turns `$$` into `$`: escape both so the value reads back as written. */
export const escapeVars = (s: string): string => s.replace(/\$(?=[$(])/g, "$$$$")

const RESTART: Readonly<Record<string, string>> = { always: "Always", on_failure: "OnFailure", never: "Never" }

/** The kubelet's CFS period, the one fromKube.ts writes a cpu limit with. */
const CPU_PERIOD = 100_000

/** Take `key` out of `rest` (what is left over goes to tank/extra). */
const take = (rest: Json, key: string): unknown => {
  const v = rest[key]
  delete rest[key]
  return v
}

const numericUser = (user: string): { uid: number; gid?: number } | undefined => {
  const m = /^([0-9]+)(?::([0-9]+))?$/.exec(user)
  if (!m) return undefined
  return { uid: Number(m[1]), ...(m[2] !== undefined ? { gid: Number(m[2]) } : {}) }
}

const container = (c: Json): { kube: Json; extra: Json } => {
  const rest: Json = { ...c }
  const extra: Json = {}
  const kube: Json = { name: take(rest, "name") }
  const image = take(rest, "image")
  if (typeof image === "string") kube.image = image
  else extra.image = image
  for (const k of ["command", "args"] as const) {
    const v = take(rest, k) as ReadonlyArray<string> | undefined
    if (v && v.length > 0) kube[k] = v.map(escapeVars)
  }
  const env = Object.entries((take(rest, "env") ?? {}) as Record<string, string>).map(([name, value]) => ({
    name,
    value: escapeVars(value)
  }))
  const fieldEnv = Object.entries((take(rest, "fieldEnv") ?? {}) as Record<string, string>).map((
    [name, fieldPath]
  ) => ({
    name,
    valueFrom: { fieldRef: { fieldPath } }
  }))
  if (env.length + fieldEnv.length > 0) kube.env = [...env, ...fieldEnv]
  const workingDir = take(rest, "workingDir")
  if (workingDir !== undefined) kube.workingDir = workingDir
  const mounts = (take(rest, "mounts") ?? []) as ReadonlyArray<{ volume: string; path: string; readOnly?: boolean }>
  if (mounts.length > 0) {
    kube.volumeMounts = mounts.map((m) => ({
      name: m.volume,
      mountPath: m.path,
      ...(m.readOnly === true ? { readOnly: true } : {})
    }))
  }

  const limits: Json = {}
  const { cpu, memory, ...others } = (take(rest, "limits") ?? {}) as {
    cpu?: { quota: number; period?: number }
    memory?: number
  }
  const otherLimits: Json = others
  if (memory !== undefined) limits.memory = formatBytes(memory)
  if (cpu !== undefined) {
    // fromKube writes millicores × 100 µs over a 100 ms period, at least 1 ms: other quotas stay Tank's.
    if ((cpu.period ?? CPU_PERIOD) === CPU_PERIOD && cpu.quota % 100 === 0 && cpu.quota >= 1000) {
      limits.cpu = formatMillis(cpu.quota / 100)
    } else otherLimits.cpu = cpu
  }
  if (Object.keys(otherLimits).length > 0) extra.limits = otherLimits
  const requests = (take(rest, "requests") ?? {}) as { cpu?: number; memory?: number }
  const kubeRequests: Json = {
    ...(requests.cpu !== undefined ? { cpu: formatMillis(requests.cpu) } : {}),
    ...(requests.memory !== undefined ? { memory: formatBytes(requests.memory) } : {})
  }
  if (Object.keys(limits).length + Object.keys(kubeRequests).length > 0) {
    kube.resources = {
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(Object.keys(kubeRequests).length > 0 ? { requests: kubeRequests } : {})
    }
  }

  const sc: Json = {}
  const user = take(rest, "user") as string | undefined
  const ids = user !== undefined ? numericUser(user) : undefined
  if (ids) {
    sc.runAsUser = ids.uid
    if (ids.gid !== undefined) sc.runAsGroup = ids.gid
  } else if (user !== undefined) extra.user = user
  if (take(rest, "runAsNonRoot") === true) sc.runAsNonRoot = true
  // Tank's default is no_new_privs: say so in Kubernetes' words.
  sc.allowPrivilegeEscalation = take(rest, "noNewPrivileges") === false
  if (take(rest, "readOnlyRootFilesystem") === true) sc.readOnlyRootFilesystem = true
  const caps = take(rest, "capabilities") as { add?: Array<string>; drop?: Array<string> } | undefined
  if (caps) {
    // fromKube writes names upper-case without CAP_: others are kept as Tank has them.
    const plain = [...(caps.add ?? []), ...(caps.drop ?? [])].every((n) =>
      n === n.toUpperCase() && !n.startsWith("CAP_")
    )
    if (plain) {
      sc.capabilities = {
        ...(caps.add?.length ? { add: caps.add } : {}),
        ...(caps.drop?.length ? { drop: caps.drop } : {})
      }
    } else extra.capabilities = caps
  }
  const seccomp = take(rest, "seccomp")
  if (seccomp === "unconfined") sc.seccompProfile = { type: "Unconfined" }
  else if (isObject(seccomp) && typeof seccomp.profile === "string") {
    sc.seccompProfile = { type: "Localhost", localhostProfile: seccomp.profile }
  } else if (seccomp !== undefined && seccomp !== "default") extra.seccomp = seccomp
  kube.securityContext = sc
  // Tank's probes are Kubernetes' (same names and fields).
  for (const k of ["livenessProbe", "readinessProbe", "startupProbe"]) {
    const probe = take(rest, k)
    if (probe !== undefined) kube[k] = probe
  }
  if (take(rest, "tty") === true) {
    kube.tty = true
    kube.stdin = true
  }
  return { kube, extra: { ...extra, ...rest } }
}

const NIC_DEFAULTS = { name: "eth0", mode: "bridge", parent: "auto" }

/** The NIC fromKube gives a pod without hostNetwork: one bridge NIC eth0, address from the default pool. */
const isDefaultNics = (nics: unknown): boolean =>
  Array.isArray(nics) && nics.length === 1 && isObject(nics[0]) &&
  Object.keys(nics[0]).length === 3 &&
  Object.entries(NIC_DEFAULTS).every(([k, v]) => (nics[0] as Json)[k] === v)

export const toKube = (pod: Pod): Json => {
  const rest: Json = { ...(encodePod(pod) as unknown as Json) }
  const extra: Json = {}
  const name = take(rest, "name")
  const labels = take(rest, "labels") as Record<string, string> | undefined
  const spec: Json = {}
  const restart = take(rest, "restart") as string
  spec.restartPolicy = RESTART[restart]
  if (take(rest, "hostUsers") === false) spec.hostUsers = false
  for (
    const [tank, kube] of [
      ["terminationGracePeriodSeconds", "terminationGracePeriodSeconds"],
      [
        "hostname",
        "hostname"
      ],
      ["node", "nodeName"],
      ["nodeSelector", "nodeSelector"]
    ] as const
  ) {
    const v = take(rest, tank)
    if (v !== undefined) spec[kube] = v
  }
  const podSc: Json = {}
  const fsGroup = take(rest, "fsGroup")
  if (fsGroup !== undefined) podSc.fsGroup = fsGroup
  const groups = take(rest, "supplementalGroups") as ReadonlyArray<number> | undefined
  if (groups?.length) podSc.supplementalGroups = groups
  if (Object.keys(podSc).length > 0) spec.securityContext = podSc

  const volumes = (take(rest, "volumes") ?? []) as ReadonlyArray<{ name: string; source: unknown }>
  if (volumes.length > 0) {
    spec.volumes = volumes.map((v) => {
      const s = v.source
      if (isObject(s) && typeof s.host === "string") {
        return { name: v.name, hostPath: { path: s.host, type: "Directory" } }
      }
      if (isObject(s) && isObject(s.tmpfs)) {
        const size = s.tmpfs.size
        return {
          name: v.name,
          emptyDir: { medium: "Memory", ...(typeof size === "number" ? { sizeLimit: formatBytes(size) } : {}) }
        }
      }
      return { name: v.name, emptyDir: {} }
    })
  }

  const extraContainers: Json = {}
  const convert = (cs: ReadonlyArray<Json>) =>
    cs.map((c) => {
      const { extra: e, kube } = container(c)
      if (Object.keys(e).length > 0) extraContainers[kube.name as string] = e
      return kube
    })
  const inits = convert((take(rest, "initContainers") ?? []) as ReadonlyArray<Json>)
  if (inits.length > 0) spec.initContainers = inits
  const containers = convert(take(rest, "containers") as ReadonlyArray<Json>)
  spec.containers = containers

  // Network: host; one default bridge NIC (what a Kubernetes pod has); else Tank's own, in tank/extra.
  // Published ports are container ports with a hostPort (Tank's are the pod's: on the first container).
  const network = take(rest, "network")
  if (network === "host") spec.hostNetwork = true
  else if (isObject(network)) {
    const { dns, nics, ports, ...others } = network as { nics?: unknown; ports?: Array<Json>; dns?: Array<string> }
    if (ports?.length) {
      containers[0]!.ports = ports.map((p) => ({
        containerPort: p.containerPort,
        hostPort: p.hostPort,
        protocol: String(p.protocol ?? "tcp").toUpperCase(),
        ...(p.hostIP !== undefined ? { hostIP: p.hostIP } : {})
      }))
    }
    if (isDefaultNics(nics) && Object.keys(others).length === 0 && ports?.length !== 0) {
      if (dns?.length) {
        spec.dnsPolicy = "None"
        spec.dnsConfig = { nameservers: dns }
      }
    } else {
      extra.network = {
        nics,
        ...(dns !== undefined ? { dns } : {}),
        ...(ports?.length === 0 ? { ports } : {}),
        ...others
      }
    }
  } else extra.network = network

  Object.assign(extra, rest)
  if (Object.keys(extraContainers).length > 0) extra.containers = extraContainers
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
      ...(Object.keys(extra).length > 0 ? { annotations: { [EXTRA_ANNOTATION]: JSON.stringify(extra) } } : {})
    },
    spec
  }
}
