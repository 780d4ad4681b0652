/**
 * `npm run bench`: runs every bench in this folder (root; installs missing peers with apt) and
 * prints one summary table of Tank against the peers measured in the same run. A peer that is not
 * installed is shown as such. Benches: runtime, exec, apply, network, pull, logs, store (SQLite vs etcd),
 * cluster (apply → running through etcd, placement of 300 pods on 3 nodes), web (dashboard: apply in a shell →
 * running row in an open page, pods page load with 100 pods), cli (`tank ps` vs `node -e 0`, `podman ps`),
 * probes (agent CPU with 100 pods probed every second vs none).
 * `BENCH_ONLY=runtime,exec,apply,pull,store,cli` runs only the benches the headline table needs.
 * It ends with the headline table of issue #21 (markdown, as in the README's speed section).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { headline } from "./headline.js"
import { fmt, ratio, type Row } from "./report.js"

const benches = [
  ["runtime.ts", ["20"]],
  ["isolation.ts", ["60"]],
  ["exec.ts", ["30"]],
  ["apply.ts", ["100"]],
  ["network.ts", ["30"]],
  ["pull.ts", []],
  ["logs.ts", []],
  ["store.ts", []],
  ["cli.ts", ["15"]],
  ["cluster.ts", ["300"]],
  ["web.ts", ["100"]],
  ["probes.ts", ["100", "20"]]
] as const

const dir = import.meta.dirname
const reportFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-")), "rows.jsonl")
/**
 * Where Tank's data dirs go in the benches (BENCH_DATA_PARENT, read by test/support/tankEnv.ts):
 * under /var/lib, where root's default data dir is (/var/lib/tank), not /tmp. On this VM a new file
 * or directory under /tmp cost ~0.9 ms of ext4 allocation against 0.03-0.12 ms elsewhere on the same
 * disk (its block group; 200 mkdir+create pairs), which timed /tmp's allocator, not Tank; crun's
 * state is /run/crun whatever the bench does. The peers' work dirs stay where they were (podman
 * given TMPDIR=/var/lib/… took 20 s a run). Root only; others keep the usual temp dir.
 */
const benchTmp = process.geteuid?.() === 0 && fs.existsSync("/var/lib")
  ? fs.mkdtempSync("/var/lib/tank-bench-")
  : undefined
const failed: Array<string> = []
// BENCH_ONLY=runtime,apply,...: just those benches (names without .ts), e.g. the headline's.
const only = process.env.BENCH_ONLY?.split(",").map((s) => `${s.trim()}.ts`)
for (const [file, args] of benches) {
  if (!fs.existsSync(path.join(dir, file)) || (only !== undefined && !only.includes(file))) continue
  console.log(`\n=== ${file} ===`)
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(dir, file), ...args], {
    stdio: "inherit",
    env: { ...process.env, BENCH_REPORT: reportFile, ...(benchTmp ? { BENCH_DATA_PARENT: benchTmp } : {}) }
  })
  if (r.status !== 0) failed.push(file)
}
const rows: Array<Row> = fs.existsSync(reportFile)
  ? fs.readFileSync(reportFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Row)
  : []
fs.rmSync(path.dirname(reportFile), { recursive: true, force: true })
if (benchTmp) fs.rmSync(benchTmp, { recursive: true, force: true })

const table = [["bench", "case", "Tank", "peer", "peer value", "Tank vs peer"]]
for (const r of rows) {
  const unit = r.unit ?? "ms"
  table.push([
    r.bench,
    r.case,
    fmt(r.tank, unit),
    r.peer ?? "",
    r.peer === undefined ? "" : r.peerValue === undefined ? "not installed" : fmt(r.peerValue, unit),
    r.peerValue === undefined ? "" : ratio(r.tank, r.peerValue, r.higherIsBetter)
  ])
}
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
console.log("\n=== summary (this run, this machine) ===")
for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join("  "))
console.log("\n=== headline (this run, this machine) ===")
console.log(headline(rows))
if (failed.length) {
  console.log(`\nbenches that failed: ${failed.join(", ")}`)
  process.exit(1)
}
