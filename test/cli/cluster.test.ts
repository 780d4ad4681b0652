/**
 * The bundled `tank` CLI (and the Tank facade) in cluster mode, against a real etcd on loopback: no
 * agent runs; the test writes pods, bindings, statuses and node registrations itself.
 * `tank ps` shows NODE, `tank nodes` lists nodes, and exec/attach/logs/stats of a pod bound to
 * another node are refused naming it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll } from "vitest"
import { type NodeInfo, Nodes } from "../../src/cluster/Cluster.js"
import * as NodesEtcd from "../../src/cluster/nodesEtcd.js"
import * as Config from "../../src/config/Config.js"
import * as EtcdClient from "../../src/etcd/client.js"
import { Tank } from "../../src/index.js"
import { decodePodEither } from "../../src/spec/decode.js"
import { storeLayer } from "../../src/store/fromConfig.js"
import { Store } from "../../src/store/Store.js"
import { startEtcd } from "../support/etcd.js"
import { tmpDir } from "../support/tmp.js"
import { buildCli, runCli } from "./harness.js"

// One bundle for the file's tests.
let built: ReturnType<typeof buildCli> | undefined
const theCli = Effect.sync(() => (built ??= buildCli()))
afterAll(() => built?.cleanup())

/**
 * A preload that records which of etcd3 and gRPC the CLI process loads (etcd3 is external to the
 * bundle, so loading it goes through Module._load), into the file named by $TANK_TEST_LOADS.
 */
const loadRecorder = (dir: string) => {
  const file = path.join(dir, "record-loads.cjs")
  fs.writeFileSync(
    file,
    `const Module = require("node:module"); const fs = require("node:fs"); const orig = Module._load;
Module._load = function (request, ...rest) {
  if (/^(etcd3|@grpc\\/)/.test(request)) fs.appendFileSync(process.env.TANK_TEST_LOADS, request + "\\n")
  return orig.call(this, request, ...rest)
}
`
  )
  return file
}

const pod = (name: string) => {
  const r = decodePodEither({ name, containers: [{ name: "app", image: "127.0.0.1:5000/tank/busybox:latest" }] })
  if (r._tag === "Left") throw r.left
  return r.right
}

const info = (name: string): NodeInfo => ({
  name,
  addresses: ["10.9.0.1"],
  capacity: { cpu: 2000, memory: 1_000_000_000, pods: 10 },
  labels: { zone: name === "n1" ? "a" : "b" },
  agentPid: 1,
  registeredAt: new Date().toISOString()
})

describe("tank CLI in cluster mode (real etcd)", () => {
  it.scopedLive(
    "ps NODE column, nodes, and refusal of exec/attach/logs/stats for pods on other nodes",
    () =>
      Effect.gen(function*() {
        const etcd = yield* startEtcd()
        const cli = yield* theCli
        const dataDir = yield* tmpDir("tank-cli-cluster-")
        const prefix = `/tank-cli-${process.pid}/`
        const configFile = path.join(dataDir, "config.yaml")
        fs.writeFileSync(
          configFile,
          JSON.stringify({ store: { etcd: { endpoints: etcd.endpoints, prefix, insecure: true } } })
        )
        const env = { TANK_DATA_DIR: dataDir, TANK_CONFIG: configFile, TANK_NODE_NAME: "n1", TANK_ETCD_ENDPOINTS: "" }
        const tank = (...args: Array<string>) => Effect.promise(() => runCli(cli.entry, args, { env }))

        const config = yield* Config.load({ env })
        assert.isDefined(config.etcd)
        const ctx = yield* Layer.build(
          Layer.merge(storeLayer(config), NodesEtcd.layerEtcd.pipe(Layer.provide(EtcdClient.layer(config.etcd!))))
        )
        const store = Context.get(ctx, Store)
        const nodes = Context.get(ctx, Nodes)
        yield* nodes.register(info("n1"), 30)
        yield* nodes.register(info("n2"), 30)
        // n3 registered once and stopped cleanly: listed, not ready.
        const gone = yield* Scope.make()
        yield* nodes.register(info("n3"), 30).pipe(Scope.extend(gone))
        yield* Scope.close(gone, Exit.void)
        for (const name of ["here", "there", "unplaced", "stranded"]) yield* store.put(pod(name))
        yield* store.bind("here", "n1")
        yield* store.bind("there", "n2")
        // n3's agent reported this one running before n3 went down.
        yield* store.bind("stranded", "n3")
        yield* store.putStatus({
          name: "stranded",
          phase: "running",
          restarts: 0,
          specRevision: 1,
          hostPid: 4343,
          node: "n3",
          updatedAt: new Date().toISOString()
        })
        yield* store.putStatus({
          name: "here",
          phase: "running",
          restarts: 0,
          specRevision: 1,
          hostPid: 4242,
          node: "n1",
          updatedAt: new Date().toISOString()
        })

        // etcd3 is loaded in cluster mode (the control for the single-machine check below).
        const loads = path.join(dataDir, "loads.txt")
        const recorded = yield* Effect.promise(() =>
          runCli(cli.entry, ["ps"], {
            env: { ...env, NODE_OPTIONS: `--require ${loadRecorder(dataDir)}`, TANK_TEST_LOADS: loads }
          })
        )
        assert.strictEqual(recorded.code, 0, recorded.stderr)
        assert.include(fs.readFileSync(loads, "utf8"), "etcd3")
        fs.rmSync(loads)

        const ps = yield* tank("ps")
        assert.strictEqual(ps.code, 0, ps.stderr)
        assert.strictEqual(ps.stderr, "", "no 'no agent running' warning in cluster mode")
        const rows = ps.stdout.trim().split("\n").map((l) => l.split(/\s{3,}/))
        assert.deepStrictEqual(rows[0]!.slice(0, 3), ["NAME", "PHASE", "NODE"])
        assert.deepStrictEqual(rows.slice(1).map((r) => [r[0], r[1], r[2]]), [
          ["here", "running", "n1"],
          ["stranded", "unknown", "n3"],
          ["there", "pending", "n2"],
          ["unplaced", "pending", "-"]
        ])
        const psJson = JSON.parse((yield* tank("ps", "--json")).stdout) as Array<{ name: string; node?: string }>
        assert.deepStrictEqual(psJson.map((p) => [p.name, p.node]), [["here", "n1"], ["stranded", "n3"], [
          "there",
          "n2"
        ], ["unplaced", undefined]])
        const stranded = yield* tank("status", "stranded")
        assert.match(stranded.stdout, /^Phase:\s+unknown$/m)
        assert.match(stranded.stdout, /^Reason:\s+node n3 is not ready, last heartbeat .*; it last reported running$/m)
        assert.match(stranded.stdout, /^Last heartbeat:\s+\S+ \(\d+s ago\)$/m)

        const ns = yield* tank("nodes")
        assert.strictEqual(ns.code, 0, ns.stderr)
        const nrows = ns.stdout.trim().split("\n").map((l) => l.split(/\s{3,}/))
        assert.deepStrictEqual(nrows[0], ["NAME", "STATUS", "AGE", "ADDRESSES", "CPU", "MEMORY", "PODS", "LABELS"])
        assert.deepStrictEqual(nrows.slice(1).map((r) => [r[0], r[1], r[6], r[7]]), [
          ["n1", "Ready", "1/10", "zone=a"],
          ["n2", "Ready", "1/10", "zone=b"],
          ["n3", "NotReady", "1/10", "zone=b"]
        ])
        const nsJson = JSON.parse((yield* tank("nodes", "--json")).stdout) as Array<{ name: string; ready: boolean }>
        assert.deepStrictEqual(nsJson.map((n) => [n.name, n.ready]), [["n1", true], ["n2", true], ["n3", false]])

        // nodes rm: refused for a ready node, forgets a stopped one, says so for an unknown one.
        const rmReady = yield* tank("nodes", "rm", "n1")
        assert.strictEqual(rmReady.code, 1)
        assert.include(rmReady.stderr, `node "n1" is ready (its agent is running)`)
        const rmGone = yield* tank("nodes", "rm", "n3")
        assert.strictEqual(rmGone.code, 0, rmGone.stderr)
        assert.strictEqual(
          rmGone.stdout,
          "node n3 removed; 1 pod (stranded) will be placed on other nodes by the scheduler\n"
        )
        const after = JSON.parse((yield* tank("nodes", "--json")).stdout) as Array<{ name: string }>
        assert.deepStrictEqual(after.map((n) => n.name), ["n1", "n2"])
        const rmUnknown = yield* tank("nodes", "rm", "n9")
        assert.strictEqual(rmUnknown.code, 1)
        assert.include(rmUnknown.stderr, `no node "n9"`)

        // exec/logs/stats of a pod on n2, from n1: refused, naming n2.
        const refused = `pod "there" runs on node "n2", not on this node ("n1")`
        const ex = yield* tank("exec", "there", "--", "true")
        assert.strictEqual(ex.code, 125)
        assert.include(ex.stderr, refused)
        const lg = yield* tank("logs", "there")
        assert.strictEqual(lg.code, 1)
        assert.include(lg.stderr, refused)
        const st = yield* tank("stats", "--no-stream", "there")
        assert.strictEqual(st.code, 1)
        assert.include(st.stderr, refused)
        // A pod bound here is not refused (it is simply not running on this test machine).
        const exHere = yield* tank("exec", "here", "--", "true")
        assert.notInclude(exHere.stderr, "runs on node")

        // The facade refuses the same way (Tank reads the config from the environment).
        const saved = { ...process.env }
        yield* Effect.addFinalizer(() => Effect.sync(() => void Object.assign(process.env, saved)))
        Object.assign(process.env, env)
        const facadeNodes = yield* Tank.nodes()
        assert.deepStrictEqual(facadeNodes.map((n) => [n.name, n.ready, n.pods]), [
          ["n1", true, 1],
          ["n2", true, 1]
        ])
        for (
          const eff of [
            Tank.execCapture("there", ["true"]),
            Tank.attach("there"),
            Tank.stats("there")
          ] as ReadonlyArray<Effect.Effect<unknown, unknown>>
        ) {
          const e = yield* Effect.flip(eff)
          assert.strictEqual((e as { _tag: string })._tag, "PodOnOtherNode")
        }
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "single machine: tank nodes and Tank.nodes say they need cluster mode; etcd is never loaded",
    () =>
      Effect.gen(function*() {
        const cli = yield* theCli
        const dataDir = yield* tmpDir("tank-cli-cluster-")
        const r = yield* Effect.promise(() =>
          runCli(cli.entry, ["nodes"], {
            env: { TANK_DATA_DIR: dataDir, TANK_CONFIG: "", TANK_ETCD_ENDPOINTS: "", TANK_NODE_NAME: "" }
          })
        )
        assert.strictEqual(r.code, 1)
        assert.include(r.stderr, "tank nodes needs cluster mode")
        assert.deepStrictEqual(fs.readdirSync(dataDir), [], "nothing created")
        // Single machine: ps and apply never load etcd3 or gRPC.
        const work = yield* tmpDir("tank-cli-loads-")
        const loads = path.join(work, "loads.txt")
        const plain = {
          TANK_DATA_DIR: dataDir,
          TANK_CONFIG: "",
          TANK_ETCD_ENDPOINTS: "",
          TANK_NODE_NAME: "",
          NODE_OPTIONS: `--require ${loadRecorder(work)}`,
          TANK_TEST_LOADS: loads
        }
        const spec = JSON.stringify({ name: "solo", containers: [{ name: "app", image: "busybox" }] })
        for (const args of [["apply", "-f", "-"], ["ps"]]) {
          const r2 = yield* Effect.promise(() => runCli(cli.entry, args, { env: plain, input: spec }))
          assert.strictEqual(r2.code, 0, r2.stderr)
        }
        assert.isFalse(fs.existsSync(loads), fs.existsSync(loads) ? fs.readFileSync(loads, "utf8") : "")
        const saved = { ...process.env }
        yield* Effect.addFinalizer(() => Effect.sync(() => void Object.assign(process.env, saved)))
        Object.assign(process.env, { TANK_DATA_DIR: dataDir, TANK_CONFIG: "", TANK_ETCD_ENDPOINTS: "" })
        const e = yield* Effect.flip(Tank.nodes())
        assert.strictEqual(e._tag, "ConfigError")
        assert.include(e.message, "needs cluster mode")
      }),
    { timeout: 60_000 }
  )
})
