/**
 * `tank networks`, `tank port` and the PORTS column of `tank ps`, as a user runs them (subprocess,
 * temp data dir, no agent). Allocations are written the way the agent writes them (the SQLite store).
 */
import { Effect } from "effect"
import { execSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { toInt } from "../../src/net/ipv4.js"
import { Allocations } from "../../src/store/Allocations.js"
import { layerSqlite } from "../../src/store/allocationsSql.js"
import { buildCli, runCli, tempDataDir } from "./harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
const tank = (args: ReadonlyArray<string>, input?: string) =>
  runCli(cli.entry, ["--data-dir", data.dir, ...args], input !== undefined ? { input } : {})

beforeAll(() => {
  cli = buildCli()
  data = tempDataDir()
  fs.writeFileSync(
    path.join(data.dir, "config.yaml"),
    "network:\n  pools:\n    - { name: lan, subnet: 10.0.0.0/24, gateway: 10.0.0.1, range: 10.0.0.100-10.0.0.120, shim: true }\n"
  )
})
afterAll(() => {
  cli?.cleanup()
  data?.cleanup()
})

const web = `name: web
network:
  nics: [{ name: eth0, mode: bridge }]
  ports: [{ containerPort: 8080, hostPort: 18080 }, { containerPort: 53, hostPort: 5353, protocol: udp, hostIP: 127.0.0.1 }]
containers: [{ name: app, image: busybox }]
`

describe("tank networks / port / ps PORTS", () => {
  it("lists pools (the configured one and the default bridge pool) and allocations with DNS names", async () => {
    expect((await tank(["apply", "-f", "-"], web)).code).toBe(0)
    await Effect.runPromise(
      Effect.flatMap(Allocations, (a) =>
        Effect.zipRight(
          a.allocate({
            pool: "lan",
            holder: "api",
            nic: "eth0",
            first: toInt("10.0.0.100"),
            last: toInt("10.0.0.120")
          }),
          a.claim({ pool: "hostports", address: "tcp/18080", holder: "web", nic: "tcp/18080" })
        )).pipe(Effect.provide(layerSqlite(path.join(data.dir, "tank.db"))))
    )
    const r = await tank(["networks"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /lan\s+macvlan auto \(shim tank0\)\s+10\.0\.0\.0\/24\s+10\.0\.0\.1\s+10\.0\.0\.100-10\.0\.0\.120\s+1\s+-/
    )
    expect(r.stdout).toMatch(/default\s+bridge tankbr0\s+10\.88\.0\.0\/16\s+10\.88\.0\.1/)
    expect(r.stdout).toMatch(/lan\s+10\.0\.0\.100\s+api\s+eth0\s+api\.tank\.internal/)
    expect(r.stdout).toMatch(/hostports\s+tcp\/18080\s+web\s+tcp\/18080\s+-/)
    const json = JSON.parse((await tank(["networks", "--json"])).stdout)
    expect(json.domain).toBe("tank.internal")
    expect(json.allocations).toHaveLength(2)
  })

  it("tank port lists a pod's published ports; tank ps shows them", async () => {
    const r = await tank(["port", "web"])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("8080/tcp -> 0.0.0.0:18080\n53/udp -> 127.0.0.1:5353\n")
    const none = await tank(["port", "nope"])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain("nope")
    const ps = await tank(["ps"])
    expect(ps.stdout).toMatch(/PORTS/)
    expect(ps.stdout).toContain("18080->8080/tcp,127.0.0.1:5353->53/udp")
  })
})

describe("tank network cleanup (root, inside a namespace the test creates)", () => {
  it("removes Tank's table, bridge and shim; leaves other tables and a foreign link of a shim's name; refused while the agent runs", async () => {
    const ns = `tank-t-${process.pid}-${Math.random().toString(16).slice(2, 10).padEnd(8, "0")}-clean`
    const sh = (cmd: string) => execSync(cmd, { stdio: "pipe" }).toString()
    sh(`ip netns add ${ns}`)
    try {
      const inNs = `ip netns exec ${ns}`
      sh(`${inNs} nft add table ip tank`)
      sh(`${inNs} nft add table ip other`)
      sh(`ip -n ${ns} link add tankbr0 type bridge`)
      sh(`ip -n ${ns} link add tank0 type veth peer name tank0p`) // a shim's name, but not a macvlan
      const run = (args: ReadonlyArray<string>) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = spawn(
            "ip",
            ["netns", "exec", ns, process.execPath, cli.entry, "--data-dir", data.dir, ...args],
            {
              env: { ...process.env, NO_COLOR: "1" }
            }
          )
          let stdout = "", stderr = ""
          child.stdout.on("data", (d) => (stdout += d))
          child.stderr.on("data", (d) => (stderr += d))
          child.on("close", (code) => resolve({ code, stdout, stderr }))
        })
      fs.writeFileSync(path.join(data.dir, "agent.lock"), String(process.pid))
      const refused = await run(["network", "cleanup"])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain(`the agent (pid ${process.pid}) is running`)
      fs.rmSync(path.join(data.dir, "agent.lock"))
      const r = await run(["network", "cleanup"])
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("removed nftables table ip tank")
      expect(r.stdout).toContain("removed link tankbr0")
      expect(r.stdout).toContain("nothing for tank0: it is a veth link")
      expect(sh(`${inNs} nft list tables`).trim()).toBe("table ip other")
      const links = sh(`ip -n ${ns} -o link show`)
      expect(links).not.toContain("tankbr0")
      expect(links).toContain("tank0")
      expect((await run(["network", "cleanup"])).stdout).toContain("nothing for tank0")
    } finally {
      sh(`ip netns del ${ns}`)
    }
  })
})
