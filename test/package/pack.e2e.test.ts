// The installable package, as a user gets it: `npm pack` → `npm install <tarball>` in an empty
// directory (dependencies from the npm registry; node addons and the native helper built there)
// → the `tank` bin and a plain-node ESM script (no tsx) importing "tank".
import { execFile, type ExecFileOptions, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../..")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tank-pack-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

// Asynchronous: a worker blocked for minutes in spawnSync misses vitest's RPC heartbeats.
const run = (cmd: string, args: ReadonlyArray<string>, opts: ExecFileOptions = {}) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      cmd,
      args,
      { encoding: "utf8", timeout: 540_000, maxBuffer: 64 << 20, ...opts },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`${cmd} ${args.join(" ")} failed (${err.message}):\n${stdout}\n${stderr}`))
          : resolve(String(stdout))
    )
  )
// node-gyp builds addons against the installed Node headers (there is no header download here).
const npmEnv = { ...process.env, npm_config_nodedir: "/usr", npm_config_update_notifier: "false" }

describe("npm package", () => {
  it("packs, installs into an empty directory, and runs the bin and a plain-node script", async () => {
    // The library (dist/lib: JS + .d.ts). The CLI bundle is built by `npm test` before the suite;
    // rebuilding it here would race the CLI tests running beside this one, hence --ignore-scripts
    // (plain `npm pack` runs both builds through prepack/prepare).
    await run("npm", ["run", "-s", "build:lib"], { cwd: root, env: npmEnv })
    if (!fs.existsSync(path.join(root, "dist/tank.cjs"))) {
      await run(process.execPath, ["scripts/build.mjs"], { cwd: root })
    }
    await run("npm", ["pack", "--ignore-scripts", "--pack-destination", tmp], { cwd: root, env: npmEnv })
    const tarball = fs.readdirSync(tmp).find((f) => f.endsWith(".tgz"))
    expect(tarball).toBeDefined()
    const listing = await run("tar", ["tzf", path.join(tmp, tarball!)])
    expect(listing).toContain("package/dist/lib/index.d.ts")
    expect(listing).toContain("package/native/Makefile")
    expect(listing).not.toContain("package/src/") // JS and .d.ts only, no TypeScript source
    expect(listing).not.toContain("package/native/tank-helper") // built at install, for this machine
    expect(listing).not.toContain("package/dist/tank.blob") // the CLI's startup snapshot: built at install too
    expect(listing).not.toContain("package/dist/exec.blob") // exec's, from quick-exec.cjs: so is it
    expect(listing).not.toContain("package/dist/ps.blob") // and ps's, from quick-ps.cjs
    expect(listing).toContain("package/scripts/snapshot.mjs")
    // The small bundles of ps (and its starter: bin/tank picks it) and of exec (its blob's source),
    // without caches or maps.
    for (const f of ["quick-ps.cjs", "tank-ps.cjs", "load.cjs", "quick-exec.cjs"]) {
      expect(listing).toContain(`package/dist/${f}\n`)
    }
    expect(listing).not.toMatch(/package\/dist\/quick-\w+\.cjs\.(cache|map)/)

    const app = path.join(tmp, "app")
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", path.join(tmp, tarball!)], {
      cwd: app,
      env: npmEnv
    })

    // The helper was built by the package's install script.
    const helper = path.join(app, "node_modules/tank/native/tank-helper")
    fs.accessSync(helper, fs.constants.X_OK)

    // So was the CLI's startup snapshot, stamped with the dir it was built for (bin/tank checks it).
    const installedDist = fs.realpathSync(path.join(app, "node_modules/tank/dist"))
    fs.accessSync(path.join(installedDist, "tank.blob"))
    fs.accessSync(path.join(installedDist, "exec.blob"))
    fs.accessSync(path.join(installedDist, "ps.blob"))
    expect(fs.readFileSync(path.join(installedDist, "tank.blob.stamp"), "utf8").split("\n")[1]).toBe(installedDist)

    const version = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version as string
    const env = { ...process.env, PATH: `${path.join(app, "node_modules/.bin")}:${process.env["PATH"]}` }
    expect((await run("tank", ["--version"], { cwd: app, env })).trim()).toBe(version)
    const dataDir = path.join(tmp, "data")
    expect(await run("tank", ["ps", "--data-dir", dataDir], { cwd: app, env })).toMatch(/^NAME\s+PHASE/)
    // A line the quick bundle hands to the full CLI.
    expect(await run("tank", ["ps", "--help"], { cwd: app, env })).toContain("tank ps")
    // exec from its blob (a pod that does not run: 125), and a line it hands to the full CLI.
    const noPod = spawnSync("tank", ["exec", "--data-dir", dataDir, "nosuchpod", "--", "true"], { cwd: app, env })
    expect({ code: noPod.status, stderr: String(noPod.stderr) }).toEqual({
      code: 125,
      stderr: "tank: pod nosuchpod is not running: it has no run on this machine\n"
    })
    expect(await run("tank", ["exec", "--help"], { cwd: app, env })).toContain("tank exec")

    // A plain ESM script: the public API, a validation error caught by tag, the store it opens.
    fs.writeFileSync(
      path.join(app, "main.mjs"),
      `import { Effect } from "effect"
import { Tank, InvalidSpec, PodNotFound, StoreMemory, Api } from "tank"
const missing = await Effect.runPromise(Tank.get("nope").pipe(
  Effect.catchTag("PodNotFound", (e) => Effect.succeed(e instanceof PodNotFound && e.pod))))
const invalid = await Effect.runPromise(Api.apply({ name: "Bad Name", containers: [] }).pipe(
  Effect.provide(StoreMemory), Effect.flip, Effect.map((e) => e instanceof InvalidSpec && e._tag)))
console.log(JSON.stringify({ missing, invalid, pods: await Effect.runPromise(Tank.list()) }))
`
    )
    const out = await run(process.execPath, ["main.mjs"], { cwd: app, env: { ...env, TANK_DATA_DIR: dataDir } })
    expect(JSON.parse(out)).toEqual({ missing: "nope", invalid: "InvalidSpec", pods: [] })
    // The helper the installed library finds is the installed package's own.
    const found = await run(process.execPath, [
      "--input-type=module",
      "-e",
      `import * as fs from "node:fs"
const { helperPathCandidate } = await import(new URL("./node_modules/tank/dist/lib/runtime/helper/binary.js", "file://${app}/").href)
console.log(fs.realpathSync(helperPathCandidate()))`
    ], { cwd: app, env: { ...env, TANK_HELPER: "" } })
    expect(found.trim()).toBe(fs.realpathSync(helper))
  }, 600_000)
})
