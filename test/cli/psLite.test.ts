/**
 * ps's two tiers (src/cli/quickPsLite.ts, src/cli/quickPs.ts): the lite tier, started first by
 * bin/tank from dist/ps-lite.blob, lists a store only when ps's memo proves every spec and status
 * text; every other line goes whole to the heavy tier (ps.blob), which decodes, reports as the Store
 * does and proves the memo. TANK_DEBUG=1 says which tier served. Each case compares with the full CLI
 * (TANK_NO_QUICK=1), byte for byte but for AGE.
 */
import { Context, Effect, Layer } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodePod } from "../../src/spec/decode.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import type { PodStatus } from "../../src/store/status.js"
import { Store } from "../../src/store/Store.js"
import { sqliteCorrupt } from "../store/sqliteCorrupt.js"
import { buildCli, type Result, runCli, tempDataDir } from "./harness.js"

let cli: ReturnType<typeof buildCli>
beforeAll(() => {
  cli = buildCli({ snapshot: true })
})
afterAll(() => cli?.cleanup())

const SERVED = "tank: debug: ps served by its lite path"
const HANDED = "tank: debug: ps's lite path hands the line to the heavy one: "

// AGE moves on between two runs: "12s" and "13s" are the same table; an invalid row's status is
// dated when it is read (Api's invalidStatus).
const sameAge = (s: string) => s.replace(/\b\d+[smhd]\b/g, "AGE").replace(/"\d{4}-\d\d-\d\dT[\d:.]+Z"/g, "DATE")
const withoutDebug = (r: Result) => ({
  ...r,
  stdout: sameAge(r.stdout),
  stderr: r.stderr.replace(/^tank: debug: .*\n/gm, "")
})

/** The store's own writes: specs and statuses in their canonical text, as the agent writes them. */
const store = (dir: string, f: (s: Context.Tag.Service<typeof Store>) => Effect.Effect<unknown, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    yield* f(Context.get(yield* Layer.build(layerSqlite(path.join(dir, "tank.db"))), Store))
  })))

const at = "2026-01-01T00:00:00.000Z"
const running = (name: string, restarts = 0): PodStatus => ({
  name,
  phase: "running",
  restarts,
  specRevision: 1,
  updatedAt: at,
  startedAt: at,
  hostPid: 4242,
  addresses: ["10.88.0.2"]
})

/** `ps ARGS` through bin/tank with TANK_DEBUG=1, and through the full CLI. */
const both = async (dir: string, args: ReadonlyArray<string>) => {
  const line = ["--data-dir", dir, ...args]
  const [quick, full] = await Promise.all([
    runCli(cli.bin, line, { env: { TANK_DEBUG: "1" } }),
    runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1" } })
  ])
  expect(withoutDebug(quick)).toEqual(withoutDebug(full))
  return quick
}

const served = (r: Result) => expect(r.stderr).toContain(SERVED)
const handedOver = (r: Result, why: string) => {
  expect(r.stderr).not.toContain(SERVED)
  expect(r.stderr).toContain(HANDED + why)
}

describe("ps's lite tier", () => {
  let d: ReturnType<typeof tempDataDir>
  beforeAll(async () => {
    d = tempDataDir()
    await store(d.dir, (s) =>
      Effect.gen(function*() {
        for (
          const spec of [
            { name: "web", labels: { app: "web" }, containers: [{ name: "app", image: "busybox" }] },
            {
              name: "probed",
              containers: [{ name: "app", image: "busybox", readinessProbe: { exec: { command: ["true"] } } }],
              network: { nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 80, hostPort: 18080 }] }
            }
          ]
        ) yield* s.put(yield* decodePod(spec))
        yield* s.putStatus(running("web"))
      }))
  })
  afterAll(() => d?.cleanup())

  it("serves a warm store, in every format but yaml, as the full CLI prints it", async () => {
    // The first ps after a change: the heavy tier decodes and proves the memo.
    handedOver(await both(d.dir, ["ps"]), `the spec of "probed" is not in the memo`)
    const memo = JSON.parse(fs.readFileSync(path.join(d.dir, "ps-memo.json"), "utf8")) as {
      specs: Array<string>
      statuses: Array<string>
    }
    expect([memo.specs.length, memo.statuses.length]).toEqual([2, 1])
    for (
      const args of [["ps"], ["list"], ["ps", "-o", "wide"], ["ps", "-o", "json"], ["ps", "-o", "name"], ["ps", "-q"]]
    ) {
      served(await both(d.dir, args))
    }
    // A well-formed -l: filtered here; a malformed one and -o yaml: the heavy tier's (InvalidSelector is
    // a Schema error; yaml's printer is loaded lazily).
    for (const selector of ["app=web", "app!=web", "app in (web,db)", "app notin (web)", "app", "!app"]) {
      served(await both(d.dir, ["ps", "-l", selector]))
    }
    expect((await both(d.dir, ["ps", "-o", "name", "-l", "app=web"])).stdout).toBe("pod/web\n")
    handedOver(await both(d.dir, ["ps", "-l", "app in (web"]), "a malformed selector")
    handedOver(await both(d.dir, ["ps", "-l", "app=web,"]), "a malformed selector")
    handedOver(await both(d.dir, ["ps", "-o", "yaml"]), "-o yaml")
    // Lines @effect/cli judges: the same output and exit code through both tiers.
    for (const args of [["ps", "--bogus"], ["ps", "--help"], ["list", "-o", "bogus"]]) {
      handedOver(await both(d.dir, args), "a line the quick path leaves to @effect/cli")
    }
  })

  it("hands over a status or a spec it has not seen, then serves them once proven", async () => {
    await store(d.dir, (s) => s.putStatus(running("probed", 3)))
    handedOver(await both(d.dir, ["ps"]), `the status of "probed" is not in the memo`)
    served(await both(d.dir, ["ps", "-o", "json"]))
    await store(
      d.dir,
      (s) => Effect.flatMap(decodePod({ name: "new", containers: [{ name: "a", image: "alpine" }] }), s.put)
    )
    handedOver(await both(d.dir, ["ps"]), `the spec of "new" is not in the memo`)
    served(await both(d.dir, ["ps"]))
  })

  it("hands over a memo of another build: the heavy tier rewrites it under its own digest", async () => {
    const file = path.join(d.dir, "ps-memo.json")
    const memo = JSON.parse(fs.readFileSync(file, "utf8")) as { tag: string }
    fs.writeFileSync(file, JSON.stringify({ ...memo, tag: "another build" }), { mode: 0o600 })
    handedOver(await both(d.dir, ["ps"]), "the spec of")
    expect((JSON.parse(fs.readFileSync(file, "utf8")) as { tag: string }).tag).toBe(memo.tag)
    served(await both(d.dir, ["ps"]))
  })

  it("runs without NODE_EXTRA_CA_CERTS, which a line handed over gets back only when it may reach etcd", async () => {
    // node reads that file as it starts and warns when it cannot: the warning shows who had the variable.
    const missing = path.join(d.dir, "no-such-ca.pem")
    const warning = `Ignoring extra certs from \`${missing}\``
    const run = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: missing }) =>
      runCli(cli.bin, ["--data-dir", d.dir, ...args], { env: { TANK_DEBUG: "1", ...env } })
    const lite = await run(["ps"])
    served(lite)
    expect(lite.stderr).not.toContain(warning)
    // Handed over, a local line: the heavy tier (and the full CLI it runs -o yaml and help in) reads
    // the same local store, without the variable either.
    for (const args of [["ps", "-o", "yaml"], ["ps", "--help"]]) {
      const heavy = await run(args)
      expect(heavy.stderr).toContain(HANDED)
      expect(heavy.stderr).not.toContain(warning)
      expect(heavy.code, heavy.stderr).toBe(0)
    }
    // A line that may reach etcd (a config file could name it): given back, read once.
    const config = path.join(d.dir, "other-config.yaml")
    fs.writeFileSync(config, "stopPodsOnExit: true\n")
    try {
      for (const args of [["ps"], ["ps", "-o", "yaml"]]) {
        const heavy = await run(args, { NODE_EXTRA_CA_CERTS: missing, TANK_CONFIG: config })
        expect(heavy.stderr).toContain(HANDED)
        expect(heavy.stderr.split(warning).length - 1, heavy.stderr).toBe(1)
        expect(heavy.code, heavy.stderr).toBe(0)
      }
    } finally {
      fs.rmSync(config, { force: true })
    }
    // Where bin/tank keeps it means nothing set by itself.
    const stray = await run(["ps", "-o", "yaml"], {
      NODE_EXTRA_CA_CERTS: undefined,
      TANK_PS_EXTRA_CA_CERTS: missing,
      TANK_CONFIG: config
    })
    expect(stray.stderr).not.toContain(warning)
  })

  it("ends as the heavy tier ends: a signal sent to it reaches the child, ^C reaches both once", async () => {
    /** `ps -w` (the heavy tier's, through the full CLI), once it listed; its pid and its child's. */
    const watching = async () => {
      const p = spawn(cli.bin, ["--data-dir", d.dir, "ps", "-w"], { stdio: ["ignore", "pipe", "ignore"] })
      await new Promise((listed) => p.stdout.once("data", listed))
      const child = Number(execFileSync("pgrep", ["-P", String(p.pid)], { encoding: "utf8" }).trim())
      const ended = new Promise<[number | null, NodeJS.Signals | null]>((end) =>
        p.on("exit", (code, signal) => end([code, signal]))
      )
      return { pid: p.pid!, child, ended }
    }
    const gone = (pid: number) => !fs.existsSync(`/proc/${pid}`)
    // TERM to the lite tier alone (timeout, a supervisor): passed on; ps -w ends 0 as before.
    const term = await watching()
    process.kill(term.pid, "SIGTERM")
    expect(await term.ended).toEqual([0, null])
    expect(gone(term.child)).toBe(true)
    // HUP: the child dies of it, and so does the lite tier.
    const hup = await watching()
    process.kill(hup.pid, "SIGHUP")
    expect(await hup.ended).toEqual([null, "SIGHUP"])
    // ^C: the terminal signals both; the child has it once and ends 0.
    const int = await watching()
    process.kill(int.pid, "SIGINT")
    process.kill(int.child, "SIGINT")
    expect(await int.ended).toEqual([0, null])
    expect(gone(int.child)).toBe(true)
  })

  it("hands over a config file, and a setting of the environment the config judges", async () => {
    fs.writeFileSync(path.join(d.dir, "config.yaml"), "stopPodsOnExit: true\n")
    try {
      handedOver(await both(d.dir, ["ps"]), "a config file to decode")
    } finally {
      fs.rmSync(path.join(d.dir, "config.yaml"))
    }
    const line = ["--data-dir", d.dir, "ps"]
    const [quick, full] = await Promise.all([
      runCli(cli.bin, line, { env: { TANK_DEBUG: "1", TANK_DNS: "not-an-address" } }),
      runCli(cli.bin, line, { env: { TANK_NO_QUICK: "1", TANK_DNS: "not-an-address" } })
    ])
    handedOver(quick, "TANK_DNS is set")
    expect(withoutDebug(quick)).toEqual(withoutDebug(full))
    expect(full.code).toBe(1)
  })
})

describe("ps's lite tier and rows the Store calls invalid", () => {
  it("hands over a hand-edited row, reported invalid by the heavy tier as by the full CLI, at every run", async () => {
    const d = tempDataDir()
    try {
      const pod = { name: "ok", containers: [{ name: "app", image: "busybox" }] }
      await store(d.dir, (s) => Effect.flatMap(decodePod(pod), s.put))
      await both(d.dir, ["ps"])
      served(await both(d.dir, ["ps"]))
      // Edited in place: a text the memo does not hold.
      await Effect.runPromise(Effect.scoped(Effect.flatMap(
        sqliteCorrupt(path.join(d.dir, "tank.db")),
        (c) => c.podSpec("ok", { ...pod, restart: "sometimes" })
      )))
      for (let i = 0; i < 2; i++) {
        const r = await both(d.dir, ["ps"])
        handedOver(r, `the spec of "ok" is not in the memo`)
        expect(r.stdout).toMatch(/^ok +invalid/m)
        expect(r.stderr).toContain(`pods row "ok" (revision 2) is invalid: restart`)
      }
      // A status the Store rejects (not its key's), never proven either.
      await Effect.runPromise(Effect.scoped(Effect.flatMap(
        sqliteCorrupt(path.join(d.dir, "tank.db")),
        (c) => c.status("ghost", JSON.stringify(running("other")))
      )))
      handedOver(await both(d.dir, ["ps", "-o", "json"]), "the spec of")
    } finally {
      d.cleanup()
    }
  })

  it("a memo holding an invalid text is trusted only when this user alone can write it (as before)", async () => {
    const d = tempDataDir()
    try {
      const pod = { name: "sly", containers: [{ name: "app", image: "busybox" }] }
      await store(d.dir, (s) => Effect.flatMap(decodePod(pod), s.put))
      await both(d.dir, ["ps"])
      const file = path.join(d.dir, "ps-memo.json")
      const memo = JSON.parse(fs.readFileSync(file, "utf8")) as { tag: string; specs: Array<string> }
      const bad = JSON.stringify({ ...pod, restart: "sometimes" })
      await Effect.runPromise(Effect.scoped(Effect.flatMap(
        sqliteCorrupt(path.join(d.dir, "tank.db")),
        (c) => c.podRaw("sly", bad)
      )))
      // A forged memo holding the invalid text, written by someone else: group/world writable, or
      // another owner. Neither tier trusts it: the row is reported invalid, as by the full CLI.
      const forge = (mode: number, uid: number) => {
        fs.rmSync(file, { force: true })
        fs.writeFileSync(file, JSON.stringify({ ...memo, specs: [bad] }), { mode })
        fs.chmodSync(file, mode)
        fs.chownSync(file, uid, uid)
      }
      const euid = process.geteuid!()
      for (const [mode, uid] of [[0o622, euid], [0o600, euid === 0 ? 65534 : euid + 1]] as const) {
        if (uid !== euid && euid !== 0) continue // only root can give a file away
        forge(mode, uid)
        const r = await both(d.dir, ["ps"])
        handedOver(r, `the spec of "sly" is not in the memo`)
        expect(r.stdout).toMatch(/^sly +invalid/m)
      }
    } finally {
      d.cleanup()
    }
  })
})

describe("ps's lite bundle", () => {
  it("holds no Schema (nor ParseResult): the build refuses one that does, this checks the map", () => {
    const map = JSON.parse(fs.readFileSync(path.join(cli.dir, "dist", "quick-ps-lite.cjs.map"), "utf8")) as {
      sources: Array<string>
    }
    const held = map.sources.map((s) => s.replace(/.*node_modules\//, ""))
    expect(held).toContain("effect/src/Option.ts")
    expect(held.filter((s) => /^effect\/src\/(Schema|ParseResult|SchemaAST|internal\/schema\/)/.test(s))).toEqual([])
    expect(held.filter((s) => /^effect\/src\/(Effect|Layer|internal\/core)\b/.test(s))).toEqual([])
    expect(fs.existsSync(path.join(cli.dir, "dist", "ps-lite.blob"))).toBe(true)
  })
})
