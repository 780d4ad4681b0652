/**
 * Kubernetes Pod manifests from the Kubernetes documentation's examples (fixtures/, verbatim but for
 * a comment naming the source) → Tank pod specs, through the same path `tank apply -f` takes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseSpecFile } from "../../src/cli/specFile.js"
import { decodeDocument, toTankDocuments } from "../../src/kube/documents.js"
import type { Pod } from "../../src/spec/Pod.js"

const fixture = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "fixtures", name), "utf8")

const documents = (text: string) => {
  const parsed = parseSpecFile(text, "test")
  if (Either.isLeft(parsed)) throw parsed.left
  return toTankDocuments(parsed.right)
}

/** The one pod of a manifest, which must convert and validate; with the conversion's warnings. */
const pod = (text: string): { pod: Pod; warnings: Array<string> } => {
  const [d, ...more] = documents(text)
  expect(more).toEqual([])
  const decoded = decodeDocument(d!)
  if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
  return { pod: decoded.right, warnings: d!.warnings.map((w) => `${w.path}: ${w.message}`) }
}

/** The issues of a manifest that must be refused, as "path: message". */
const refused = (text: string): Array<string> => {
  const [d] = documents(text)
  const decoded = decodeDocument(d!)
  if (Either.isRight(decoded)) throw new Error("expected the manifest to be refused")
  return decoded.left.issues.map((i) => `${i.path}: ${i.message}`)
}

describe("Kubernetes documentation pod examples", () => {
  it("simple-pod: name, image, a container port (no hostPort: nothing published), a bridge NIC", () => {
    const { pod: p, warnings } = pod(fixture("simple-pod.yaml"))
    expect(p.name).toBe("nginx")
    expect(p.containers.map((c) => [c.name, c.image])).toEqual([["nginx", "nginx:1.14.2"]])
    expect(p.network).toMatchObject({ nics: [{ name: "eth0", mode: "bridge" }] })
    expect(p.network !== "none" && p.network !== "host" && p.network.ports).toBeFalsy()
    expect(p.restart).toBe("always")
    expect(warnings).toEqual([])
  })

  it("init-containers: an init container and the main one share an emptyDir (managed volume)", () => {
    const { pod: p, warnings } = pod(fixture("init-containers.yaml"))
    expect(p.volumes).toEqual([{ name: "workdir", source: "managed" }])
    expect(p.initContainers.map((c) => [c.name, c.command, c.mounts])).toEqual([[
      "install",
      ["wget", "-O", "/work-dir/index.html", "http://info.cern.ch"],
      [{ volume: "workdir", path: "/work-dir", readOnly: false }]
    ]])
    expect(p.containers[0]!.mounts).toEqual([{ volume: "workdir", path: "/usr/share/nginx/html", readOnly: false }])
    // dnsPolicy: Default changes nothing Tank does: a warning naming it.
    expect(warnings).toEqual([expect.stringMatching(/^spec\.dnsPolicy: .*ignored/)])
  })

  it("dapi-envars: fieldRefs known at apply time become values, run-time ones fieldEnv; namespace is not invented silently", () => {
    const { pod: p, warnings } = pod(fixture("dapi-envars-pod.yaml"))
    const c = p.containers[0]!
    expect(p.restart).toBe("never")
    expect(c.env).toEqual({
      MY_POD_NAME: "dapi-envars-fieldref",
      MY_POD_NAMESPACE: "default",
      MY_POD_SERVICE_ACCOUNT: "default"
    })
    expect(c.fieldEnv).toEqual({ MY_NODE_NAME: "spec.nodeName", MY_POD_IP: "status.podIP" })
    // YAML folds the multi-line plain scalar into one line, as kubectl would send it.
    expect(c.command).toEqual(["sh", "-c"])
    expect(c.args[0]).toMatch(/^while true; do echo -en '\\n'; printenv MY_NODE_NAME/)
    expect(warnings).toEqual([
      expect.stringMatching(/^spec\.containers\[0\]\.env\[2\]\.valueFrom\.fieldRef\.fieldPath: Tank has no namespaces/),
      expect.stringMatching(/^spec\.containers\[0\]\.env\[4\]\.valueFrom\.fieldRef\.fieldPath: Tank has no service/)
    ])
  })

  it("security-context: runAsUser/runAsGroup, fsGroup, supplementalGroups, allowPrivilegeEscalation false", () => {
    const { pod: p, warnings } = pod(fixture("security-context.yaml"))
    const c = p.containers[0]!
    expect(c.user).toBe("1000:3000")
    expect(p.fsGroup).toBe(2000)
    expect(p.supplementalGroups).toEqual([4000])
    // Tank's default already sets no_new_privs: false is the default, nothing to write.
    expect(c.noNewPrivileges).toBeUndefined()
    expect(warnings).toEqual([])
  })

  it("allowPrivilegeEscalation: true lifts Tank's no_new_privs", () => {
    const text = fixture("security-context.yaml").replace(
      "allowPrivilegeEscalation: false",
      "allowPrivilegeEscalation: true"
    )
    expect(pod(text).pod.containers[0]!.noNewPrivileges).toBe(false)
  })

  it("memory-request-limit: 200Mi limit, 100Mi request; metadata.namespace is a warning, not a Tank field", () => {
    const { pod: p, warnings } = pod(fixture("memory-request-limit.yaml"))
    const c = p.containers[0]!
    expect(c.limits.memory).toBe(200 * 1024 * 1024)
    expect(c.requests).toEqual({ memory: 100 * 1024 * 1024 })
    expect(Object.keys(p)).not.toContain("namespace")
    expect(warnings).toEqual([expect.stringMatching(/^metadata\.namespace: Tank has no namespaces/)])
  })

  it("cpu-request-limit: cpu \"1\" is a full CPU quota, \"0.5\" is 500 millicores requested", () => {
    const { pod: p } = pod(fixture("cpu-request-limit.yaml"))
    const c = p.containers[0]!
    expect(c.limits.cpu).toEqual({ quota: 100_000, period: 100_000 })
    expect(c.requests).toEqual({ cpu: 500 })
    expect(c.args).toEqual(["-cpus", "2"])
  })

  it("security-context-4: capabilities added", () => {
    const { pod: p } = pod(fixture("security-context-4.yaml"))
    expect(p.containers[0]!.capabilities).toEqual({ add: ["NET_ADMIN", "SYS_TIME"], drop: [] })
  })

  it("envars: env values and the pod's labels", () => {
    const { pod: p, warnings } = pod(fixture("envars.yaml"))
    expect(p.containers[0]!.env).toEqual({
      DEMO_GREETING: "Hello from the environment",
      DEMO_FAREWELL: "Such a sweet sorrow"
    })
    expect(p.labels).toEqual({ purpose: "demonstrate-envars" })
    expect(warnings).toEqual([])
  })

  it("pod-configmap-volume: a configMap volume is refused by its path", () => {
    expect(refused(fixture("pod-configmap-volume.yaml".replace("pod-", "")))).toEqual([
      expect.stringMatching(/^spec\.volumes\[0\]\.configMap: configMap volumes are not supported/)
    ])
  })

  it("exec-liveness: the exec liveness probe maps with Kubernetes' names and defaults", () => {
    const { pod: p, warnings } = pod(fixture("exec-liveness.yaml"))
    expect(p.containers[0]!.livenessProbe).toEqual({
      exec: { command: ["cat", "/tmp/healthy"] },
      initialDelaySeconds: 5,
      periodSeconds: 5,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3
    })
    expect(p.containers[0]!.args).toEqual([
      "/bin/sh",
      "-c",
      "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"
    ])
    expect(p.labels).toEqual({ test: "liveness" })
    expect(warnings).toEqual([])
  })

  it("readiness and startup probes map too; httpGet maps, an HTTPS one is refused by path", () => {
    const text = fixture("exec-liveness.yaml")
    const readiness = pod(text.replace("livenessProbe:", "readinessProbe:"))
    expect(readiness.pod.containers[0]!.readinessProbe?.exec?.command).toEqual(["cat", "/tmp/healthy"])
    const startup = pod(text.replace("livenessProbe:", "startupProbe:"))
    expect(startup.pod.containers[0]!.startupProbe?.periodSeconds).toBe(5)
    const handler = /exec:\n\s+command:\n\s+- cat\n\s+- \/tmp\/healthy/
    expect(pod(text.replace(handler, "httpGet: { path: /x, port: 80 }")).pod.containers[0]!.livenessProbe?.httpGet)
      .toEqual({ path: "/x", port: 80, scheme: "HTTP" })
    expect(refused(text.replace(handler, "httpGet: { path: /, port: 443, scheme: HTTPS }")))
      .toEqual([expect.stringMatching(/^spec\.containers\[0\]\.livenessProbe\.httpGet\.scheme: HTTPS probes/)])
  })
})

describe("documents", () => {
  const nginx = fixture("simple-pod.yaml")

  it("multi-document files mix manifests and Tank specs; a kind List stands for its items", () => {
    const list = {
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "v1", kind: "Pod", metadata: { name: "a" }, spec: { containers: [{ name: "c", image: "x" }] } },
        { apiVersion: "v1", kind: "Pod", metadata: { name: "b" }, spec: { containers: [{ name: "c", image: "y" }] } }
      ]
    }
    const docs = documents(
      `${nginx}\n---\nname: tank-own\ncontainers: [{ name: c, image: z }]\n---\n${JSON.stringify(list)}`
    )
    expect(docs.map((d) => [d.where, d.kube])).toEqual([
      ["document 1", true],
      ["document 2", false],
      ["document 3, items[0]", true],
      ["document 3, items[1]", true]
    ])
    expect(docs.map((d) => Either.getOrThrow(decodeDocument(d)).name)).toEqual(["nginx", "tank-own", "a", "b"])
  })

  it("refusals name the manifest's paths: errors for what would change behaviour, Tank's own checks too", () => {
    const text = `apiVersion: v1
kind: Pod
metadata: { name: bad }
spec:
  hostPID: true
  containers:
  - name: c
    image: x
    securityContext: { privileged: true }
    volumeMounts: [{ name: nowhere, mountPath: /data }]
    lifecycle: { preStop: { exec: { command: [x] } } }
    imagePullPolicy: Always
`
    expect(refused(text)).toEqual([
      expect.stringMatching(/^spec\.hostPID: Tank pods always have their own PID namespace/),
      expect.stringMatching(/^spec\.containers\[0\]\.lifecycle: /),
      expect.stringMatching(/^spec\.containers\[0\]\.securityContext\.privileged: privileged containers/)
    ])
    // Once the manifest converts, Tank's schema speaks in the manifest's paths too.
    const undeclared = refused(
      text.replace(/.*(hostPID|privileged|lifecycle).*\n/g, "").replace(
        "    securityContext: { privileged: true }\n",
        ""
      )
    )
    expect(undeclared).toEqual([
      expect.stringMatching(/^spec\.containers\[0\]\.volumeMounts\[0\]\.name: volume "nowhere" is not declared/)
    ])
  })

  it("an unknown field (a typo) is an error naming its path", () => {
    expect(refused(nginx.replace("    image:", "    imagee: x\n    image:"))).toEqual([
      expect.stringMatching(/^spec\.containers\[0\]\.imagee: not a field of a Kubernetes container/)
    ])
  })

  it("a Deployment is refused with what to do instead", () => {
    expect(refused("apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\nspec: {}\n")).toEqual([
      expect.stringMatching(
        /^kind: apps\/v1 Deployment is not supported: Tank runs Pods; apply the Pod of its spec\.template/
      )
    ])
  })
})
