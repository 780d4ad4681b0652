/**
 * The headline table (issue #21): each row of work with Tank's figure, its peers' from the same run
 * and the target, as markdown for the README's speed section. Pure: rows in, text out. A figure a
 * bench did not produce (a bench failed, a peer is not installed) reads "n/a".
 */
import { fmt, type Row } from "./report.js"

interface Pick {
  readonly bench: string
  /** The row's case starts with this. */
  readonly case: string
  readonly peer?: string
}

interface Line {
  readonly work: string
  readonly tank: ReadonlyArray<Pick>
  readonly peers: ReadonlyArray<Pick & { readonly label: string }>
  readonly target: string
}

const LINES: ReadonlyArray<Line> = [
  {
    work: "start-to-exit `/bin/true`",
    tank: [{ bench: "runtime", case: "start-to-exit /bin/true", peer: "crun run" }],
    peers: [
      { label: "crun", bench: "runtime", case: "start-to-exit /bin/true", peer: "crun run" },
      { label: "runc", bench: "runtime", case: "start-to-exit /bin/true", peer: "runc run" },
      { label: "podman", bench: "runtime", case: "start-to-exit /bin/true", peer: "podman run --rm" }
    ],
    target: "≤ 1.5× crun and clearly faster than runc"
  },
  {
    work: "apply → running, one pod",
    tank: [{ bench: "apply", case: "apply → running, 1 pod" }],
    peers: [{ label: "podman run -d", bench: "apply", case: "apply → running, 1 pod", peer: "podman run -d" }],
    target: "≤ 0.35× podman run -d"
  },
  {
    work: "SQLite store put → a watcher in another connection sees it",
    tank: [{ bench: "store", case: "sqlite: put → watch (median)" }],
    peers: [
      { label: "etcd watch", bench: "store", case: "etcd (1 member): put → watch (median)" },
      { label: "Tank polling only", bench: "store", case: "sqlite (poll only" }
    ],
    target: "≤ 5 ms without polling"
  },
  {
    work: "100 pods apply → all running / delete → all gone",
    tank: [{ bench: "apply", case: "apply → running, 100 pods" }, { bench: "apply", case: "delete → all gone" }],
    peers: [],
    target: "≤ 2.5 s / ≤ 2 s"
  },
  {
    work: "agent idle CPU with 100 pods",
    tank: [{ bench: "apply", case: "agent idle CPU" }],
    peers: [],
    target: "≤ 0.3 %"
  },
  {
    work: "cold pull + extract of the large single-layer image",
    tank: [{ bench: "pull", case: "large cold pull+extract", peer: "tar -xzf" }],
    peers: [
      { label: "podman", bench: "pull", case: "large cold pull+extract", peer: "podman pull" },
      { label: "skopeo+umoci", bench: "pull", case: "large cold pull+extract", peer: "skopeo+umoci" },
      { label: "GNU `tar -xzf` of the same layer", bench: "pull", case: "large cold pull+extract", peer: "tar -xzf" },
      { label: "Tank's extraction alone", bench: "pull", case: "large layer: extraction alone", peer: "tank" }
    ],
    target: "≤ 1.5× `tar -xzf` of the same layer"
  },
  {
    work: "`tank ps`",
    tank: [{ bench: "cli", case: "tank ps", peer: "node -e 0" }],
    peers: [
      { label: "`node -e 0`", bench: "cli", case: "tank ps", peer: "node -e 0" },
      { label: "`podman ps`", bench: "cli", case: "tank ps", peer: "podman ps" }
    ],
    target: "≤ 1.5× `node -e 0`"
  },
  {
    work: "`tank exec POD -- true` (CLI)",
    tank: [{ bench: "exec", case: "exec /bin/true (tank exec CLI)" }],
    peers: [{ label: "`podman exec`", bench: "exec", case: "exec /bin/true (tank exec CLI)", peer: "podman exec" }],
    target: "faster than `podman exec`"
  }
]

const find = (rows: ReadonlyArray<Row>, p: Pick) =>
  rows.find((r) => r.bench === p.bench && r.case.startsWith(p.case) && (p.peer === undefined || r.peer === p.peer))

/** A pick with `peer` "tank" means Tank's own figure of that row; otherwise a peer pick reads the peer's value. */
const peerValue = (rows: ReadonlyArray<Row>, p: Pick) => {
  if (p.peer === "tank") return find(rows, { bench: p.bench, case: p.case })?.tank
  const r = find(rows, p)
  return r === undefined ? undefined : p.peer === undefined ? (r.peerValue ?? r.tank) : r.peerValue
}

const show = (x: number | undefined, unit: string) => x === undefined || Number.isNaN(x) ? "n/a" : fmt(x, unit)

export const headline = (rows: ReadonlyArray<Row>): string => {
  const out = ["| work | Tank | peers in the same run | target |", "| --- | --- | --- | --- |"]
  for (const l of LINES) {
    const tank = l.tank.map((p) => {
      const r = find(rows, p)
      return show(r?.tank, r?.unit ?? "ms")
    }).join(" / ")
    const unit = find(rows, l.tank[0]!)?.unit ?? "ms"
    const peers = l.peers.map((p) => `${p.label} ${show(peerValue(rows, p), unit)}`).join(", ")
    out.push(`| ${l.work} | ${tank} | ${peers || "—"} | ${l.target} |`)
  }
  return out.join("\n")
}
