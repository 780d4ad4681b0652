/**
 * The dashboard from the command line (root): `tank daemon --web` prints the URL with the token
 * once on stdout (never in its log on stderr), `tank web url` prints it again, a non-loopback
 * address without TLS is refused with the setting named, and SIGTERM takes the dashboard down with
 * the agent (its endpoint record removed).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { buildCli, runCli } from "../cli/harness.js"
import { tmpDir } from "../support/tmp.js"
import { req } from "./support.js"

let cli: ReturnType<typeof buildCli>
beforeAll(() => {
  cli = buildCli()
}, 120_000)
afterAll(() => cli?.cleanup())

const tank = (args: ReadonlyArray<string>) => Effect.promise(() => runCli(cli.entry, args))

/** `tank daemon ARGS` in the background; SIGKILLed with the scope if the test did not stop it. */
const daemon = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [cli.entry, "daemon", ...args], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      return { child, exited, stdout: () => stdout, stderr: () => stderr }
    }),
    ({ child, exited }) =>
      Effect.promise(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        await exited
      })
  )

describe("tank daemon --web, tank web url (root, e2e)", () => {
  it.scopedLive(
    "prints the URL once; `tank web url` prints it again; 401 without it; SIGTERM stops it",
    () =>
      Effect.gen(function*() {
        const dataDir = yield* tmpDir("tank-web-cli-")
        const d = yield* daemon(["--data-dir", dataDir, "--web", "127.0.0.1:0"])
        const deadline = Date.now() + 30_000
        let url: string | undefined
        while (!(url = /^web dashboard: (\S+)$/m.exec(d.stdout())?.[1])) {
          if (Date.now() > deadline || d.child.exitCode !== null) {
            assert.fail(`no URL printed: ${d.stdout()} ${d.stderr()}`)
          }
          yield* Effect.sleep("100 millis")
        }
        const token = new URL(url).searchParams.get("token")!
        assert.match(token, /^[A-Za-z0-9_-]{43}$/)
        assert.strictEqual(fs.statSync(path.join(dataDir, "web-token")).mode & 0o777, 0o600)
        const again = yield* tank(["web", "url", "--data-dir", dataDir])
        assert.strictEqual(again.code, 0, again.stderr)
        assert.strictEqual(again.stdout.trim(), url)
        const base = url.slice(0, url.indexOf("?"))
        assert.strictEqual((yield* req(`${base}api/pods`)).status, 401)
        assert.strictEqual(
          (yield* req(`${base}api/pods`, { headers: { authorization: `Bearer ${token}` } })).status,
          200
        )
        assert.strictEqual((yield* req(url)).status, 303)
        d.child.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => d.exited), 0)
        assert.notInclude(d.stderr(), token, "the token is not in the log")
        assert.strictEqual(d.stdout().split(token).length - 1, 1, "printed once")
        assert.isFalse(fs.existsSync(path.join(dataDir, "web.json")), "the endpoint record went with the agent")
        const gone = yield* tank(["web", "url", "--data-dir", dataDir])
        assert.strictEqual(gone.code, 1)
        assert.include(gone.stderr, "no agent serves the web dashboard")
      }),
    90_000
  )

  it.scopedLive("a non-loopback address without TLS is refused, naming --web", () =>
    Effect.gen(function*() {
      const dataDir = yield* tmpDir("tank-web-cli-")
      const d = yield* daemon(["--data-dir", dataDir, "--web", "0.0.0.0:4400"])
      assert.strictEqual(yield* Effect.promise(() => d.exited), 1)
      assert.include(d.stderr(), "--web")
      assert.include(d.stderr(), "needs TLS")
      assert.isFalse(fs.existsSync(path.join(dataDir, "web-token")), "no token made for a refused start")
    }), 60_000)
})
