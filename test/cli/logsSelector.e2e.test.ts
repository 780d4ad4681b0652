/**
 * `tank logs -l SELECTOR` (root, e2e): real pods started by the live Runtime (their monitors write
 * the log files), their labelled specs in the store through `tank apply`, the bundled CLI in
 * subprocesses. The selector picks exactly the labelled pods, each line prefixed with its pod;
 * with -f every picked pod is followed at once (one that stays quiet does not hold up another).
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { execCapture } from "../../src/exec/Exec.js"
import { Machine, MachineLive, onMachine, podName, startPod } from "../exec/support.js"
import { buildCli, runCli } from "./harness.js"

const talker = (name: string, labels: Record<string, string>, image: string) => ({
  name,
  labels,
  restart: "never",
  containers: [{
    name: "app",
    image,
    command: [
      "sh",
      "-c",
      `echo from-${name}; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo later-${name}; sleep 3600`
    ]
  }]
})

const until = (what: string, ok: () => boolean, context: () => string, ms = 20_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("tank logs -l (live, root)", (it) => {
  it.scoped("picks exactly the selected pods, prefixes their lines, follows them all at once", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const cli = yield* Effect.acquireRelease(Effect.sync(buildCli), (c) => Effect.sync(() => c.cleanup()))
      const tank = (args: ReadonlyArray<string>, input?: string) =>
        Effect.promise(() =>
          runCli(cli.entry, ["--data-dir", env.dataDir, ...args], input !== undefined ? { input } : {})
        )
      const [a, b, c] = [podName("lga"), podName("lgb"), podName("lgc")]
      const specs = [
        talker(a, { app: "web" }, env.refs.busybox),
        talker(b, { app: "web", tier: "edge" }, env.refs.busybox),
        talker(c, { app: "db" }, env.refs.busybox)
      ]
      for (const s of specs) {
        const applied = yield* tank(["apply", "-f", "-"], JSON.stringify(s))
        assert.strictEqual(applied.code, 0, applied.stderr)
        yield* startPod(s)
      }
      // Each has written its first line.
      for (const p of [a, b, c]) {
        let last = ""
        yield* until(`${p}'s first line`, () => last.includes(`from-${p}`), () => last)
          .pipe(Effect.raceFirst(Effect.forever(Effect.gen(function*() {
            last = (yield* tank(["logs", p])).stdout
            yield* Effect.sleep("100 millis")
          }))))
      }

      const web = yield* tank(["logs", "-l", "app=web"])
      assert.strictEqual(web.code, 0, web.stderr)
      assert.strictEqual(web.stdout, [a, b].sort().map((p) => `[pod/${p}] from-${p}\n`).join(""))
      const edge = yield* tank(["logs", "-l", "app=web,tier!=edge", "--json"])
      assert.strictEqual(edge.code, 0, edge.stderr)
      const lines = edge.stdout.trim().split("\n").map((l) => JSON.parse(l) as { pod: string; text: string })
      assert.deepStrictEqual(lines.map((l) => [l.pod, l.text]), [[a, `from-${a}`]])
      const none = yield* tank(["logs", "-l", "app=nothing"])
      assert.strictEqual(none.code, 1)
      assert.match(none.stderr, /no pod matches the selector/)
      const neither = yield* tank(["logs"])
      assert.strictEqual(neither.code, 2)

      // -f: both followed at once; b speaks while a stays quiet.
      const follower = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const child = spawn(process.execPath, [cli.entry, "--data-dir", env.dataDir, "logs", "-f", "-l", "app=web"], {
            stdio: ["ignore", "pipe", "pipe"]
          })
          let stdout = ""
          child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
          return { child, stdout: () => stdout }
        }),
        ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
      )
      yield* until(
        "both histories",
        () => follower.stdout().includes(`from-${a}`) && follower.stdout().includes(`from-${b}`),
        follower.stdout
      )
      yield* onMachine(execCapture(b, ["touch", "/tmp/go"]))
      yield* until(`later-${b}`, () => follower.stdout().includes(`[pod/${b}] later-${b}\n`), follower.stdout)
      assert.notInclude(follower.stdout(), `later-${a}`)
      assert.notInclude(follower.stdout(), c)
    }))
})
