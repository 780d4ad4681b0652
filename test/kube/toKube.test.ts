/**
 * `tank get -o kube`: a Tank pod → a Kubernetes Pod manifest that reads back (through the same path
 * `tank apply -f` takes) to the same pod, canonical JSON for canonical JSON.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import * as YAML from "yaml"
import { parseSpecFile } from "../../src/cli/specFile.js"
import { decodeDocument, toTankDocuments } from "../../src/kube/documents.js"
import { KubePod } from "../../src/kube/schema.js"
import { escapeVars, toKube } from "../../src/kube/toKube.js"
import { canonicalJson, decodePodEither } from "../../src/spec/decode.js"

const decode = (spec: unknown) => Either.getOrThrow(decodePodEither(spec))

/** Export, print as YAML, read back as `tank apply -f` does. */
const roundTrip = (spec: unknown) => {
  const pod = decode(spec)
  const manifest = toKube(pod)
  const parsed = Either.getOrThrow(parseSpecFile(YAML.stringify(manifest), "export.yaml"))
  const [doc, ...more] = toTankDocuments(parsed)
  expect(more).toEqual([])
  expect(doc!.kube).toBe(true)
  expect(doc!.warnings).toEqual([])
  const back = decodeDocument(doc!)
  if (Either.isLeft(back)) throw new Error(back.left.message)
  return { before: canonicalJson(pod), after: canonicalJson(back.right), manifest }
}

/** Every key is a Kubernetes Pod field (the subset schema.ts knows), no Tank key leaks in. */
const strictKubePod = Schema.decodeUnknownEither(KubePod, { onExcessProperty: "error", errors: "all" })

const pods: ReadonlyArray<readonly [string, unknown]> = [
  ["minimal (network none, Tank's default)", { name: "a", containers: [{ name: "m", image: "busybox" }] }],
  ["what a Kubernetes pod has: a bridge NIC, ports, dns, resources, security, volumes", {
    name: "web",
    labels: { app: "web", "example.com/tier": "front" },
    restart: "on_failure",
    hostname: "www",
    terminationGracePeriodSeconds: 5,
    fsGroup: 2000,
    supplementalGroups: [4000],
    network: {
      nics: [{ name: "eth0", mode: "bridge" }],
      ports: [{ containerPort: 80, hostPort: 8080 }, {
        containerPort: 53,
        hostPort: 5353,
        protocol: "udp",
        hostIP: "127.0.0.1"
      }],
      dns: ["10.0.0.53"]
    },
    volumes: [
      { name: "data" },
      { name: "mem", source: { tmpfs: { size: 64 * 1024 * 1024 } } },
      { name: "host", source: { host: "/srv/www" } }
    ],
    initContainers: [{
      name: "init",
      image: "busybox",
      command: ["sh", "-c", "echo $HOME $(X) $$ > /data/x"],
      mounts: [{ volume: "data", path: "/data" }]
    }],
    containers: [{
      name: "httpd",
      image: "127.0.0.1:5000/tank/httpd:latest",
      args: ["-f", "-p", "80"],
      env: { GREETING: "hello $(NAME)", NAME: "x" },
      fieldEnv: { POD_IP: "status.podIP", NODE: "spec.nodeName" },
      workingDir: "/www",
      user: "1000:3000",
      mounts: [{ volume: "data", path: "/www", readOnly: true }, { volume: "mem", path: "/cache" }, {
        volume: "host",
        path: "/srv"
      }],
      limits: { memory: 200 * 1024 * 1024, cpu: { quota: 50_000, period: 100_000 } },
      requests: { cpu: 250, memory: 100 * 1024 * 1024 },
      capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
      seccomp: "unconfined",
      noNewPrivileges: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      tty: true,
      livenessProbe: { exec: { command: ["cat", "/tmp/healthy"] }, periodSeconds: 5, failureThreshold: 2 }
    }]
  }],
  ["Tank-only fields travel in tank/extra", {
    name: "odd",
    restart: "never",
    hostUsers: false,
    init: true,
    node: "n1",
    network: {
      nics: [{ name: "eth0", mode: "bridge", address: "10.88.0.5/16" }, { name: "lan0", address: { pool: "lan" } }],
      ports: [{ containerPort: 1, hostPort: 2 }]
    },
    containers: [{
      name: "m",
      image: { rootfs: "/srv/rootfs" },
      user: "nobody",
      limits: { pids: 64, cpu: { quota: 12_345, period: 50_000 } },
      rlimits: { nofile: { soft: 1024, hard: 2048 } },
      seccomp: { profile: "/etc/tank/seccomp.json" },
      devices: [{ path: "/dev/fuse" }]
    }]
  }],
  ["host network", {
    name: "h",
    network: "host",
    nodeSelector: { disk: "ssd" },
    containers: [{ name: "m", image: "busybox" }]
  }]
]

describe("toKube → fromKube", () => {
  for (const [what, spec] of pods) {
    it(`round-trips: ${what}`, () => {
      const { after, before, manifest } = roundTrip(spec)
      expect(after).toBe(before)
      const strict = strictKubePod(manifest)
      if (Either.isLeft(strict)) throw new Error(String(strict.left))
    })
  }

  it("writes Kubernetes fields, not annotations, for what Kubernetes has", () => {
    const m = toKube(decode(pods[1]![1])) as {
      metadata: { annotations?: Record<string, string> }
      spec: { containers: Array<Record<string, unknown>> }
    }
    expect(m.metadata.annotations).toBeUndefined()
    expect(m.spec.containers[0]!.resources).toEqual({
      limits: { memory: "200Mi", cpu: "500m" },
      requests: { cpu: "250m", memory: "100Mi" }
    })
    expect(m.spec.containers[0]!.ports).toEqual([
      { containerPort: 80, hostPort: 8080, protocol: "TCP" },
      { containerPort: 53, hostPort: 5353, protocol: "UDP", hostIP: "127.0.0.1" }
    ])
  })

  it("escapes $ only where Kubernetes would expand it", () => {
    expect(escapeVars("echo $HOME $(X) $$")).toBe("echo $HOME $$(X) $$$")
  })
})
