/**
 * Bench: CLI start-up. `tank ps` as a user runs it (bin/tank: ps's lite tier first, dist/quick-ps-lite.cjs
 * from dist/ps-lite.blob, src/cli/quickPsLite.ts, which lists a store its memo proves and hands any
 * other line to the heavy tier, dist/quick-ps.cjs from dist/ps.blob, src/cli/quickPs.ts), over a
 * store holding `pods` pods, against Node's own floor (`node -e 0`) and `podman ps` (empty storage),
 * each timed inside one shell loop, all rows interleaved run by run. Rows:
 *   ps      bin/tank ps, memo warm: the lite tier alone (started without NODE_EXTRA_CA_CERTS: bin/tank)
 *   liteCA  the lite tier started directly WITH NODE_EXTRA_CA_CERTS (what the CA bundle's parse costs it)
 *   cold    the first ps after a change (memo removed first, the `rm` inside the timing): lite + heavy child
 *   heavy   the heavy tier started directly (ps.blob, memo warm): what every ps cost before the lite tier
 *   parsed  the startup snapshot with the line parsed by @effect/cli (TANK_NO_QUICK=1)
 *   plain   the full CLI's plain bundle
 * BENCH_CLI_OLD=DIR (a checkout of another commit, built): its bin/tank's ps warm and cold too, on a
 * copy of the same store (each build keeps its own memo), interleaved with the rest.
 * NODE_EXTRA_CA_CERTS as the environment sets it (a user's). Run: `npx tsx bench/cli.ts [runs=15] [pods=20]`.
 * `tank exec` against `podman exec` is in exec.ts (it needs a running container).
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
    // Each pod with the status a running agent writes (ps reads and proves statuses too).
    const at = new Date().toISOString()
    for (let i = 0; i < pods; i++) {
      yield* store.put(yield* decodePod({ name: `p${i}`, containers: [{ name: "app", image: "busybox" }] }))
      yield* store.putStatus({
        name: `p${i}`,
        phase: "running",
        restarts: 0,
        specRevision: 1,
        updatedAt: at,
        startedAt: at,
        hostPid: 10_000 + i,
        addresses: [`10.88.0.${i + 2}`]
      })
    }
  }))
  // Interleaved (node, ps, liteCA, cold, ...): a load change on the shared machine hits them all alike.
  // ps remembers specs and statuses it proved (src/store/specMemo.ts, <dataDir>/ps-memo.json).
  const memo = path.join(dataDir, "ps-memo.json")
  const dist = path.dirname(cli.entry)
  const flags = fs.readFileSync(path.join(dist, "tank.blob.stamp"), "utf8").split("\n")[2] ?? ""
  const direct = (blob: string, bundle: string) =>
    `${process.execPath} ${flags} --snapshot-blob ${path.join(dist, blob)} ${
      path.join(dist, bundle)
    } ps --data-dir ${dataDir}`
  const old = process.env.BENCH_CLI_OLD
  const oldDir = path.join(work, "data-old")
  if (old) fs.cpSync(dataDir, oldDir, { recursive: true })
  const cmds: Record<string, string> = {
    node: `${process.execPath} -e 0`,
    ps: `${cli.bin} ps --data-dir ${dataDir}`,
    liteCA: direct("ps-lite.blob", "quick-ps-lite.cjs"),
    cold: `rm -f ${memo}; ${cli.bin} ps --data-dir ${dataDir}`,
    heavy: direct("ps.blob", "quick-ps.cjs"),
    parsed: `TANK_NO_QUICK=1 ${cli.bin} ps --data-dir ${dataDir}`,
    plain: `${process.execPath} ${cli.entry} ps --data-dir ${dataDir}`,
    ...(old
      ? {
        oldPs: `${old}/bin/tank ps --data-dir ${oldDir}`,
        oldCold: `rm -f ${oldDir}/ps-memo.json; ${old}/bin/tank ps --data-dir ${oldDir}`
      }
      : {})
  }
  // One warm-up of each (the memo proven, the page cache filled), then the timed rounds.
  for (const k of Object.keys(cmds)) timeInShell("", cmds[k]!, 1)
  const times: Record<string, Array<number>> = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]))
  for (let i = 0; i < runs; i++) {
    for (const k of Object.keys(cmds)) times[k]!.push(...timeInShell("", cmds[k]!, 1))
  }
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]))
  const { cold, heavy, liteCA, node, parsed, plain, ps } = med as Record<string, number>
  let podman: number | undefined
  if (has("podman")) {
    const penv = podmanEnv(path.join(work, "podman"), "127.0.0.1:1")
    podman = median(timeInShell("", "podman ps", runs, penv))
  } else console.log("podman is not installed: its row is skipped")
  const ratio = (v: number) => `${(v / node!).toFixed(2)}x`
  console.log(
    `tank ps (${pods} pods, ${runs} interleaved runs, medians; node -e 0: ${fmt(node!)}):\n` +
      `  lite, memo warm (bin/tank):          ${fmt(ps!)}  ${ratio(ps!)}\n` +
      `  lite with NODE_EXTRA_CA_CERTS:       ${fmt(liteCA!)}  ${ratio(liteCA!)}\n` +
      `  cold (first after a change: lite + heavy child): ${fmt(cold!)}  ${ratio(cold!)}\n` +
      `  heavy tier direct (ps.blob):         ${fmt(heavy!)}  ${ratio(heavy!)}\n` +
      `  through @effect/cli's parser:        ${fmt(parsed!)}\n` +
      `  full plain bundle:                   ${fmt(plain!)}` +
      (old
        ? `\n  old (${old}) ps, warm:  ${fmt(med.oldPs!)}  ${ratio(med.oldPs!)}\n` +
          `  old (${old}) ps, cold:  ${fmt(med.oldCold!)}  ${ratio(med.oldCold!)}`
        : "") +
      (podman === undefined ? "" : `\n  podman ps: ${fmt(podman)}`)
  )
  const rows: Array<Row> = [
    { bench: "cli", case: `tank ps (${pods} pods)`, tank: ps!, peer: "node -e 0", peerValue: node! },
    {
      bench: "cli",
      case: `tank ps (${pods} pods)`,
      tank: ps!,
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
