/**
 * The host side of `cp` out of a pod, without a pod: untarSafely over archives built here (what a
 * hostile container's tar could send), into temp dirs; and docker cp's placement rules (pure).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Readable } from "node:stream"
import * as tar from "tar-stream"
import { entrySegments, parseSide, placement, splitSource } from "../../src/exec/cp/paths.js"
import { untarSafely } from "../../src/exec/cp/untar.js"

type Spec = Partial<tar.Header> & { name: string; body?: string }

const archive = async (entries: ReadonlyArray<Spec>) => {
  const pack = tar.pack()
  for (const { body, ...h } of entries) pack.entry({ mode: 0o644, ...h }, body ?? "")
  pack.finalize()
  const chunks: Array<Buffer> = []
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array))
  return Buffer.concat(chunks)
}

const withTmp = async (f: (dir: string) => Promise<void>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-cpu-"))
  try {
    await f(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const extractTo = async (entries: ReadonlyArray<Spec>, src: string, dest: string) => {
  const split = splitSource(src)
  const kind = fs.existsSync(dest) ? (fs.statSync(dest).isDirectory() ? "directory" : "file") : "missing"
  return untarSafely(
    Readable.from([await archive(entries)]),
    split.name,
    (k) => placement({ kind: k, split, shown: src }, { kind, path: dest })
  )
}

describe("cp: host-side extraction", () => {
  it("extracts a tree with modes, links and mtimes; set-id bits dropped", () =>
    withTmp(async (tmp) => {
      const mtime = new Date("2020-01-02T03:04:05Z")
      const r = await extractTo(
        [
          { name: "x/", type: "directory", mode: 0o750, mtime },
          { name: "x/a", body: "A", mode: 0o4755 },
          { name: "x/l", type: "symlink", linkname: "/etc/passwd" },
          { name: "x/h", type: "link", linkname: "x/a" }
        ],
        "/srv/x",
        path.join(tmp, "out")
      )
      assert.deepStrictEqual(r, { entries: 4, skipped: [] })
      const out = path.join(tmp, "out")
      assert.strictEqual(fs.statSync(out).mode & 0o7777, 0o750)
      assert.strictEqual(fs.statSync(out).mtime.getTime(), mtime.getTime())
      assert.strictEqual(fs.statSync(path.join(out, "a")).mode & 0o7777, 0o755)
      assert.strictEqual(fs.readlinkSync(path.join(out, "l")), "/etc/passwd")
      assert.strictEqual(fs.statSync(path.join(out, "h")).ino, fs.statSync(path.join(out, "a")).ino)
    }))

  it("refuses a write through a symlink the archive planted", () =>
    withTmp(async (tmp) => {
      const victim = path.join(tmp, "victim")
      fs.mkdirSync(victim)
      const p = extractTo(
        [
          { name: "x/", type: "directory" },
          { name: "x/l", type: "symlink", linkname: victim },
          { name: "x/l/pwned", body: "pwned" }
        ],
        "/srv/x",
        path.join(tmp, "out")
      )
      await p.then(() => assert.fail("extracted"), (e) => assert.match(String(e.message), /out\/l is a symlink/))
      assert.deepStrictEqual(fs.readdirSync(victim), [])
    }))

  it("replaces a planted symlink instead of writing through it", () =>
    withTmp(async (tmp) => {
      const victim = path.join(tmp, "victim")
      fs.writeFileSync(victim, "host")
      await extractTo(
        [
          { name: "x/", type: "directory" },
          { name: "x/s", type: "symlink", linkname: victim },
          { name: "x/s", body: "pod" }
        ],
        "/srv/x",
        path.join(tmp, "out")
      )
      assert.strictEqual(fs.readFileSync(victim, "utf8"), "host")
      assert.strictEqual(fs.readFileSync(path.join(tmp, "out/s"), "utf8"), "pod")
    }))

  it("refuses .., absolute names, names outside the copied path, hard links out", () =>
    withTmp(async (tmp) => {
      // The destination two levels down: an escape lands in `tmp` (ours), never higher.
      const sub = path.join(tmp, "sub")
      fs.mkdirSync(sub)
      fs.writeFileSync(path.join(tmp, "secret"), "s")
      const cases: ReadonlyArray<[ReadonlyArray<Spec>, RegExp]> = [
        [[{ name: "x/", type: "directory" }, { name: "x/../../pwned", body: "p" }], /'\.\.' segment/],
        [[{ name: "x/", type: "directory" }, { name: `${tmp}/pwned`, body: "p" }], /absolute path/],
        [[{ name: "x/", type: "directory" }, { name: "y/pwned", body: "p" }], /outside the copied path/],
        [
          [{ name: "x/", type: "directory" }, { name: "x/h", type: "link", linkname: "x/../../secret" }],
          /'\.\.' segment/
        ],
        [[{ name: "pwned", body: "p" }], /outside the copied path/]
      ]
      for (const [entries, why] of cases) {
        await extractTo(entries, "/srv/x", path.join(sub, "out")).then(
          () => assert.fail(`extracted ${entries.map((e) => e.name).join(", ")}`),
          (e) => assert.match(String(e.message), why)
        )
        assert.deepStrictEqual(fs.readdirSync(tmp).sort(), ["secret", "sub"])
        assert.isFalse(fs.existsSync(path.join(sub, "pwned")))
        assert.isFalse(fs.existsSync(path.join(sub, "h")))
        fs.rmSync(path.join(sub, "out"), { recursive: true, force: true })
      }
    }))

  it("skips devices and fifos", () =>
    withTmp(async (tmp) => {
      const r = await extractTo(
        [
          { name: "x/", type: "directory" },
          { name: "x/sda", type: "block-device", devmajor: 8, devminor: 0 },
          { name: "x/f", type: "fifo" }
        ],
        "/srv/x",
        path.join(tmp, "out")
      )
      assert.deepStrictEqual(r.skipped, ["x/sda", "x/f"])
      assert.deepStrictEqual(fs.readdirSync(path.join(tmp, "out")), [])
    }))
})

describe("cp: paths (docker cp's rules)", () => {
  it("parses POD:/path, POD:CONTAINER:/path and local paths", () => {
    assert.deepStrictEqual(parseSide("web:/etc"), { _tag: "pod", at: { pod: "web", path: "/etc" } })
    assert.deepStrictEqual(parseSide("web:app:/etc"), {
      _tag: "pod",
      at: { pod: "web", container: "app", path: "/etc" }
    })
    assert.deepStrictEqual(parseSide("./a:b"), { _tag: "local", path: "./a:b" })
    assert.deepStrictEqual(parseSide("out"), { _tag: "local", path: "out" })
    assert.strictEqual(parseSide("web:etc")._tag, "invalid")
  })

  it("places files and directories as docker cp does", () => {
    const file = { kind: "file" as const, split: splitSource("/etc/hosts"), shown: "/etc/hosts" }
    const dir = { kind: "directory" as const, split: splitSource("/srv/site"), shown: "/srv/site" }
    const contents = { kind: "directory" as const, split: splitSource("/srv/site/."), shown: "/srv/site/." }
    assert.deepStrictEqual(placement(file, { kind: "missing", path: "out" }), { dir: ".", as: "out" })
    assert.deepStrictEqual(placement(file, { kind: "directory", path: "d" }), { dir: "d", as: "hosts" })
    assert.deepStrictEqual(placement(file, { kind: "file", path: "d/f" }), { dir: "d", as: "f" })
    assert.deepStrictEqual(placement(file, { kind: "missing", path: "new/" }), { error: "new/: no such directory" })
    assert.deepStrictEqual(placement(dir, { kind: "missing", path: "/a/b" }), { dir: "/a", as: "b" })
    assert.deepStrictEqual(placement(dir, { kind: "directory", path: "/a/b/" }), { dir: "/a/b", as: "site" })
    assert.deepStrictEqual(placement(contents, { kind: "directory", path: "/a/b" }), { dir: "/a/b", as: "" })
    assert.deepStrictEqual(placement(contents, { kind: "missing", path: "/a/b" }), { dir: "/a", as: "b" })
    assert.match((placement(dir, { kind: "file", path: "f" }) as { error: string }).error, /onto file/)
    assert.deepStrictEqual(splitSource("/"), { dir: "/", name: ".", contentsOnly: true })
    assert.deepStrictEqual(entrySegments("./a/./b/", "."), { segments: ["a", "b"] })
  })
})
