/**
 * cp end to end (root): real busybox pods under the live Runtime, the library's copyToPod /
 * copyFromPod (what `tank cp` and `Tank.cp` run).
 * - a directory tree with modes, a symlink and an empty dir round-trips host → pod → host;
 * - docker cp's directory rules (existing vs missing destination, trailing `/.`);
 * - a symlink in the container pointing at /etc reads and writes the CONTAINER's /etc, never the
 *   host's;
 * - `tank cp` (the bundled CLI in a subprocess) both ways, and its usage errors;
 * - a hostile container (its tar replaced by a script sending a crafted archive) cannot make the
 *   host side write outside the destination: a planted symlink, `..` names, absolute names and a
 *   hard link out are all refused and nothing lands outside.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tar from "tar-stream"
import { copyFromPod, copyToPod } from "../../src/exec/cp/Cp.js"
import { execCapture } from "../../src/exec/Exec.js"
import * as Tank from "../../src/Tank.js"
import { buildCli, runCli } from "../cli/harness.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { tmpDir } from "../support/tmp.js"
import { Machine, MachineLive, onMachine, podName, RUN_TAG, startPod } from "./support.js"

const sleeper = (name: string, image: string) => ({
  name,
  restart: "never",
  containers: [{ name: "app", image, command: ["sleep", "3600"] }]
})

const inPod = (pod: string, script: string, input?: Buffer) =>
  onMachine(execCapture(pod, ["sh", "-c", script], input ? { input } : {})).pipe(
    Effect.tap((r) => assert.strictEqual(r.exitCode, 0, `${script}: ${r.stderr}`)),
    Effect.map((r) => r.stdout)
  )

/** path → "type mode [content|target]" for every entry below `root` (sorted). */
const describeTree = (root: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name)
      const r = rel ? `${rel}/${name}` : name
      const st = fs.lstatSync(p)
      const mode = (st.mode & 0o7777).toString(8)
      if (st.isSymbolicLink()) out[r] = `link -> ${fs.readlinkSync(p)}`
      else if (st.isDirectory()) {
        out[r] = `dir ${mode}`
        walk(p, r)
      } else out[r] = `file ${mode} ${fs.readFileSync(p, "utf8")}`
    }
  }
  walk(root, "")
  return out
}

const makeTree = (root: string) => {
  fs.mkdirSync(path.join(root, "conf/empty"), { recursive: true })
  fs.mkdirSync(path.join(root, "bin"))
  fs.writeFileSync(path.join(root, "README"), "hello\n")
  fs.writeFileSync(path.join(root, "conf/app.yaml"), "port: 80\n")
  fs.writeFileSync(path.join(root, "bin/run"), "#!/bin/sh\necho ran\n")
  fs.symlinkSync("../README", path.join(root, "conf/readme"))
  fs.chmodSync(path.join(root, "conf/app.yaml"), 0o640)
  fs.chmodSync(path.join(root, "bin/run"), 0o755)
  fs.chmodSync(path.join(root, "README"), 0o600)
  fs.chmodSync(path.join(root, "conf/empty"), 0o700)
  fs.chmodSync(path.join(root, "conf"), 0o750)
}

/** A tar built here, as a hostile container's `tar` would send it. */
const craft = (
  entries: ReadonlyArray<tar.Header extends infer H ? Partial<H> & { name: string; body?: string } : never>
) =>
  Effect.promise(async () => {
    const pack = tar.pack()
    for (const { body, ...h } of entries) pack.entry({ mode: 0o644, ...h }, body ?? "")
    pack.finalize()
    const chunks: Array<Buffer> = []
    for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array))
    return Buffer.concat(chunks)
  })

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("cp (live, root)", (it) => {
  it.scoped("round-trips a directory tree with modes, following docker cp's directory rules", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [RUN_TAG] })
      const name = podName("cp-trip")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* startPod(sleeper(name, env.refs.busybox))
        const tmp = yield* tmpDir("tank-cp-")
        const src = path.join(tmp, "src")
        makeTree(src)
        // Missing destination: created, the tree's contents in it.
        const up = yield* onMachine(copyToPod(src, { pod: name, path: "/tmp/site" }))
        assert.strictEqual(up.entries, 8)
        const listed = yield* inPod(
          name,
          "cd /tmp/site && find . | sort | while read f; do stat -c '%n %A %u' \"$f\"; done"
        )
        assert.include(listed, "./conf drwxr-x--- 0")
        assert.include(listed, "./conf/app.yaml -rw-r----- 0")
        assert.include(listed, "./bin/run -rwxr-xr-x 0")
        assert.include(listed, "./conf/readme lrwxrwxrwx 0")
        assert.include(listed, "./conf/empty drwx------ 0")
        assert.strictEqual(yield* inPod(name, "/tmp/site/bin/run"), "ran\n")
        // Existing destination directory: the source directory goes INTO it.
        yield* inPod(name, "mkdir /tmp/into")
        yield* onMachine(copyToPod(src, { pod: name, path: "/tmp/into" }))
        assert.strictEqual(yield* inPod(name, "cat /tmp/into/src/conf/app.yaml"), "port: 80\n")
        // Trailing /.: the contents into the existing directory.
        yield* onMachine(copyToPod(`${src}/.`, { pod: name, path: "/tmp/into" }))
        assert.strictEqual(yield* inPod(name, "cat /tmp/into/README"), "hello\n")
        // A file onto a missing name; a directory onto a file is refused.
        yield* onMachine(copyToPod(path.join(src, "README"), { pod: name, path: "/tmp/one" }))
        assert.strictEqual(yield* inPod(name, "cat /tmp/one"), "hello\n")
        const onto = yield* Effect.either(onMachine(copyToPod(src, { pod: name, path: "/tmp/one" })))
        assert.isTrue(Either.isLeft(onto) && onto.left._tag === "CpInvalid", String(onto))

        // And back: pod → host, the same tree (modes, link, empty dir).
        const back = path.join(tmp, "back")
        yield* onMachine(copyFromPod({ pod: name, path: "/tmp/site" }, back))
        assert.deepStrictEqual(describeTree(back), describeTree(src))
        // Existing host directory: into it; with /. its contents.
        const into = path.join(tmp, "into")
        fs.mkdirSync(into)
        yield* onMachine(copyFromPod({ pod: name, path: "/tmp/site" }, into))
        assert.deepStrictEqual(describeTree(path.join(into, "site")), describeTree(src))
        yield* onMachine(copyFromPod({ pod: name, path: "/tmp/site/." }, into))
        assert.strictEqual(fs.readFileSync(path.join(into, "conf/app.yaml"), "utf8"), "port: 80\n")
        // A single file, into a directory and onto a new name.
        yield* onMachine(copyFromPod({ pod: name, container: "app", path: "/tmp/site/bin/run" }, into))
        assert.strictEqual((fs.statSync(path.join(into, "run")).mode & 0o777).toString(8), "755")
        // Missing in the pod: tar's complaint, named.
        const missing = yield* Effect.either(onMachine(copyFromPod({ pod: name, path: "/nope" }, path.join(tmp, "x"))))
        assert.isTrue(Either.isLeft(missing) && missing.left._tag === "CpPodFailed", String(missing))
        assert.isFalse(fs.existsSync(path.join(tmp, "x")))
      }))
      yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [RUN_TAG] })
    }))

  it.scoped("a container symlink to /etc reads and writes the container's /etc, not the host's", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("cp-etc")
      const hostFile = `/etc/tank-cp-attack-${RUN_TAG}`
      // Only ever our own uniquely named file, should the attack succeed.
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(hostFile, { force: true })))
      yield* startPod(sleeper(name, env.refs.busybox))
      const tmp = yield* tmpDir("tank-cp-")
      yield* inPod(name, "ln -s /etc /tmp/evil && ln -s /etc/hostname /tmp/evil-file")
      // Read through the link: the pod's hostname file (its name), not the host's.
      const out = path.join(tmp, "hostname")
      yield* onMachine(copyFromPod({ pod: name, path: "/tmp/evil/hostname" }, out))
      assert.strictEqual(fs.readFileSync(out, "utf8").trim(), name)
      assert.notStrictEqual(fs.readFileSync("/etc/hostname", "utf8").trim(), name)
      // Write through the link: lands in the pod's /etc.
      const payload = path.join(tmp, "payload")
      fs.writeFileSync(payload, "pwned\n")
      yield* onMachine(copyToPod(payload, { pod: name, path: `/tmp/evil/${path.basename(hostFile)}` }))
      assert.isFalse(fs.existsSync(hostFile), "wrote the host's /etc")
      assert.strictEqual(yield* inPod(name, `cat ${hostFile}`), "pwned\n")
      // A symlink as the copied path is copied as a link (its text), not followed on the host.
      const link = path.join(tmp, "link")
      yield* onMachine(copyFromPod({ pod: name, path: "/tmp/evil-file" }, link))
      assert.strictEqual(fs.readlinkSync(link), "/etc/hostname")
    }))

  it.scoped("a hostile container's archive cannot write outside the destination", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("cp-hostile")
      yield* startPod(sleeper(name, env.refs.busybox))
      const tmp = yield* tmpDir("tank-cp-")
      const victim = path.join(tmp, "victim")
      fs.mkdirSync(victim)
      fs.writeFileSync(path.join(victim, "secret"), "host secret\n")
      // The container's tar now sends whatever /tmp/evil.tar holds, whatever it is asked.
      yield* inPod(name, "rm /bin/tar && printf '#!/bin/sh\\ncat /tmp/evil.tar\\n' > /bin/tar && chmod 755 /bin/tar")
      const attacks: ReadonlyArray<[string, Parameters<typeof craft>[0], RegExp]> = [
        ["planted symlink", [
          { name: "x", type: "directory" },
          { name: "x/link", type: "symlink", linkname: victim },
          { name: "x/link/pwned", body: "pwned\n" }
        ], /parent \S*link is a symlink/],
        ["planted symlink, then a file onto it", [
          { name: "x", type: "directory" },
          { name: "x/secret", type: "symlink", linkname: path.join(victim, "secret") },
          { name: "x/secret", body: "overwritten\n" }
        ], /^$/],
        ["dot-dot", [
          { name: "x", type: "directory" },
          { name: "x/../victim/pwned", body: "pwned\n" }
        ], /'\.\.' segment/],
        ["absolute", [
          { name: "x", type: "directory" },
          { name: `${victim}/pwned`, body: "pwned\n" }
        ], /absolute path/],
        ["other root", [
          { name: "x", type: "directory" },
          { name: "victim/pwned", body: "pwned\n" }
        ], /outside the copied path/],
        ["hard link out", [
          { name: "x", type: "directory" },
          { name: "x/link", type: "symlink", linkname: victim },
          { name: "x/h", type: "link", linkname: "x/link/secret" }
        ], /parent \S*link is a symlink/],
        ["device", [
          { name: "x", type: "directory" },
          { name: "x/disk", type: "block-device", devmajor: 8, devminor: 0 }
        ], /^$/]
      ]
      for (const [what, entries, refused] of attacks) {
        const archive = yield* craft(entries)
        yield* inPod(name, "cat > /tmp/evil.tar", archive)
        const dest = path.join(tmp, `out-${what.replace(/\W+/g, "-")}`)
        const r = yield* Effect.either(onMachine(copyFromPod({ pod: name, path: "/srv/x" }, dest)))
        if (refused.source === "^$") {
          // Allowed, but harmlessly: the link is replaced, the device skipped.
          assert.isTrue(Either.isRight(r), `${what}: ${String(r)}`)
          if (what === "device") {
            assert.deepStrictEqual(Either.isRight(r) ? r.right.skipped : [], ["x/disk"])
            assert.isFalse(fs.existsSync(path.join(dest, "disk")))
          } else {
            assert.isFalse(fs.lstatSync(path.join(dest, "secret")).isSymbolicLink())
            assert.strictEqual(fs.readFileSync(path.join(dest, "secret"), "utf8"), "overwritten\n")
          }
        } else {
          assert.isTrue(Either.isLeft(r) && r.left._tag === "CpRefused", `${what}: ${String(r)}`)
          if (Either.isLeft(r)) assert.match(r.left.message, refused, what)
        }
        assert.deepStrictEqual(fs.readdirSync(victim), ["secret"], `${what}: wrote into the victim dir`)
        assert.strictEqual(fs.readFileSync(path.join(victim, "secret"), "utf8"), "host secret\n", what)
        assert.isFalse(fs.existsSync(path.join(os.tmpdir(), "victim")), what)
      }
    }))

  it.scoped("tank cp: both directions from the command line; usage errors exit 2", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const cli = yield* Effect.acquireRelease(Effect.sync(buildCli), (c) => Effect.sync(() => c.cleanup()))
      const tank = (...args: ReadonlyArray<string>) =>
        Effect.promise(() => runCli(cli.entry, ["--data-dir", env.dataDir, ...args]))
      const name = podName("cp-cli")
      yield* startPod(sleeper(name, env.refs.busybox))
      const tmp = yield* tmpDir("tank-cp-")
      const src = path.join(tmp, "src")
      makeTree(src)
      const up = yield* tank("cp", src, `${name}:app:/srv`)
      assert.strictEqual(up.code, 0, up.stderr)
      assert.strictEqual(yield* inPod(name, "cat /srv/conf/app.yaml"), "port: 80\n")
      const back = path.join(tmp, "back")
      const down = yield* tank("cp", `${name}:/srv`, back)
      assert.strictEqual(down.code, 0, down.stderr)
      assert.deepStrictEqual(describeTree(back), describeTree(src))
      const both = yield* tank("cp", back, path.join(tmp, "x"))
      assert.strictEqual(both.code, 2)
      assert.match(both.stderr, /exactly one of SRC and DEST must be in a pod/)
      const relative = yield* tank("cp", `${name}:srv`, back)
      assert.strictEqual(relative.code, 2)
      assert.match(relative.stderr, /must be absolute/)
      const ghost = yield* tank("cp", "ghost:/etc/hostname", path.join(tmp, "h"))
      assert.strictEqual(ghost.code, 125)
      assert.match(ghost.stderr, /pod ghost is not running/)
      const onto = yield* tank("cp", src, `${name}:/srv/README`)
      assert.strictEqual(onto.code, 1)
      assert.match(onto.stderr, /cannot copy directory .* onto file \/srv\/README/)
      // The scripts API: the same, with the data dir from the environment as scripts have it.
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const was = process.env.TANK_DATA_DIR
          process.env.TANK_DATA_DIR = env.dataDir
          return was
        }),
        (was) =>
          Effect.sync(() => {
            if (was === undefined) delete process.env.TANK_DATA_DIR
            else process.env.TANK_DATA_DIR = was
          })
      )
      const viaApi = path.join(tmp, "api")
      yield* Tank.cp(`${name}:/srv/conf/.`, viaApi)
      assert.deepStrictEqual(describeTree(viaApi), describeTree(path.join(src, "conf")))
      const bad = yield* Effect.either(Tank.cp(viaApi, path.join(tmp, "y")))
      assert.isTrue(Either.isLeft(bad) && bad.left._tag === "CpInvalid", String(bad))
    }))
})
