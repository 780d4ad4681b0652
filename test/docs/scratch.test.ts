/**
 * Every scratch/ example runs as users run it (`node --import tsx scratch/X.ts`, as root), against
 * a registry this test starts with the fixture images, each in a fresh data dir; it must exit 0,
 * print its key lines, and leave nothing behind: no pod status in the store, no run dirs, no
 * monitor processes, no pod cgroups. Interactive paths (exec's shell, attach) are driven through a
 * real terminal with node-pty. The macvlan example runs against a private test LAN (makeLan).
 *
 * Examples run one at a time: each starts its own agent, and agents of different data dirs must
 * not race each other over cgroups.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import * as pty from "node-pty"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { runsDir } from "../../src/runtime/layout.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { type Lan, makeLan } from "../support/lan.js"
import { tankEnv } from "../support/tankEnv.js"

const root = path.resolve(import.meta.dirname, "../..")
const TIMEOUT_MS = 60_000

let scope: Scope.CloseableScope
let image = ""
let lan: Lan

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const env = await Effect.runPromise(Scope.extend(tankEnv(), scope))
  image = env.refs.busybox
  lan = await Effect.runPromise(Scope.extend(makeLan, scope))
}, 120_000)

afterAll(async () => {
  if (scope) await Effect.runPromise(Scope.close(scope, Exit.void))
})

interface Ran {
  readonly code: number | null
  readonly out: string
  readonly dataDir: string
}

const freshDataDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "tank-scratch-"))

const exampleEnv = (dataDir: string, extra: Record<string, string>) => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("TANK_") && !k.startsWith("VITEST") && k !== "NODE_OPTIONS") env[k] = v
  }
  return { ...env, TANK_DATA_DIR: dataDir, TANK_EXAMPLE_IMAGE: image, ...extra }
}

/** Runs an example to its exit (killed with its process group after TIMEOUT_MS). */
const runExample = (name: string, extra: Record<string, string> = {}): Promise<Ran> => {
  const dataDir = freshDataDir()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", `scratch/${name}.ts`], {
      cwd: root,
      env: exampleEnv(dataDir, extra),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    let out = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => {
      out += `\n[killed after ${TIMEOUT_MS} ms]`
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // gone
      }
    }, TIMEOUT_MS)
    // "exit", not "close": a leaked grandchild holding the pipes must not hang the test (it is
    // found and reported by leftovers()).
    child.on("exit", (code) => {
      clearTimeout(timer)
      setTimeout(() => resolve({ code, out, dataDir }), 100)
    })
  })
}

/** Processes whose command line or cwd mention the data dir (monitors, workloads), killed. */
const killLeftoverProcesses = (dataDir: string): Array<string> => {
  const found: Array<string> = []
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ")
      if (cmd.includes(dataDir)) {
        found.push(`${pid}: ${cmd}`)
        process.kill(Number(pid), "SIGKILL")
      }
    } catch {
      // exited meanwhile
    }
  }
  return found
}

/** The pods' cgroup directories that exist now, in every hierarchy. */
const podCgroups = (pods: ReadonlyArray<string>): Set<string> => {
  const out = new Set<string>()
  for (const pod of pods) {
    for (const hierarchy of ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"]) {
      // A pod's group is `<pod>-<8 hex of its data dir>` (runtime/layout.ts cgroupName).
      const base = path.join(hierarchy, "tank")
      const names = fs.existsSync(base) ? fs.readdirSync(base) : []
      for (const name of names.filter((n) => new RegExp(`^${pod}-[0-9a-f]{8}$`).test(n))) {
        const dir = path.join(base, name)
        if (fs.existsSync(path.join(dir, "cgroup.procs"))) out.add(dir)
      }
    }
  }
  return out
}

/** What an example left behind, cleaned up; empty when it cleaned up after itself. */
const leftovers = async (
  dataDir: string,
  pods: ReadonlyArray<string>,
  before: ReadonlySet<string>
): Promise<Array<string>> => {
  const left: Array<string> = []
  const statuses = await Effect.runPromise(
    Api.statusAll.pipe(Effect.provide(Layer.fresh(layerSqlite(path.join(dataDir, "tank.db")))))
  )
  for (const s of statuses) left.push(`status of ${s.name}: ${s.phase}`)
  const run = runsDir(dataDir)
  for (const d of fs.existsSync(run) ? fs.readdirSync(run) : []) left.push(`run dir ${d}`)
  left.push(...killLeftoverProcesses(dataDir).map((p) => `process ${p}`))
  // Cgroups are named by pod alone (tank/<pod>), machine-wide: only those that appeared during the
  // run count (another test may run a same-named pod at the same time).
  for (const dir of podCgroups(pods)) if (!before.has(dir)) left.push(`cgroup ${dir}`)
  // Mounts under the data dir (pinned namespaces of a pod that was not torn down): detach them so
  // the directory can go.
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")
    .map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(dataDir + "/")).reverse()
  for (const m of mounts) {
    left.push(`mount ${m}`)
    spawnSync("umount", ["-l", m])
  }
  fs.rmSync(dataDir, { recursive: true, force: true })
  return left
}

const expectClean = async (r: Ran, pods: ReadonlyArray<string>, before: ReadonlySet<string>) => {
  expect(await leftovers(r.dataDir, pods, before)).toEqual([])
}

const check = async (name: string, pods: ReadonlyArray<string>, lines: ReadonlyArray<RegExp>, extra = {}) => {
  const before = podCgroups(pods)
  const r = await runExample(name, extra)
  try {
    expect(r.code, r.out).toBe(0)
    for (const l of lines) expect(r.out, `${name}: expected ${l}`).toMatch(l)
  } finally {
    await expectClean(r, pods, before)
  }
  return r
}

/**
 * Runs an interactive example under a real terminal (node-pty) in a fresh data dir; `body` drives it.
 * Whatever happens, the example is killed and the pod's leftovers are checked afterwards.
 */
const onTerminal = async (
  example: string,
  pod: string,
  body: (session: {
    readonly term: pty.IPty
    readonly until: (re: RegExp, ms?: number) => Promise<void>
    /** Waits for the example's exit code (or "timeout" after 60 s) and everything it printed. */
    readonly exited: () => Promise<{ readonly code: number | "timeout"; readonly text: string }>
  }) => Promise<void>
) => {
  const dataDir = freshDataDir()
  const before = podCgroups([pod])
  const term = pty.spawn(process.execPath, ["--import", "tsx", example], {
    cwd: root,
    env: exampleEnv(dataDir, {}),
    cols: 100,
    rows: 30
  })
  let out = ""
  term.onData((d) => (out += d))
  const until = async (re: RegExp, ms = 30_000) => {
    const end = Date.now() + ms
    while (!re.test(out)) {
      if (Date.now() > end) throw new Error(`no ${re} in:\n${out}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const code = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)))
  const exited = () =>
    Promise.race([code, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 60_000))]).then((c) => ({
      code: c,
      text: out
    }))
  let failure: unknown
  let left: Array<string> = []
  try {
    await body({ term, until, exited })
  } catch (e) {
    failure = e
  } finally {
    try {
      term.kill("SIGKILL")
    } catch {
      // gone
    }
    await new Promise((r) => setTimeout(r, 200))
    left = await leftovers(dataDir, [pod], before)
  }
  if (failure) throw failure
  expect(left).toEqual([])
}

describe("scratch examples", () => {
  it("basics: apply, list, get, status, a validation error, delete", async () => {
    await check("basics", ["hello"], [
      /declared pods: hello/,
      /defaults filled in: restart=always network="none"/,
      /hello is running \(host pid \d+\)/,
      /invalid pod spec \(pod "Hello_World"\)\n {2}name: pod name "Hello_World" must be a DNS label/,
      /containers\[0\]\.mounts\[0\]\.path: mount path "data" must be an absolute path/,
      /hello deleted/
    ])
  }, 90_000)

  it("volumes-and-limits: managed and host volumes, read-only mount, pids limit", async () => {
    await check("volumes-and-limits", ["db"], [
      /managed volume: started/,
      /host volume: greeting=hello from the host/,
      /Read-only file system \/ exit=1/,
      /pids limit 20, tried to start 40 sleeps: (1\d|20) started, then "sh: can't fork/,
      /db deleted/
    ])
  }, 90_000)

  it("restart-policy: backoff, terminal, events, Tank.restart resets the backoff", async () => {
    await check("restart-policy", ["flaky", "oneshot"], [
      /flaky: backing-off \(exited with code 1; restarting in 300 ms\)/,
      /flaky: restarts=[2-9], last exit code 1/,
      /oneshot: terminal, last exit code 3, restarts=0/,
      /event flaky backing-off: exited with code 1; restarting in \d+ ms/,
      /flaky after Tank\.restart: restarts=[01] \(backoff reset\)/
    ])
  }, 90_000)

  it("web: the dashboard's API with the token: 401 without, issues with lines, live feed, logs, delete", async () => {
    await check("web", ["hello"], [
      /dashboard at http:\/\/127\.0\.0\.1:\d+\//,
      /without the token: 401/,
      /rejected \(422\): line 4: containers\[0\]\.image: /,
      /applied: hello/,
      /feed: hello running/,
      /logs: hello from hello/,
      /DELETE \/api\/pods\/hello: deleted=true/,
      /hello deleted/
    ])
  }, 90_000)

  it("macvlan-network: without an uplink it explains and exits 0", async () => {
    const r = await check("macvlan-network", ["web"], [/Set TANK_EXAMPLE_UPLINK=/])
    expect(r.out).not.toMatch(/applying pod/)
  }, 90_000)

  it("macvlan-network: two NICs on a test LAN, pod DNS, the gateway answers", async () => {
    await check("macvlan-network", ["web"], [
      /web addresses: 10\.250\.0\.5\/24, 10\.251\.0\.5\/24/,
      /eth0 inet 10\.250\.0\.5\/24/,
      /eth1 inet 10\.251\.0\.5\/24/,
      /\/etc\/resolv\.conf: nameserver 10\.0\.0\.53/,
      /ping 10\.250\.0\.1: reachable/,
      /web deleted/
    ], {
      TANK_EXAMPLE_UPLINK: lan.parent,
      TANK_EXAMPLE_UPLINK2: lan.parent2,
      TANK_EXAMPLE_GATEWAY: lan.lanHost.address,
      TANK_EXAMPLE_PARENT_NETNS: lan.hub.path
    })
  }, 90_000)

  it("custom-host: the agent's Host layer supplies the pod's DNS", async () => {
    await check("custom-host", ["resolver"], [
      /custom Host: uplink for parent "auto" = \S+, dns = 192\.0\.2\.53, 198\.51\.100\.53/,
      /resolver's \/etc\/resolv\.conf:\nnameserver 192\.0\.2\.53\nnameserver 198\.51\.100\.53/,
      /resolver deleted/
    ])
  }, 90_000)

  it("exec: captured execs (pid namespace, context, overrides, exit code)", async () => {
    await check("exec", ["shell"], [
      /PID +COMMAND\n +1 sh\n/,
      /exec context: cwd=\/tmp APP_MODE=demo host=shell/,
      /with cwd\/env overrides: cwd=\/ APP_MODE=debug/,
      /exit code passed through: 3 \(stderr: to stderr\)/,
      /after the execs the pod is still running/,
      /shell deleted/
    ])
  }, 90_000)

  it("attach: detach with Ctrl-P Ctrl-Q, re-attach to the same shell, exit restarts it", async () => {
    await check("attach", ["console"], [
      /first attach: saw 42; ended "detached"/,
      /re-attach: same shell state; ended "detached"/,
      /typed exit: \{"exited":0\}/,
      /restarted by the policy: restarts=1, new pid true/,
      /console deleted/
    ])
  }, 90_000)

  it("logs: tail, stream filter, follow, events", async () => {
    await check("logs", ["ticker"], [
      /last 3 lines:\n( {2}\S+ main stdout: tick \d+\n){3}/,
      /stderr only: starting/,
      /followed 3 new lines: tick \d+, tick \d+, tick \d+/,
      /events: applied → .*running/,
      /ticker deleted/
    ])
  }, 90_000)

  it("sidecar: init container, localhost between containers, only the killed sidecar restarts", async () => {
    await check("sidecar", ["site"], [
      /container web: running, pid \d+\n {2}container probe: running, pid \d+/,
      /probe fetched over localhost: <h1>hello from the init container<\/h1>/,
      /probe restarted: restarts=1, new pid true/,
      /web untouched: same pid true, restarts=0/,
      /probe log: probe started \| probe started/,
      /site deleted/
    ])
  }, 90_000)

  it("exec on a terminal: an interactive shell in the pod, then exit", async () => {
    await onTerminal("scratch/exec.ts", "shell", async ({ exited, term, until }) => {
      await until(/type `exit` to leave/)
      await new Promise((r) => setTimeout(r, 500))
      term.write("echo pty-$((6*7)); [ -t 0 ] && [ -t 1 ] && echo on-a-terminal\r")
      await until(/pty-42\s+on-a-terminal/)
      term.write("exit\r")
      const out = await exited()
      expect(out.code, out.text).toBe(0)
      expect(out.text).toMatch(/the shell ended: \{"exited":0\}/)
      expect(out.text).toMatch(/after the execs the pod is still running/)
    })
  }, 120_000)

  it("attach on a terminal: type into the main process, Ctrl-P Ctrl-Q detaches", async () => {
    await onTerminal("scratch/attach.ts", "console", async ({ exited, term, until }) => {
      await until(/press Ctrl-P Ctrl-Q to detach/)
      await new Promise((r) => setTimeout(r, 500))
      term.write("echo att-$((6*7))\r")
      await until(/att-42/)
      term.write("\x10")
      await new Promise((r) => setTimeout(r, 100))
      term.write("\x11")
      await until(/attach ended: "detached"/)
      const out = await exited()
      expect(out.code, out.text).toBe(0)
      expect(out.text).toMatch(/console deleted/)
    })
  }, 120_000)
})
