/**
 * The token file (0600 in the data dir, replaced when it may have leaked) and the config's `web:`
 * settings as Config.load resolves them (file, TANK_WEB, the loopback-or-TLS rule).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { load } from "../../src/config/Config.js"
import {
  ensureToken,
  readEndpoint,
  readToken,
  removeEndpoint,
  TOKEN_FILE,
  urlWithToken,
  writeEndpoint
} from "../../src/web/token.js"
import { tmpDir } from "../support/tmp.js"

const mode = (file: string) => fs.statSync(file).mode & 0o777

describe("web token file", () => {
  it.scoped("created once, 0600, 43 base64url characters; read back unchanged", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir()
      assert.isTrue((yield* Effect.either(readToken(dir)))._tag === "Left", "no token before the first start")
      const t1 = yield* ensureToken(dir)
      assert.match(t1, /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(mode(path.join(dir, TOKEN_FILE)), 0o600)
      assert.strictEqual(yield* ensureToken(dir), t1)
      assert.strictEqual(yield* readToken(dir), t1)
      assert.notStrictEqual(yield* ensureToken(yield* tmpDir()), t1, "each data dir its own token")
    }))

  it.scoped("a token file readable by others, a symlink or garbage is replaced by a new token", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir()
      const file = path.join(dir, TOKEN_FILE)
      const t1 = yield* ensureToken(dir)
      fs.chmodSync(file, 0o644)
      assert.isTrue((yield* Effect.either(readToken(dir)))._tag === "Left", "not handed out while readable by others")
      const t2 = yield* ensureToken(dir)
      assert.notStrictEqual(t2, t1)
      assert.strictEqual(mode(file), 0o600)
      const elsewhere = path.join(dir, "other")
      fs.writeFileSync(elsewhere, "x".repeat(43) + "\n", { mode: 0o600 })
      fs.rmSync(file)
      fs.symlinkSync(elsewhere, file)
      const t3 = yield* ensureToken(dir)
      assert.notStrictEqual(t3, "x".repeat(43))
      assert.isFalse(fs.lstatSync(file).isSymbolicLink())
      assert.strictEqual(fs.readFileSync(elsewhere, "utf8"), "x".repeat(43) + "\n", "the link's target untouched")
      fs.writeFileSync(file, "short\n", { mode: 0o600 })
      assert.match(yield* ensureToken(dir), /^[A-Za-z0-9_-]{43}$/)
    }))

  it.scoped("the endpoint record: written 0600, read only while its process lives, removed by its owner", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir()
      yield* writeEndpoint(dir, { url: "http://127.0.0.1:4400/", pid: process.pid })
      assert.strictEqual(mode(path.join(dir, "web.json")), 0o600)
      assert.deepStrictEqual(readEndpoint(dir), { url: "http://127.0.0.1:4400/", pid: process.pid })
      yield* removeEndpoint(dir, process.pid + 1)
      assert.isDefined(readEndpoint(dir), "another pid's removal leaves it")
      yield* removeEndpoint(dir, process.pid)
      assert.isUndefined(readEndpoint(dir))
      yield* writeEndpoint(dir, { url: "http://127.0.0.1:1/", pid: 2 ** 22 + 1 })
      assert.isUndefined(readEndpoint(dir), "a dead agent's record is ignored")
      assert.strictEqual(urlWithToken("http://127.0.0.1:4400/", "abc"), "http://127.0.0.1:4400/?token=abc")
    }))
})

describe("web config in Config.load", () => {
  const home = (dir: string) => ({ HOME: dir })

  it.scoped("web: {} means 127.0.0.1:4400; TANK_WEB overrides the address", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir()
      fs.writeFileSync(path.join(dir, "config.yaml"), "web: {}\n")
      const c = yield* load({ dataDir: dir, env: home(dir) })
      assert.strictEqual(c.web?.listen, "127.0.0.1:4400")
      assert.strictEqual(c.web?.statsIntervalMs, 5000)
      const e = yield* load({ dataDir: dir, env: { ...home(dir), TANK_WEB: "[::1]:0" } })
      assert.deepStrictEqual([e.web?.host, e.web?.port], ["::1", 0])
      const none = yield* load({ dataDir: yield* tmpDir(), env: home(dir) })
      assert.isUndefined(none.web)
    }))

  it.scoped("a non-loopback address without TLS is a config error naming the setting", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir()
      const file = path.join(dir, "config.yaml")
      fs.writeFileSync(file, "web:\n  listen: 0.0.0.0:4400\n")
      const err = yield* Effect.flip(load({ dataDir: dir, env: home(dir) }))
      assert.strictEqual(err.field, "web.listen")
      assert.include(err.message, file)
      assert.include(err.message, "needs TLS")
      const env = yield* Effect.flip(
        load({ dataDir: yield* tmpDir(), env: { ...home(dir), TANK_WEB: "10.1.2.3:4400" } })
      )
      assert.strictEqual(env.field, "TANK_WEB")
      const flag = yield* Effect.flip(load({ dataDir: yield* tmpDir(), env: home(dir), webListen: "nonsense" }))
      assert.strictEqual(flag.field, "--web")
      fs.writeFileSync(file, "web:\n  listen: 0.0.0.0:4400\n  tls: { cert: /etc/c.pem, key: /etc/k.pem }\n")
      assert.strictEqual((yield* load({ dataDir: dir, env: home(dir) })).web?.tls?.cert, "/etc/c.pem")
      fs.writeFileSync(file, "web:\n  listen: 127.0.0.1:4400\n  tls: { cert: relative.pem, key: /k }\n")
      assert.strictEqual((yield* Effect.flip(load({ dataDir: dir, env: home(dir) }))).field, "web.tls.cert")
    }))
})
