/**
 * The dashboard in a real browser (root): Debian's headless Chromium driven by playwright-core
 * against a real agent (store, reconciler, runtime, monitors) running real busybox pods from a
 * local registry. The steps build on each other (one agent, one browser): token → apply through the
 * editor → running live → terminal (exec, resize, attach/detach) → live logs → CPU chart → 375 px,
 * keyboard → delete → another origin refused. Screenshots go to docs/img/ (the README shows them).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import type { BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll } from "vitest"
import * as Agent from "../../src/agent/Agent.js"
import * as Api from "../../src/api/Api.js"
import { TankConfig } from "../../src/config/Config.js"
import { execCapture } from "../../src/exec/Exec.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { resolveWeb, type WebConfig } from "../../src/web/config.js"
import { assertNoLeaks, type LeakSnapshot, leakSnapshot } from "../support/leaks.js"
import { alive, until } from "../support/poll.js"
import { type TankEnv, tankEnv } from "../support/tankEnv.js"
import { browser, buildClient } from "./support.js"

const repo = path.resolve(import.meta.dirname, "../..")
const shots = path.join(repo, "docs", "img")

interface World {
  readonly env: TankEnv
  readonly store: Store["Type"]
  readonly base: string
  readonly withToken: string
  readonly context: BrowserContext
  readonly page: Page
  readonly before: LeakSnapshot
}

const scope = Effect.runSync(Scope.make())
let w: World

const setup = Effect.gen(function*() {
  const { assetsDir } = yield* buildClient
  const env = yield* tankEnv()
  const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
  const web = resolveWeb({ listen: "127.0.0.1:0", statsIntervalMs: 1000 }) as WebConfig
  let withToken = ""
  const ctx = yield* Layer.build(Agent.layer({
    config: {
      ...env.config,
      web,
      reconciler: { ...env.config.reconciler, resyncIntervalMs: 1000, backoffBaseMs: 300, backoffCapMs: 2000 }
    },
    web: { assetsDir, onListening: (u) => Effect.sync(() => void (withToken = u.withToken)) }
  }))
  const { context } = yield* browser
  const page = context.pages()[0] ?? (yield* Effect.promise(() => context.newPage()))
  page.setDefaultTimeout(20_000)
  const u = new URL(withToken)
  return {
    env,
    store: Context.get(ctx, Store),
    base: `${u.protocol}//${u.host}`,
    withToken,
    context,
    page,
    before
  } satisfies World
})

beforeAll(async () => {
  w = await Effect.runPromise(setup.pipe(Scope.extend(scope)))
}, 120_000)

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

const run = <A, E>(eff: Effect.Effect<A, E, Store>) => Effect.provideService(eff, Store, w.store)
const status = (name: string) => w.store.getStatus(name).pipe(Effect.map(Option.getOrUndefined))
const running = (s: PodStatus | undefined) => s?.phase === "running" && alive(s.hostPid)
const p = <A>(f: () => Promise<A>) => Effect.promise(f)

const ticker = (image: string) =>
  `name: web
containers:
  - name: app
    image: ${image}
    command: [sh, -c, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"]
`

/** The terminal's visible text, one string per row (xterm's DOM renderer). */
const screenRows = (page: Page) =>
  page.locator("#term-screen .xterm-rows > div").evaluateAll((rows) => rows.map((r) => r.textContent ?? ""))

const waitScreen = (page: Page, what: string, pred: (rows: ReadonlyArray<string>) => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 15_000
    for (;;) {
      const rows = yield* p(() => screenRows(page))
      if (pred(rows)) return rows
      if (Date.now() > deadline) {
        return yield* Effect.dieMessage(`terminal never showed ${what}: ${JSON.stringify(rows)}`)
      }
      yield* Effect.sleep("100 millis")
    }
  })

const connectTerminal = (page: Page, mode: "exec" | "attach") =>
  Effect.gen(function*() {
    yield* p(() => page.click("#tab-terminal"))
    yield* p(() => page.selectOption("#term-mode", mode))
    yield* p(() => page.click("#term-connect"))
    yield* p(() =>
      page.waitForFunction(
        (m) => document.getElementById("term-status")?.textContent === (m === "exec" ? "connected" : "attached"),
        mode
      )
    )
  })

describe("web dashboard in Chromium (root, e2e)", () => {
  it.live(
    "without the token: 401; the token URL lets the browser in and leaves the address bar",
    () =>
      Effect.gen(function*() {
        const { page } = w
        const denied = yield* p(() => page.goto(`${w.base}/`))
        assert.strictEqual(denied?.status(), 401)
        assert.include(yield* p(() => page.textContent("h1")), "Token needed")
        const api = yield* p(() => page.goto(`${w.base}/api/pods`))
        assert.strictEqual(api?.status(), 401)
        yield* p(() => page.goto(w.withToken))
        assert.strictEqual(page.url(), `${w.base}/`, "the token left the URL")
        const cookies = yield* p(() => w.context.cookies(w.base))
        assert.strictEqual(cookies.length, 1)
        assert.isTrue(cookies[0]!.httpOnly)
        assert.strictEqual(cookies[0]!.sameSite, "Strict")
        yield* p(() => page.waitForSelector("body[data-loaded]"))
        assert.isFalse(
          yield* p(() => page.evaluate(() => document.cookie.includes("tank_token"))),
          "scripts cannot read the token"
        )
      }),
    60_000
  )

  it.live(
    "apply through the editor: an invalid spec's field is named; a valid one turns running without reloading",
    () =>
      Effect.gen(function*() {
        const { page } = w
        yield* p(() => page.evaluate(() => void ((window as unknown as { unchanged: boolean }).unchanged = true)))
        yield* p(() => page.click("#apply-pod"))
        yield* p(() => page.fill("#apply-text", ticker(w.env.refs.busybox).replace(/image: .*/, "image: 12")))
        yield* p(() => page.click("dialog.apply button[type=submit]"))
        const issue = page.locator(`.issue[data-path="containers[0].image"]`)
        yield* p(() => issue.waitFor())
        const text = yield* p(() => issue.innerText())
        assert.include(text, "containers[0].image")
        assert.include(text, "line 4")
        assert.strictEqual(yield* run(Api.list).pipe(Effect.map((l) => l.length)), 0, "nothing stored")
        yield* p(() => page.fill("#apply-text", ticker(w.env.refs.busybox)))
        const t0 = Date.now()
        yield* p(() => page.click("dialog.apply button[type=submit]"))
        yield* p(() => page.waitForSelector("dialog.apply", { state: "hidden" }))
        yield* p(() => page.waitForSelector(`tr[data-name="web"][data-phase="running"]`))
        yield* Effect.logInfo(`editor apply → running row in the page: ${Date.now() - t0} ms`)
        assert.isTrue(
          yield* p(() => page.evaluate(() => (window as unknown as { unchanged?: boolean }).unchanged === true)),
          "the page was not reloaded"
        )
        assert.isTrue(running(yield* status("web")))
      }),
    60_000
  )

  it.live(
    "terminal: exec a shell, `hostname` prints the pod's name; the window size follows the page",
    () =>
      Effect.gen(function*() {
        const { page } = w
        yield* p(() => page.goto(`${w.base}/pods/web`))
        yield* connectTerminal(page, "exec")
        yield* p(() => page.keyboard.type("hostname\n"))
        yield* waitScreen(page, "web", (rows) => rows.some((r) => r.trim() === "web"))
        const size = async () => {
          await page.keyboard.type("clear; stty size\n")
          return undefined
        }
        yield* p(size)
        const first = yield* waitScreen(page, "a size", (rows) => rows.some((r) => /^\d+ \d+\s*$/.test(r)))
        const before = first.find((r) => /^\d+ \d+\s*$/.test(r))!.trim()
        const shown = first.length
        assert.strictEqual(Number(before.split(" ")[0]), shown, "the PTY has as many rows as the page shows")
        yield* p(() => page.setViewportSize({ width: 900, height: 600 }))
        yield* Effect.sleep("300 millis")
        yield* p(size)
        const second = yield* waitScreen(page, "a new size", (rows) =>
          rows.some((r) =>
            /^\d+ \d+\s*$/.test(r) && r.trim() !== before
          ))
        const after = second.find((r) => /^\d+ \d+\s*$/.test(r))!.trim()
        assert.notStrictEqual(after, before)
        assert.isBelow(Number(after.split(" ")[1]), Number(before.split(" ")[1]), "fewer columns in a narrower page")
        yield* p(() => page.setViewportSize({ width: 1280, height: 800 }))
        const shells = execCapture("web", ["ps", "-o", "args"]).pipe(
          Effect.map((r) => r.stdout.split("\n").filter((l) => l.trim() === "sh").length),
          Effect.provideService(TankConfig, w.env.config)
        )
        assert.strictEqual(yield* shells, 1, "the terminal's shell runs in the pod")
        yield* p(() => page.click("#term-connect")) // disconnect: the exec is hung up
        yield* until("the shell hung up", shells, (n) => n === 0, 10_000)
      }),
    60_000
  )

  it.live(
    "terminal: attach to a tty pod; Ctrl-P Ctrl-Q leaves it running (same process)",
    () =>
      Effect.gen(function*() {
        const { page } = w
        yield* run(Api.apply({
          name: "tty",
          containers: [{ name: "shell", image: w.env.refs.busybox, command: ["sh"], tty: true }]
        }))
        const s1 = yield* until("tty running", status("tty"), running)
        yield* p(() => page.goto(`${w.base}/pods/tty#terminal`))
        yield* p(() => page.waitForSelector(`#term-mode option[value="attach"]`, { state: "attached" }))
        yield* connectTerminal(page, "attach")
        yield* p(() => page.keyboard.type("echo attached-$((6*7))\n"))
        yield* waitScreen(page, "attached-42", (rows) => rows.some((r) => r.trim() === "attached-42"))
        yield* p(() => page.keyboard.press("Control+p"))
        yield* p(() => page.keyboard.press("Control+q"))
        yield* p(() =>
          page.waitForFunction(() => document.getElementById("term-status")?.textContent?.startsWith("detached"))
        )
        yield* Effect.sleep("500 millis")
        const s2 = yield* status("tty")
        assert.isTrue(running(s2), "still running after the detach")
        assert.strictEqual(s2!.hostPid, s1!.hostPid, "the same process")
        assert.strictEqual(s2!.restarts, 0)
      }),
    60_000
  )

  it.live("logs: a line the pod prints appears live", () =>
    Effect.gen(function*() {
      const { page } = w
      yield* p(() => page.goto(`${w.base}/pods/web#logs`))
      yield* p(() => page.waitForSelector("#logs-out .line"))
      const ticks = () =>
        page.locator("#logs-out .line").evaluateAll((ls) =>
          ls.map((l) => Number(/tick (\d+)/.exec(l.textContent ?? "")?.[1] ?? -1))
        )
      const first = Math.max(...(yield* p(ticks)))
      yield* p(() =>
        page.waitForFunction(
          (n) => [...document.querySelectorAll("#logs-out .line")].some((l) => l.textContent?.includes(`tick ${n}`)),
          first + 2
        )
      )
      assert.strictEqual(yield* p(() => page.textContent("#logs-status")), "following")
    }), 60_000)

  it.live(
    "charts: the CPU chart of a busy pod moves; screenshots of the list and the detail",
    () =>
      Effect.gen(function*() {
        const { page } = w
        yield* run(Api.apply({
          name: "busy",
          containers: [{
            name: "spin",
            image: w.env.refs.busybox,
            command: ["sh", "-c", "while :; do :; done"],
            limits: { cpu: { quota: 30_000, period: 100_000 }, memory: 64 * 1024 * 1024 }
          }]
        }))
        yield* until("busy running", status("busy"), running)
        yield* p(() => page.goto(`${w.base}/pods/busy`))
        const cpu = page.locator("#chart-cpu")
        yield* p(() => page.waitForFunction(() => Number(document.getElementById("chart-cpu")?.dataset.last ?? 0) > 5))
        const n1 = Number(yield* p(() => cpu.getAttribute("data-points")))
        yield* p(() =>
          page.waitForFunction(
            (n) => Number(document.getElementById("chart-cpu")?.dataset.points ?? 0) >= n + 2,
            n1
          )
        )
        const last = Number(yield* p(() => cpu.getAttribute("data-last")))
        assert.isAbove(last, 5)
        assert.isBelow(last, 60, "within its 30% quota (noise allowed)")
        fs.mkdirSync(shots, { recursive: true })
        yield* p(() => page.screenshot({ path: path.join(shots, "pod.png"), fullPage: true }))
        yield* p(() => page.goto(`${w.base}/`))
        yield* p(() => page.waitForSelector(`tr[data-name="busy"] td.col-cpu:not(:has-text("–"))`))
        yield* p(() => page.screenshot({ path: path.join(shots, "pods.png") }))
      }),
    60_000
  )

  it.live(
    "images: pull with progress, the cache lists it with its size, prune forgets what no pod uses",
    () =>
      Effect.gen(function*() {
        const { page } = w
        yield* p(() => page.goto(`${w.base}/images`))
        yield* p(() => page.fill("#pull-ref", w.env.refs.layers))
        yield* p(() => page.click("#pull-ref ~ button[type=submit]"))
        yield* p(() =>
          page.waitForFunction(() => document.getElementById("pull-status")?.textContent?.startsWith("Pulled"))
        )
        const bars = yield* p(() => page.locator("#pull-progress progress").count())
        assert.isAtLeast(bars, 2, "one progress bar per layer")
        const cache = page.locator("#images-list tbody tr", { hasText: "tank/layers" })
        yield* p(() => cache.waitFor())
        assert.match(yield* p(() => cache.innerText()), /\d+(\.\d)? (B|KiB|MiB)/)
        yield* p(() => page.check("#prune-all"))
        yield* p(() => page.click("button.danger:has-text('Prune')"))
        yield* p(() => page.click("dialog.confirm button.danger"))
        yield* p(() =>
          page.waitForFunction(() => /Removed 1 image/.test(document.getElementById("prune-result")?.textContent ?? ""))
        )
        yield* p(() => cache.waitFor({ state: "detached" }))
        assert.isAtLeast(yield* p(() => page.locator("#images-list tbody tr", { hasText: "tank/busybox" }).count()), 1)
      }),
    60_000
  )

  it.live("375 px wide: nothing overflows sideways; keyboard: tabs, the editor, Escape", () =>
    Effect.gen(function*() {
      const { page } = w
      yield* p(() => page.setViewportSize({ width: 375, height: 740 }))
      for (const url of ["/", "/pods/web", "/images", "/networks", "/nodes", "/system"]) {
        yield* p(() => page.goto(`${w.base}${url}`))
        yield* p(() => page.waitForLoadState("networkidle").catch(() => {}))
        const width = yield* p(() => page.evaluate(() => document.documentElement.scrollWidth))
        assert.isAtMost(width, 375, `${url} fits 375 px`)
      }
      yield* p(() => page.goto(`${w.base}/`))
      yield* p(() => page.waitForSelector(`tr[data-name="busy"]`))
      yield* p(() => page.screenshot({ path: path.join(shots, "pods-mobile.png"), fullPage: true }))
      yield* p(() => page.setViewportSize({ width: 1280, height: 800 }))
      // Keyboard only: Tab to "Apply pod", Enter opens the editor focused, Escape closes it.
      const focusId = () => page.evaluate(() => document.activeElement?.id ?? document.activeElement?.tagName)
      let reached = false
      for (let i = 0; i < 12 && !reached; i++) {
        yield* p(() => page.keyboard.press("Tab"))
        reached = (yield* p(focusId)) === "apply-pod"
      }
      assert.isTrue(reached, "Apply pod is reachable with Tab")
      yield* p(() => page.keyboard.press("Enter"))
      assert.strictEqual(yield* p(focusId), "apply-text")
      yield* p(() => page.keyboard.press("Escape"))
      yield* p(() => page.waitForSelector("dialog.apply", { state: "hidden" }))
      // Pod tabs: arrow keys move between them.
      yield* p(() => page.goto(`${w.base}/pods/web`))
      yield* p(() => page.focus("#tab-overview"))
      yield* p(() => page.keyboard.press("ArrowRight"))
      assert.strictEqual(yield* p(() => page.getAttribute("#tab-logs", "aria-selected")), "true")
      assert.isFalse(yield* p(() => page.isHidden("#panel-logs")))
    }), 60_000)

  it.scopedLive("another origin: its WebSocket and its cross-origin POST are refused", () =>
    Effect.gen(function*() {
      const { page } = w
      // A page of another local app: same host, another port — the same *site* for SameSite.
      const other = http.createServer((_req, res) => {
        res.writeHead(200, { "content-type": "text/html" })
        res.end("<!doctype html><title>other</title>")
      })
      yield* Effect.acquireRelease(
        p(() => new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve))),
        () => Effect.sync(() => other.close())
      )
      const port = (other.address() as { port: number }).port
      yield* p(() => page.goto(`http://127.0.0.1:${port}/`))
      const wsPort = new URL(w.base).port
      const outcome = yield* p(() =>
        page.evaluate((target) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(target)
            ws.onopen = () => resolve("open")
            ws.onclose = (e) => resolve(`closed ${e.code}`)
          }), `ws://127.0.0.1:${wsPort}/api/pods/web/terminal`)
      )
      assert.strictEqual(outcome, "closed 1006", "the upgrade was refused")
      yield* p(() =>
        page.evaluate((target) =>
          fetch(target, {
            method: "POST",
            mode: "no-cors",
            credentials: "include",
            headers: { "content-type": "text/plain" },
            body: "name: evil\ncontainers: [{ name: c, image: busybox }]\n"
          }).then(() => "sent", () => "failed"), `${w.base}/api/pods`)
      )
      yield* Effect.sleep("300 millis")
      assert.isFalse((yield* run(Api.list)).some((pod) => pod.name === "evil"), "nothing applied")
      assert.isTrue(running(yield* status("web")), "and nothing deleted")
    }), 60_000)

  it.live(
    "delete from the list with confirmation: the row vanishes; nothing is left behind",
    () =>
      Effect.gen(function*() {
        const { page } = w
        yield* p(() => page.goto(`${w.base}/`))
        const row = page.locator(`tr[data-name="web"]`)
        yield* p(() => row.waitFor())
        yield* p(() => page.click(`button[aria-label="Delete pod web"]`))
        yield* p(() => page.click("dialog.confirm button.secondary")) // Cancel first
        yield* Effect.sleep("200 millis")
        assert.isTrue(running(yield* status("web")), "Cancel deletes nothing")
        yield* p(() => page.click(`button[aria-label="Delete pod web"]`))
        yield* p(() => page.click("dialog.confirm button.danger"))
        yield* p(() => row.waitFor({ state: "detached" }))
        assert.isUndefined(yield* status("web"), "its status is gone when the row is")
        for (const n of ["busy", "tty"]) yield* run(Api.remove(n))
        yield* p(() => page.waitForSelector("table.pods tbody tr", { state: "detached" }))
        yield* until("all gone", w.store.listStatus, (l) => l.statuses.length === 0)
        yield* assertNoLeaks(w.before, { pathPrefixes: [w.env.dataDir], processMarkers: [w.env.dataDir] })
      }),
    60_000
  )
})
