/**
 * The CLI with unreadable rows in tank.db (written with the project's own SQLite client, as another
 * writer's bug or disk damage would leave them): ps, status, get and events list everything readable,
 * name each bad row on stderr and exit 0; `tank get BAD` fails naming the row; `tank doctor` lists the
 * rows (exit 1 while any remain) and removes them: statuses and events with --fix, a pod's only when
 * named with --remove.
 */
import { Effect } from "effect"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sqliteCorrupt } from "../store/sqliteCorrupt.js"
import { buildCli, runCli, tempDataDir } from "./harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
const tank = (args: ReadonlyArray<string>) => runCli(cli.entry, ["--data-dir", data.dir, ...args])

/** Corrupt the data dir's store from this process, then close the connection. */
const corrupt = (f: (c: Effect.Effect.Success<ReturnType<typeof sqliteCorrupt>>) => Effect.Effect<void>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(sqliteCorrupt(path.join(data.dir, "tank.db")), f)))

beforeAll(async () => {
  cli = buildCli()
  data = tempDataDir()
  const pods = ["web", "db", "bad"].map((name) =>
    JSON.stringify({ name, containers: [{ name: "app", image: "busybox" }] })
  )
  const r = await runCli(cli.entry, ["--data-dir", data.dir, "apply", "-f", "-"], { input: `[${pods.join(",")}]` })
  expect(r.code, r.stderr).toBe(0)
  await corrupt((c) =>
    Effect.gen(function*() {
      yield* c.podRaw("bad", "\u001b[2J this is not a pod")
      yield* c.podSpec("shadow", { name: "web", containers: [{ name: "app", image: "busybox" }] })
      yield* c.status("db", "{ broken")
      yield* c.event("not an event")
    })
  )
}, 60_000)
afterAll(() => {
  cli?.cleanup()
  data?.cleanup()
})

describe("listing with unreadable rows", () => {
  it("ps shows every pod, the bad ones as invalid; each bad row is named on stderr; exit 0", async () => {
    const r = await tank(["ps"])
    expect(r.code, r.stderr).toBe(0)
    const phase = (name: string) => r.stdout.split("\n").find((l) => l.startsWith(`${name} `))?.split(/\s{2,}/)[1]
    expect([phase("web"), phase("db"), phase("bad"), phase("shadow")]).toEqual([
      "pending",
      "invalid",
      "invalid",
      "invalid"
    ])
    expect(r.stderr).toContain(`tank: warning: pods row "bad" (revision 4) is invalid: not JSON`)
    expect(r.stderr).toContain(
      `pods row "shadow" (revision 5) is invalid: the spec's name "web" is not its key "shadow"`
    )
    expect(r.stderr).toContain(`status row "db" is invalid`)
    // The garbage's escape sequence is never echoed raw.
    expect(r.stdout + r.stderr).not.toContain("\u001b")
    const json = await tank(["ps", "--json"])
    expect(json.code).toBe(0)
    const rows = JSON.parse(json.stdout) as Array<{ name: string; phase: string; reason?: string; declared: boolean }>
    expect(rows.map((x) => [x.name, x.phase, x.declared])).toEqual([
      ["bad", "invalid", true],
      ["db", "invalid", true],
      ["shadow", "invalid", true],
      ["web", "pending", true]
    ])
    expect(rows[0]!.reason).toContain("tank doctor")
  })

  it("status lists all and status of a bad pod reads invalid", async () => {
    const all = await tank(["status"])
    expect(all.code, all.stderr).toBe(0)
    expect(all.stdout).toMatch(/Name:\s+bad\nPhase:\s+invalid/)
    const one = await tank(["status", "bad", "--json"])
    expect(one.code, one.stderr).toBe(0)
    expect(JSON.parse(one.stdout).phase).toBe("invalid")
  })

  it("get prints the readable specs and names the bad rows; get of a bad pod fails naming its row", async () => {
    const all = await tank(["get", "-o", "json"])
    expect(all.code, all.stderr).toBe(0)
    expect((JSON.parse(all.stdout) as Array<{ name: string }>).map((p) => p.name)).toEqual(["db", "web"])
    expect(all.stderr).toContain(`pods row "bad"`)
    const one = await tank(["get", "bad"])
    expect(one.code).toBe(1)
    expect(one.stderr).toMatch(/^tank: pods row "bad" \(revision 4\) is invalid: not JSON/)
    expect(one.stderr).not.toContain("internal error")
  })

  it("events prints the readable events and names the bad one", async () => {
    const r = await tank(["events"])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain("applied")
    expect(r.stderr).toMatch(/tank: warning: events row \d+ \(revision \d+\) is invalid: .*skipped; see tank doctor/)
  })
})

describe("what depends on every pod's spec", () => {
  it("prune --all refuses while a pod's record is unreadable (its images may be in use)", async () => {
    const r = await tank(["prune", "--all"])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`pods row "bad" (revision 4) is invalid: not JSON`)
    expect(r.stderr).toContain("cannot tell which images it uses")
  })
})

describe("tank doctor", () => {
  it("lists, fixes the derived rows, removes a named pod's row, and exits 0 only once none remain", async () => {
    const list = await tank(["doctor"])
    expect(list.code).toBe(1)
    for (const w of [`pods row "bad"`, `pods row "shadow"`, `status row "db"`, "events row"]) {
      expect(list.stdout).toContain(w)
    }
    expect(list.stdout).toContain("tank doctor --remove bad")
    const json = JSON.parse((await tank(["doctor", "--json"])).stdout) as { found: Array<{ kind: string }> }
    expect(json.found.map((r) => r.kind)).toEqual(["pod", "pod", "status", "event"])

    // A readable pod is refused: doctor only removes invalid records.
    const good = await tank(["doctor", "--remove", "web"])
    expect(good.code).toBe(1)
    expect(good.stderr).toContain(`pod "web" has no invalid record to remove`)

    const fix = await tank(["doctor", "--fix"])
    expect(fix.code).toBe(1) // the pods rows are desired state: still there
    expect(fix.stdout).toContain(`removed status row "db"`)
    expect(fix.stdout).toMatch(/removed events row \d+/)
    expect((await tank(["events"])).stderr).toBe("")
    const remove = await tank(["doctor", "--remove", "bad", "--remove", "shadow"])
    expect(remove.code, remove.stdout + remove.stderr).toBe(0)
    expect(remove.stdout).toContain(`removed pods row "bad"`)
    const clean = await tank(["doctor"])
    expect([clean.code, clean.stdout]).toEqual([0, "no invalid records\n"])
    const ps = await tank(["ps"])
    expect(ps.stderr).not.toContain("invalid")
    expect(ps.stdout).not.toContain("bad")
  })
})
