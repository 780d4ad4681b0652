/**
 * Issue 20, `-f` as docker and kubectl users type it, through the real bundled CLI and real pipes:
 * stdin read as a stream (writers that start late or write in pieces, `tank get | tank apply -f -`),
 * directories (sorted, all or nothing, errors naming file, document and field), several `-f`,
 * `delete -f`, `apply --dry-run` (reports, stores nothing) and `tank diff -f`. No agent: the store
 * is the API.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { buildCli, shell, tempDataDir, withoutAgentWarning } from "./harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
beforeAll(() => {
  cli = buildCli()
})
afterAll(() => cli?.cleanup())
beforeEach(() => {
  data?.cleanup()
  data = tempDataDir()
})
afterAll(() => data?.cleanup())

const sh = (cmd: string) => shell(cli.entry, data.dir, cmd)

const pod = (name: string, extra = "") =>
  `name: ${name}\ncontainers:\n  - name: app\n    image: 127.0.0.1:5000/tank/busybox:latest\n${extra}`

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(data.dir, file)), { recursive: true })
  fs.writeFileSync(path.join(data.dir, file), text)
  return path.join(data.dir, file)
}

/** The names and images stored, as `tank get -o json` prints them. */
const stored = async () => {
  const r = await sh(`$TANK get -o json`)
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as ReadonlyArray<{ name: string; containers: ReadonlyArray<{ image: string }> }>)
    .map((p) => `${p.name}=${p.containers[0]!.image}`)
}

describe("apply -f - reads stdin as a stream", () => {
  it("waits for a writer that starts late, writes in pieces, or is another tank", async () => {
    const file = write("web.yaml", pod("web"))
    const late = await sh(`(sleep 0.7; cat ${file}) | $TANK apply -f -`)
    expect(late.stderr).toBe("")
    expect(late.stdout).toBe("pod/web created\n")
    expect(late.code).toBe(0)

    // A document that arrives in three parts with pauses between them, the last one changing it.
    const pieces = await sh(
      `(printf 'name: web\\n'; sleep 0.4; printf 'containers:\\n  - name: app\\n'; sleep 0.4; ` +
        `printf '    image: 127.0.0.1:5000/tank/busybox:1.36\\n') | $TANK apply -f -`
    )
    expect(pieces.stderr).toBe("")
    expect(pieces.stdout).toBe("pod/web configured\n")

    // The help's pipeline: the stored spec back in, unchanged; edited on the way, configured.
    const same = await sh(`$TANK get web -o json | $TANK apply -f -`)
    expect(same.stderr).toBe("")
    expect(same.stdout).toBe("pod/web unchanged\n")
    const edited = await sh(`$TANK get web | sed 's/1.36/latest/' | $TANK apply -f -; echo "status=$?"`)
    expect(edited.stdout).toBe("pod/web configured\nstatus=0\n")
    expect(await stored()).toEqual(["web=127.0.0.1:5000/tank/busybox:latest"])

    // A writer that fails after a pause: its partial text is rejected, nothing stored.
    const broken = await sh(`(printf 'name: web\\ncontainers: [\\n'; sleep 0.5) | $TANK apply -f -; echo "status=$?"`)
    expect(broken.stdout).toBe("status=1\n")
    expect(broken.stderr).toMatch(/^tank: stdin: line \d+, column \d+: not valid YAML\/JSON/)
    expect(broken.stderr).toContain("nothing was applied")
  })
})

describe("apply -f DIR and several -f", () => {
  it("applies a directory's spec files in name order; one invalid file stores nothing and is named", async () => {
    write("pods/b.yaml", pod("beta"))
    write("pods/a.json", JSON.stringify({ name: "alpha", containers: [{ name: "c", image: "busybox" }] }))
    write("pods/c.yml", `${pod("gamma")}---\n${pod("delta")}`)
    write("pods/README.md", "not a spec")
    fs.mkdirSync(path.join(data.dir, "pods/sub"))
    write("pods/sub/ignored.yaml", pod("nested"))
    const dir = path.join(data.dir, "pods")

    // An invalid field in the second document of one file: nothing at all is stored.
    const bad = write("pods/d.yaml", `${pod("eps")}---\n${pod("zeta", "    restart: sometimes\n")}`)
    const refused = await sh(`$TANK apply -f ${dir}; echo "status=$?"`)
    expect(refused.stdout).toBe("status=1\n")
    expect(refused.stderr).toBe(
      `tank: ${bad}: document 2 (line 6), pod "zeta": invalid pod spec\n` +
        `  containers[0].restart: unknown field (not part of the spec)\n` +
        `nothing was applied\n`
    )
    expect(await stored()).toEqual([])

    fs.rmSync(bad)
    const ok = await sh(`$TANK apply -f ${dir}`)
    expect(ok.stderr).toBe("")
    // a.json, b.yaml, c.yml: name order; sub/ and README.md are not read.
    expect(ok.stdout).toBe("pod/alpha created\npod/beta created\npod/gamma created\npod/delta created\n")

    // Several -f: a file, a directory and stdin together; a pod given twice is refused, naming both.
    const extra = write("extra.yaml", pod("extra"))
    const twice = await sh(`cat ${extra} | $TANK apply -f ${extra} -f -; echo "status=$?"`)
    expect(twice.stdout).toBe("status=1\n")
    expect(twice.stderr).toContain(`stdin: document 1 (line 1): pod "extra" is given twice (also ${extra}: document 1`)
    const omega = JSON.stringify({ name: "omega", containers: [{ name: "c", image: "x" }] })
    const mixed = await sh(`echo '${omega}' | $TANK apply -f ${extra} -f ${dir} -f -`)
    expect(mixed.stderr).toBe("")
    expect(mixed.stdout).toBe(
      "pod/extra created\npod/alpha unchanged\npod/beta unchanged\npod/gamma unchanged\npod/delta unchanged\npod/omega created\n"
    )

    // delete -f: the pods a directory declares; the others stay.
    const deleted = await sh(`$TANK delete -f ${dir}`)
    expect(deleted.stderr).toBe("")
    expect(deleted.stdout).toBe("pod/alpha deleted\npod/beta deleted\npod/gamma deleted\npod/delta deleted\n")
    expect(await stored()).toEqual(["extra=127.0.0.1:5000/tank/busybox:latest", "omega=x"])
    const fromStdin = await sh(`$TANK get extra | $TANK delete -f - omega`)
    expect(fromStdin.stdout).toBe("pod/omega deleted\npod/extra deleted\n")
    expect(await stored()).toEqual([])
  })

  it("names what cannot be read: a missing path, an empty directory", async () => {
    const missing = await sh(`$TANK apply -f ${data.dir}/nope.yaml; echo "status=$?"`)
    expect(missing.stderr).toBe(`tank: cannot read ${data.dir}/nope.yaml: no such file or directory\n`)
    expect(missing.stdout).toBe("status=1\n")
    fs.mkdirSync(path.join(data.dir, "empty"))
    const empty = await sh(`$TANK apply -f ${data.dir}/empty; echo "status=$?"`)
    expect(empty.stderr).toMatch(/^tank: cannot read .*empty: no \.yaml, \.yml, \.json files in directory\n$/)
  })
})

describe("apply --dry-run and diff", () => {
  it("reports created/configured/unchanged, stores nothing, and diffs stored against given", async () => {
    const file = write("pods.yaml", `${pod("web")}---\n${pod("db")}`)
    // Dry run on a data dir without a store: reports, and creates no store file.
    const first = await sh(`$TANK apply --dry-run -f ${file}`)
    expect(first.stderr).toBe("")
    expect(first.stdout).toBe("pod/web created (dry run)\npod/db created (dry run)\n")
    expect(fs.existsSync(path.join(data.dir, "tank.db"))).toBe(false)

    await sh(`$TANK apply -f ${file}`)
    const eventsBefore = (await sh(`$TANK events --json`)).stdout
    fs.writeFileSync(file, `${pod("web", "    args: [-v]\n")}---\n${pod("db")}---\n${pod("cache")}`)
    const dry = await sh(`$TANK apply --dry-run -f ${file}`)
    expect(dry.stdout).toBe("pod/web configured (dry run)\npod/db unchanged (dry run)\npod/cache created (dry run)\n")
    // Nothing stored: the same specs, no new events.
    expect(await stored()).toEqual(["db=127.0.0.1:5000/tank/busybox:latest", "web=127.0.0.1:5000/tank/busybox:latest"])
    expect((await sh(`$TANK events --json`)).stdout).toBe(eventsBefore)
    // Invalid input is refused as apply refuses it.
    const invalid = await sh(`echo 'name: Bad' | $TANK apply --dry-run -f -; echo "status=$?"`)
    expect(invalid.stdout).toBe("status=1\n")
    expect(invalid.stderr).toContain(
      `stdin: document 1 (line 1), pod "Bad": invalid pod spec\n  name: pod name "Bad" must be`
    )

    const diff = await sh(`$TANK diff -f ${file}; echo "status=$?"`)
    expect(withoutAgentWarning(diff.stderr)).toBe("")
    expect(diff.stdout).toMatch(/^--- stored\/web\n\+\+\+ given\/web\n@@ [^\n]+ @@\n/)
    expect(diff.stdout).toMatch(/\n- {4}args: \[\]\n\+ {4}args:\n\+ {6}- -v\n/)
    expect(diff.stdout).toMatch(/\n--- stored\/cache\n\+\+\+ given\/cache\n@@ -0,0 \+1,\d+ @@\n\+name: cache\n/)
    expect(diff.stdout).not.toContain("stored/db")
    expect(diff.stdout).toMatch(/\nstatus=1\n$/)
    await sh(`$TANK apply -f ${file}`)
    const none = await sh(`$TANK diff -f ${file}; echo "status=$?"`)
    expect(none.stdout).toBe("status=0\n")
  })
})
