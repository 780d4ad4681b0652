/**
 * Shared bench output: each bench prints its own table and, when `BENCH_REPORT` names a file (as
 * `npm run bench` does), appends its rows there as JSON lines for the summary table.
 */
import * as fs from "node:fs"

export interface Row {
  readonly bench: string
  readonly case: string
  /** Tank's figure (ms unless `unit` says otherwise). */
  readonly tank: number
  readonly peer?: string
  readonly peerValue?: number
  readonly unit?: string
  /** Rates (q/s, MB/s): a higher figure is the better one. */
  readonly higherIsBetter?: boolean
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

export const fmt = (x: number, unit = "ms") => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ${unit}`

/** "2.3x faster" / "1.4x slower" from Tank's and a peer's time (lower is better), or rate (higher is). */
export const ratio = (tank: number, peer: number, higherIsBetter = false) =>
  higherIsBetter
    ? tank >= peer ? `${(tank / peer).toFixed(1)}x faster` : `${(peer / tank).toFixed(1)}x slower`
    : tank <= peer
    ? `${(peer / tank).toFixed(1)}x faster`
    : `${(tank / peer).toFixed(1)}x slower`

export const report = (rows: ReadonlyArray<Row>) => {
  for (const r of rows) {
    const unit = r.unit ?? "ms"
    const vs = r.peer !== undefined && r.peerValue !== undefined
      ? `  vs ${r.peer} ${fmt(r.peerValue, unit)}  (${ratio(r.tank, r.peerValue, r.higherIsBetter)})`
      : r.peer !== undefined
      ? `  vs ${r.peer}: not installed`
      : ""
    console.log(`${r.bench} · ${r.case}: Tank ${fmt(r.tank, unit)}${vs}`)
  }
  const file = process.env.BENCH_REPORT
  if (file) fs.appendFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")
}
