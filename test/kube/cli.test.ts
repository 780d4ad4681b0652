/**
 * The `tank` CLI with Kubernetes manifests, as a user runs it (a subprocess on a temp data dir, no
 * agent): `apply -f` of a manifest from the Kubernetes docs, warnings and refusals by path, and
 * `get -o kube` read back by `apply -f -` as the same pod.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCli, runCli, tempDataDir } from "../cli/harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
const tank = (args: ReadonlyArray<string>, input?: string) =>
  runCli(cli.entry, ["--data-dir", data.dir, ...args], input !== undefined ? { input } : {})
const fixture = (name: string) => path.join(import.meta.dirname, "fixtures", name)

beforeAll(() => {
  cli = buildCli()
  data = tempDataDir()
})
afterAll(() => {
  cli?.cleanup()
  data?.cleanup()
})

describe("tank apply -f / get -o kube with Kubernetes manifests", () => {
  it("applies the docs' init-containers example; an ignored field is a warning on stderr naming its path", async () => {
    const r = await tank(["apply", "-f", fixture("init-containers.yaml")])
    expect(r.stdout).toBe("pod/init-demo created\n")
    expect(r.stderr).toMatch(/init-containers\.yaml: document 1: warning: spec\.dnsPolicy: /)
    expect(r.code).toBe(0)
    const got = await tank(["get", "init-demo", "-o", "json"])
    expect(JSON.parse(got.stdout)).toMatchObject({
      name: "init-demo",
      volumes: [{ name: "workdir", source: "managed" }],
      initContainers: [{ name: "install", image: "busybox:1.28" }]
    })
  })

  it("refuses a configMap volume by its path and applies nothing of the file", async () => {
    const file = path.join(data.dir, "two.yaml")
    fs.writeFileSync(
      file,
      `${fs.readFileSync(fixture("envars.yaml"), "utf8")}---\n${
        fs.readFileSync(fixture("configmap-volume.yaml"), "utf8")
      }`
    )
    const r = await tank(["apply", "-f", file])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /document 2 \(line \d+\), pod "dapi-test-pod": invalid pod spec\n\s+spec\.volumes\[0\]\.configMap: /
    )
    expect(r.stderr).toMatch(/nothing was applied/)
    expect((await tank(["get", "envar-demo"])).code).not.toBe(0)
  })

  it("get -o kube prints a Pod manifest that apply -f - reads back as the same pod (unchanged)", async () => {
    const spec = {
      name: "rt",
      restart: "never",
      network: { nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 80, hostPort: 18080 }] },
      volumes: [{ name: "cache", source: { tmpfs: { size: 1048576 } } }],
      containers: [{
        name: "m",
        image: "busybox",
        command: ["sh", "-c", "echo $(date) $$ > /cache/x; sleep 1d"],
        user: "1000",
        mounts: [{ volume: "cache", path: "/cache" }],
        limits: { memory: 64 * 1024 * 1024, pids: 32 }
      }]
    }
    expect((await tank(["apply", "-f", "-"], JSON.stringify(spec))).stdout).toBe("pod/rt created\n")
    const kube = await tank(["get", "rt", "-o", "kube"])
    expect(kube.code).toBe(0)
    expect(kube.stdout).toMatch(/^apiVersion: v1\nkind: Pod\n/)
    expect(kube.stdout).toContain("tank/extra")
    const back = await tank(["apply", "-f", "-"], kube.stdout)
    expect(back.stderr).toBe("")
    expect(back.stdout).toBe("pod/rt unchanged\n")
  })
})
