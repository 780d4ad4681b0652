/**
 * Bench: the CPU of the apply call itself (`Api.apply` of one pod, `Api.applyAll` of a batch) on a
 * SQLite store, without an agent: validation, the reads that decide each pod's outcome, and the write.
 * With `--against=DIR` (a checkout of another commit, e.g. `git archive` of it unpacked, with
 * node_modules linked) that checkout's Api and SQLite store run in this same process, rep by rep
 * alternating with this one's (which goes first alternates too), so both see the same load: for
 * changes smaller than the drift between separate bench runs on a busy machine. Prints medians of the
 * warm reps; asserts nothing. Run: `npx tsx bench/applyCall.ts [pods=100] [--reps=40] [--against=DIR]`.
 */
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Api from "../src/api/Api.js"
import { layerSqlite } from "../src/store/sqlite.js"
import { Store } from "../src/store/Store.js"
import { median } from "./report.js"

const args = process.argv.slice(2)
const option = (f: string) => args.find((a) => a.startsWith(`${f}=`))?.slice(f.length + 1)
const count = Number(args.find((a) => !a.startsWith("--")) ?? 100)
const reps = Number(option("--reps") ?? 40)
const against = option("--against")
const warmup = Math.min(10, Math.floor(reps / 4))

interface Build {
  readonly apply: typeof Api.apply
  readonly applyAll: typeof Api.applyAll
  readonly layerSqlite: typeof layerSqlite
}

const spec = (name: string) => ({ name, containers: [{ name: "app", image: "busybox", command: ["sleep", "1"] }] })
const cpuMs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since)
  return (u.user + u.system) / 1000
}

const program = (dir: string) =>
  Effect.gen(function*() {
    const builds: Array<[string, Build]> = [["this checkout", { ...Api, layerSqlite }]]
    if (against !== undefined) {
      const root = path.resolve(against)
      const api = yield* Effect.promise(() => import(path.join(root, "src/api/Api.js")))
      const sql = yield* Effect.promise(() => import(path.join(root, "src/store/sqlite.js")))
      builds.push([root, { apply: api.apply, applyAll: api.applyAll, layerSqlite: sql.layerSqlite }])
    }
    const stores = yield* Effect.forEach(builds, ([, b], i) =>
      Effect.map(Layer.build(b.layerSqlite(path.join(dir, `${i}.db`))), (ctx) => Context.get(ctx, Store)))
    const one: Array<Array<number>> = builds.map(() => [])
    const many: Array<Array<number>> = builds.map(() => [])
    for (let r = 0; r < reps; r++) {
      const order = r % 2 === 0
        ? builds.map((_, i) =>
          i
        )
        : builds.map((_, i) => i).reverse()
      for (const i of order) {
        const b = builds[i]![1]
        const store = stores[i]!
        const names = Array.from({ length: count }, (_, k) => `many-${r}-${k}`)
        const ones = Array.from({ length: 20 }, (_, k) => `one-${r}-${k}`)
        let c = process.cpuUsage()
        for (const n of ones) yield* Effect.provideService(b.apply(spec(n)), Store, store)
        one[i]!.push(cpuMs(c) / ones.length)
        c = process.cpuUsage()
        yield* Effect.provideService(b.applyAll(names.map(spec)), Store, store)
        many[i]!.push(cpuMs(c))
        for (const n of [...names, ...ones]) yield* store.delete(n)
      }
    }
    console.log(
      `(load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${os.cpus().length} cores)`
    )
    for (const [i, [label]] of builds.entries()) {
      console.log(
        `${label}: Api.apply of one pod ${
          median(one[i]!.slice(warmup)).toFixed(3)
        } ms of CPU; Api.applyAll of ${count} pods ${median(many[i]!.slice(warmup)).toFixed(1)} ms (medians of ${
          reps - warmup
        } warm reps)`
      )
    }
  })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-applycall-"))
Effect.runPromise(Effect.scoped(program(dir))).catch((e) => {
  console.error(e)
  process.exitCode = 1
}).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
