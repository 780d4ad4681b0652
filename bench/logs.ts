/**
 * Bench: log throughput. How many 1 KB lines a chatty container writes per second
 *
 *   tank   — to its stdout, through the pod's native monitor into the log file (records, rotation)
 *   file   — to a plain file in the same kind of container (`> /tmp/out`, overlay upper dir)
 *   null   — to /dev/null (what the producer itself can do)
 *
 * timed inside the container (/proc/uptime around the writer, so start-up is not counted), and the
 * agent's (this Node process's) CPU time while the tank run goes: the agent is not in the log path,
 * so it should be ~0. The monitor's own CPU time for the run is read from /proc before it exits.
 *
 * Run as root: `npx tsx bench/logs.ts [lines=200000] [runs=3]`. Uses the test machine (local
 * registry + fixture busybox image + temp data dir), default log config (10 MiB × 5 files).
 */
import { Chunk, Context, Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import * as fs from "node:fs"
import { logsIn } from "../src/observe/logs.js"
import { podLayout } from "../src/runtime/layout.js"
import { readRecord, viewOf } from "../src/runtime/record.js"
import { Runtime } from "../src/runtime/Runtime.js"
import { decodePod } from "../src/spec/decode.js"
import { runtimeLayer, tankEnv } from "../test/support/tankEnv.js"
import { median, report } from "./report.js"

const lines = Number(process.argv[2] ?? 200_000)
const runs = Number(process.argv[3] ?? 3)
const TICK = 100 // USER_HZ

const procCpu = (pid: number) => {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ")
    return (Number(rest[11]) + Number(rest[12])) / TICK
  } catch {
    return NaN
  }
}

// A 1 KB line (1023 x's + newline); the writer is timed with /proc/uptime (10 ms resolution).
const writer = (sink: string) =>
  [
    `l=$(head -c 1023 /dev/zero | tr '\\0' x)`,
    `read a b < /proc/uptime`,
    `yes "$l" | head -n ${lines} ${sink}`,
    `read c d < /proc/uptime`,
    `echo "elapsed $a $c" >&2`
  ].join("; ")

let counter = 0
const program = Effect.gen(function*() {
  const env = yield* tankEnv()
  const ctx = yield* Layer.build(runtimeLayer(env))
  const runtime = Context.get(ctx, Runtime)

  const runOnce = (kind: "tank" | "file" | "null") =>
    Effect.gen(function*() {
      const name = `bench-logs-${kind}-${counter++}`
      const sink = kind === "tank" ? "" : kind === "file" ? "> /tmp/out" : "> /dev/null"
      const pod = yield* decodePod({
        name,
        restart: "never",
        containers: [{ name: "app", image: env.refs.busybox, command: ["sh", "-c", writer(sink)] }]
      })
      const scope = yield* Scope.make()
      const h = yield* Scope.extend(runtime.start(pod), scope)
      // From the workload running to its exit: what the agent spends while the container logs.
      const cpu0 = process.cpuUsage()
      const record = viewOf(Option.getOrThrow(yield* readRecord(name, podLayout(env.dataDir, name).record)))
      const monitorPid = record.containers[0]!.monitorPid
      const exit = yield* h.wait
      if (process.env.BENCH_VERBOSE) console.log(kind, JSON.stringify(exit))
      const cpu = process.cpuUsage(cpu0)
      const monitorCpu = procCpu(monitorPid) // still lingering: it waits for release
      const logDir = podLayout(env.dataDir, name).logs
      // stderr and stdout are separate pipes: the timing line may sit in a rotated file.
      const stderr = yield* Stream.runCollect(logsIn(env.dataDir, name, { streams: ["stderr"] }))
      const logText = Chunk.toArray(stderr).map((e) => e.text).join("\n")
      const m = /elapsed ([\d.]+) ([\d.]+)/.exec(logText)
      const logBytes = fs.readdirSync(logDir).reduce((a, f) => a + fs.statSync(`${logDir}/${f}`).size, 0)
      yield* Scope.close(scope, Exit.void)
      if (!m) throw new Error(`${kind}: no timing line in the log`)
      const seconds = Number(m[2]) - Number(m[1])
      return { seconds, agentCpu: (cpu.user + cpu.system) / 1e6, monitorCpu, logBytes }
    })

  const results: Record<string, Array<{ seconds: number; agentCpu: number; monitorCpu: number; logBytes: number }>> = {
    tank: [],
    file: [],
    null: []
  }
  for (let i = 0; i < runs; i++) {
    for (const kind of ["tank", "file", "null"] as const) results[kind]!.push(yield* runOnce(kind))
  }
  const rate = (kind: string) => lines / median(results[kind]!.map((r) => r.seconds))
  const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 })
  console.log(`log throughput: ${fmt(lines)} lines of 1 KB per run, median of ${runs} runs (busybox yes | head)`)
  for (const kind of ["tank", "file", "null"] as const) {
    const rs = results[kind]!
    console.log(
      `  ${kind.padEnd(5)} ${fmt(rate(kind)).padStart(10)} lines/s  (${(rate(kind) / 1024).toFixed(1)} MB/s)  ` +
        `runs: ${rs.map((r) => r.seconds.toFixed(2) + " s").join(", ")}`
    )
  }
  console.log(
    `  tank / file: ${(rate("tank") / rate("file")).toFixed(2)}×   tank / null: ${
      (rate("tank") / rate("null")).toFixed(2)
    }×`
  )
  const t = results.tank!
  console.log(
    `  agent (this process) CPU during a tank run: median ${(median(t.map((r) => r.agentCpu)) * 1000).toFixed(0)} ms ` +
      `while the workload ran (after bring-up); the logging took ${median(t.map((r) => r.seconds)).toFixed(2)} s`
  )
  console.log(
    `  monitor CPU per tank run: median ${(median(t.map((r) => r.monitorCpu)) * 1000).toFixed(0)} ms; ` +
      `log bytes kept after rotation: ${fmt(median(t.map((r) => r.logBytes)))}`
  )
  // Time per 1,000 lines (lower is better), so the summary's ratio reads like the others.
  const perK = (kind: string) => 1000 / rate(kind) * 1000
  report([
    {
      bench: "logs",
      case: "1 KB lines through the monitor, per 1000",
      tank: perK("tank"),
      peer: "plain file",
      peerValue: perK("file")
    }
  ])
}).pipe(Effect.scoped)

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
