/**
 * Bench: the web dashboard in Debian's headless Chromium against a real agent (cached image):
 *  - `tank apply` in a shell (the bundled CLI, a separate process) → the pod's row turns running in
 *    a page already open (the store's change feed → the agent → status → SSE → DOM), next to the
 *    same apply → running as the store sees it (what the page adds on top);
 *  - page load of the pods list with N running pods: navigation start → every row rendered
 *    (first load and reloads);
 *  - the agent's CPU with those N pods while the dashboard samples their stats and a page is open.
 * Run as root: `npx tsx bench/web.ts [pods=100]`.
 */
import { Context, Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { performance } from "node:perf_hooks"
import * as Agent from "../src/agent/Agent.js"
import * as Api from "../src/api/Api.js"
import { Store } from "../src/store/Store.js"
import { resolveWeb, type WebConfig } from "../src/web/config.js"
import { buildCli } from "../test/cli/harness.js"
import { tankEnv } from "../test/support/tankEnv.js"
import { browser, buildClient } from "../test/web/support.js"
import { fmt, median, report } from "./report.js"

const count = Number(process.argv[2] ?? 100)

const waitRunning = (store: Store["Type"], names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (;;) {
      const up = new Set((yield* store.listStatus).statuses.filter((s) => s.phase === "running").map((s) => s.name))
      if (names.every((n) => up.has(n))) return
      yield* Effect.sleep("5 millis")
    }
  })

const waitGone = (store: Store["Type"]) =>
  Effect.gen(function*() {
    while ((yield* store.listStatus).statuses.length > 0) yield* Effect.sleep("10 millis")
  })

/** Run the bundled CLI with `input` on stdin; resolves when it exits. */
const cliApply = (entry: string, dataDir: string, input: string) =>
  Effect.async<void, Error>((resume) => {
    const child = spawn(process.execPath, [entry, "--data-dir", dataDir, "apply", "-f", "-"], {
      stdio: ["pipe", "ignore", "inherit"]
    })
    child.on("exit", (code) => resume(code === 0 ? Effect.void : Effect.fail(new Error(`tank apply: exit ${code}`))))
    child.stdin.end(input)
  })

const program = Effect.gen(function*() {
  const cli = yield* Effect.acquireRelease(Effect.sync(buildCli), (c) => Effect.sync(c.cleanup))
  const { assetsDir } = yield* buildClient
  const env = yield* tankEnv()
  let withToken = ""
  const store = Context.get(
    yield* Layer.build(Agent.layer({
      config: { ...env.config, web: resolveWeb({ listen: "127.0.0.1:0" }) as WebConfig },
      web: { assetsDir, onListening: (u) => Effect.sync(() => void (withToken = u.withToken)) }
    })),
    Store
  )
  const spec = (name: string) => ({
    name,
    containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
  })
  const run = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, store)
  yield* run(Api.apply(spec("warm")))
  yield* waitRunning(store, ["warm"])
  yield* run(Api.remove("warm"))
  yield* waitGone(store)

  const { context } = yield* browser
  const page = context.pages()[0] ?? (yield* Effect.promise(() => context.newPage()))
  // Record when a row turns running (wall clock, comparable with this process's Date.now()).
  yield* Effect.promise(() =>
    page.addInitScript(() => {
      const seen: Record<string, number> = {}
      ;(window as unknown as { runningAt: Record<string, number> }).runningAt = seen
      new MutationObserver(() => {
        for (const tr of document.querySelectorAll<HTMLElement>("tr[data-phase=running]")) {
          seen[tr.dataset.name!] ??= Date.now()
        }
        if (document.body?.dataset.loaded !== undefined) {
          ;(window as unknown as { loadedAt?: number }).loadedAt ??= performance.now()
        }
      }).observe(document, { subtree: true, childList: true, attributes: true })
    })
  )
  yield* Effect.promise(() => page.goto(withToken))
  yield* Effect.promise(() => page.waitForSelector("body[data-loaded]"))

  const inPage: Array<number> = []
  const inStore: Array<number> = []
  for (let i = 0; i < 7; i++) {
    const name = `shell-${i}`
    const t0 = Date.now()
    const p0 = performance.now()
    yield* cliApply(cli.entry, env.dataDir, JSON.stringify(spec(name)))
    yield* waitRunning(store, [name])
    inStore.push(performance.now() - p0)
    yield* Effect.promise(() => page.waitForSelector(`tr[data-name="${name}"][data-phase=running]`))
    const at = yield* Effect.promise(() =>
      page.evaluate((n) => (window as unknown as { runningAt: Record<string, number> }).runningAt[n]!, name)
    )
    inPage.push(at - t0)
    yield* run(Api.remove(name))
    yield* waitGone(store)
  }

  const names = Array.from({ length: count }, (_, i) => `pod-${String(i).padStart(3, "0")}`)
  yield* run(Api.applyAll(names.map(spec)))
  yield* waitRunning(store, names)
  yield* Effect.sleep("11 seconds") // every row has stats (two samples)
  const loads: Array<number> = []
  for (let i = 0; i < 6; i++) {
    yield* Effect.promise(() => page.goto(`${new URL(withToken).origin}/`))
    yield* Effect.promise(() => page.waitForSelector(`body[data-loaded="${count}"]`))
    const rows = yield* Effect.promise(() => page.locator("table.pods tbody tr").count())
    if (rows !== count) return yield* Effect.dieMessage(`${rows} rows, expected ${count}`)
    loads.push(
      yield* Effect.promise(() => page.evaluate(() => (window as unknown as { loadedAt: number }).loadedAt))
    )
  }
  // What the dashboard costs the agent: every pod's stats sampled (default: every 5 s), a page open on the feed.
  const cpu0 = process.cpuUsage()
  yield* Effect.sleep("10 seconds")
  const cpu = process.cpuUsage(cpu0)
  const agentCpu = (cpu.user + cpu.system) / 1000 / 10_000 * 100
  for (const n of names) yield* run(Api.remove(n))
  yield* waitGone(store)

  const [first, ...warm] = loads
  console.log(
    `tank apply (shell) → row running in an open page: ${fmt(median(inPage))} (median of ${inPage.length}; ` +
      `the store sees running after ${fmt(median(inStore))}, the CLI process included)`
  )
  console.log(`pods list with ${count} pods: first load ${fmt(first!)}, reloads ${fmt(median(warm))} (median)`)
  console.log(`agent CPU with ${count} pods, the dashboard sampling them and a page open: ${agentCpu.toFixed(2)} %`)
  report([
    { bench: "web", case: "tank apply → row running in an open page", tank: median(inPage) },
    { bench: "web", case: "tank apply → running in the store (same runs)", tank: median(inStore) },
    { bench: "web", case: `pods page load, ${count} pods (first)`, tank: first! },
    { bench: "web", case: `pods page load, ${count} pods (reload)`, tank: median(warm) },
    { bench: "web", case: `agent CPU, ${count} pods, dashboard open`, tank: agentCpu, unit: "%" }
  ])
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
