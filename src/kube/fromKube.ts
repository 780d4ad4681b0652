/**
 * A Kubernetes `v1 Pod` manifest → Tank's pod spec (pure). What has a Tank meaning is mapped; every
 * other field is reported by its path (rules.ts). The result is Tank's plain-data form, still to be
 * validated by Tank's own schema; `paths` lets that validation's messages name the manifest's fields.
 *
 * Choices (docs/guide.md#kubernetes-manifests has the table):
 * - A pod without `hostNetwork` gets what a Kubernetes pod has, an address of its own: one bridge
 *   NIC `eth0` from the default bridge pool; container ports with a `hostPort` are published there.
 * - `metadata.namespace` does not exist in Tank: a warning, and `fieldRef: metadata.namespace` gives
 *   the manifest's namespace, else "default" (what the same manifest gets on a cluster).
 * - `$(VAR)` in command, args and env values is expanded as Kubernetes does, from the container's
 *   env entries (earlier ones for env values); values only known at run time cannot be expanded.
 * - Tank fields Kubernetes cannot express (macvlan NICs, pids limits, rlimits, devices, ...) travel in
 *   the annotation `tank/extra` (JSON), which `tank get -o kube` writes: export and import round-trip.
 */
import { Either, ParseResult } from "effect"
import { formatPath } from "../spec/issuePath.js"
import { parseQuantity, quantityMilli, quantityValue } from "./quantity.js"
import { type ObjectKind, unmappedKeys } from "./rules.js"
import {
  decodeKubePod,
  type KubeContainer,
  type KubePod,
  type KubePodSecurityContext,
  type KubeProbe,
  type KubeSecurityContext,
  type KubeVolume
} from "./schema.js"

export interface KubeIssue {
  readonly path: string
  readonly message: string
}

export interface Converted {
  /** Tank's plain-data pod (validated later). */
  readonly spec: Record<string, unknown>
  readonly errors: ReadonlyArray<KubeIssue>
  readonly warnings: ReadonlyArray<KubeIssue>
  /** Tank path → the manifest path it came from (longest prefix wins), for Tank's own messages. */
  readonly paths: ReadonlyArray<readonly [string, string]>
}

/** The annotation that carries Tank fields Kubernetes has no field for. */
export const EXTRA_ANNOTATION = "tank/extra"

/** `["spec", "containers", 0, "image"]` → `spec.containers[0].image` (as Tank's own messages write paths). */
export const kubePath = formatPath

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Does this document say it is a Kubernetes object (rather than a Tank pod)? */
export const isKubeDocument = (doc: unknown): doc is Record<string, unknown> =>
  isObject(doc) && ("apiVersion" in doc || "kind" in doc)

type Path = ReadonlyArray<PropertyKey>

class Ctx {
  readonly errors: Array<KubeIssue> = []
  readonly warnings: Array<KubeIssue> = []
  readonly paths: Array<readonly [string, string]> = []
  error(at: Path, message: string) {
    this.errors.push({ path: kubePath(at), message })
  }
  warn(at: Path, message: string) {
    this.warnings.push({ path: kubePath(at), message })
  }
  from(tank: Path, kube: Path) {
    this.paths.push([kubePath(tank), kubePath(kube)])
  }
  /** Report the keys of `obj` that Tank does not map. */
  keys(obj: unknown, at: Path, kind: ObjectKind) {
    if (!isObject(obj)) return
    for (const u of unmappedKeys(obj, kind)) {
      if (u.level === "error") this.error([...at, u.key], u.message)
      else this.warn([...at, u.key], u.message)
    }
  }
}

/** Why a document is not a Pod manifest Tank can read, before its fields are looked at. */
const kindProblem = (doc: Record<string, unknown>): KubeIssue | undefined => {
  if (doc.apiVersion !== "v1" || doc.kind !== "Pod") {
    const what = `${String(doc.apiVersion ?? "?")} ${String(doc.kind ?? "?")}`
    const template = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(String(doc.kind))
      ? ": Tank runs Pods; apply the Pod of its spec.template (as apiVersion v1, kind Pod, with a metadata.name)"
      : ": Tank reads apiVersion v1, kind Pod (or a kind List of them)"
    return { path: doc.kind !== "Pod" ? "kind" : "apiVersion", message: `${what} is not supported${template}` }
  }
  return undefined
}

/** `$(VAR)` → its value when defined, `$$(VAR)` → `$(VAR)`, anything else as written (Kubernetes' expansion). */
export const expandVars = (
  s: string,
  lookup: (name: string) => string | undefined,
  onDynamic: (name: string) => void
): string =>
  s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === "$$") return "$"
    const v = lookup(name!)
    if (v === undefined) return m
    if (v === DYNAMIC) {
      onDynamic(name!)
      return m
    }
    return v
  })

/** Marks an env var whose value exists only at run time (status.podIP, spec.nodeName). */
const DYNAMIC = "\0dynamic"

const CPU_PERIOD = 100_000
/** The kubelet's smallest CFS quota (MinQuotaPeriod, 1 ms). */
const MIN_QUOTA = 1_000

const quantity = (ctx: Ctx, v: string | number, at: Path, unit: "bytes" | "millis"): number | undefined => {
  const q = parseQuantity(v)
  if (Either.isLeft(q)) {
    ctx.error(at, q.left)
    return undefined
  }
  const n = unit === "bytes" ? quantityValue(q.right) : quantityMilli(q.right)
  if (n <= 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) {
    ctx.error(at, `${v} is out of range`)
    return undefined
  }
  return Number(n)
}

const mapResources = (ctx: Ctx, c: KubeContainer, at: Path, tankAt: Path, out: Record<string, unknown>) => {
  const r = c.resources
  if (!r) return
  ctx.keys(r, [...at, "resources"], "resources")
  const limits: Record<string, unknown> = {}
  for (const [name, v] of Object.entries(r.limits ?? {})) {
    const p = [...at, "resources", "limits", name]
    if (name === "cpu") {
      const millis = quantity(ctx, v, p, "millis")
      if (millis !== undefined) {
        limits.cpu = { quota: Math.max(MIN_QUOTA, millis * (CPU_PERIOD / 1000)), period: CPU_PERIOD }
        ctx.from([...tankAt, "limits", "cpu"], p)
      }
    } else if (name === "memory") {
      const bytes = quantity(ctx, v, p, "bytes")
      if (bytes !== undefined) {
        limits.memory = bytes
        ctx.from([...tankAt, "limits", "memory"], p)
      }
    } else if (name === "ephemeral-storage") ctx.warn(p, "Tank does not limit a container's disk use: ignored")
    else ctx.error(p, `resource "${name}" is not supported (Tank limits cpu and memory)`)
  }
  if (Object.keys(limits).length > 0) out.limits = { ...(out.limits as object | undefined), ...limits }
  const requests: Record<string, number> = {}
  for (const [name, v] of Object.entries(r.requests ?? {})) {
    const p = [...at, "resources", "requests", name]
    if (name === "cpu" || name === "memory") {
      const n = quantity(ctx, v, p, name === "cpu" ? "millis" : "bytes")
      if (n !== undefined) {
        requests[name] = n
        ctx.from([...tankAt, "requests", name], p)
      }
    } else if (name === "ephemeral-storage") ctx.warn(p, "Tank does not place by disk: ignored")
    else ctx.error(p, `resource "${name}" is not supported (Tank places by cpu and memory)`)
  }
  if (Object.keys(requests).length > 0) out.requests = requests
}

const SECCOMP_TYPES = ["RuntimeDefault", "Unconfined", "Localhost"]

const mapSeccomp = (ctx: Ctx, p: { type: string; localhostProfile?: string | null } | null | undefined, at: Path) => {
  if (!p) return undefined
  ctx.keys(p, at, "seccompProfile")
  switch (p.type) {
    case "RuntimeDefault":
      return "default"
    case "Unconfined":
      return "unconfined"
    case "Localhost":
      if (p.localhostProfile && p.localhostProfile.startsWith("/")) return { profile: p.localhostProfile }
      ctx.error(
        [...at, "localhostProfile"],
        "Tank reads seccomp profiles by absolute path on the node (Kubernetes' are relative to the kubelet's seccomp dir)"
      )
      return undefined
    default:
      ctx.error([...at, "type"], `must be one of ${SECCOMP_TYPES.join(", ")}`)
      return undefined
  }
}

/** Container securityContext over the pod's: user, group, non-root, seccomp. */
const mapSecurity = (
  ctx: Ctx,
  sc: KubeSecurityContext | null | undefined,
  pod: KubePodSecurityContext | null | undefined,
  at: Path,
  tankAt: Path,
  out: Record<string, unknown>
) => {
  const scAt = [...at, "securityContext"]
  if (sc) ctx.keys(sc, scAt, "securityContext")
  const uid = sc?.runAsUser ?? pod?.runAsUser
  const gid = sc?.runAsGroup ?? pod?.runAsGroup
  const uidAt = sc?.runAsUser != null ? [...scAt, "runAsUser"] : ["spec", "securityContext", "runAsUser"]
  if (uid != null) {
    out.user = gid != null ? `${uid}:${gid}` : String(uid)
    ctx.from([...tankAt, "user"], uidAt)
  } else if (gid != null) {
    ctx.error(
      sc?.runAsGroup != null ? [...scAt, "runAsGroup"] : ["spec", "securityContext", "runAsGroup"],
      "runAsGroup without runAsUser is not supported: Tank's user names the user first (give runAsUser too)"
    )
  }
  if ((sc?.runAsNonRoot ?? pod?.runAsNonRoot) === true) out.runAsNonRoot = true
  if (!sc) {
    const seccomp = mapSeccomp(ctx, pod?.seccompProfile, ["spec", "securityContext", "seccompProfile"])
    if (seccomp !== undefined && seccomp !== "default") out.seccomp = seccomp
    return
  }
  // Kubernetes' default lets setuid binaries raise privileges; Tank's (no_new_privs) does not, and
  // stays so unless the manifest says true.
  if (sc.allowPrivilegeEscalation === true) out.noNewPrivileges = false
  if (sc.readOnlyRootFilesystem === true) out.readOnlyRootFilesystem = true
  if (sc.privileged === true) {
    ctx.error(
      [...scAt, "privileged"],
      "privileged containers are not supported (add the capabilities and devices it needs)"
    )
  }
  if (sc.procMount != null && sc.procMount !== "Default") {
    ctx.error([...scAt, "procMount"], "only the Default procMount is supported")
  }
  if (sc.capabilities) {
    ctx.keys(sc.capabilities, [...scAt, "capabilities"], "capabilities")
    // Kubernetes accepts names with or without CAP_ (the runtime adds it); Tank writes them without.
    const names = (xs: ReadonlyArray<string> | null | undefined) =>
      (xs ?? []).map((x) => x.toUpperCase().replace(/^CAP_/, ""))
    const add = names(sc.capabilities.add)
    const drop = names(sc.capabilities.drop)
    if (add.length + drop.length > 0) {
      out.capabilities = { ...(add.length ? { add } : {}), ...(drop.length ? { drop } : {}) }
      ctx.from([...tankAt, "capabilities"], [...scAt, "capabilities"])
    }
  }
  const seccomp = mapSeccomp(
    ctx,
    sc.seccompProfile ?? pod?.seccompProfile,
    sc.seccompProfile ? [...scAt, "seccompProfile"] : ["spec", "securityContext", "seccompProfile"]
  )
  if (seccomp !== undefined && seccomp !== "default") out.seccomp = seccomp
}

interface PodFacts {
  readonly name: string
  readonly namespace: string
  readonly serviceAccount: string
}

/** env entries → Tank env + fieldEnv, with Kubernetes' `$(VAR)` expansion. */
const mapEnv = (
  ctx: Ctx,
  c: KubeContainer,
  at: Path,
  tankAt: Path,
  facts: PodFacts,
  out: Record<string, unknown>
): Map<string, string> => {
  const values = new Map<string, string>()
  const fieldEnv: Record<string, string> = {}
  for (const [i, e] of (c.env ?? []).entries()) {
    const p = [...at, "env", i]
    ctx.keys(e, p, "envVar")
    if (values.has(e.name)) ctx.warn([...p, "name"], `"${e.name}" is set twice: the later entry wins`)
    if (e.valueFrom) {
      ctx.keys(e.valueFrom, [...p, "valueFrom"], "valueFrom")
      const ref = e.valueFrom.fieldRef
      if (!ref) {
        values.delete(e.name)
        continue
      }
      ctx.keys(ref, [...p, "valueFrom", "fieldRef"], "fieldRef")
      const fp = [...p, "valueFrom", "fieldRef", "fieldPath"]
      switch (ref.fieldPath) {
        case "metadata.name":
          values.set(e.name, facts.name)
          break
        case "metadata.namespace":
          ctx.warn(fp, `Tank has no namespaces: ${e.name} is set to "${facts.namespace}"`)
          values.set(e.name, facts.namespace)
          break
        case "spec.serviceAccountName":
          ctx.warn(fp, `Tank has no service accounts: ${e.name} is set to "${facts.serviceAccount}"`)
          values.set(e.name, facts.serviceAccount)
          break
        case "status.podIP":
        case "spec.nodeName":
          values.set(e.name, DYNAMIC)
          fieldEnv[e.name] = ref.fieldPath
          ctx.from([...tankAt, "fieldEnv", e.name], p)
          break
        default:
          ctx.error(
            fp,
            `fieldRef "${ref.fieldPath}" is not supported (metadata.name, metadata.namespace, status.podIP, ` +
              `spec.nodeName, spec.serviceAccountName are)`
          )
      }
      if (ref.fieldPath !== "status.podIP" && ref.fieldPath !== "spec.nodeName") delete fieldEnv[e.name]
      continue
    }
    delete fieldEnv[e.name]
    const lookup = (n: string) => values.get(n)
    values.set(
      e.name,
      expandVars(
        e.value ?? "",
        lookup,
        (n) =>
          ctx.error(
            [...p, "value"],
            `$(${n}) is only known when the pod runs: it cannot be expanded into another value`
          )
      )
    )
    ctx.from([...tankAt, "env", e.name], p)
  }
  const env: Record<string, string> = {}
  for (const [k, v] of values) if (v !== DYNAMIC) env[k] = v
  if (Object.keys(env).length > 0) out.env = env
  if (Object.keys(fieldEnv).length > 0) out.fieldEnv = fieldEnv
  return values
}

/** Probe fields as Tank spells them (the same names); named ports resolved from the container's ports. */
const mapProbe = (ctx: Ctx, probe: KubeProbe, c: KubeContainer, at: Path): Record<string, unknown> => {
  ctx.keys(probe, at, "probe")
  const port = (v: string | number, p: Path): number | undefined => {
    if (typeof v === "number") return v
    const named = (c.ports ?? []).find((x) => x.name === v)
    if (named) return named.containerPort
    if (/^[0-9]+$/.test(v)) return Number(v)
    ctx.error(p, `no port named "${v}" among this container's ports`)
    return undefined
  }
  const out: Record<string, unknown> = {}
  if (probe.exec) {
    ctx.keys(probe.exec, [...at, "exec"], "exec")
    out.exec = { command: probe.exec.command ?? [] }
  }
  if (probe.httpGet) {
    const h = probe.httpGet
    ctx.keys(h, [...at, "httpGet"], "httpGet")
    for (const [i, hd] of (h.httpHeaders ?? []).entries()) {
      ctx.keys(hd, [...at, "httpGet", "httpHeaders", i], "httpHeader")
    }
    const p = port(h.port, [...at, "httpGet", "port"])
    out.httpGet = {
      ...(h.path != null ? { path: h.path } : {}),
      ...(p !== undefined ? { port: p } : {}),
      ...(h.host != null ? { host: h.host } : {}),
      ...(h.scheme != null ? { scheme: h.scheme } : {}),
      ...(h.httpHeaders?.length ? { httpHeaders: h.httpHeaders } : {})
    }
  }
  if (probe.tcpSocket) {
    ctx.keys(probe.tcpSocket, [...at, "tcpSocket"], "tcpSocket")
    const p = port(probe.tcpSocket.port, [...at, "tcpSocket", "port"])
    out.tcpSocket = {
      ...(p !== undefined ? { port: p } : {}),
      ...(probe.tcpSocket.host != null ? { host: probe.tcpSocket.host } : {})
    }
  }
  for (
    const k of [
      "initialDelaySeconds",
      "periodSeconds",
      "timeoutSeconds",
      "successThreshold",
      "failureThreshold"
    ] as const
  ) {
    const v = probe[k]
    if (v != null) out[k] = v
  }
  return out
}

const mapContainer = (
  ctx: Ctx,
  c: KubeContainer,
  at: Path,
  tankAt: Path,
  pod: KubePod,
  facts: PodFacts,
  extra: Record<string, unknown> | undefined,
  options: FromKubeOptions
): Record<string, unknown> => {
  ctx.keys(c, at, "container")
  ctx.from(tankAt, at)
  const out: Record<string, unknown> = { name: c.name }
  ctx.from([...tankAt, "name"], [...at, "name"])
  if (c.image != null) {
    out.image = c.image
    ctx.from([...tankAt, "image"], [...at, "image"])
  } else if (!(extra && "image" in extra)) ctx.error([...at, "image"], "an image is required")
  const values = mapEnv(ctx, c, at, tankAt, facts, out)
  const expand = (s: string, p: Path) =>
    expandVars(
      s,
      (n) => values.get(n),
      (n) => ctx.error(p, `$(${n}) is only known when the pod runs: use a shell and "$${n}" instead`)
    )
  for (const k of ["command", "args"] as const) {
    const v = c[k]
    if (v && v.length > 0) {
      out[k] = v.map((s, i) => expand(s, [...at, k, i]))
      ctx.from([...tankAt, k], [...at, k])
    }
  }
  if (c.workingDir != null) {
    out.workingDir = c.workingDir
    ctx.from([...tankAt, "workingDir"], [...at, "workingDir"])
  }
  if (c.volumeMounts?.length) {
    out.mounts = c.volumeMounts.map((m, i) => {
      ctx.keys(m, [...at, "volumeMounts", i], "volumeMount")
      ctx.from([...tankAt, "mounts", i, "path"], [...at, "volumeMounts", i, "mountPath"])
      ctx.from([...tankAt, "mounts", i, "volume"], [...at, "volumeMounts", i, "name"])
      ctx.from([...tankAt, "mounts", i], [...at, "volumeMounts", i])
      return { volume: m.name, path: m.mountPath, ...(m.readOnly === true ? { readOnly: true } : {}) }
    })
  }
  mapResources(ctx, c, at, tankAt, out)
  mapSecurity(ctx, c.securityContext, pod.spec.securityContext, at, tankAt, out)
  if (c.tty === true) out.tty = true
  if (c.stdin === true && c.tty !== true) {
    ctx.error([...at, "stdin"], "stdin without tty is not supported (tty: true gives an attachable terminal)")
  }
  for (const k of ["livenessProbe", "readinessProbe", "startupProbe"] as const) {
    const probe = c[k]
    if (!probe) continue
    if (!options.probes.includes(k)) {
      // Readiness only reports, so ignoring it changes what the pod does in nothing; an ignored
      // liveness or startup probe would leave a hung container running.
      if (k === "readinessProbe") ctx.warn([...at, k], "this Tank does not run readiness probes yet: ignored")
      else ctx.error([...at, k], `this Tank does not run ${k}s yet (livenessProbe with exec it does)`)
      continue
    }
    out[k] = mapProbe(ctx, probe, c, [...at, k])
    ctx.from([...tankAt, k], [...at, k])
  }
  for (const [i, p] of (c.ports ?? []).entries()) ctx.keys(p, [...at, "ports", i], "port")
  // Fields Kubernetes has no place for (export wrote them): over the mapped ones.
  if (extra) {
    for (const [k, v] of Object.entries(extra)) {
      out[k] = k === "limits" && isObject(v) ? { ...(out.limits as object | undefined), ...v } : v
    }
  }
  return out
}

const mapVolume = (ctx: Ctx, v: KubeVolume, at: Path, tankAt: Path): Record<string, unknown> | undefined => {
  ctx.keys(v, at, "volume")
  ctx.from(tankAt, at)
  const kinds = Object.keys(v).filter((k) => k !== "name")
  if (kinds.length !== 1) {
    if (kinds.length === 0) ctx.error(at, "a volume needs a source (emptyDir or hostPath)")
    else ctx.error(at, `a volume has exactly one source (got ${kinds.join(", ")})`)
    return undefined
  }
  if (v.emptyDir !== undefined) {
    const e = v.emptyDir ?? {}
    ctx.keys(e, [...at, "emptyDir"], "emptyDir")
    if (e.medium === "Memory") {
      const size = e.sizeLimit != null
        ? quantity(ctx, e.sizeLimit, [...at, "emptyDir", "sizeLimit"], "bytes")
        : undefined
      ctx.from([...tankAt, "source"], [...at, "emptyDir"])
      return { name: v.name, source: { tmpfs: size !== undefined ? { size } : {} } }
    }
    if (e.medium != null && e.medium !== "") {
      ctx.error([...at, "emptyDir", "medium"], `medium "${e.medium}" is not supported ("" or Memory)`)
    }
    if (e.sizeLimit != null) {
      ctx.warn([...at, "emptyDir", "sizeLimit"], "Tank does not limit a disk volume's size: ignored")
    }
    return { name: v.name }
  }
  if (v.hostPath != null) {
    ctx.keys(v.hostPath, [...at, "hostPath"], "hostPath")
    const type = v.hostPath.type ?? ""
    if (type !== "" && type !== "Directory") {
      ctx.error(
        [...at, "hostPath", "type"],
        `hostPath type "${type}" is not supported: Tank mounts an existing directory (type Directory)`
      )
    }
    ctx.from([...tankAt, "source"], [...at, "hostPath", "path"])
    return { name: v.name, source: { host: v.hostPath.path } }
  }
  // Any other kind was reported by ctx.keys (rules.ts).
  return undefined
}

const RESTART: Readonly<Record<string, string>> = { Always: "always", OnFailure: "on_failure", Never: "never" }

/** The `tank/extra` annotation: Tank fields for the pod and per container. */
const readExtra = (ctx: Ctx, pod: KubePod): Record<string, unknown> => {
  const raw = pod.metadata.annotations?.[EXTRA_ANNOTATION]
  if (raw === undefined) return {}
  const at = ["metadata", "annotations", EXTRA_ANNOTATION]
  try {
    const v: unknown = JSON.parse(raw)
    if (isObject(v)) return v
  } catch {
    // reported below
  }
  ctx.error(at, "must be a JSON object of Tank fields (as tank get -o kube writes it)")
  return {}
}

/**
 * Tank has `labels` only once the labels work lands (src/spec/Pod.ts): until then a manifest's
 * labels are reported as ignored. Passed in so this module stays free of Tank's schema.
 */
export interface FromKubeOptions {
  readonly supportsLabels: boolean
  /** The probes the agent runs (src/spec/probes.ts); a manifest's others are refused or ignored. */
  readonly probes: ReadonlyArray<"livenessProbe" | "readinessProbe" | "startupProbe">
}

export const fromKube = (doc: Record<string, unknown>, options: FromKubeOptions): Converted => {
  const ctx = new Ctx()
  const empty = (): Converted => ({ spec: {}, errors: ctx.errors, warnings: ctx.warnings, paths: ctx.paths })
  const kind = kindProblem(doc)
  if (kind) {
    ctx.errors.push(kind)
    return empty()
  }
  const decoded = decodeKubePod(doc)
  if (Either.isLeft(decoded)) {
    for (const i of ParseResult.ArrayFormatter.formatErrorSync(decoded.left)) {
      if (i.message.startsWith("Expected undefined") || i.message.startsWith("Expected null")) continue
      ctx.error(i.path, i.message.replace(/Struct \(Encoded side\)/g, "an object"))
    }
    return empty()
  }
  const pod = decoded.right
  ctx.keys(doc, [], "pod")
  ctx.keys(pod.metadata, ["metadata"], "metadata")
  ctx.keys(pod.spec, ["spec"], "spec")
  const spec = pod.spec
  const extra = readExtra(ctx, pod)
  const { containers: extraContainers, ...extraPod } = extra as { containers?: unknown }
  const perContainer = (name: string) => {
    const e = isObject(extraContainers) ? extraContainers[name] : undefined
    return isObject(e) ? e : undefined
  }

  const out: Record<string, unknown> = {}
  if (pod.metadata.name == null) ctx.error(["metadata", "name"], "a pod needs a name")
  else out.name = pod.metadata.name
  ctx.from(["name"], ["metadata", "name"])
  if (pod.metadata.namespace != null) {
    ctx.warn(["metadata", "namespace"], "Tank has no namespaces: pod names are one set per machine or cluster")
  }
  if (pod.metadata.labels && Object.keys(pod.metadata.labels).length > 0) {
    if (options.supportsLabels) {
      out.labels = pod.metadata.labels
      ctx.from(["labels"], ["metadata", "labels"])
    } else ctx.warn(["metadata", "labels"], "this Tank has no pod labels yet: ignored")
  }
  for (const k of Object.keys(pod.metadata.annotations ?? {})) {
    if (k !== EXTRA_ANNOTATION) ctx.warn(["metadata", "annotations", k], "Tank keeps no annotations: ignored")
  }

  if (spec.restartPolicy != null) {
    const r = RESTART[spec.restartPolicy]
    if (r) out.restart = r
    else ctx.error(["spec", "restartPolicy"], "must be Always, OnFailure or Never")
  }
  if (spec.hostUsers === false) out.hostUsers = false
  if (spec.terminationGracePeriodSeconds != null) {
    out.terminationGracePeriodSeconds = spec.terminationGracePeriodSeconds
    ctx.from(["terminationGracePeriodSeconds"], ["spec", "terminationGracePeriodSeconds"])
  }
  if (spec.hostname != null) {
    out.hostname = spec.hostname
    ctx.from(["hostname"], ["spec", "hostname"])
  }
  if (spec.nodeName != null) {
    out.node = spec.nodeName
    ctx.from(["node"], ["spec", "nodeName"])
  }
  if (spec.nodeSelector && Object.keys(spec.nodeSelector).length > 0) {
    out.nodeSelector = spec.nodeSelector
    ctx.from(["nodeSelector"], ["spec", "nodeSelector"])
  }
  const psc = spec.securityContext
  if (psc) {
    ctx.keys(psc, ["spec", "securityContext"], "podSecurityContext")
    if (psc.fsGroup != null) {
      out.fsGroup = psc.fsGroup
      ctx.from(["fsGroup"], ["spec", "securityContext", "fsGroup"])
    }
    if (psc.supplementalGroups?.length) {
      out.supplementalGroups = psc.supplementalGroups
      ctx.from(["supplementalGroups"], ["spec", "securityContext", "supplementalGroups"])
    }
  }
  if (spec.serviceAccountName != null) {
    ctx.warn(["spec", "serviceAccountName"], "Tank has no service accounts: ignored")
  }

  const facts: PodFacts = {
    name: pod.metadata.name ?? "",
    namespace: pod.metadata.namespace ?? "default",
    serviceAccount: spec.serviceAccountName ?? "default"
  }
  const volumes = (spec.volumes ?? []).flatMap((v, i) => {
    const mapped = mapVolume(ctx, v, ["spec", "volumes", i], ["volumes", i])
    return mapped ? [mapped] : []
  })
  if (volumes.length > 0) out.volumes = volumes
  const containers = (list: ReadonlyArray<KubeContainer>, key: "containers" | "initContainers") =>
    list.map((c, i) => mapContainer(ctx, c, ["spec", key, i], [key, i], pod, facts, perContainer(c.name), options))
  if (spec.initContainers?.length) {
    for (const [i, c] of spec.initContainers.entries()) {
      for (const k of ["livenessProbe", "readinessProbe", "startupProbe"] as const) {
        if (c[k]) ctx.error(["spec", "initContainers", i, k], "init containers run to completion: they take no probes")
      }
    }
    out.initContainers = containers(spec.initContainers, "initContainers")
  }
  out.containers = containers(spec.containers, "containers")
  ctx.from(["containers"], ["spec", "containers"])

  // Network: host, Tank's own (tank/extra), else one bridge NIC as a Kubernetes pod's address.
  const ports = spec.containers.flatMap((c, ci) =>
    (c.ports ?? []).flatMap((p, pi) => {
      if (p.hostPort == null) return []
      const at = ["spec", "containers", ci, "ports", pi]
      const protocol = (p.protocol ?? "TCP").toLowerCase()
      if (protocol !== "tcp" && protocol !== "udp") {
        ctx.error([...at, "protocol"], `protocol ${p.protocol} is not supported (TCP or UDP)`)
        return []
      }
      return [{
        port: {
          containerPort: p.containerPort,
          hostPort: p.hostPort,
          protocol,
          ...(p.hostIP != null && p.hostIP !== "" && p.hostIP !== "0.0.0.0" ? { hostIP: p.hostIP } : {})
        },
        at
      }]
    })
  )
  const nameservers = spec.dnsConfig?.nameservers ?? []
  if (spec.dnsConfig) ctx.keys(spec.dnsConfig, ["spec", "dnsConfig"], "dnsConfig")
  if (spec.dnsPolicy != null && !(spec.dnsPolicy === "None" && nameservers.length > 0)) {
    ctx.warn(
      ["spec", "dnsPolicy"],
      "Tank's pods resolve through the pool's DNS, else Tank's DNS, else the host's (dnsConfig.nameservers with dnsPolicy None sets them): ignored"
    )
  }
  if (spec.hostNetwork === true) {
    out.network = "host"
    // With the host's network a port is the host's already: nothing to publish.
    if (nameservers.length > 0) ctx.warn(["spec", "dnsConfig"], "a hostNetwork pod uses the host's DNS: ignored")
  } else {
    const base = "network" in extraPod
      ? extraPod.network
      : { nics: [{ name: "eth0", mode: "bridge" }], ...(nameservers.length ? { dns: nameservers } : {}) }
    if (ports.length > 0) {
      if (isObject(base)) {
        out.network = { ...base, ports: ports.map((p) => p.port) }
        ports.forEach((p, i) => ctx.from(["network", "ports", i], p.at))
      } else {
        ctx.error(
          ports[0]!.at,
          `ports are published through a bridge NIC; the pod's network is ${JSON.stringify(base)}`
        )
      }
    } else out.network = base
  }
  for (const [k, v] of Object.entries(extraPod)) {
    if (k !== "network") {
      out[k] = v
      ctx.from([k], ["metadata", "annotations", EXTRA_ANNOTATION])
    }
  }
  ctx.from(["network"], "network" in extraPod ? ["metadata", "annotations", EXTRA_ANNOTATION] : ["spec"])
  return { spec: out, errors: ctx.errors, warnings: ctx.warnings, paths: ctx.paths }
}

/** A Tank validation path → the manifest's, by the longest recorded prefix. */
export const toKubePath = (paths: ReadonlyArray<readonly [string, string]>, tankPath: string): string => {
  let best: readonly [string, string] | undefined
  for (const pair of paths) {
    const [t] = pair
    const boundary = tankPath === t || tankPath.startsWith(t + ".") || tankPath.startsWith(t + "[")
    if (boundary && (best === undefined || t.length > best[0].length)) best = pair
  }
  if (best === undefined) return tankPath === "" ? "" : `(as Tank's ${tankPath})`
  return best[1] + tankPath.slice(best[0].length)
}
