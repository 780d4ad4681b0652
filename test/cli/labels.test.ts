/**
 * Issue 20, labels and `-l` through the real bundled CLI and real pipes: pods declared with labels,
 * then `ps`, `get`, `wait`, `restart` and `delete` pick exactly the pods the selector matches.
 * No agent (the store is the API; `wait --for deleted` of pods never run is met once they are deleted).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCli, shell, tempDataDir, withoutAgentWarning } from "./harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
beforeAll(() => {
  cli = buildCli()
  data = tempDataDir()
})
afterAll(() => {
  cli?.cleanup()
  data?.cleanup()
})

const sh = (cmd: string) => shell(cli.entry, data.dir, cmd)

const pod = (name: string, labels: Record<string, string>) =>
  JSON.stringify({ name, labels, containers: [{ name: "app", image: "127.0.0.1:5000/tank/busybox:latest" }] })

const names = (json: string) => (JSON.parse(json) as ReadonlyArray<{ name: string }>).map((p) => p.name)

describe("labels and -l selectors (CLI)", () => {
  it("ps, get, restart, wait and delete act on exactly the pods the selector picks", async () => {
    const docs = [
      pod("web", { app: "web", tier: "front", env: "prod" }),
      pod("api", { app: "api", tier: "back", env: "staging" }),
      pod("db", { app: "db", tier: "back", env: "prod" }),
      pod("tmp", {})
    ].join("\n")
    // A late writer, as users pipe: the pods arrive after apply has started.
    const applied = await sh(`(sleep 0.3; echo '[${docs.split("\n").join(",")}]') | $TANK apply -f -`)
    expect(applied.code, applied.stderr).toBe(0)

    const ps = await sh(`$TANK ps --json -l 'tier=back,env in (prod,staging)'`)
    expect(ps.code, ps.stderr).toBe(0)
    expect(names(ps.stdout)).toEqual(["api", "db"])
    const table = await sh(`$TANK ps -l 'env!=prod'`)
    expect(table.stdout.split("\n").slice(1).filter(Boolean).map((l) => l.split(/\s+/)[0])).toEqual(["api", "tmp"])

    const get = await sh(`$TANK get -o json -l '!tier'`)
    expect(names(get.stdout)).toEqual(["tmp"])
    expect(JSON.parse(get.stdout)[0].labels).toBeUndefined()
    const labelled = await sh(`$TANK get web -o json`)
    expect(JSON.parse(labelled.stdout).labels).toEqual({ app: "web", tier: "front", env: "prod" })

    const restart = await sh(`$TANK restart -l app=web`)
    expect(restart.stdout).toBe("pod/web restart requested\n")
    const none = await sh(`$TANK restart -l app=nothing`)
    expect(none.code).toBe(1)
    expect(none.stderr).toBe("tank: no pod matches the selector\n")

    const bad = await sh(`$TANK ps -l 'app=web,,x'`)
    expect(bad.code).toBe(1)
    expect(withoutAgentWarning(bad.stderr)).toBe(
      `tank: label selector "app=web,,x": "": empty requirement (a stray comma?)\n`
    )

    const del = await sh(`$TANK delete -l tier=back`)
    expect(del.code, del.stderr).toBe(0)
    expect(del.stdout).toBe("pod/api deleted\npod/db deleted\n")
    // Nothing ran them: their statuses are gone as soon as they are deleted.
    const waited = await sh(`$TANK wait --for deleted api db`)
    expect(waited.code, waited.stderr).toBe(0)
    const left = await sh(`$TANK get -o json`)
    expect(names(left.stdout)).toEqual(["tmp", "web"])
  }, 60_000)
})
