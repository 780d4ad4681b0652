/**
 * Bench: what liveness probes cost the agent. N pods (busybox `sleep`, network none) run under an
 * in-process agent, first without probes, then each with an exec liveness probe every second
 * (`true`); over a window of W seconds the agent's own CPU (this process) and its children's (the
 * `tank-helper enter` of each exec, reaped) are measured, and the ratio and the cost of one probe
 * printed. Run as root: `npx tsx bench/probes.ts [N=100] [W=20]` (the figure: N=100).
 * Prints; asserts nothing. A profile of the agent: `node --cpu-prof --import tsx bench/probes.ts`.
 */
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as Agent from "../src/agent/Agent.js"
import * as Api from "../src/api/Api.js"
import { Store } from "../src/store/Store.js"
import { tankEnv } from "../test/support/tankEnv.js"
import { report, type Row } from "./report.js"

const n = Number(process.argv[2] ?? 100)
const windowS = Number(process.argv[3] ?? 20)

/** utime+stime of this process and of its reaped children, in ms (clock ticks of /proc/self/stat). */
const cpu = () => {
  const f = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")
  const tick = 1000 / 100 // USER_HZ
  return { self: (Number(f[11]) + Number(f[12])) * tick, children: (Number(f[13]) + Number(f[14])) * tick }
}

const program = Effect.gen(function*() {
  console.log(
    `(load average at the start: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${os.cpus().length} cores)`
  )
  const env = yield* tankEnv()
  const store = Context.get(yield* Layer.build(Agent.layer({ config: env.config })), Store)
  const rows: Array<Row> = []
  for (const probed of [false, true]) {
    const names = Array.from({ length: n }, (_, i) => `probe-bench-${probed ? "p" : "n"}${i}`)
    for (const name of names) {
      yield* Api.apply({
        name,
        containers: [{
          name: "app",
          image: env.refs.busybox,
          command: ["sleep", "3600"],
          ...(probed ? { livenessProbe: { exec: { command: ["true"] }, periodSeconds: 1 } } : {})
        }]
      }).pipe(Effect.provideService(Store, store))
    }
    const running = Effect.forEach(names, (p) => Effect.map(store.getStatus(p), Option.getOrUndefined)).pipe(
      Effect.map((ss) => ss.every((s) => s?.phase === "running"))
    )
    while (!(yield* running)) yield* Effect.sleep("500 millis")
    yield* Effect.sleep("3 seconds") // starts settle; probes past their first run
    const a = cpu()
    yield* Effect.sleep(`${windowS} seconds`)
    const b = cpu()
    const self = (b.self - a.self) / windowS / 10 // % of one core
    const children = (b.children - a.children) / windowS / 10
    const what = probed ? `${n} pods, exec liveness every 1 s` : `${n} pods, no probes`
    rows.push({ bench: "probes", case: `${what}: agent CPU`, tank: self, unit: "% core" })
    rows.push({ bench: "probes", case: `${what}: exec helpers CPU`, tank: children, unit: "% core" })
    const unhealthy = (yield* store.recentEvents(10_000)).events.filter((e) => e.type === "unhealthy").length
    if (unhealthy > 0) console.log(`(${unhealthy} unhealthy events: the machine was too slow for 1 s timeouts)`)
    for (const name of names) yield* Api.remove(name).pipe(Effect.provideService(Store, store))
    while ((yield* Effect.forEach(names, (p) => store.getStatus(p))).some(Option.isSome)) {
      yield* Effect.sleep("500 millis")
    }
  }
  report(rows)
  // The figure: agent CPU with probes vs without, and what one probe costs.
  const agent = (probed: boolean) =>
    rows.find((r) =>
      r.case.startsWith(`${n} pods, ${probed ? "exec" : "no"}`) &&
      r.case.endsWith("agent CPU")
    )!.tank
  const helpers = rows.find((r) => r.case.endsWith("exec helpers CPU") && r.case.includes("exec liveness"))!.tank
  const [without, withProbes] = [agent(false), agent(true)]
  console.log(
    `probes · agent CPU, ${n} pods: ${withProbes.toFixed(1)} % core with an exec liveness probe each every 1 s, ` +
      `${without.toFixed(1)} % without (${(withProbes / Math.max(without, 0.01)).toFixed(1)}x); ` +
      `per probe: agent ${((withProbes - without) * 10 / n).toFixed(2)} ms CPU, ` +
      `its exec (tank-helper enter + command) ${(helpers * 10 / n).toFixed(2)} ms CPU`
  )
  console.log(
    `(load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${os.cpus().length} cores)`
  )
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
