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
