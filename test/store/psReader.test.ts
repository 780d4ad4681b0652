/**
 * psReader.ts, the read-only reader `tank ps` starts from (quickPs.ts): over a real SQLite store it
 * answers what the Store's own `list` and `listStatus` answer — the same readable pods, decoded whole,
 * and the same unreadable rows with the same reasons. A row bad only in a field ps does not show
 * (a restart policy, a memory limit) is invalid here too, as `tank status`, `get` and `doctor` call it:
 * ps must not list as a normal pod what the rest of Tank rejects.
 */
import { Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { loadConfigAt } from "../../src/cli/base.js"
import { decodePodEither } from "../../src/spec/decode.js"
import { memoFile } from "../../src/store/memoFile.js"
import { readForPs } from "../../src/store/psReader.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { sqliteCorrupt } from "./sqliteCorrupt.js"

const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

const good = [
  { name: "plain", containers: [{ name: "app", image: "busybox" }] },
  {
    name: "web",
    labels: { app: "web" },
    containers: [{
      name: "app",
      image: { rootfs: "/srv/rootfs/app" },
      readinessProbe: { exec: { command: ["true"] } }
    }],
    network: { nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 8080, hostPort: 18080 }] }
  }
]
// Each is valid in every field ps shows (name, labels, containers' names and images, ports) and
// invalid as a Pod: only the whole decode can tell.
const badUnshown = {
  "bad-restart": { name: "bad-restart", restart: "sometimes", containers: [{ name: "app", image: "busybox" }] },
  "bad-memory": { name: "bad-memory", containers: [{ name: "app", image: "busybox", limits: { memory: 5 } }] }
}

describe("ps's reader", () => {
  it("reads a store as the Store lists it: a row bad only in a field ps does not show is invalid", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-psreader-"))
    dirs.push(dataDir)
    fs.chmodSync(dataDir, 0o700)
    const config = await Effect.runPromise(loadConfigAt(Option.some(dataDir)))
    for (const spec of Object.values(badUnshown)) expect(Either.isLeft(decodePodEither(spec))).toBe(true)

    const fromStore = await Effect.runPromise(
      Effect.gen(function*() {
        const store = yield* Store
        for (const p of good) yield* store.put(Either.getOrThrow(decodePodEither(p)))
        yield* Effect.scoped(
          Effect.flatMap(
            sqliteCorrupt(config.storeFile),
            (c) => Effect.forEach(Object.entries(badUnshown), ([name, spec]) => c.podSpec(name, spec))
          )
        )
        return { pods: yield* store.list, statuses: yield* store.listStatus }
      }).pipe(Effect.provide(layerSqlite(config.storeFile)))
    )

    const read = await Effect.runPromise(readForPs(config))
    expect(read.pods.map((p) => p.name)).toEqual(["plain", "web"])
    expect(read.pods).toEqual(fromStore.pods.pods)
    expect(read.badPods.map((b) => b.key)).toEqual(["bad-memory", "bad-restart"])
    // The same reasons, word for word (ps prints them on stderr as every other command does).
    expect(read.badPods.map((b) => b.message)).toEqual(fromStore.pods.invalid.map((b) => b.message))
    expect(read.badPods[1]!.message).toContain("restart")
    expect(read.statuses).toEqual(fromStore.statuses.statuses)
  })
})

describe("ps's reader with its spec memo", () => {
  const memo = { memo: { tag: "build-1" } }

  it("remembers only proven texts; an in-place edit of a remembered row is invalid as the Store says", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-psreader-"))
    dirs.push(dataDir)
    fs.chmodSync(dataDir, 0o700)
    const config = await Effect.runPromise(loadConfigAt(Option.some(dataDir)))
    const storeRead = Effect.gen(function*() {
      const store = yield* Store
      return { pods: yield* store.list, statuses: yield* store.listStatus }
    }).pipe(Effect.provide(layerSqlite(config.storeFile)))
    await Effect.runPromise(
      Effect.gen(function*() {
        const store = yield* Store
        for (const p of good) yield* store.put(Either.getOrThrow(decodePodEither(p)))
      }).pipe(Effect.provide(layerSqlite(config.storeFile)))
    )
    const corrupt = (name: string, spec: unknown) =>
      Effect.runPromise(Effect.scoped(Effect.flatMap(sqliteCorrupt(config.storeFile), (c) => c.podSpec(name, spec))))
    // A bad row from the start: never remembered.
    await corrupt("bad-restart", badUnshown["bad-restart"])

    const first = await Effect.runPromise(readForPs(config, memo))
    const file = memoFile(config)
    const written = JSON.parse(fs.readFileSync(file, "utf8")) as { tag: string; specs: Array<string> }
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(written.tag).toBe("build-1")
    const texts = await Effect.runPromise(
      Effect.scoped(Effect.flatMap(
        sqliteCorrupt(config.storeFile),
        (c) => Effect.orDie(c.sql<{ name: string; spec: string }>`SELECT name, spec FROM pods ORDER BY name`)
      ))
    )
    const textOf = (name: string) => texts.find((t) => t.name === name)!.spec
    expect(written.specs).toEqual([textOf("plain"), textOf("web")])

    // From the memo: what the Store reads, and the memo file is left as it was.
    const before = fs.statSync(file)
    const second = await Effect.runPromise(readForPs(config, memo))
    const fromStore = await Effect.runPromise(storeRead)
    for (const read of [first, second]) {
      expect(read.pods).toEqual(fromStore.pods.pods)
      expect(read.badPods.map((b) => b.message)).toEqual(fromStore.pods.invalid.map((b) => b.message))
    }
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs)
    expect(fs.statSync(file).ino).toBe(before.ino)

    // "plain" edited in place (its name and every field ps shows unchanged): its new text is decoded.
    await corrupt("plain", { ...good[0], restart: "sometimes" })
    const edited = await Effect.runPromise(readForPs(config, memo))
    const storeAfter = await Effect.runPromise(storeRead)
    expect(edited.pods.map((p) => p.name)).toEqual(["web"])
    expect(edited.badPods.map((b) => b.key)).toEqual(["bad-restart", "plain"])
    expect(edited.badPods.map((b) => b.message)).toEqual(storeAfter.pods.invalid.map((b) => b.message))
    // The memo now holds "web" alone (the old text of "plain" is gone from the store).
    expect((JSON.parse(fs.readFileSync(file, "utf8")) as { specs: Array<string> }).specs).toEqual([textOf("web")])

    // A memo naming the bad text is trusted only if this build wrote it, alone: another build's, or a
    // file others could have written, is no memo.
    const forged = (tag: string, mode: number) => {
      fs.writeFileSync(file, JSON.stringify({ tag, specs: [JSON.stringify({ ...good[0], restart: "sometimes" })] }))
      fs.chmodSync(file, mode)
    }
    for (const [tag, mode] of [["build-0", 0o600], ["build-1", 0o620], ["build-1", 0o602]] as const) {
      forged(tag, mode)
      const read = await Effect.runPromise(readForPs(config, memo))
      expect(read.badPods.map((b) => b.key)).toEqual(["bad-restart", "plain"])
      fs.rmSync(file)
    }
    // Without a memo (started from source or from the bundle without its blob): no file at all.
    await Effect.runPromise(readForPs(config))
    expect(fs.existsSync(file)).toBe(false)
  })
})
