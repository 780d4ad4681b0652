/**
 * `tank daemon` end to end (root): the real agent as a subprocess on a temp data dir, driven only
 * through the CLI: apply a busybox pod from the local test registry, see it running in `tank ps`,
 * exec into it, read its logs, stats and events, delete it, and stop the agent with SIGTERM.
 * Also `tank pull` (plain-line progress), `tank images` and `tank prune` against the same registry.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as pty from "node-pty"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { cgroupName } from "../../src/runtime/layout.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { tankEnv } from "../support/tankEnv.js"
import { buildCli, runCli } from "./harness.js"

let cli: ReturnType<typeof buildCli>
beforeAll(() => {
  // With the startup snapshots and bin/tank: exec runs as users run it, from its own blob (exec.blob).
  cli = buildCli({ snapshot: true })
})
afterAll(() => cli?.cleanup())

const tank = (dataDir: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.promise(() => runCli(cli.entry, ["--data-dir", dataDir, ...args], input !== undefined ? { input } : {}))
/** Through the launcher, bin/tank (exec: from dist/exec.blob). */
const tankBin = (dataDir: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.promise(() => runCli(cli.bin, ["--data-dir", dataDir, ...args], input !== undefined ? { input } : {}))

interface Row {
  readonly name: string
  readonly phase: string
  readonly hostPid?: number
}
const psJson = (dataDir: string) =>
  Effect.map(tank(dataDir, ["ps", "--json"]), (r) => JSON.parse(r.stdout) as ReadonlyArray<Row>)

/** Poll `tank ps --json` until `ok` holds (or fail after `ms`). */
const waitFor = (
  dataDir: string,
  what: string,
  ok: (rows: ReadonlyArray<Row>) => boolean,
  context: () => string = () => "",
  ms = 30_000
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    for (;;) {
      const rows = yield* psJson(dataDir)
      if (ok(rows)) return rows
      if (Date.now() > deadline) {
        return yield* Effect.die(new Error(`timed out waiting for ${what}: ${JSON.stringify(rows)}\n${context()}`))
      }
      yield* Effect.sleep("250 millis")
    }
  })

/** The daemon as a scoped subprocess: SIGKILLed at scope end if the test did not stop it. */
const startDaemon = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [cli.entry, "daemon", "--stop-pods-on-exit", "--data-dir", dataDir], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr!.setEncoding("utf8").on("data", (d: string) => {
        stderr += d
        if (process.env.TANK_CLI_DEBUG) fs.appendFileSync(process.env.TANK_CLI_DEBUG, d)
      })
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, exited, stderr: () => stderr }
    }),
    ({ child, exited }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGTERM")
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000)
        await exited
        clearTimeout(t)
      })
  )

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`)

/** `tank ARGS` under a real terminal (node-pty): send keystrokes, wait for output, read the exit code. */
const inTerminal = (args: ReadonlyArray<string>) => {
  const term = pty.spawn(process.execPath, [cli.entry, ...args], {
    name: "xterm",
    cols: 100,
    rows: 30,
    env: { ...process.env, NO_COLOR: "" } as Record<string, string>
  })
  let output = ""
  term.onData((d) => (output += d))
  const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)))
  const waitOutput = (re: RegExp, ms = 15_000) =>
    Effect.promise(async () => {
      const deadline = Date.now() + ms
      while (!re.test(output)) {
        if (Date.now() > deadline) throw new Error(`no ${re} in terminal output: ${JSON.stringify(output)}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    })
  return { term, output: () => output, exited: Effect.promise(() => exited), waitOutput }
}

describe("tank daemon (root, e2e)", () => {
  it.scopedLive(
    "apply → running in ps → exec, logs, stats, events → delete → gone → SIGTERM exits 0",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const dataDir = env.dataDir
        // Short grace and resync so teardown is quick; busybox sh as pid 1 ignores SIGTERM otherwise.
        fs.writeFileSync(
          path.join(dataDir, "config.yaml"),
          "reconciler:\n  stopGracePeriodMs: 2000\n  resyncIntervalMs: 1000\n"
        )
        // Only what this test makes: other suites run pods (and monitors) at the same time.
        const scope = { pathPrefixes: [dataDir], processMarkers: [dataDir] }
        const before = yield* leakSnapshot(scope)
        const daemon: { child: ChildProcess; exited: Promise<{ code: number | null }>; stderr: () => string } =
          yield* startDaemon(dataDir)

        const spec = {
          name: "cli-e2e",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: [
              "sh",
              "-c",
              "trap 'exit 0' TERM; echo hello-from-pod; echo oops >&2; while true; do sleep 1; done"
            ]
          }]
        }
        const applied = yield* tank(dataDir, ["apply", "-f", "-"], JSON.stringify(spec))
        assert.strictEqual(applied.code, 0, applied.stderr)
        assert.strictEqual(applied.stdout, "pod/cli-e2e created\n")

        const rows = yield* waitFor(
          dataDir,
          "running",
          (r) => r.some((x) => x.name === "cli-e2e" && x.phase === "running")
        )
        const pid = rows.find((x) => x.name === "cli-e2e")!.hostPid!
        assert.isTrue(alive(pid), `host pid ${pid} is alive`)
        const table = yield* tank(dataDir, ["ps"])
        assert.strictEqual(table.stderr, "", "no stale-agent warning while the daemon runs")
        assert.match(
          table.stdout,
          new RegExp(
            `^cli-e2e\\s+running\\s+0\\s+\\d+s\\s+${env.refs.busybox.replace(/[.]/g, "\\.")}\\s+-\\s+${pid}\\s+-$`,
            "m"
          )
        )

        // exec: output and exit status pass through; failing to enter is 125. Through bin/tank (exec's
        // own blob) and the plain bundle alike.
        for (const run of [tankBin, tank]) {
          const ex = yield* run(dataDir, ["exec", "cli-e2e", "--", "sh", "-c", "cat /etc/hostname; exit 7"])
          assert.strictEqual(ex.stdout, "cli-e2e\n", `code ${ex.code}: ${ex.stderr}`)
          assert.strictEqual(ex.code, 7)
          const piped = yield* run(dataDir, ["exec", "-i", "cli-e2e", "--", "wc", "-c"], "12345")
          assert.strictEqual(piped.stdout.trim(), "5")
          assert.strictEqual(piped.code, 0)
          // Without -i the command reads EOF at once, not our stdin.
          const unpiped = yield* run(dataDir, ["exec", "cli-e2e", "--", "wc", "-c"], "12345")
          assert.deepStrictEqual([unpiped.stdout.trim(), unpiped.code], ["0", 0], unpiped.stderr)
          const missing = yield* run(dataDir, ["exec", "cli-e2e", "--", "/no/such/binary"])
          assert.strictEqual(missing.code, 127, missing.stderr)
          const wrongPod = yield* run(dataDir, ["exec", "ghost", "--", "true"])
          assert.strictEqual(wrongPod.code, 125)
          const wrongContainer = yield* run(dataDir, ["exec", "-c", "nope", "cli-e2e", "--", "true"])
          assert.deepStrictEqual(
            [wrongContainer.code, wrongContainer.stderr],
            [125, "tank: pod cli-e2e has no container nope (it has: app)\n"]
          )
        }

        // With NODE_EXTRA_CA_CERTS (a missing file: node warns as it starts) exec's quick path starts
        // without it, and a line it hands to the full CLI (-e) that may reach etcd (a config file named
        // by TANK_CONFIG: a local one here) runs in a child given it back: output, exit status, a
        // signal sent to the launcher and the child's own death all pass through.
        const config = `${dataDir}-config.yaml`
        fs.writeFileSync(config, `dataDir: ${dataDir}\n`)
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(config, { force: true })))
        const ca = { NODE_EXTRA_CA_CERTS: path.join(dataDir, "no-such-ca.pem"), TANK_CONFIG: config }
        const quickCa = yield* Effect.promise(() =>
          runCli(cli.bin, ["--data-dir", dataDir, "exec", "cli-e2e", "--", "sh", "-c", "echo [$A]; exit 7"], {
            env: ca
          })
        )
        assert.deepStrictEqual([quickCa.stdout, quickCa.code, quickCa.stderr], ["[]\n", 7, ""])
        const fullCa = yield* Effect.promise(() =>
          runCli(cli.bin, [
            "--data-dir",
            dataDir,
            "exec",
            "-e",
            "A=a",
            "cli-e2e",
            "--",
            "sh",
            "-c",
            "echo [$A]; exit 7"
          ], {
            env: ca
          })
        )
        assert.deepStrictEqual([fullCa.stdout, fullCa.code], ["[a]\n", 7], fullCa.stderr)
        assert.include(fullCa.stderr, "Ignoring extra certs")
        for (const [target, signal, ends] of [["launcher", "SIGTERM", "code 0"], ["child", "SIGKILL", "SIGKILL"]]) {
          const launcher = spawn(
            cli.bin,
            ["--data-dir", dataDir, "exec", "-e", "A=a", "cli-e2e", "--", "sleep", "60"],
            {
              env: { ...process.env, ...ca },
              stdio: "ignore"
            }
          )
          const ended = new Promise<string>((resolve) =>
            launcher.on("exit", (code, sig) => resolve(sig ?? `code ${code}`))
          )
          // The full CLI's node: the launcher's child (bin/tank execs node itself); signalled once its
          // exec runs (the helper, its own child, is there), not while it may still be loading.
          const childOf = (pid: number | undefined) => {
            const file = `/proc/${pid}/task/${pid}/children`
            const ids = pid !== undefined && fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : ""
            return ids ? Number(ids.split(" ")[0]) : undefined
          }
          let child: number | undefined
          for (let i = 0; i < 600 && childOf(child) === undefined; i++) {
            yield* Effect.sleep("50 millis")
            child = childOf(launcher.pid)
          }
          assert.isDefined(childOf(child), "the full CLI runs in a child of exec's quick process, and enters")
          process.kill(target === "launcher" ? launcher.pid! : child!, signal)
          // SIGTERM: the full CLI ends the exec as it does when it is the process itself (status 0).
          assert.strictEqual(yield* Effect.promise(() => ended), ends, `${signal} to the ${target}`)
        }

        // logs: stdout to stdout, stderr to stderr.
        const logs = yield* tank(dataDir, ["logs", "cli-e2e"])
        assert.strictEqual(logs.code, 0, logs.stderr)
        assert.include(logs.stdout, "hello-from-pod\n")
        assert.include(logs.stderr, "oops\n")

        const stats = yield* tank(dataDir, ["stats", "--no-stream", "--interval", "1", "--json", "cli-e2e"])
        assert.strictEqual(stats.code, 0, stats.stderr)
        const sample = JSON.parse(stats.stdout) as ReadonlyArray<{ pod: string; pids?: number }>
        assert.strictEqual(sample[0]?.pod, "cli-e2e")

        const status = yield* tank(dataDir, ["status", "cli-e2e"])
        assert.match(status.stdout, new RegExp(`^Host PID:\\s+${pid}$`, "m"))

        const deleted = yield* tank(dataDir, ["delete", "cli-e2e"])
        assert.strictEqual(deleted.stdout, "pod/cli-e2e deleted\n")
        yield* waitFor(dataDir, "gone", (r) => !r.some((x) => x.name === "cli-e2e"), daemon.stderr)
        assert.isFalse(alive(pid), "the workload is gone")

        const events = yield* tank(dataDir, ["events", "--pod", "cli-e2e"])
        for (const type of ["applied", "running", "deleted"]) {
          assert.match(events.stdout, new RegExp(` cli-e2e ${type}\\b`))
        }

        daemon.child.kill("SIGTERM")
        const { code } = yield* Effect.promise(() => daemon.exited)
        assert.strictEqual(code, 0, daemon.stderr())
        assert.include(daemon.stderr(), "tank agent starting")
        yield* assertNoLeaks(before, { ...scope, pids: [pid] })
        const cgroups = fs.readdirSync("/sys/fs/cgroup").map((c) =>
          `/sys/fs/cgroup/${c}/tank/${cgroupName(dataDir, "cli-e2e")}`
        )
        assert.deepStrictEqual(cgroups.filter((c) => fs.existsSync(c)), [], "the pod's cgroups are removed")
      }),
    90_000
  )

  it.scopedLive(
    "a tty pod under a terminal: attach and detach with Ctrl-P Ctrl-Q, exec -it passes its status, pull draws bars",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const dataDir = env.dataDir
        fs.writeFileSync(path.join(dataDir, "config.yaml"), "reconciler:\n  stopGracePeriodMs: 1000\n")
        const daemon = yield* startDaemon(dataDir)
        const spec = {
          name: "console",
          containers: [{ name: "sh", image: env.refs.busybox, command: ["sh"], tty: true }]
        }
        const applied = yield* tank(dataDir, ["apply", "-f", "-"], JSON.stringify(spec))
        assert.strictEqual(applied.code, 0, applied.stderr)
        yield* waitFor(dataDir, "running", (r) =>
          r.some((x) =>
            x.name === "console" && x.phase === "running"
          ), daemon.stderr)

        const attached = inTerminal(["--data-dir", dataDir, "attach", "console"])
        attached.term.write("echo attached-$((6*7))\r")
        yield* attached.waitOutput(/attached-42/)
        attached.term.write("\x10\x11")
        assert.strictEqual(yield* attached.exited, 0, attached.output())
        assert.include(attached.output(), "detached from pod/console")

        // The shell survived the detach: attach again and find it.
        const again = inTerminal(["--data-dir", dataDir, "attach", "console"])
        again.term.write("echo again-$((1+1))\r")
        yield* again.waitOutput(/again-2/)
        again.term.write("\x10\x11")
        assert.strictEqual(yield* again.exited, 0)

        const ex = inTerminal(["--data-dir", dataDir, "exec", "-it", "console", "--", "sh"])
        ex.term.write("[ -t 0 ] && echo stdin-is-a-$((1))-terminal; echo in-exec-$((2+3)); exit 3\r")
        yield* ex.waitOutput(/in-exec-5/)
        assert.strictEqual(yield* ex.exited, 3, ex.output())
        assert.include(ex.output(), "stdin-is-a-1-terminal", JSON.stringify(ex.output()))

        const pulled = inTerminal(["--data-dir", dataDir, "pull", "--refresh", env.refs.busybox])
        assert.strictEqual(yield* pulled.exited, 0, pulled.output())
        assert.include(pulled.output(), "\x1b[2K", "bars are redrawn in place")
        assert.match(pulled.output(), /[0-9a-f]{12}: (Pull complete|Already exists)/, JSON.stringify(pulled.output()))

        yield* tank(dataDir, ["delete", "console"])
        yield* waitFor(dataDir, "gone", (r) =>
          r.length === 0, daemon.stderr)
        daemon.child.kill("SIGTERM")
        assert.strictEqual((yield* Effect.promise(() => daemon.exited)).code, 0)
      }),
    90_000
  )

  it.scopedLive(
    "pull prints plain progress lines; images lists the image; prune --all removes it",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const pulled = yield* tank(env.dataDir, ["pull", env.refs.busybox])
        assert.strictEqual(pulled.code, 0, pulled.stderr)
        const lines = pulled.stdout.trimEnd().split("\n")
        assert.match(
          lines[0]!,
          new RegExp(
            `^${
              env.refs.busybox.replace(/[.]/g, "\\.")
            }: resolved to sha256:[0-9a-f]{64} \\(linux/\\w+, \\d+ layers?\\)$`
          )
        )
        assert.isTrue(lines.some((l) => /^[0-9a-f]{12}: downloading /.test(l)), pulled.stdout)
        assert.isTrue(lines.some((l) => /^[0-9a-f]{12}: extracted$/.test(l)), pulled.stdout)
        assert.strictEqual(lines.at(-1), `pulled ${env.refs.busybox}`)
        assert.notInclude(pulled.stdout, "\x1b[", "no terminal escapes on a pipe")

        const again = yield* tank(env.dataDir, ["pull", env.refs.busybox])
        assert.match(again.stdout, /already present/)

        const images = yield* tank(env.dataDir, ["images", "--json"])
        const recs = JSON.parse(images.stdout) as ReadonlyArray<{ ref: string }>
        assert.deepStrictEqual(recs.map((r) => r.ref), [env.refs.busybox])
        const table = yield* tank(env.dataDir, ["images"])
        assert.match(table.stdout, /^REFERENCE\s+PLATFORM\s+DIGEST\s+LAYERS\s+SIZE\s+PULLED$/m)
        assert.include(table.stdout, env.refs.busybox)

        // A declared pod keeps its image through prune --all.
        const keep = { name: "keeper", containers: [{ name: "m", image: env.refs.busybox }] }
        yield* tank(env.dataDir, ["apply", "-f", "-"], JSON.stringify(keep))
        const kept = yield* tank(env.dataDir, ["prune", "--all", "--json"])
        assert.deepStrictEqual((JSON.parse(kept.stdout) as { removedRefs: Array<string> }).removedRefs, [])
        yield* tank(env.dataDir, ["delete", "keeper"])
        const pruned = yield* tank(env.dataDir, ["prune", "--all"])
        assert.strictEqual(pruned.code, 0, pruned.stderr)
        assert.include(pruned.stdout, `untagged ${env.refs.busybox}`)
        const empty = yield* tank(env.dataDir, ["images", "--json"])
        assert.deepStrictEqual(JSON.parse(empty.stdout), [])
      }),
    60_000
  )
})
