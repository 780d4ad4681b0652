/**
 * Bench: CLI start-up. `tank ps` as a user runs it (bin/tank: from its small bundle, dist/quick-ps.cjs,
 * src/cli/quickPs.ts, started from its own startup snapshot dist/ps.blob; beside it for comparison the full CLI's plain bundle, and the startup snapshot with
 * the line parsed by @effect/cli, TANK_NO_QUICK=1), over a store holding `pods` pods, against Node's
 * own floor (`node -e 0`) and `podman ps` (empty storage), each timed inside one shell loop. Run: `npx tsx bench/cli.ts [runs=15] [pods=20]`. `tank exec` against
 * `podman exec` is in exec.ts (it needs a running container).
 */
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { decodePod } from "../src/spec/decode.js"
import { layerSqlite } from "../src/store/sqlite.js"
import { Store } from "../src/store/Store.js"
import { buildCli } from "../test/cli/harness.js"
import { has, podmanEnv, timeInShell, unmountUnder } from "./peers.js"
import { fmt, median, report, type Row } from "./report.js"

const runs = Number(process.argv[2] ?? 15)
const pods = Number(process.argv[3] ?? 20)

const program = Effect.gen(function*() {
  const work = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-cli-"))),
    (d) =>
      Effect.sync(() => {
        unmountUnder(d)
        fs.rmSync(d, { recursive: true, force: true })
      })
  )
  const cli = yield* Effect.acquireRelease(
    Effect.sync(() => buildCli({ snapshot: true })),
    (c) => Effect.sync(c.cleanup)
  )
  const dataDir = path.join(work, "data")
  fs.mkdirSync(dataDir, { mode: 0o700 })
  yield* Effect.scoped(Effect.gen(function*() {
    const store = Context.get(yield* Layer.build(layerSqlite(path.join(dataDir, "tank.db"))), Store)
    for (let i = 0; i < pods; i++) {
      yield* store.put(yield* decodePod({ name: `p${i}`, containers: [{ name: "app", image: "busybox" }] }))
    }
  }))
  // Interleaved (node, tank, plain, node, ...): a load change on the shared machine hits them all alike.
  // ps remembers specs it proved (src/store/specMemo.ts, <dataDir>/ps-memo.json): `ps` is every run
  // after the first on an unchanged store; `cold` is the first ps after a change (its memo removed
  // first: the `rm` is inside the timing, ~1-2 ms of fork and exec).
  const memo = path.join(dataDir, "ps-memo.json")
  const cmds = {
    node: `${process.execPath} -e 0`,
    ps: `${cli.bin} ps --data-dir ${dataDir}`,
    cold: `rm -f ${memo}; ${cli.bin} ps --data-dir ${dataDir}`,
    plain: `${process.execPath} ${cli.entry} ps --data-dir ${dataDir}`,
    parsed: `TANK_NO_QUICK=1 ${cli.bin} ps --data-dir ${dataDir}`
  }
  const times = {
    node: [] as Array<number>,
    ps: [] as Array<number>,
    cold: [] as Array<number>,
    plain: [] as Array<number>,
    parsed: [] as Array<number>
  }
  for (let i = 0; i < runs; i++) {
    for (const k of ["node", "ps", "cold", "plain", "parsed"] as const) times[k].push(...timeInShell("", cmds[k], 1))
  }
  const [node, ps, cold, plain, parsed] = [
    median(times.node),
    median(times.ps),
    median(times.cold),
    median(times.plain),
    median(times.parsed)
  ]
  let podman: number | undefined
  if (has("podman")) {
    const penv = podmanEnv(path.join(work, "podman"), "127.0.0.1:1")
    podman = median(timeInShell("", "podman ps", runs, penv))
  } else console.log("podman is not installed: its row is skipped")
  console.log(
    `tank ps (${pods} pods): ${fmt(ps)} (snapshot; its first run after a change, every spec decoded: ${fmt(cold)}; ` +
      `through @effect/cli's parser: ${fmt(parsed)}; full plain bundle: ` +
      `${fmt(plain)})   node -e 0: ${fmt(node)}` +
      (podman === undefined ? "" : `   podman ps: ${fmt(podman)}`)
  )
  const rows: Array<Row> = [
    { bench: "cli", case: `tank ps (${pods} pods)`, tank: ps, peer: "node -e 0", peerValue: node },
    {
      bench: "cli",
      case: `tank ps (${pods} pods)`,
      tank: ps,
      peer: "podman ps",
      ...(podman ? { peerValue: podman } : {})
    }
  ]
  report(rows)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
