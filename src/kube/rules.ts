/**
 * Which fields of a Kubernetes Pod manifest Tank maps, and what it says about the others (pure).
 * Each object kind lists the keys fromKube.ts maps; any other key is reported by its path: as an
 * error where ignoring it would change how the pod behaves, as a warning where it would not, and as
 * an error when Tank does not know the field at all (a typo, or a field newer than this table).
 */

export type Level = "error" | "warning"

export interface Rule {
  readonly level: Level
  readonly message: string
  /** Report only when this holds for the value (`hostPID: false` says nothing). */
  readonly when?: (value: unknown) => boolean
}

const warn = (message: string): Rule => ({ level: "warning", message })
const refuse = (message: string, when?: (v: unknown) => boolean): Rule => ({
  level: "error",
  message,
  ...(when ? { when } : {})
})
const isTrue = (v: unknown) => v === true
const ignored = (what: string) => warn(`${what}: ignored`)
const clusterSet = ignored("set by a cluster")

export interface ObjectRules {
  /** Keys fromKube.ts maps (it reports their values' problems itself). */
  readonly mapped: ReadonlyArray<string>
  readonly others: Readonly<Record<string, Rule>>
  /** What an unknown key of this object is called in messages. */
  readonly what: string
}

const appArmor: Rule = {
  level: "warning",
  message: "Tank has no AppArmor profiles: ignored",
  when: () => true
}

export const RULES = {
  pod: {
    what: "Pod",
    mapped: ["apiVersion", "kind", "metadata", "spec"],
    others: { status: ignored("the status is a cluster's report") }
  },
  metadata: {
    what: "Pod metadata",
    mapped: ["name", "namespace", "labels", "annotations"],
    others: {
      generateName: refuse("Tank needs metadata.name (it does not generate names)"),
      uid: clusterSet,
      resourceVersion: clusterSet,
      creationTimestamp: clusterSet,
      generation: clusterSet,
      managedFields: clusterSet,
      selfLink: clusterSet,
      deletionTimestamp: clusterSet,
      deletionGracePeriodSeconds: clusterSet,
      ownerReferences: ignored("Tank has no owner objects"),
      finalizers: ignored("Tank has no finalizers")
    }
  },
  spec: {
    what: "Pod spec",
    mapped: [
      "containers",
      "initContainers",
      "restartPolicy",
      "hostNetwork",
      "hostname",
      "securityContext",
      "volumes",
      "nodeName",
      "nodeSelector",
      "hostUsers",
      "terminationGracePeriodSeconds",
      "dnsPolicy",
      "dnsConfig",
      "serviceAccountName"
    ],
    others: {
      hostPID: refuse("Tank pods always have their own PID namespace", isTrue),
      hostIPC: refuse("Tank pods always have their own IPC namespace", isTrue),
      shareProcessNamespace: refuse("Tank's containers do not share one PID namespace", isTrue),
      hostAliases: refuse("Tank writes /etc/hosts itself (extra entries are not supported)"),
      activeDeadlineSeconds: refuse("Tank does not end pods after a deadline"),
      runtimeClassName: refuse("Tank has one runtime"),
      resourceClaims: refuse("Tank has no dynamic resource claims"),
      ephemeralContainers: refuse("ephemeral containers are not supported (use tank exec)"),
      resources: refuse("pod-level resources are not supported: give each container its resources"),
      os: {
        level: "error",
        message: "Tank runs Linux pods only",
        when: (v) => (v as { name?: unknown })?.name !== "linux"
      },
      serviceAccount: ignored("Tank has no service accounts"),
      automountServiceAccountToken: ignored("Tank mounts no service account token"),
      schedulerName: ignored("Tank has one scheduler"),
      priority: ignored("Tank has no pod priorities"),
      priorityClassName: ignored("Tank has no pod priorities"),
      preemptionPolicy: ignored("Tank does not preempt pods"),
      tolerations: ignored("Tank nodes have no taints"),
      affinity: ignored("not honoured: use nodeName or nodeSelector"),
      topologySpreadConstraints: ignored("not honoured: Tank's scheduler spreads by free capacity"),
      enableServiceLinks: ignored("Tank has no services"),
      imagePullSecrets: ignored("Tank takes registry credentials from its config (registries, dockerConfig)"),
      readinessGates: ignored("Tank has no readiness gates"),
      overhead: clusterSet,
      setHostnameAsFQDN: ignored("not supported"),
      subdomain: ignored("Tank's DNS names pods <pod>.<domain>"),
      schedulingGates: ignored("Tank has no scheduling gates")
    }
  },
  podSecurityContext: {
    what: "pod securityContext",
    mapped: ["runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "supplementalGroups", "seccompProfile"],
    others: {
      sysctls: refuse("sysctls are not supported"),
      seLinuxOptions: ignored("Tank has no SELinux labels"),
      seLinuxChangePolicy: ignored("Tank has no SELinux labels"),
      windowsOptions: ignored("Linux pods only"),
      fsGroupChangePolicy: ignored("Tank sets fsGroup ownership at every start (Always)"),
      supplementalGroupsPolicy: ignored("Tank merges the image's groups (Merge)"),
      appArmorProfile: appArmor
    }
  },
  container: {
    what: "container",
    mapped: [
      "name",
      "image",
      "command",
      "args",
      "env",
      "workingDir",
      "volumeMounts",
      "resources",
      "securityContext",
      "tty",
      "stdin",
      "ports",
      "livenessProbe",
      "readinessProbe",
      "startupProbe"
    ],
    others: {
      lifecycle: refuse("postStart/preStop hooks are not supported"),
      envFrom: refuse("Tank has no ConfigMaps or Secrets: give the variables in env"),
      volumeDevices: refuse("Tank has no block volumes (see the devices field)"),
      restartPolicy: refuse("sidecar containers (an init container's restartPolicy) are not supported"),
      restartPolicyRules: refuse("per-container restart rules are not supported"),
      imagePullPolicy: ignored("Tank pulls an image when it is not cached (IfNotPresent); `tank pull` refreshes a tag"),
      terminationMessagePath: ignored("Tank keeps the container's log instead"),
      terminationMessagePolicy: ignored("Tank keeps the container's log instead"),
      stdinOnce: ignored("not supported"),
      resizePolicy: ignored("Tank applies new resources by restarting the pod")
    }
  },
  securityContext: {
    what: "container securityContext",
    mapped: [
      "runAsUser",
      "runAsGroup",
      "runAsNonRoot",
      "allowPrivilegeEscalation",
      "readOnlyRootFilesystem",
      "privileged",
      "capabilities",
      "seccompProfile",
      "procMount"
    ],
    others: {
      seLinuxOptions: ignored("Tank has no SELinux labels"),
      windowsOptions: ignored("Linux pods only"),
      appArmorProfile: appArmor
    }
  },
  capabilities: { what: "capabilities", mapped: ["add", "drop"], others: {} },
  seccompProfile: { what: "seccompProfile", mapped: ["type", "localhostProfile"], others: {} },
  envVar: { what: "env entry", mapped: ["name", "value", "valueFrom"], others: {} },
  valueFrom: {
    what: "valueFrom",
    mapped: ["fieldRef"],
    others: {
      configMapKeyRef: refuse("Tank has no ConfigMaps: give the value"),
      secretKeyRef: refuse("Tank has no Secrets: give the value"),
      resourceFieldRef: refuse("resourceFieldRef is not supported: give the value"),
      fileKeyRef: refuse("fileKeyRef is not supported: give the value")
    }
  },
  fieldRef: { what: "fieldRef", mapped: ["fieldPath", "apiVersion"], others: {} },
  port: { what: "port", mapped: ["containerPort", "hostPort", "hostIP", "protocol", "name"], others: {} },
  volumeMount: {
    what: "volumeMount",
    mapped: ["name", "mountPath", "readOnly"],
    others: {
      subPath: refuse("subPath mounts are not supported: mount the volume"),
      subPathExpr: refuse("subPathExpr mounts are not supported: mount the volume"),
      mountPropagation: refuse("mount propagation is not supported (None only)", (v) => v !== "None"),
      recursiveReadOnly: ignored("Tank's read-only mounts are always recursive")
    }
  },
  resources: {
    what: "resources",
    mapped: ["limits", "requests"],
    others: { claims: refuse("Tank has no dynamic resource claims") }
  },
  volume: {
    what: "volume",
    mapped: ["name", "emptyDir", "hostPath"],
    others: Object.fromEntries(
      [
        "configMap",
        "secret",
        "persistentVolumeClaim",
        "projected",
        "downwardAPI",
        "ephemeral",
        "image",
        "csi",
        "nfs",
        "iscsi",
        "fc",
        "cephfs",
        "rbd",
        "glusterfs",
        "gitRepo",
        "awsElasticBlockStore",
        "gcePersistentDisk",
        "azureDisk",
        "azureFile"
      ].map((
        k
      ) => [k, refuse(`${k} volumes are not supported (Tank has emptyDir, emptyDir with medium Memory, and hostPath)`)])
    )
  },
  emptyDir: { what: "emptyDir", mapped: ["medium", "sizeLimit"], others: {} },
  hostPath: { what: "hostPath", mapped: ["path", "type"], others: {} },
  dnsConfig: {
    what: "dnsConfig",
    mapped: ["nameservers"],
    others: { searches: ignored("not supported"), options: ignored("not supported") }
  },
  probe: {
    what: "probe",
    mapped: [
      "exec",
      "httpGet",
      "tcpSocket",
      "initialDelaySeconds",
      "periodSeconds",
      "timeoutSeconds",
      "successThreshold",
      "failureThreshold"
    ],
    others: {
      grpc: refuse("gRPC probes are not supported: use exec, httpGet or tcpSocket"),
      terminationGracePeriodSeconds: ignored("the pod's terminationGracePeriodSeconds applies")
    }
  },
  exec: { what: "exec", mapped: ["command"], others: {} },
  httpGet: { what: "httpGet", mapped: ["path", "port", "host", "scheme", "httpHeaders"], others: {} },
  httpHeader: { what: "httpHeaders entry", mapped: ["name", "value"], others: {} },
  tcpSocket: { what: "tcpSocket", mapped: ["port", "host"], others: {} }
} satisfies Record<string, ObjectRules>

export type ObjectKind = keyof typeof RULES

/** The keys of `obj` that are not mapped, with what to say about each (undefined: nothing). */
export const unmappedKeys = (
  obj: object,
  kind: ObjectKind
): ReadonlyArray<{ readonly key: string; readonly level: Level; readonly message: string }> => {
  const rules: ObjectRules = RULES[kind]
  return Object.entries(obj).flatMap(([key, value]) => {
    if (rules.mapped.includes(key)) return []
    const rule = rules.others[key]
    if (rule === undefined) {
      return [{ key, level: "error" as const, message: `not a field of a Kubernetes ${rules.what} that Tank knows` }]
    }
    return rule.when === undefined || rule.when(value) ? [{ key, level: rule.level, message: rule.message }] : []
  })
}
