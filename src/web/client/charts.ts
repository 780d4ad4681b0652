/**
 * A pod's charts with uPlot: CPU, memory, network rates, pids. Seeded with the agent's kept history,
 * then one point per sample from the pod's feed. Each chart's figure also sits in data attributes
 * (`data-points`, `data-last`) and in a caption, for screen readers and tests.
 */
import uPlot from "uplot"
import { bytes, h } from "./dom.js"

export interface Point {
  readonly t: number
  readonly cpuPercent?: number
  readonly memoryBytes?: number
  readonly memoryLimitBytes?: number
  readonly rxBytesPerSec?: number
  readonly txBytesPerSec?: number
  readonly pids?: number
}

const KEEP = 300

interface Spec {
  readonly id: string
  readonly title: string
  readonly series: ReadonlyArray<{ readonly label: string; readonly key: keyof Point; readonly stroke: string }>
  readonly format: (v: number) => string
  /** Tick labels (finer than `format` where values are small). */
  readonly axis: (v: number) => string
}

const SPECS: ReadonlyArray<Spec> = [
  {
    id: "cpu",
    title: "CPU",
    series: [{ label: "CPU %", key: "cpuPercent", stroke: "#2f7de1" }],
    format: (v) => `${v.toFixed(1)}%`,
    axis: (v) => `${v < 1 ? +v.toFixed(2) : +v.toFixed(1)}%`
  },
  {
    id: "memory",
    title: "Memory",
    series: [{ label: "memory", key: "memoryBytes", stroke: "#8e44ad" }],
    format: bytes,
    axis: bytes
  },
  {
    id: "network",
    title: "Network",
    series: [
      { label: "rx/s", key: "rxBytesPerSec", stroke: "#16a085" },
      { label: "tx/s", key: "txBytesPerSec", stroke: "#e67e22" }
    ],
    format: (v) => `${bytes(v)}/s`,
    axis: (v) => `${bytes(v)}/s`
  },
  {
    id: "pids",
    title: "Processes",
    series: [{ label: "pids", key: "pids", stroke: "#c0392b" }],
    format: (v) => String(v),
    axis: (v) => Number.isInteger(v) ? String(v) : ""
  }
]

export interface Charts {
  readonly element: HTMLElement
  readonly seed: (points: ReadonlyArray<Point>) => void
  readonly add: (p: Point) => void
}

export const makeCharts = (): Charts => {
  const times: Array<number> = []
  const values = new Map<keyof Point, Array<number | null>>()
  const plots: Array<{ spec: Spec; plot: uPlot | undefined; box: HTMLElement; caption: HTMLElement }> = []
  const element = h("section", { class: "charts", "aria-label": "Resource usage" })
  for (const spec of SPECS) {
    for (const s of spec.series) values.set(s.key, [])
    const caption = h("figcaption", {}, spec.title)
    const box = h("div", { class: "plot" })
    const fig = h("figure", { class: "chart", id: `chart-${spec.id}`, "data-points": "0" }, caption, box)
    element.append(fig)
    plots.push({ spec, plot: undefined, box, caption })
  }
  const draw = () => {
    for (const p of plots) {
      const data = [times, ...p.spec.series.map((s) => values.get(s.key)!)] as uPlot.AlignedData
      const width = Math.max(200, p.box.clientWidth)
      if (!p.plot && p.box.isConnected) {
        p.plot = new uPlot(
          {
            width,
            height: 160,
            // The caption shows the figure; a legend only where colours tell series apart.
            legend: { show: p.spec.series.length > 1, live: false },
            cursor: { drag: { x: false, y: false } },
            scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
            axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((v) => p.spec.axis(v)) }],
            series: [{}, ...p.spec.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2 }))]
          },
          data,
          p.box
        )
      } else p.plot?.setData(data)
      const fig = p.box.parentElement!
      const key = p.spec.series[0]!.key
      const last = [...values.get(key)!].reverse().find((v) => v !== null)
      fig.dataset.points = String(times.length)
      if (last !== undefined && last !== null) {
        fig.dataset.last = String(last)
        p.caption.textContent = `${p.spec.title}: ${p.spec.format(last)}`
      }
    }
  }
  const push = (pt: Point) => {
    if (times.length > 0 && pt.t <= times[times.length - 1]!) return
    times.push(pt.t)
    for (const [k, arr] of values) arr.push((pt[k] as number | undefined) ?? null)
    if (times.length > KEEP) {
      times.shift()
      for (const arr of values.values()) arr.shift()
    }
  }
  new ResizeObserver(() => {
    for (const p of plots) if (p.plot) p.plot.setSize({ width: Math.max(200, p.box.clientWidth), height: 160 })
  }).observe(element)
  return {
    element,
    seed: (points) => {
      for (const pt of points) push(pt)
      draw()
    },
    add: (pt) => {
      push(pt)
      draw()
    }
  }
}
