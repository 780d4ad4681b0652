/**
 * The CLI's pure parts: spec files (multi-doc YAML, JSON arrays, `{ pods }` lists, locations),
 * table/age formatting, the pull progress view (plain lines and terminal bars), and exec's
 * NODE_EXTRA_CA_CERTS hand-back.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { mayUseEtcd, MOVED_EXTRA_CA_CERTS, withExtraCaCertsBack } from "../../src/cli/extraCaCerts.js"
import { psTable } from "../../src/cli/ps.js"
import { PullView, shortDigest } from "../../src/cli/pullView.js"
import { parseSpecFile } from "../../src/cli/specFile.js"
import { statusText } from "../../src/cli/status.js"
import { describeExit, formatAge, formatBytes, renderTable, shortExit } from "../../src/cli/table.js"
import { PullEvent } from "../../src/image/progress.js"

const right = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`expected Right, got ${String(e.left)}`)
  return e.right
}

describe("parseSpecFile", () => {
  it("splits YAML documents and records document numbers and lines", () => {
    const entries = right(parseSpecFile("name: a\n---\n# comment\nname: b\n---\n", "f.yaml"))
    expect(entries.map((e) => [e.spec, e.where, e.line])).toEqual([
      [{ name: "a" }, "document 1", 1],
      [{ name: "b" }, "document 2", 4]
    ])
  })

  it("flattens a JSON array and a { pods: [...] } list", () => {
    const arr = right(parseSpecFile(`[{"name":"a"},\n {"name":"b"}]`, "f.json"))
    expect(arr.map((e) => [e.where, e.line])).toEqual([["document 1, item 1", 1], ["document 1, item 2", 2]])
    const list = right(parseSpecFile("pods:\n  - name: a\n  - name: b\n", "f.yaml"))
    expect(list.map((e) => [e.spec, e.where, e.line])).toEqual([
      [{ name: "a" }, "document 1, pods[0]", 2],
      [{ name: "b" }, "document 1, pods[1]", 3]
    ])
  })

  it("an empty file has no pods; a scalar document is an error naming the document", () => {
    expect(right(parseSpecFile("# nothing\n", "f"))).toEqual([])
    const bad = parseSpecFile("name: a\n---\n42\n", "f.yaml")
    expect(Either.isLeft(bad) && bad.left.message).toBe(
      "f.yaml: document 2: expected a pod (a mapping), a list of pods or { pods: [...] }, got number"
    )
  })

  it("syntax errors and duplicate keys name the line", () => {
    const bad = parseSpecFile("name: a\ncontainers: [\n", "f.yaml")
    expect(Either.isLeft(bad) && bad.left.message).toMatch(/^f\.yaml: line \d+, column \d+: not valid YAML\/JSON: /)
    const dup = parseSpecFile("name: a\nname: b\n", "f.yaml")
    expect(Either.isLeft(dup) && dup.left.message).toMatch(/^f\.yaml: line 2, column 1: .*[Mm]ap keys must be unique/)
  })
})

describe("tables and ages", () => {
  it("aligns columns without trailing blanks", () => {
    expect(renderTable(["A", "BB", "C"], [["xxx", "y", ""], ["z", "", "w"]])).toBe(
      "A     BB   C\nxxx   y\nz          w\n"
    )
  })

  it("formats ages like kubectl and bytes like docker", () => {
    expect([0, 59_999, 119_000, 120_000, 7_199_000, 7_200_000, 172_800_000, -5].map(formatAge)).toEqual([
      "0s",
      "59s",
      "119s",
      "2m",
      "119m",
      "2h",
      "2d",
      "0s"
    ])
    expect([0, 999, 1000, 12_345, 1_234_567, 987_654_321].map(formatBytes)).toEqual([
      "0B",
      "999B",
      "1.00kB",
      "12.3kB",
      "1.23MB",
      "988MB"
    ])
  })

  it("describes exits", () => {
    expect(shortExit({ code: 0 })).toBe("0")
    expect(shortExit({ signal: 9, oomKilled: true })).toBe("SIGKILL (OOM)")
    expect(shortExit({ setupError: { step: "image", message: "not found" } })).toBe("setup: image")
    expect(describeExit({ code: 3 })).toBe("code 3")
    expect(describeExit({ setupError: { step: "image", message: "not found" } })).toBe(
      "setup failed at image: not found"
    )
  })

  it("ps table: phase, age from startedAt else the declaration, image of the first container", () => {
    const now = Date.parse("2026-11-23T12:10:00Z")
    const spec = (image: unknown) => ({ containers: [{ image }] }) as never
    const out = psTable([
      {
        status: {
          name: "web",
          phase: "running",
          restarts: 2,
          specRevision: 3,
          hostPid: 4242,
          startedAt: "2026-11-23T12:05:00Z",
          addresses: ["10.0.0.5/24"],
          lastExit: { code: 1, at: "2026-11-23T12:04:59Z" },
          updatedAt: "x"
        },
        spec: spec("reg/web:1"),
        declaredAt: "2026-11-23T11:00:00Z"
      },
      {
        status: { name: "new", phase: "pending", restarts: 0, specRevision: 4, updatedAt: "x" },
        spec: spec({ rootfs: "/srv/r" }),
        declaredAt: "2026-11-23T12:09:30Z"
      },
      {
        status: { name: "old", phase: "stopping", restarts: 0, specRevision: 1, updatedAt: "x" },
        spec: undefined,
        declaredAt: undefined
      },
      {
        status: {
          name: "duo",
          phase: "running",
          restarts: 1,
          specRevision: 5,
          startedAt: "2026-11-23T12:09:00Z",
          containers: [
            { name: "web", state: "running", restarts: 0 },
            { name: "side", state: "backing-off", restarts: 1 }
          ],
          updatedAt: "x"
        },
        spec: { containers: [{ image: "reg/web:1" }, { image: "reg/side:1" }] } as never,
        declaredAt: "2026-11-23T12:08:00Z"
      }
    ], now)
    expect(out.split("\n").map((l) => l.split(/\s{3,}/))).toEqual([
      ["NAME", "PHASE", "RESTARTS", "AGE", "IMAGE", "ADDRESSES", "HOST PID", "LAST EXIT"],
      ["web", "running", "2", "5m", "reg/web:1", "10.0.0.5/24", "4242", "1"],
      ["new", "pending", "0", "30s", "rootfs:/srv/r", "-", "-", "-"],
      ["old", "stopping", "0", "-", "-", "-", "-", "-"],
      ["duo", "running 1/2", "1", "60s", "reg/web:1 (+1)", "-", "-", "-"],
      [""]
    ])
  })

  it("status text lists only known fields", () => {
    const text = statusText({
      name: "web",
      phase: "backing-off",
      restarts: 1,
      specRevision: 2,
      nextRestartAt: "2026-11-23T12:00:10Z",
      lastExit: { signal: 9, at: "2026-11-23T12:00:00Z" },
      updatedAt: "2026-11-23T12:00:00Z"
    }, Date.parse("2026-11-23T12:00:05Z"))
    expect(text).toContain("Phase:         backing-off\n")
    expect(text).toContain("Last exit:     SIGKILL at 2026-11-23T12:00:00Z\n")
    expect(text).toContain("Next restart:  2026-11-23T12:00:10Z\n")
    expect(text).not.toContain("Host PID")
    expect(text).not.toContain("Containers")
  })

  it("status text of a pod with several containers has a row per container", () => {
    const text = statusText({
      name: "duo",
      phase: "running",
      restarts: 2,
      specRevision: 2,
      hostPid: 100,
      containers: [
        { name: "web", state: "running", restarts: 0, hostPid: 100, startedAt: "2026-11-23T12:00:00Z" },
        {
          name: "side",
          state: "backing-off",
          restarts: 2,
          lastExit: { code: 1, at: "2026-11-23T12:00:03Z" },
          nextRestartAt: "2026-11-23T12:00:23Z"
        }
      ],
      updatedAt: "2026-11-23T12:00:03Z"
    }, Date.parse("2026-11-23T12:00:05Z"))
    const lines = text.split("\n")
    const at = lines.indexOf("Containers:")
    expect(at).toBeGreaterThan(0)
    expect(lines.slice(at + 1, at + 4).map((l) => l.trim().split(/\s+/))).toEqual([
      ["NAME", "STATE", "READY", "HEALTH", "RESTARTS", "AGE", "HOST", "PID", "LAST", "EXIT", "NEXT", "RESTART"],
      ["web", "running", "-", "-", "0", "5s", "100", "-", "-"],
      ["side", "backing-off", "-", "-", "2", "-", "-", "1", "2026-11-23T12:00:23Z"]
    ])
  })
})

describe("PullView", () => {
  const d1 = `sha256:${"a".repeat(64)}`
  const d2 = `sha256:${"b".repeat(64)}`
  it("plain lines per event, and bars for a terminal", () => {
    const v = new PullView()
    const lines = [
      v.update(PullEvent.Resolved({
        ref: "r/x:1",
        digest: `sha256:${"c".repeat(64)}`,
        platform: "linux/amd64",
        layers: [{ digest: d1, size: 2000 }, { digest: d2, size: 10 }]
      })),
      v.update(PullEvent.LayerCached({ digest: d2, size: 10 })),
      v.update(PullEvent.LayerStarted({ digest: d1, size: 2000 })),
      v.update(PullEvent.LayerBytes({ digest: d1, received: 1000, size: 2000 }))
    ]
    expect(lines).toEqual([
      `r/x:1: resolved to sha256:${"c".repeat(64)} (linux/amd64, 2 layers)`,
      "bbbbbbbbbbbb: already present",
      "aaaaaaaaaaaa: downloading 2.00kB",
      undefined
    ])
    expect(v.lines()).toEqual([
      `aaaaaaaaaaaa: Downloading [==============>               ] 1.00kB/2.00kB`,
      "bbbbbbbbbbbb: Already exists"
    ])
    v.update(PullEvent.LayerDownloaded({ digest: d1 }))
    expect(v.lines()[0]).toBe("aaaaaaaaaaaa: Extracting")
    expect(v.update(PullEvent.LayerExtracted({ digest: d1, path: "/x" }))).toBe("aaaaaaaaaaaa: extracted")
    expect(v.lines()[0]).toBe("aaaaaaaaaaaa: Pull complete")
    expect(shortDigest(d1)).toBe("aaaaaaaaaaaa")
  })

  it("Done completes layers that were not extracted again (refresh of a present layer)", () => {
    const v = new PullView()
    v.update(PullEvent.Resolved({ ref: "r", digest: d2, platform: "linux/amd64", layers: [{ digest: d1, size: 5 }] }))
    v.update(PullEvent.LayerStarted({ digest: d1, size: 5 }))
    v.update(PullEvent.LayerDownloaded({ digest: d1 }))
    expect(v.lines()).toEqual(["aaaaaaaaaaaa: Extracting"])
    expect(v.update(PullEvent.Done({ ref: "r", digest: d2 }))).toBe(`digest: ${d2}\npulled r`)
    expect(v.lines()).toEqual(["aaaaaaaaaaaa: Pull complete"])
  })
})

describe("withExtraCaCertsBack", () => {
  it("gives NODE_EXTRA_CA_CERTS back (an empty value too) and drops where bin/tank kept it", () => {
    expect(withExtraCaCertsBack({ PATH: "/bin", [MOVED_EXTRA_CA_CERTS]: "/ca.pem" })).toEqual({
      PATH: "/bin",
      NODE_EXTRA_CA_CERTS: "/ca.pem"
    })
    expect(withExtraCaCertsBack({ [MOVED_EXTRA_CA_CERTS]: "" })).toEqual({ NODE_EXTRA_CA_CERTS: "" })
  })
  it("is undefined when bin/tank moved nothing (the full CLI then runs in the same process)", () => {
    expect(withExtraCaCertsBack({ PATH: "/bin", NODE_EXTRA_CA_CERTS: "/ca.pem" })).toBeUndefined()
  })
})

describe("mayUseEtcd", () => {
  const withFiles = (...files: Array<string>) => (f: string) => files.includes(f)
  const line = ["exec", "-e", "A=1", "web", "--", "true"]
  it("no: no etcd endpoint, no TANK_CONFIG, no config.yaml in any data dir the line may mean", () => {
    expect(mayUseEtcd(line, {}, "/var/lib/tank", withFiles("/elsewhere/config.yaml"))).toBe(false)
  })
  it("yes: an endpoint or a config file named in the environment", () => {
    expect(mayUseEtcd(line, { TANK_ETCD_ENDPOINTS: "https://e:2379" }, "/d", withFiles())).toBe(true)
    expect(mayUseEtcd(line, { TANK_CONFIG: "/etc/tank.yaml" }, "/d", withFiles())).toBe(true)
    // Empty counts as unset, as Config.ts reads them.
    expect(mayUseEtcd(line, { TANK_ETCD_ENDPOINTS: "", TANK_CONFIG: "" }, "/d", withFiles())).toBe(false)
  })
  it("yes: a config.yaml in the default data dir, TANK_DATA_DIR's or one the line names, wherever it stands", () => {
    expect(mayUseEtcd(line, {}, "/var/lib/tank", withFiles("/var/lib/tank/config.yaml"))).toBe(true)
    expect(mayUseEtcd(line, { TANK_DATA_DIR: "/t" }, "/d", withFiles("/t/config.yaml"))).toBe(true)
    const named = withFiles("/a/config.yaml")
    expect(mayUseEtcd(["--data-dir", "/a", ...line], {}, "/d", named)).toBe(true)
    expect(mayUseEtcd(["exec", "--data-dir", "/a", "web", "--", "true"], {}, "/d", named)).toBe(true)
    expect(mayUseEtcd(["exec", "--data-dir=/a", "web", "--", "true"], {}, "/d", named)).toBe(true)
    expect(mayUseEtcd(["--data-dir", "rel", ...line], {}, "/d", withFiles(`${process.cwd()}/rel/config.yaml`)))
      .toBe(true)
  })
})
