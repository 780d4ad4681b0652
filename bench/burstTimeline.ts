/**
 * `bench/apply.ts --burst-timeline`: where the time of an N-pod burst goes, pod by pod, from the
 * agent's debug log (bench/applyWatch.ts `makeTimeline`). Per pod: apply called → bring-up begins
 * (the pass, the permit queue) → bring-up done → status `running` written → the bench's watch saw
 * it; each gap and each bring-up step as percentiles over the pods, and how many bring-ups ran at
 * once on average (against the permits: fewer means something other than the permits holds starts
 * back; as many with long bring-ups means the starts slow each other down).
 */
import type { TimelineEntry } from "./applyWatch.js"

interface PodMarks {
  begins?: number
  done?: number
  runningWritten?: number
  seen?: number
  pendingWritten?: number
  readonly steps: Map<string, number>
}

const pct = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

const row = (label: string, xs: ReadonlyArray<number>) =>
  `${label.padEnd(34)} n=${String(xs.length).padStart(3)}  p10 ${pct(xs, 0.1).toFixed(1).padStart(7)}  p50 ${
    pct(xs, 0.5).toFixed(1).padStart(7)
  }  p90 ${pct(xs, 0.9).toFixed(1).padStart(7)}  max ${pct(xs, 1).toFixed(1).padStart(7)} ms`

/** The report's lines; `t0`: the burst's apply called, `stored`: it returned, `end`: all seen running. */
export const burstReport = (
  entries: ReadonlyArray<TimelineEntry>,
  names: ReadonlyArray<string>,
  t0: number,
  stored: number,
  end: number,
  permits: number
): Array<string> => {
  const pods = new Map(names.map((n) => [n, { steps: new Map() } as PodMarks]))
  const passes: Array<{ at: number; text: string }> = []
  let feed = 0
  const podOf = (text: string) => /^pod ([^:]+): /.exec(text)?.[1]
  for (const e of entries) {
    if (e.at < t0 || e.at > end) continue
    if (e.text.startsWith("pass: ")) passes.push({ at: e.at - t0, text: e.text })
    else if (e.text.startsWith("change feed: ")) feed++
    else if (e.text === "step timing" && e.notes.phase === "acquire") {
      pods.get(e.notes.pod ?? "")?.steps.set(e.notes.step ?? "?", Number(e.notes.ms))
    } else if (e.text.startsWith("bench watch: ")) {
      const [, name, phase] = e.text.split(" ").slice(1)
      const m = pods.get(name ?? "")
      if (m && phase === "running" && m.seen === undefined) m.seen = e.at
    } else {
      const m = pods.get(podOf(e.text) ?? "")
      if (m === undefined) continue
      if (e.text.endsWith(": bring-up begins")) m.begins ??= e.at
      else if (e.text.endsWith(": bring-up done")) m.done ??= e.at
      else if (e.text.endsWith(": status running written")) m.runningWritten ??= e.at
      else if (e.text.endsWith(": status pending written")) m.pendingWritten ??= e.at
    }
  }
  const all = [...pods.values()]
  const gap = (f: (m: PodMarks) => number | undefined) => all.flatMap((m) => f(m) ?? [])
  const diff = (a: number | undefined, b: number | undefined) => a === undefined || b === undefined ? undefined : b - a
  const bringUps = gap((m) => diff(m.begins, m.done))
  const firstBegin = Math.min(...gap((m) => m.begins))
  const lastDone = Math.max(...gap((m) => m.done))
  const busy = bringUps.reduce((a, b) => a + b, 0)
  const stepNames = [...new Set(all.flatMap((m) => [...m.steps.keys()]))]
  return [
    `burst timeline, ${names.length} pods (ms; the debug log itself costs some time):`,
    `  apply returned at ${
      (stored - t0).toFixed(1)
    }; ${passes.length} passes; ${feed} change-feed entries; all seen running at ${(end - t0).toFixed(1)}`,
    `  passes: ${passes.map((p) => `${p.at.toFixed(0)} (${/start (\d+)/.exec(p.text)?.[1] ?? "?"})`).join(", ")}`,
    `  bring-ups from ${(firstBegin - t0).toFixed(1)} to ${(lastDone - t0).toFixed(1)}: ${
      (busy / (lastDone - firstBegin)).toFixed(2)
    } at once on average (${permits} permits); ${gap((m) => m.pendingWritten).length} pods waited for a permit`,
    row("  apply called → bring-up begins", gap((m) => diff(t0, m.begins))),
    row("  bring-up (begins → done)", bringUps),
    ...stepNames.map((s) => row(`    step ${s}`, gap((m) => m.steps.get(s)))),
    row("  bring-up done → running written", gap((m) => diff(m.done, m.runningWritten))),
    row("  running written → watch saw it", gap((m) => diff(m.runningWritten, m.seen))),
    row("  apply called → watch saw running", gap((m) => diff(t0, m.seen)))
  ]
}
