/**
 * `tank networks`, `tank port` and the PORTS column of `tank ps`, as a user runs them (subprocess,
 * temp data dir, no agent). Allocations are written the way the agent writes them (the SQLite store).
 */
import { Effect } from "effect"
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
