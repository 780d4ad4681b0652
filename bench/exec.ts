/**
 * Bench: `exec` latency — running `/bin/true` beside a running container and getting its exit code.
 * Tank in-process (`execCapture`, as scripts and the REPL run it) and through the `tank exec` CLI
 * (bin/tank as `npm run build` leaves it: from exec's own startup snapshot, dist/exec.blob, when there
 * is one), against `crun exec`, `runc exec` and `podman exec` on a running container of the same
 * image, each timed inside one shell loop. Run as root: `npx tsx bench/exec.ts [runs=30] [cliRounds=15]`.
 * BENCH_EXEC_OLD=/path/to/another/bin/tank: that build's `tank exec` too, interleaved with this one's
 * and podman's (a change measured against the build before it on the same load).
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { TankConfig } from "../src/config/Config.js"
import { execCapture } from "../src/exec/Exec.js"
import { Runtime } from "../src/runtime/Runtime.js"
import { decodePod } from "../src/spec/decode.js"
import { runtimeLayer, tankEnv } from "../test/support/tankEnv.js"
import {
  crunCmd,
  ensurePeers,
  has,
  makeBundle,
  podmanEnv,
  removeBundleCgroups,
  sh,
  timeInShell,
  unmountUnder
} from "./peers.js"
import { fmt, median, ratio, report, type Row } from "./report.js"

const runs = Number(process.argv[2] ?? 30)
const cliRounds = Number(process.argv[3] ?? Math.min(runs, 15))
const oldBin = process.env.BENCH_EXEC_OLD
const root = path.dirname(import.meta.dirname)

/** `run -d` hands its stdio to the container: with pipes, waiting for their EOF would never end. */
const detached = (cmd: string, args: ReadonlyArray<string>) => {
  const r = spawnSync(cmd, args, { stdio: "ignore" })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}`)
}

const program = Effect.gen(function*() {
  const peers = ensurePeers()
  const env = yield* tankEnv()
  const runtime = Context.get(yield* Layer.build(runtimeLayer(env)), Runtime)
  const scope = yield* Scope.make()
  const pod = yield* decodePod({
    name: "bench-exec",
    containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
  })
  yield* Scope.extend(runtime.start(pod), scope)
  const configLayer = Layer.succeed(TankConfig, env.config)
  const once = Effect.gen(function*() {
    const t0 = performance.now()
    const r = yield* execCapture("bench-exec", ["/bin/true"]).pipe(Effect.provide(configLayer))
    if (r.exitCode !== 0) return yield* Effect.dieMessage(`exec exited ${r.exitCode}`)
    return performance.now() - t0
  })
  yield* once
  const inProcess: Array<number> = []
  for (let i = 0; i < runs; i++) inProcess.push(yield* once)
  const cliCmd = `${path.join(root, "bin/tank")} exec --data-dir ${env.dataDir} bench-exec -- /bin/true`
  const cli: Array<number> = []
  const oldCli: Array<number> = []
  const oldCmd = oldBin && `${oldBin} exec --data-dir ${env.dataDir} bench-exec -- /bin/true`

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-exec-"))
  const peerTimes: Record<string, number> = {}
  try {
    if (peers.includes("skopeo") && peers.includes("umoci")) {
      const bundle = makeBundle(work, env.refs.busybox, ["sleep", "3600"])
      if (has("runc")) {
        try {
          detached("runc", ["run", "-d", "--bundle", bundle, "tb-exec-runc"])
          peerTimes["runc exec"] = median(timeInShell("", "runc exec tb-exec-runc /bin/true", runs))
        } finally {
          spawnSync("runc", ["delete", "-f", "tb-exec-runc"])
        }
      }
      if (has("crun")) {
        try {
          detached("sh", ["-c", crunCmd(`run -d --bundle ${bundle} tb-exec-crun`)])
          peerTimes["crun exec"] = median(timeInShell("", crunCmd("exec tb-exec-crun /bin/true"), runs))
        } finally {
          spawnSync("sh", ["-c", crunCmd("delete -f tb-exec-crun")])
        }
      }
    }
    if (has("podman")) {
      const penv = podmanEnv(path.join(work, "podman"), env.refs.busybox.split("/")[0]!)
      sh("podman", ["pull", "-q", env.refs.busybox], penv)
      sh("podman", ["run", "-d", "--name", "tb-exec", "--network=none", env.refs.busybox, "sleep", "3600"], penv)
      // Interleaved with `tank exec` (tank, podman, tank, ...): a load change on the shared machine
      // hits both alike.
      const podmanTimes: Array<number> = []
      for (let i = 0; i < cliRounds; i++) {
        cli.push(...timeInShell("", cliCmd, 1))
        if (oldCmd) oldCli.push(...timeInShell("", oldCmd, 1))
        podmanTimes.push(...timeInShell("", "podman exec tb-exec /bin/true", 1, penv))
      }
      peerTimes["podman exec"] = median(podmanTimes)
      sh("podman", ["rm", "-f", "-t", "0", "tb-exec"], penv)
      sh("podman", ["rmi", "-a", "-f"], penv)
      unmountUnder(work)
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
    removeBundleCgroups()
    yield* Scope.close(scope, Exit.void)
  }

  // Without podman, `tank exec` is timed alone.
  if (cli.length === 0) {
    for (let i = 0; i < cliRounds; i++) {
      cli.push(...timeInShell("", cliCmd, 1))
      if (oldCmd) oldCli.push(...timeInShell("", oldCmd, 1))
    }
  }
  const t = median(inProcess)
  const c = median(cli)
  console.log(`exec /bin/true beside a running container, medians: Tank in-process ${fmt(t)}, tank exec CLI ${fmt(c)}`)
  if (oldCli.length > 0) {
    const o = median(oldCli)
    console.log(`  ${oldBin} (interleaved, ${oldCli.length} runs): ${fmt(o)} → this build is ${ratio(c, o)}`)
  }
  const rows: Array<Row> = []
  for (const [peer, mine] of [["crun exec", t], ["runc exec", t], ["podman exec", c]] as const) {
    const v = peerTimes[peer]
    const what = peer === "podman exec" ? "tank exec CLI" : "Tank in-process"
    rows.push({
      bench: "exec",
      case: `exec /bin/true (${what})`,
      tank: mine,
      peer,
      ...(v !== undefined ? { peerValue: v } : {})
    })
    if (v !== undefined) console.log(`  ${peer}: ${fmt(v)} → ${what} is ${ratio(mine, v)}`)
  }
  report(rows)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
