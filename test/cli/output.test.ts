/**
 * Issue 20: `-o table|wide|json|yaml|name` (and `--json`, `ps -q`) on the listing commands, and help
 * without @effect/cli's filler, through the real bundled CLI. No agent: the store is the API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { buildCli, shell, tempDataDir, withoutAgentWarning } from "./harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
beforeAll(async () => {
  cli = buildCli()
  data = tempDataDir()
  const pods = ["web", "db"].map((name) => ({
    name,
    labels: { app: name },
    containers: [{ name: "app", image: "127.0.0.1:5000/tank/busybox:latest" }]
  }))
  const r = await sh(`echo '${JSON.stringify(pods)}' | $TANK apply -f -`)
  expect(r.code, r.stderr).toBe(0)
}, 60_000)
afterAll(() => {
  cli?.cleanup()
  data?.cleanup()
})

const sh = (cmd: string) => shell(cli.entry, data.dir, cmd)
const ok = async (cmd: string) => {
  const r = await sh(cmd)
  expect(r.code, r.stderr).toBe(0)
  expect(withoutAgentWarning(r.stderr)).toBe("")
  return r.stdout
}

describe("-o on listing commands", () => {
  it("ps: name, -q, json = --json, yaml, wide", async () => {
    expect(await ok(`$TANK ps -o name`)).toBe("pod/db\npod/web\n")
    expect(await ok(`$TANK ps -q`)).toBe("db\nweb\n")
    const json = JSON.parse(await ok(`$TANK ps -o json`))
    expect(JSON.parse(await ok(`$TANK ps --json`)).map((p: { name: string }) => p.name)).toEqual(["db", "web"])
    expect(json.map((p: { name: string; phase: string }) => `${p.name} ${p.phase}`)).toEqual([
      "db pending",
      "web pending"
    ])
    const yaml = YAML.parse(await ok(`$TANK ps -o yaml`))
    expect(yaml.map((p: { labels: unknown }) => p.labels)).toEqual([{ app: "db" }, { app: "web" }])
    const wide = await ok(`$TANK ps -o wide`)
    expect(wide.split("\n")[0]).toMatch(/ LABELS\s+REASON$/)
    expect(wide).toMatch(/^web\s.*app=web\s+-$/m)
  }, 60_000)

  it("get, status, events: name / json / yaml / table", async () => {
    expect(await ok(`$TANK get -o name`)).toBe("pod/db\npod/web\n")
    expect(await ok(`$TANK get -o wide -l app=web`)).toMatch(
      /^NAME\s+IMAGES\s+LABELS\nweb\s+127\.0\.0\.1:5000\/tank\/busybox:latest\s+app=web\n$/
    )
    expect(YAML.parse(await ok(`$TANK get web`)).name).toBe("web")
    expect(await ok(`$TANK status -o name`)).toBe("pod/db\npod/web\n")
    expect(YAML.parse(await ok(`$TANK status web -o yaml`)).phase).toBe("pending")
    const lines = (await ok(`$TANK events -o json`)).trim().split("\n").map((l) => JSON.parse(l) as { type: string })
    expect(lines.map((e) => e.type)).toEqual(["applied", "applied"])
    const docs = YAML.parseAllDocuments(await ok(`$TANK events -o yaml`)).map((d) => d.toJS() as { pod: string })
    expect(docs.map((d) => d.pod).sort()).toEqual(["db", "web"])
    expect(await ok(`$TANK events -o name`)).toMatch(/^event\/\d+\nevent\/\d+\n$/)
  }, 60_000)

  it("get -w: the listing, then each stored spec of the selected pods and their deletion, as they happen", async () => {
    const pod = JSON.stringify({
      name: "late",
      labels: { app: "new" },
      containers: [{ name: "app", image: "127.0.0.1:5000/tank/busybox:latest" }]
    })
    const other = pod.replace(/late/, "other").replace(/"new"/, "\"old\"")
    const r = await sh(
      `$TANK get -w -o json -l app=new > ${data.dir}/watch.out & W=$!; sleep 1.5; ` +
        `echo '${pod}' | $TANK apply -f - >/dev/null; echo '${other}' | $TANK apply -f - >/dev/null; ` +
        `$TANK delete late other >/dev/null; sleep 1; kill $W; cat ${data.dir}/watch.out`
    )
    const [listing, ...changes] = r.stdout.split("\n").filter(Boolean).join("\n").replace(/^\[\]\n/, "[]\n").split("\n")
    expect(listing).toBe("[]")
    expect(
      changes.map((l) => JSON.parse(l) as { name: string; deleted?: boolean }).map((c) =>
        `${c.name}${c.deleted ? " deleted" : ""}`
      )
    )
      .toEqual(["late", "late deleted"])
  }, 60_000)

  it("a reader that stops early ends a formatted listing quietly (exit 0)", async () => {
    const r = await sh(`$TANK ps -o yaml | head -c 1; echo " status=\${PIPESTATUS[0]}"`)
    expect(r.stdout).toMatch(/ status=0\n$/)
    expect(withoutAgentWarning(r.stderr)).toBe("")
  }, 60_000)
})

describe("help", () => {
  it("has no @effect/cli filler and no --wizard/--completions", async () => {
    // The root's help without --data-dir (the bare command, as a user types `tank --help`).
    for (const cmd of ["${TANK%% --data-dir*} --help", "$TANK ps --help", "$TANK wait --help", "$TANK get --help"]) {
      const text = await ok(cmd)
      expect(text, cmd).not.toMatch(
        /A user-defined piece of text|A true or false value|This setting is optional|One of the following/
      )
      expect(text, cmd).not.toMatch(/--wizard|--completions/)
      expect(text, cmd).toMatch(/EXAMPLES|QUICK START/)
    }
  }, 60_000)
})
