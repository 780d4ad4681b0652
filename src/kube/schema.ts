/**
 * The parts of a Kubernetes `v1 Pod` that Tank reads, as Schemas (the types only; what each field
 * means for Tank is in fromKube.ts, and which fields are refused or ignored is in rules.ts).
 * Decoded with `onExcessProperty: "preserve"`, so fields Tank does not map stay visible to rules.ts,
 * which names each one. YAML `null` reads as absent, as the API server treats it.
 */
import { Schema } from "effect"

const opt = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(Schema.NullOr(s), { exact: true })
const Str = Schema.String
const Int = Schema.Number.pipe(
  Schema.filter((n) => Number.isSafeInteger(n) ? true : `must be a whole number (got ${n})`)
)
const Bool = Schema.Boolean
const Strings = Schema.Array(Str)
const StringMap = Schema.Record({ key: Str, value: Str })
/** A quantity is a string or a number in YAML (`cpu: 1`, `memory: 128Mi`). */
export const QuantityValue = Schema.Union(Str, Schema.Number)
const IntOrString = Schema.Union(Int, Str)

export const KubeMetadata = Schema.Struct({
  name: opt(Str),
  namespace: opt(Str),
  labels: opt(StringMap),
  annotations: opt(StringMap)
})

export const KubeExecAction = Schema.Struct({ command: opt(Strings) })
export const KubeHttpGet = Schema.Struct({
  path: opt(Str),
  port: IntOrString,
  host: opt(Str),
  scheme: opt(Str),
  httpHeaders: opt(Schema.Array(Schema.Struct({ name: Str, value: Str })))
})
export const KubeTcpSocket = Schema.Struct({ port: IntOrString, host: opt(Str) })

export const KubeProbe = Schema.Struct({
  exec: opt(KubeExecAction),
  httpGet: opt(KubeHttpGet),
  tcpSocket: opt(KubeTcpSocket),
  initialDelaySeconds: opt(Int),
  periodSeconds: opt(Int),
  timeoutSeconds: opt(Int),
  successThreshold: opt(Int),
  failureThreshold: opt(Int)
})
export type KubeProbe = typeof KubeProbe.Type

export const KubeSeccompProfile = Schema.Struct({ type: Str, localhostProfile: opt(Str) })

export const KubeSecurityContext = Schema.Struct({
  runAsUser: opt(Int),
  runAsGroup: opt(Int),
  runAsNonRoot: opt(Bool),
  allowPrivilegeEscalation: opt(Bool),
  readOnlyRootFilesystem: opt(Bool),
  privileged: opt(Bool),
  capabilities: opt(Schema.Struct({ add: opt(Strings), drop: opt(Strings) })),
  seccompProfile: opt(KubeSeccompProfile),
  procMount: opt(Str)
})
export type KubeSecurityContext = typeof KubeSecurityContext.Type

export const KubePodSecurityContext = Schema.Struct({
  runAsUser: opt(Int),
  runAsGroup: opt(Int),
  runAsNonRoot: opt(Bool),
  fsGroup: opt(Int),
  supplementalGroups: opt(Schema.Array(Int)),
  seccompProfile: opt(KubeSeccompProfile)
})
export type KubePodSecurityContext = typeof KubePodSecurityContext.Type

export const KubeEnvVar = Schema.Struct({
  name: Str,
  value: opt(Str),
  valueFrom: opt(Schema.Struct({
    fieldRef: opt(Schema.Struct({ fieldPath: Str, apiVersion: opt(Str) }))
  }))
})

export const KubePort = Schema.Struct({
  containerPort: Int,
  hostPort: opt(Int),
  hostIP: opt(Str),
  protocol: opt(Str),
  name: opt(Str)
})

export const KubeVolumeMount = Schema.Struct({
  name: Str,
  mountPath: Str,
  readOnly: opt(Bool)
})

export const KubeResources = Schema.Struct({
  limits: opt(Schema.Record({ key: Str, value: QuantityValue })),
  requests: opt(Schema.Record({ key: Str, value: QuantityValue }))
})

export const KubeContainer = Schema.Struct({
  name: Str,
  image: opt(Str),
  command: opt(Strings),
  args: opt(Strings),
  env: opt(Schema.Array(KubeEnvVar)),
  workingDir: opt(Str),
  volumeMounts: opt(Schema.Array(KubeVolumeMount)),
  resources: opt(KubeResources),
  securityContext: opt(KubeSecurityContext),
  tty: opt(Bool),
  stdin: opt(Bool),
  ports: opt(Schema.Array(KubePort)),
  livenessProbe: opt(KubeProbe),
  readinessProbe: opt(KubeProbe),
  startupProbe: opt(KubeProbe)
})
export type KubeContainer = typeof KubeContainer.Type

export const KubeVolume = Schema.Struct({
  name: Str,
  emptyDir: opt(Schema.Struct({ medium: opt(Str), sizeLimit: opt(QuantityValue) })),
  hostPath: opt(Schema.Struct({ path: Str, type: opt(Str) }))
})
export type KubeVolume = typeof KubeVolume.Type

export const KubePodSpec = Schema.Struct({
  containers: Schema.Array(KubeContainer),
  initContainers: opt(Schema.Array(KubeContainer)),
  restartPolicy: opt(Str),
  hostNetwork: opt(Bool),
  hostname: opt(Str),
  securityContext: opt(KubePodSecurityContext),
  volumes: opt(Schema.Array(KubeVolume)),
  nodeName: opt(Str),
  nodeSelector: opt(StringMap),
  hostUsers: opt(Bool),
  terminationGracePeriodSeconds: opt(Int),
  dnsPolicy: opt(Str),
  dnsConfig: opt(Schema.Struct({ nameservers: opt(Strings) })),
  serviceAccountName: opt(Str)
})
export type KubePodSpec = typeof KubePodSpec.Type

export const KubePod = Schema.Struct({
  apiVersion: Schema.Literal("v1"),
  kind: Schema.Literal("Pod"),
  metadata: KubeMetadata,
  spec: KubePodSpec
})
export type KubePod = typeof KubePod.Type

export const decodeKubePod = Schema.decodeUnknownEither(KubePod, { errors: "all", onExcessProperty: "preserve" })
