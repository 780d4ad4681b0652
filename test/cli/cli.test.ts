/**
 * The `tank` CLI as a user runs it: a subprocess on a temp data dir, checking stdout, stderr and
 * exit codes. No agent runs here: the store is the API, so apply/get/ps/status/delete work without one.
 * Every command here runs as a user runs it: through bin/tank, from the startup snapshot (dist/tank.blob;
 * exec from its own, dist/exec.blob).
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Lock from "../../src/agent/lock.js"
import { quickLine } from "../../src/cli/quick.js"
import { MIGRATIONS } from "../../src/store/layout.js"
import { sqliteCorrupt } from "../store/sqliteCorrupt.js"
import { buildCli, runCli, stripAnsi, tempDataDir } from "./harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
const tank = (args: ReadonlyArray<string>, input?: string) =>
  runCli(cli.bin, ["--data-dir", data.dir, ...args], input !== undefined ? { input } : {})

beforeAll(() => {
  cli = buildCli({ snapshot: true })
  data = tempDataDir()
})
afterAll(() => {
  cli?.cleanup()
  data?.cleanup()
})

const twoPods = `# two pods in one file
name: web
restart: on_failure
containers:
  - name: app
    image: 127.0.0.1:5000/tank/busybox:latest
    command: [httpd, -f]
---
name: worker
containers:
  - name: main
    image: { rootfs: /srv/rootfs/worker }
    env: { MODE: batch }
`

describe("tank apply / get / ps / status / delete / restart", () => {
  it("applies two YAML documents from a file", async () => {
    const file = path.join(data.dir, "pods.yaml")
    fs.writeFileSync(file, twoPods)
    const r = await tank(["apply", "-f", file])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("pod/web created\npod/worker created\n")
    // The same file again writes nothing; an edited pod is configured.
    const again = await tank(["apply", "-f", file])
    expect(again.stdout).toBe("pod/web unchanged\npod/worker unchanged\n")
    fs.writeFileSync(file, twoPods.replace("MODE: batch", "MODE: stream"))
    const edited = await tank(["apply", "-f", file])
    expect(edited.stdout).toBe("pod/web unchanged\npod/worker configured\n")
  })

  it("applies a JSON array from stdin", async () => {
    const pods = [
      { name: "json-a", containers: [{ name: "m", image: "127.0.0.1:5000/tank/busybox:latest" }] },
      { name: "json-b", network: "none", containers: [{ name: "m", image: { rootfs: "/srv/b" } }] }
    ]
    const r = await tank(["apply", "-f", "-"], JSON.stringify(pods))
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("pod/json-a created\npod/json-b created\n")
  })

  it("accepts a { pods: [...] } list", async () => {
    const r = await tank(
      ["apply", "-f", "-"],
      "pods:\n  - name: listed\n    containers: [{ name: m, image: busybox }]\n"
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toBe("pod/listed created\n")
  })

  it("rejects a file with one invalid document: exit 1, names file, document and field, stores nothing", async () => {
    const file = path.join(data.dir, "bad.yaml")
    fs.writeFileSync(
      file,
      "name: fine\ncontainers: [{ name: m, image: busybox }]\n---\nname: broken\ncontainers:\n  - name: m\n    image: busybox\n    limits: { pids: -3 }\n"
    )
    const r = await tank(["apply", "-f", file])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain(`${file}: document 2 (line 4), pod "broken": invalid pod spec`)
    expect(r.stderr).toContain("containers[0].limits.pids:")
    expect(r.stderr).toContain("nothing was applied")
    const got = await tank(["get", "fine"])
    expect(got.code).toBe(1)
    expect(got.stderr).toContain(`pod "fine" not found`)
  })

  it("reports YAML syntax errors with a line", async () => {
    const r = await tank(["apply", "-f", "-"], "name: x\ncontainers: [\n")
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^tank: stdin: line \d+, column \d+: not valid YAML\/JSON/)
  })

  it("get -o json round-trips through apply", async () => {
    const first = await tank(["get", "web", "-o", "json"])
    expect(first.code).toBe(0)
    const spec = JSON.parse(first.stdout)
    expect(spec).toMatchObject({ name: "web", restart: "on_failure", network: "none" })
    expect(spec.containers[0]).toMatchObject({ name: "app", command: ["httpd", "-f"], tty: false })
    const again = await tank(["apply", "-f", "-"], first.stdout)
    expect(again.code).toBe(0)
    const second = await tank(["get", "web", "-o", "json"])
    expect(JSON.parse(second.stdout)).toEqual(spec)
    // YAML output is the default and parses to the same spec.
    const yaml = await tank(["get", "web"])
    const YAML = await import("yaml")
    expect(YAML.parse(yaml.stdout)).toEqual(spec)
  })

  it("ps prints a table with every declared pod, pending before an agent acts", async () => {
    const r = await tank(["ps"])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(
      `tank: warning: no agent is running for ${data.dir}; statuses may be stale (start one: tank daemon)\n`
    )
    const lines = r.stdout.trimEnd().split("\n")
    expect(lines[0]).toMatch(/^NAME\s+PHASE\s+RESTARTS\s+AGE\s+IMAGE\s+ADDRESSES\s+HOST PID\s+LAST EXIT$/)
    const web = lines.find((l) => l.startsWith("web "))!
    expect(web.split(/\s{2,}/)).toEqual([
      "web",
      "pending",
      "0",
      expect.stringMatching(/^\d+s$/),
      "127.0.0.1:5000/tank/busybox:latest",
      "-",
      "-",
      "-"
    ])
    expect(lines.find((l) => l.startsWith("worker "))).toContain("rootfs:/srv/rootfs/worker")
    const alias = await tank(["list"])
    expect(alias.code).toBe(0)
    const names = (t: string) => t.trimEnd().split("\n").map((l) => l.split(/\s+/)[0])
    expect(names(alias.stdout)).toEqual(names(r.stdout))
  })

  it("ps --json gives the statuses", async () => {
    const r = await tank(["ps", "--json"])
    expect(r.code).toBe(0)
    const rows = JSON.parse(r.stdout) as Array<{ name: string; phase: string; image: string }>
    expect(rows.map((x) => x.name)).toEqual(["json-a", "json-b", "listed", "web", "worker"])
    expect(rows.every((x) => x.phase === "pending")).toBe(true)
    expect(rows.find((x) => x.name === "json-b")?.image).toBe("rootfs:/srv/b")
  })

  it("status shows one pod in detail, and --json", async () => {
    const r = await tank(["status", "web"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Name:\s+web$/m)
    expect(r.stdout).toMatch(/^Phase:\s+pending$/m)
    expect(r.stdout).toMatch(/^Restarts:\s+0$/m)
    const j = await tank(["status", "web", "--json"])
    expect(JSON.parse(j.stdout)).toMatchObject({ name: "web", phase: "pending", restarts: 0 })
    const missing = await tank(["status", "ghost"])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(`tank: pod "ghost" not found\n`)
  })

  it("restart of an unknown pod exits 1 with a clear message; a known one is requested", async () => {
    const r = await tank(["restart", "ghost"])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(`tank: pod "ghost" not found\n`)
    const ok = await tank(["restart", "web"])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toBe("pod/web restart requested\n")
  })

  it("delete removes pods; an unknown one makes the exit 1 but the others still go", async () => {
    const r = await tank(["delete", "json-a", "ghost", "json-b"])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe("pod/json-a deleted\npod/json-b deleted\n")
    expect(r.stderr).toBe(`tank: pod "ghost" not found\n`)
    const ps = JSON.parse((await tank(["ps", "--json"])).stdout) as Array<{ name: string }>
    expect(ps.map((x) => x.name)).toEqual(["listed", "web", "worker"])
  })

  it("--data-dir works before or after the command, and TANK_DATA_DIR too", async () => {
    const after = await runCli(cli.bin, ["get", "web", "-o", "json", "--data-dir", data.dir])
    expect(after.code).toBe(0)
    const env = await runCli(cli.bin, ["get", "web", "-o", "json"], { env: { TANK_DATA_DIR: data.dir } })
    expect(env.stdout).toBe(after.stdout)
  })
})

describe("tank usage, help and completion", () => {
  it("usage errors exit 2", async () => {
    const r = await tank(["frobnicate"])
    expect(r.code).toBe(2)
    const missing = await tank(["apply"])
    expect(missing.code).toBe(2)
    expect(stripAnsi(missing.stdout + missing.stderr)).toContain("--filename")
    const flag = await tank(["get", "--bogus"])
    expect(flag.code).toBe(2)
    expect(flag.stdout + flag.stderr).toContain("unknown option --bogus")
    // Help on a pipe is plain text.
    expect((await tank(["ps", "--help"])).stdout).not.toContain("\x1b[")
  })

  it("--help lists the commands and shows examples for each", async () => {
    const r = await runCli(cli.bin, ["--help"])
    expect(r.code).toBe(0)
    const text = stripAnsi(r.stdout)
    for (
      const c of [
        "daemon",
        "apply",
        "get",
        "ps",
        "status",
        "delete",
        "restart",
        "pull",
        "images",
        "prune",
        "save",
        "load"
      ]
    ) {
      expect(text).toMatch(new RegExp(`- ${c} .*\\S`))
    }
    expect(text).toContain("QUICK START")
    for (
      const c of [
        "apply",
        "get",
        "ps",
        "status",
        "delete",
        "restart",
        "daemon",
        "pull",
        "images",
        "prune",
        "save",
        "load"
      ]
    ) {
      const h = stripAnsi((await runCli(cli.bin, [c, "--help"])).stdout)
      expect(h, c).toContain("EXAMPLES")
      expect(h, c).toContain(`tank ${c}`)
    }
  })

  it("prints completion scripts for bash, zsh and fish", async () => {
    const bash = await runCli(cli.bin, ["completion", "bash"])
    expect(bash.code).toBe(0)
    expect(bash.stdout).toContain("complete -F")
    expect(bash.stdout).toContain("apply")
    const zsh = await runCli(cli.bin, ["completion", "zsh"])
    expect(zsh.stdout).toContain("#compdef tank")
    const fish = await runCli(cli.bin, ["completion", "fish"])
    expect(fish.stdout).toContain("complete -c tank")
    expect((await runCli(cli.bin, ["completion", "tcsh"])).code).toBe(2)
  })

  it("version", async () => {
    const r = await runCli(cli.bin, ["version"])
    expect(r.stdout).toMatch(/^tank \d+\.\d+\.\d+\n$/)
  })
})

describe("tank daemon", () => {
  it("refuses to start when another agent holds the data dir's lock: exit 1 naming the pid", async () => {
    const dir = tempDataDir()
    try {
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        yield* Lock.acquire(dir.dir)
        const r = yield* Effect.promise(() => runCli(cli.bin, ["daemon", "--data-dir", dir.dir]))
        expect(r.code).toBe(1)
        expect(r.stderr).toContain(`another Tank agent already runs for ${dir.dir} (pid ${process.pid})`)
      })))
    } finally {
      dir.cleanup()
    }
  })
})

describe("bin/tank and the startup snapshot", () => {
  beforeAll(async () => {
    const r = await tank(
      ["apply", "-f", "-"],
      JSON.stringify({ name: "snap", containers: [{ name: "app", image: "busybox" }] })
    )
    expect(r.code).toBe(0)
  })
  const dist = () => path.join(cli.dir, "dist")
  /** Runs `fn` with the plain bundle's loader moved away: only the snapshot can run a command then. */
  const withoutPlainBundle = async (fn: () => Promise<void>) => {
    const loader = path.join(dist(), "tank.mjs")
    fs.renameSync(loader, loader + ".away")
    try {
      await fn()
    } finally {
      fs.renameSync(loader + ".away", loader)
    }
  }
  /** Runs `fn` with the stamp's line `at` (0: the node binary, 1: the dist dir) replaced. */
  const withStampLine = async (at: number, value: string, fn: () => Promise<void>) => {
    const stamp = path.join(dist(), "tank.blob.stamp")
    const saved = fs.readFileSync(stamp, "utf8")
    const lines = saved.split("\n")
    lines[at] = value
    fs.writeFileSync(stamp, lines.join("\n"))
    try {
      await fn()
    } finally {
      fs.writeFileSync(stamp, saved)
    }
  }

  it("starts from the blob built by this node: commands run without the plain bundle", async () => {
    await withoutPlainBundle(async () => {
      const r = await tank(["ps", "-o", "name"])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("pod/snap")
      const bad = await tank(["get", "nope"])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toContain("nope")
    })
  })

  it("runs daemon, pull, load, save, cp and web from the plain bundle (with the optimizing compiler the blob lacks)", async () => {
    await withoutPlainBundle(async () => {
      for (const command of ["daemon", "pull", "load", "save", "cp", "web"]) {
        // The command word after a global option that takes a value, as a user may write it.
        const r = await runCli(cli.bin, ["--data-dir", data.dir, command, "--help"])
        expect({ command, code: r.code, stderr: r.stderr }).toEqual({
          command,
          code: 1,
          stderr: expect.stringContaining("the CLI is not built yet")
        })
      }
      // Any other command word, wherever it stands, starts from the blob.
      expect((await runCli(cli.bin, ["--data-dir", data.dir, "ps", "-o", "name"])).code).toBe(0)
      expect((await runCli(cli.bin, ["--data-dir", data.dir, "exec", "--help"])).code).toBe(0)
    })
  })

  /**
   * Runs `fn` as if another node binary had built the blob: the building node's mtime (which bin/tank
   * compares with node's own, to the nanosecond) one nanosecond off.
   */
  const withOtherNode = async (fn: () => Promise<void>) => {
    const ref = path.join(dist(), "tank.blob.node-mtime")
    const saved = fs.statSync(ref, { bigint: true })
    const touch = (ns: bigint) => {
      const r = spawnSync("touch", [
        "-d",
        `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`,
        ref
      ])
      if (r.status !== 0) throw new Error(`touch failed: ${r.stderr}`)
    }
    touch(saved.mtimeNs + 1n)
    try {
      await fn()
    } finally {
      touch(saved.mtimeNs)
    }
  }

  it("falls back to the plain bundle for a blob of another node binary or another dir, never failing for it", async () => {
    const cases = [
      (fn: () => Promise<void>) => withOtherNode(fn),
      (fn: () => Promise<void>) => withStampLine(1, "/elsewhere/dist", fn)
    ]
    for (const under of cases) {
      await under(async () => {
        const r = await tank(["ps", "-o", "name"])
        expect(r.code).toBe(0)
        expect(r.stdout).toContain("pod/snap")
        // It was the plain bundle that ran: without it, the launcher says the CLI is not built.
        // (`get`: ps starts from its quick bundle, whatever the blob.) exec's own blob is not used
        // either: it is valid only under the same stamp.
        await withoutPlainBundle(async () => {
          for (const line of [["get", "snap"], ["exec", "nosuchpod", "--", "true"]]) {
            const gone = await tank(line)
            expect(gone.code).toBe(1)
            expect(gone.stderr).toContain("the CLI is not built yet")
          }
        })
      })
    }
  })

  it("starts exec from its own blob (dist/exec.blob): a plain exec line runs without tank.blob or tank.cjs", async () => {
    const away = ["tank.blob", "tank.cjs", "tank.mjs"].map((f) => path.join(dist(), f))
    for (const f of away) fs.renameSync(f, f + ".away")
    try {
      const r = await tank(["exec", "nosuchpod", "--", "true"])
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 125,
        stderr: "tank: pod nosuchpod is not running: it has no run on this machine\n"
      })
      // A line the quick path leaves to @effect/cli needs the full CLI's bundle: the proof that the
      // line above ran without it.
      expect((await tank(["exec", "--help"])).code).not.toBe(0)
    } finally {
      for (const f of away) fs.renameSync(f + ".away", f)
    }
    // The lines it hands to the full CLI load tank.cjs under the blob's --no-opt, which V8's code
    // cache of the plain bundle does not fit: they keep their own, and leave the plain one alone.
    const plainCache = path.join(dist(), "tank.cjs.cache")
    const noOptCache = path.join(dist(), "tank.cjs.no-opt.cache")
    const plainBefore = fs.readFileSync(plainCache)
    expect((await tank(["exec", "--help"])).code).toBe(0)
    const noOptBefore = fs.readFileSync(noOptCache)
    expect((await tank(["exec", "--help"])).code).toBe(0)
    expect(fs.readFileSync(plainCache).equals(plainBefore), "the plain bundle's cache is untouched").toBe(true)
    expect(fs.readFileSync(noOptCache).equals(noOptBefore), "the --no-opt cache was taken, not rewritten").toBe(true)
    // Without exec's blob, exec starts from tank.blob.
    const blob = path.join(dist(), "exec.blob")
    fs.renameSync(blob, blob + ".away")
    try {
      await withoutPlainBundle(async () => {
        const r = await tank(["exec", "nosuchpod", "--", "true"])
        expect(r.code).toBe(125)
        expect(r.stderr).toContain("pod nosuchpod is not running")
      })
    } finally {
      fs.renameSync(blob + ".away", blob)
    }
  })

  it("starts exec's blob without NODE_EXTRA_CA_CERTS, which a line handed on that may reach etcd gets back", async () => {
    // node reads that file as it starts and warns when it cannot: the warning shows who had the variable.
    const missing = path.join(data.dir, "no-such-ca.pem")
    const warning = `Ignoring extra certs from \`${missing}\``
    const run = (line: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
      runCli(cli.bin, ["--data-dir", data.dir, ...line], { env: { NODE_EXTRA_CA_CERTS: missing, ...env } })
    const notRunning = "tank: pod nosuchpod is not running: it has no run on this machine\n"
    const quick = await run(["exec", "nosuchpod", "--", "true"], {})
    expect({ code: quick.code, stderr: quick.stderr }).toEqual({ code: 125, stderr: notRunning })
    // Help and `-e` are the full CLI's lines. Without a config file or an etcd endpoint (no cluster
    // mode, so no TLS) they run in the same process, without the variable; with one (TANK_CONFIG here,
    // a local config all the same) in a child that has it. Output and exit codes alike either way.
    const config = path.join(data.dir, "..", `${path.basename(data.dir)}-config.yaml`)
    fs.writeFileSync(config, `dataDir: ${data.dir}\n`)
    try {
      for (const [env, warned] of [[{}, false], [{ TANK_CONFIG: config }, true]] as const) {
        const help = await run(["exec", "--help"], env)
        expect(help.code).toBe(0)
        expect(help.stdout).toContain("USAGE")
        expect(help.stderr.includes(warning), `${JSON.stringify(env)}: ${help.stderr}`).toBe(warned)
        const full = await run(["exec", "-e", "A=1", "nosuchpod", "--", "true"], env)
        expect(full.code).toBe(125)
        expect(full.stderr).toContain(notRunning)
        expect(full.stderr.includes(warning), `${JSON.stringify(env)}: ${full.stderr}`).toBe(warned)
      }
    } finally {
      fs.rmSync(config, { force: true })
    }
    // Where bin/tank keeps it means nothing set by itself.
    const stray = await runCli(cli.bin, ["exec", "--help"], {
      env: { NODE_EXTRA_CA_CERTS: undefined, TANK_EXEC_EXTRA_CA_CERTS: missing, TANK_CONFIG: "/no/such/config.yaml" }
    })
    expect(stray.stderr).not.toContain("Ignoring extra certs")
  })

  it("starts ps from its own blob (dist/ps.blob), used only under a valid stamp, else from its bundle", async () => {
    // A blob holds its bundle's code: quick-ps.cjs is only its name then. A bundle that would exit 99
    // if it were evaluated shows which of the two ran.
    const bundle = path.join(dist(), "quick-ps.cjs")
    const saved = fs.readFileSync(bundle)
    fs.writeFileSync(bundle, "process.exit(99)\n")
    try {
      const r = await tank(["ps", "-o", "name"])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain("pod/snap\n")
      await withOtherNode(async () => expect((await tank(["ps", "-o", "name"])).code).toBe(99))
      // However the launcher is reached (a symlink, as npm's node_modules/.bin holds; a relative
      // path; a path through bin/..): the same blob.
      const links = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bin-link-"))
      try {
        fs.symlinkSync(cli.bin, path.join(links, "tank"))
        const spellings = [
          { bin: path.join(links, "tank"), cwd: links },
          { bin: "bin/tank", cwd: cli.dir },
          { bin: "./tank", cwd: path.dirname(cli.bin) },
          { bin: path.join(cli.dir, "bin/../bin/tank"), cwd: links }
        ]
        for (const { bin, cwd } of spellings) {
          const r = await runCli(bin, ["--data-dir", data.dir, "ps", "-o", "name"], { cwd })
          expect({ bin, code: r.code, stdout: r.stdout }).toEqual({
            bin,
            code: 0,
            stdout: expect.stringContaining("pod/snap\n")
          })
        }
      } finally {
        fs.rmSync(links, { recursive: true, force: true })
      }
      const plain = await runCli(cli.bin, ["--data-dir", data.dir, "ps", "-o", "name"], {
        env: { TANK_NO_SNAPSHOT: "1" }
      })
      expect(plain.code).toBe(99)
    } finally {
      fs.writeFileSync(bundle, saved)
    }
    // Without the blob (none could be built): the bundle through its code cache.
    const blob = path.join(dist(), "ps.blob")
    fs.renameSync(blob, blob + ".away")
    try {
      const r = await tank(["ps", "-o", "name"])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain("pod/snap\n")
    } finally {
      fs.renameSync(blob + ".away", blob)
    }
  })

  it("without a blob (no snapshot could be built), the plain bundle runs", async () => {
    const blob = path.join(dist(), "tank.blob")
    fs.renameSync(blob, blob + ".away")
    try {
      const r = await tank(["ps", "-o", "name"])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("pod/snap")
    } finally {
      fs.renameSync(blob + ".away", blob)
    }
  })
})

// quick.ts: the lines it takes print and exit as through @effect/cli (TANK_NO_QUICK=1 forces that path).
describe("the quick path of ps and exec, and @effect/cli's, print and exit alike", () => {
  let data: ReturnType<typeof tempDataDir>
  beforeAll(async () => {
    data = tempDataDir()
    const pods = [
      { name: "web", labels: { app: "web" }, containers: [{ name: "app", image: "busybox" }] },
      { name: "db", containers: [{ name: "a", image: "busybox" }, { name: "b", image: "busybox" }] },
      // READY and PORTS columns, a rootfs image: fields the quick bundle's narrow reader decodes.
      {
        name: "probed",
        labels: { app: "probed" },
        containers: [{
          name: "app",
          image: { rootfs: "/srv/rootfs/app" },
          readinessProbe: { httpGet: { path: "/", port: 8080 } }
        }],
        network: { nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 8080, hostPort: 18080 }] }
      }
    ]
    const r = await runCli(cli.bin, ["apply", "--data-dir", data.dir, "-f", "-"], { input: JSON.stringify(pods) })
    expect(r.code).toBe(0)
  })
  afterAll(() => data?.cleanup())

  // AGE moves on between two runs: "12s" and "13s" are the same table.
  const sameAge = (s: string) => s.replace(/\b\d+[smhd]\b/g, "AGE")

  it.each(([
    ["ps"],
    ["list"],
    ["ps", "-o", "wide"],
    ["ps", "-o", "json"],
    ["ps", "-o", "yaml"],
    ["ps", "-o", "name"],
    ["ps", "-l", "app=web"],
    ["ps", "-l", "app in (web"],
    ["ps", "--data-dir", "/nonexistent/tank-quick-test"],
    ["exec", "web", "--", "true"],
    ["exec", "nosuchpod", "--", "true"],
    ["exec", "-i", "-c", "nope", "web", "--", "true"],
    ["exec", "-it", "web", "--", "sh"]
  ] as const).map((args) => [args.join(" "), args] as const))("tank %s", async (_, args) => {
    const line = ["--data-dir", data.dir, ...args]
    expect(quickLine(line), "a line the quick path takes").toBeDefined()
    const [quick, full] = await Promise.all([
      runCli(cli.bin, line),
      runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } })
    ])
    expect({ ...quick, stdout: sameAge(quick.stdout) }).toEqual({ ...full, stdout: sameAge(full.stdout) })
  })

  // Lines the quick bundles (src/cli/quickPs.ts, quickExec.ts) hand to the full CLI in-process.
  it.each(([
    ["ps", "--help"],
    ["ps", "--bogus"],
    ["list", "-o", "bogus"],
    ["ps", "-q", "-q"],
    ["exec", "--help"],
    ["exec", "-e", "A=1", "nosuchpod", "--", "true"],
    ["exec", "web", "true"]
  ] as const).map((args) => [args.join(" "), args] as const))(
    "tank %s (the full CLI, from a quick bundle)",
    async (_, args) => {
      const line = ["--data-dir", data.dir, ...args]
      expect(quickLine(line), "a line the quick path leaves to @effect/cli").toBeUndefined()
      const [quick, full] = await Promise.all([
        runCli(cli.bin, line),
        runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } })
      ])
      expect(quick).toEqual(full)
      expect(quick.stdout + quick.stderr).not.toContain("quick bundle")
    }
  )

  it("ps reads the store through the narrow reader: it lists without the full CLI's bundle", async () => {
    const bundle = path.join(cli.dir, "dist", "tank.cjs")
    fs.renameSync(bundle, bundle + ".away")
    try {
      const r = await runCli(cli.bin, ["--data-dir", data.dir, "ps", "-o", "name"])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe("pod/db\npod/probed\npod/web\n")
      // A line only the full CLI runs needs that bundle: the proof that ps above did not load it.
      expect((await runCli(cli.bin, ["--data-dir", data.dir, "ps", "--help"])).code).not.toBe(0)
    } finally {
      fs.renameSync(bundle + ".away", bundle)
    }
  })

  it("a store with an unreadable row: ps names it and lists it invalid, as the full CLI", async () => {
    const bad = tempDataDir()
    try {
      const pods = [{ name: "ok", containers: [{ name: "app", image: "busybox" }] }]
      const r = await runCli(cli.bin, ["apply", "--data-dir", bad.dir, "-f", "-"], { input: JSON.stringify(pods) })
      expect(r.code, r.stderr).toBe(0)
      const corrupt = (name: string, spec: unknown) =>
        Effect.runPromise(Effect.scoped(Effect.flatMap(
          sqliteCorrupt(path.join(bad.dir, "tank.db")),
          (c) => c.podSpec(name, spec)
        )))
      const bothWays = async (invalid: ReadonlyArray<string>) => {
        for (const args of [["ps"], ["ps", "-o", "json"]]) {
          const line = ["--data-dir", bad.dir, ...args]
          // The quick bundle from its blob (ps.blob) and without it (its code cache), and the full CLI.
          const [quick, cached, full] = await Promise.all([
            runCli(cli.bin, line),
            runCli(cli.bin, line, { env: { TANK_NO_SNAPSHOT: "1" } }),
            runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } })
          ])
          // An invalid row's status is dated when it is read (Api's invalidStatus).
          const same = (out: string) => sameAge(out).replace(/"\d{4}-\d\d-\d\dT[\d:.]+Z"/g, "DATE")
          expect({ ...cached, stdout: same(cached.stdout) }).toEqual({ ...quick, stdout: same(quick.stdout) })
          for (const name of invalid) {
            expect(quick.stderr).toContain(`pods row "${name}"`)
            expect(quick.stdout).toMatch(
              args.length === 1
                ? new RegExp(`^${name} +invalid`, "m")
                : new RegExp(`"name": "${name}",(\\n.*){3}\\n *"phase": "invalid"`)
            )
          }
          expect({ ...quick, stdout: same(quick.stdout) }).toEqual({ ...full, stdout: same(full.stdout) })
        }
      }
      // Valid in every field ps shows, invalid as a Pod: ps must not list it as a normal pod while
      // `tank status`, `get` and `doctor` call it invalid.
      await corrupt("sly", { name: "sly", restart: "sometimes", containers: [{ name: "app", image: "busybox" }] })
      await bothWays(["sly"])
      // And one bad in a field ps shows.
      await corrupt("odd", { name: "odd", containers: [{ name: "app", image: "not a reference" }] })
      await bothWays(["sly", "odd"])
      // The quick path reads them itself (the Store's own decoder and reasons): no fallback to say.
      const traced = await runCli(cli.bin, ["--data-dir", bad.dir, "ps", "-o", "name"], { env: { TANK_DEBUG: "1" } })
      expect(traced.stderr).not.toContain("ps runs the full CLI")
      expect(traced.stdout).toContain("pod/sly\n")
      // A store of another schema version (a newer Tank's): the Store's call, so the full CLI's.
      await Effect.runPromise(Effect.scoped(Effect.flatMap(
        sqliteCorrupt(path.join(bad.dir, "tank.db")),
        (c) => Effect.orDie(c.sql.unsafe(`PRAGMA user_version = ${MIGRATIONS.length + 1}`))
      )))
      const line = ["--data-dir", bad.dir, "ps"]
      const [quick, full, why] = await Promise.all([
        runCli(cli.bin, line),
        runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } }),
        runCli(cli.bin, line, { env: { TANK_DEBUG: "1" } })
      ])
      // Said plainly, as any store error: both versions named, no defect's stack trace.
      const said = (r: typeof quick) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr })
      expect(said(quick)).toEqual(said(full))
      expect(full.stderr).toContain(
        `store schema version ${MIGRATIONS.length + 1} is newer than this Tank's (${MIGRATIONS.length})`
      )
      expect(full.stderr).not.toMatch(/\n\s+at /)
      expect(full.code).not.toBe(0)
      expect(why.stderr).toContain(
        `tank: debug: ps runs the full CLI: store schema version ${
          MIGRATIONS.length + 1
        }, this Tank's is ${MIGRATIONS.length}`
      )
    } finally {
      bad.cleanup()
    }
  })

  it("ps from its blob remembers proven specs; a remembered pod edited in place lists invalid, as the full CLI", async () => {
    const d = tempDataDir()
    try {
      const pod = { name: "ok", containers: [{ name: "app", image: "busybox" }] }
      const line = ["--data-dir", d.dir, "ps"]
      expect((await runCli(cli.bin, ["apply", "--data-dir", d.dir, "-f", "-"], { input: JSON.stringify(pod) })).code)
        .toBe(0)
      expect((await runCli(cli.bin, line)).stdout).toMatch(/^ok +pending/m)
      // The memo of this very bundle (the blob's tag is its digest), holding the one proven text.
      const memo = JSON.parse(fs.readFileSync(path.join(d.dir, "ps-memo.json"), "utf8")) as {
        tag: string
        specs: Array<string>
      }
      const bundle = fs.readFileSync(path.join(cli.dir, "dist", "quick-ps.cjs"))
      expect(memo.tag).toBe(createHash("sha256").update(bundle).digest("hex"))
      expect(memo.specs).toHaveLength(1)
      await Effect.runPromise(Effect.scoped(Effect.flatMap(
        sqliteCorrupt(path.join(d.dir, "tank.db")),
        (c) => c.podSpec("ok", { ...pod, restart: "sometimes" })
      )))
      const [quick, full] = await Promise.all([
        runCli(cli.bin, line),
        runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } })
      ])
      expect(quick.stdout).toMatch(/^ok +invalid/m)
      expect(quick.stderr).toContain(`pods row "ok" (revision 2) is invalid: restart`)
      expect({ ...quick, stdout: sameAge(quick.stdout) }).toEqual({ ...full, stdout: sameAge(full.stdout) })
    } finally {
      d.cleanup()
    }
  })

  it("ps's quick bundle runs without Effect's runtime: no layers, schedules, caches, platform or run.ts in it", () => {
    // A top-level Effect value in any module ps imports (an Effect.gen, a Layer, a Logger) brings
    // Effect's whole module and its runtime back into the bundle, evaluated and held in the blob at
    // every ps: its source map names every module the bundle holds.
    const map = JSON.parse(fs.readFileSync(path.join(cli.dir, "dist", "quick-ps.cjs.map"), "utf8")) as {
      sources: Array<string>
    }
    // Effect's own modules, by their path in the package (its source maps lead to src/*.ts).
    const held = map.sources.map((s) =>
      s.replace(/.*node_modules\//, "").replace(/(src|dist\/esm)\/(.*)\.[jt]s$/, "$2")
    )
    expect(held).toContain("effect/Schema")
    // (Schema's parser reaches parts of Effect's core: those stay. Layers, schedules and caches
    // came only with Effect's whole module.)
    for (const gone of ["effect/Layer", "effect/internal/layer", "effect/internal/schedule", "effect/internal/cache"]) {
      expect(held).not.toContain(gone)
    }
    expect(held.filter((s) => s.startsWith("@effect/"))).toEqual([])
    expect(held.filter((s) => /src\/cli\/(run|runServices)\.ts$/.test(s))).toEqual([])
  })

  it("ps reads a config file itself, and ends as the full CLI does when its reader leaves or its output fails", async () => {
    const d = tempDataDir()
    try {
      const pod = { name: "cfg", containers: [{ name: "app", image: "busybox" }] }
      expect((await runCli(cli.bin, ["apply", "--data-dir", d.dir, "-f", "-"], { input: JSON.stringify(pod) })).code)
        .toBe(0)
      fs.writeFileSync(path.join(d.dir, "config.yaml"), "node:\n  name: cfgnode\nstopPodsOnExit: true\n")
      const line = ["--data-dir", d.dir, "ps", "-o", "name"]
      const [quick, full] = await Promise.all([
        runCli(cli.bin, line, { env: { TANK_DEBUG: "1" } }),
        runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } })
      ])
      expect(quick.stderr).not.toContain("ps runs the full CLI")
      // The lite tier leaves a config file to the heavy one (quickPsLite.ts), and says so under TANK_DEBUG.
      expect(quick.stderr).toContain("tank: debug: ps's lite path hands the line to the heavy one: a config file")
      expect({ ...quick, stderr: quick.stderr.replace(/^tank: debug: .*\n/gm, "") }).toEqual(full)
      expect(quick.stdout).toBe("pod/cfg\n")
      // A config the full CLI rejects: the quick path hands the line over, so the error is the same.
      fs.writeFileSync(path.join(d.dir, "config.yaml"), "bogus: 1\n")
      const [badQuick, badFull] = await Promise.all([
        runCli(cli.bin, line),
        runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } })
      ])
      expect(badQuick).toEqual(badFull)
      expect(badQuick.code).toBe(1)
      fs.rmSync(path.join(d.dir, "config.yaml"))
      // A reader that left before ps wrote (EPIPE): quiet, status 0; an output that fails (ENOSPC):
      // said on stderr, status 1. Both as the full CLI.
      const sh = (env: string) =>
        runCli("/bin/bash", [
          "-c",
          `(sleep 0.5; ${env} "${cli.bin}" --data-dir "${d.dir}" ps) | true; echo "closed=\${PIPESTATUS[0]}"; ` +
          `${env} "${cli.bin}" --data-dir "${d.dir}" ps > /dev/full; echo "full=$?"`
        ])
      const [q, f] = await Promise.all([sh(""), sh("TANK_NO_QUICK=1")])
      expect(q.stdout).toBe("closed=0\nfull=1\n")
      expect(q).toEqual(f)
      expect(q.stderr).toMatch(/^tank: cannot write to stdout: ENOSPC/m)
    } finally {
      d.cleanup()
    }
  })
})
