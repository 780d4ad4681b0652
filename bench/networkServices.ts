/**
 * Bench of the networking services (root; everything inside namespaces the bench creates):
 * - DNS answers per second and latency on loopback: Tank's DNS service vs dnsmasq (Debian), the same
 *   local name from each, the load from a separate process in the same namespace;
 * - apply → running of one bridge pod vs one macvlan pod, through the real agent;
 * - throughput through a published port (DNAT, from the host's loopback) vs straight to the pod's address.
 */
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { promisify } from "node:util"
import * as Api from "../src/api/Api.js"
import { makeDnsServer } from "../src/net/dns/server.js"
import { zoneFrom } from "../src/net/dns/zone.js"
import { decodePod } from "../src/spec/decode.js"
import { Store } from "../src/store/Store.js"
import { dnsmasq, inNs, netConfig, startAgent, waitRunning } from "../test/net/support.js"
import { makeLan, runOk } from "../test/support/lan.js"
import { tankEnv } from "../test/support/tankEnv.js"
import { median, report } from "./report.js"

const exec = promisify(execFile)
const root = path.join(import.meta.dirname, "..")

const load = (ns: string, server: string, count: number, window: number) =>
  Effect.promise(() =>
    exec("ip", [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--import",
      "tsx",
      "bench/dnsLoad.ts",
      server,
      "web.tank.internal",
      String(count),
      String(window)
    ], { cwd: root })
  ).pipe(Effect.map((r) => JSON.parse(r.stdout) as { qps: number; p50: number; p99: number; lost: number }))

const dnsBench = Effect.gen(function*() {
  const lan = yield* makeLan
  const env = yield* tankEnv()
  yield* runOk("ip", ["-n", lan.hub.name, "link", "set", "lo", "up"])
  const web = yield* decodePod({
    name: "web",
    network: { nics: [{ name: "eth0", address: "10.0.0.5/24" }] },
    containers: [{ name: "app", image: "busybox" }]
  })
  const zone = zoneFrom("tank.internal", [web], [])
  const dns = yield* makeDnsServer({
    netns: lan.hub.path,
    port: 53,
    zone: () => zone,
    upstream: () => [],
    perSourceQps: 1e9
  })
  yield* dns.listen("127.0.0.1")
  const hasDnsmasq = fs.existsSync("/usr/sbin/dnsmasq")
  if (hasDnsmasq) yield* dnsmasq(lan.hub, "127.0.0.2", { "web.tank.internal": "10.0.0.5" }, env.dataDir)
  const rows = []
  const servers = hasDnsmasq
    ? [["tank", "127.0.0.1"], ["dnsmasq", "127.0.0.2"]] as const
    : [["tank", "127.0.0.1"]] as const
  for (const [who, addr] of servers) {
    yield* load(lan.hub.name, addr, 2000, 16) // warm-up
    const runs = []
    for (let i = 0; i < 3; i++) runs.push(yield* load(lan.hub.name, addr, 20000, 32))
    const best = runs.sort((a, b) => b.qps - a.qps)[1]! // the median run
    console.log(
      `dns ${who}: ${best.qps.toFixed(0)} answers/s, p50 ${best.p50.toFixed(3)} ms, p99 ${
        best.p99.toFixed(3)
      } ms, lost ${best.lost}`
    )
    rows.push(best)
  }
  report([
    {
      bench: "network",
      case: "DNS answers per second (loopback, 32 in flight)",
      tank: rows[0]!.qps,
      peer: "dnsmasq",
      ...(rows[1] !== undefined ? { peerValue: rows[1].qps } : {}),
      unit: "q/s",
      higherIsBetter: true
    },
    {
      bench: "network",
      case: "DNS latency p50 (loopback)",
      tank: rows[0]!.p50,
      peer: "dnsmasq",
      ...(rows[1] !== undefined ? { peerValue: rows[1].p50 } : {})
    }
  ])
})

const timeTransfer = (ns: string, ip: string, port: number) =>
  Effect.promise(async () => {
    const t0 = performance.now()
    const r = await exec("sh", [
      "-c",
      `printf 'GET /big HTTP/1.0\\r\\n\\r\\n' | ip netns exec ${ns} busybox nc ${ip} ${port} | wc -c`
    ], { maxBuffer: 1 << 20 })
    return { ms: performance.now() - t0, bytes: Number(r.stdout.trim()) }
  })

const agentBench = Effect.gen(function*() {
  const lan = yield* makeLan
  const env = yield* tankEnv()
  yield* runOk("ip", ["-n", lan.hub.name, "link", "set", "lo", "up"])
  const www = fs.mkdtempSync("/tmp/tank-bench-www-")
  fs.chmodSync(www, 0o755) // the httpd runs as uid 1000
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(www, { recursive: true, force: true })))
  fs.writeFileSync(path.join(www, "big"), Buffer.alloc(200 * 1024 * 1024, 7))
  const config = netConfig(env, lan, {
    pools: [{ name: "lan", subnet: "10.250.0.0/24", gateway: "10.250.0.1", range: "10.250.0.100-10.250.0.200" }],
    probeMs: 0
  })
  const agent = yield* startAgent(config, lan, [])
  const apply = (spec: unknown) => Api.apply(spec).pipe(Effect.provideService(Store, agent.store))
  const times = { bridge: [] as Array<number>, macvlan: [] as Array<number> }
  for (let i = 0; i < 8; i++) {
    for (const mode of ["bridge", "macvlan"] as const) {
      const name = `${mode}-${i}`
      const t0 = performance.now()
      yield* apply({
        name,
        network: { nics: [mode === "bridge" ? { name: "eth0", mode } : { name: "eth0", address: { pool: "lan" } }] },
        containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
      })
      yield* waitRunning(agent.store, name)
      if (i > 0) times[mode].push(performance.now() - t0)
    }
  }
  // Removed only now: a pass waits for its stops before it starts anything.
  for (let i = 0; i < 8; i++) {
    for (const mode of ["bridge", "macvlan"]) {
      yield* Api.remove(`${mode}-${i}`).pipe(Effect.provideService(Store, agent.store))
    }
  }
  console.log(
    `apply → running: bridge ${median(times.bridge).toFixed(1)} ms, macvlan ${
      median(times.macvlan).toFixed(1)
    } ms (medians of 7)`
  )
  // Throughput: 200 MB from a pod's httpd through 127.0.0.1:18080 (DNAT) vs to its bridge address.
  yield* apply({
    name: "web",
    network: { nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 8080, hostPort: 18080 }] },
    volumes: [{ name: "www", source: { host: www } }],
    containers: [{ name: "app", image: env.refs.busyboxHttpd, mounts: [{ volume: "www", path: "/var/www" }] }]
  })
  const s = yield* waitRunning(agent.store, "web")
  const ip = s!.addresses![0]!.split("/")[0]!
  const nat: Array<number> = [], direct: Array<number> = []
  for (let i = 0; i < 4; i++) {
    const a = yield* timeTransfer(lan.hub.name, "127.0.0.1", 18080)
    const b = yield* timeTransfer(lan.hub.name, ip, 8080)
    if (a.bytes < 200e6 || b.bytes < 200e6) throw new Error(`short transfer: ${a.bytes} / ${b.bytes}`)
    if (i > 0) {
      nat.push(a.bytes / 1e6 / (a.ms / 1000))
      direct.push(b.bytes / 1e6 / (b.ms / 1000))
    }
  }
  console.log(`throughput: published port ${median(nat).toFixed(0)} MB/s, direct ${median(direct).toFixed(0)} MB/s`)
  yield* Api.remove("web").pipe(Effect.provideService(Store, agent.store))
  yield* inNs(lan.hub, ["true"])
  report([
    {
      bench: "network",
      case: "apply → running, one bridge pod (agent)",
      tank: median(times.bridge),
      peer: "one macvlan pod",
      peerValue: median(times.macvlan)
    },
    {
      bench: "network",
      case: "throughput through a published port (DNAT)",
      tank: median(nat),
      peer: "direct to the pod's address",
      peerValue: median(direct),
      unit: "MB/s",
      higherIsBetter: true
    }
  ])
  yield* agent.stop
})

export const servicesBench = Effect.scoped(dnsBench).pipe(
  Effect.zipRight(Effect.scoped(agentBench)),
  Effect.provide(Layer.empty)
)
