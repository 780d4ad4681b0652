/**
 * Manifests from the Kubernetes documentation's pod examples, run by the live Runtime (root), and
 * seen to behave as the docs describe. Rewrites, as a user on a machine without a cluster makes them:
 * images → the test registry's busybox, the init container's download → a local write, and the
 * `tank/extra` annotation `{"network":"none"}` (a manifest pod gets a bridge NIC otherwise, which
 * needs the agent's bridge on the host: bridge.e2e covers that).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as YAML from "yaml"
import { decodeDocument, toTankDocuments } from "../../src/kube/documents.js"
import { podLayout } from "../../src/runtime/layout.js"
import type { Pod } from "../../src/spec/Pod.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { liveRuntime } from "../support/tankEnv.js"

const manifest = (name: string, busybox: string, edit: (m: any) => void = () => undefined): Pod => {
  const m = YAML.parse(fs.readFileSync(path.join(import.meta.dirname, "fixtures", name), "utf8"))
  for (const c of [...m.spec.containers, ...(m.spec.initContainers ?? [])]) c.image = busybox
  m.metadata.annotations = { "tank/extra": JSON.stringify({ network: "none" }) }
  edit(m)
  const [doc] = toTankDocuments([{ spec: m, where: name }])
  return Either.getOrThrow(decodeDocument(doc!))
}

/** `Uid`, `Gid`, `Groups`, `NoNewPrivs` lines of the workload (PID 1 of the container). */
const status = (text: string) =>
  Object.fromEntries(
    text.split("\n").filter((l) => /^(Uid|Gid|Groups|NoNewPrivs):/.test(l)).map((l) => {
      const [k, v] = l.split(":")
      return [k!, v!.trim().split(/\s+/).join(" ")]
    })
  )

describe("Kubernetes docs pod examples (live, root)", () => {
  it.scopedLive(
    "init-containers: the init container writes into the emptyDir, the main container serves it; env values from dapi-envars",
    () =>
      Effect.gen(function*() {
        const { env, inPod, runtime } = yield* liveRuntime()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const pod = manifest("init-containers.yaml", env.refs.busybox, (m) => {
          m.spec.initContainers[0].command = ["sh", "-c", "echo hello from init > /work-dir/index.html"]
          // nginx's place: busybox httpd on port 80 serving the same directory.
          m.spec.containers[0].command = ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
          m.spec.containers[0].env = [
            { name: "MY_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "MY_NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: "GREETING", value: "hi $(MY_POD_NAME)" }
          ]
        })
        const scope = yield* Scope.make()
        yield* Scope.extend(runtime.start(pod), scope)
        const served = yield* inPod("init-demo", "wget -qO- http://127.0.0.1:80/index.html")
        assert.strictEqual(served.stdout, "hello from init\n")
        const envOf = yield* inPod("init-demo", "tr '\\0' '\\n' < /proc/1/environ | grep -E '^(MY_|GREETING)' | sort")
        assert.deepStrictEqual(envOf.stdout.trim().split("\n"), [
          "GREETING=hi init-demo",
          `MY_NODE_NAME=${env.config.node.name}`,
          "MY_POD_NAME=init-demo"
        ])
        yield* Scope.close(scope, Exit.void)
        yield* runtime.purge("init-demo")
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "security-context: runAsUser 1000 / runAsGroup 3000, fsGroup 2000 owns the emptyDir, NoNewPrivs 1; " +
      "readOnlyRootFilesystem with a Memory emptyDir (tmpfs) unmounted with the pod",
    () =>
      Effect.gen(function*() {
        const { env, inPod, runtime } = yield* liveRuntime()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const pod = manifest("security-context.yaml", env.refs.busybox, (m) => {
          m.spec.containers[0].command = ["sh", "-c", "touch /data/demo/made-by-1000; exec sleep 3600"]
          m.spec.containers[0].securityContext.readOnlyRootFilesystem = true
          m.spec.volumes.push({ name: "scratch", emptyDir: { medium: "Memory", sizeLimit: "8Mi" } })
          m.spec.containers[0].volumeMounts.push({ name: "scratch", mountPath: "/scratch" })
        })
        const scope = yield* Scope.make()
        yield* Scope.extend(runtime.start(pod), scope)
        const ps = status((yield* inPod("security-context-demo", "cat /proc/1/status")).stdout)
        assert.strictEqual(ps.Uid, "1000 1000 1000 1000")
        assert.strictEqual(ps.Gid, "3000 3000 3000 3000")
        assert.includeMembers(ps.Groups!.split(" "), ["2000", "4000"])
        assert.strictEqual(ps.NoNewPrivs, "1")
        // fsGroup: the volume and what the container made in it belong to group 2000 (setgid dir).
        const owned = yield* inPod("security-context-demo", "stat -c '%u %g %A' /data/demo /data/demo/made-by-1000")
        assert.deepStrictEqual(owned.stdout.trim().split("\n"), ["0 2000 drwxrwsr-x", "1000 2000 -rw-r--r--"])
        // The image's files are read-only; the tmpfs volume is writable and sized as asked.
        const ro = yield* inPod("security-context-demo", "touch /etc/x 2>&1; echo rc=$?")
        assert.match(ro.stdout, /Read-only file system[\s\S]*rc=1/)
        const tmpfs = yield* inPod(
          "security-context-demo",
          "echo ok > /scratch/f && cat /scratch/f && df -k /scratch | tail -1"
        )
        assert.match(tmpfs.stdout, /^ok\ntmpfs\s+8192\s/)
        const run = path.join(podLayout(env.dataDir, "security-context-demo").run, "tmpfs", "scratch")
        assert.include(fs.readFileSync("/proc/self/mountinfo", "utf8"), ` ${run} `)
        yield* Scope.close(scope, Exit.void)
        yield* runtime.purge("security-context-demo")
        assert.notInclude(fs.readFileSync("/proc/self/mountinfo", "utf8"), ` ${run} `)
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )
})
