/**
 * Cluster-mode tables (pure): `tank ps` with its NODE column and `tank nodes`.
 */
import { describe, expect, it } from "vitest"
import { nodeRows, removalOf } from "../../src/api/nodes.js"
import { nodesTable, removalText } from "../../src/cli/nodes.js"
import { psTable } from "../../src/cli/ps.js"
import type { NodeState } from "../../src/cluster/Cluster.js"
import type { StoredPod } from "../../src/store/Store.js"

const cells = (out: string) => out.split("\n").map((l) => l.split(/\s{3,}/))

const node = (name: string, ready: boolean, extra: Partial<NodeState> = {}, labels = {}): NodeState => ({
  info: {
    name,
    addresses: ["10.0.0.11", "fd00::11"],
    capacity: { cpu: 2500, memory: 4_100_000_000, pods: 110 },
    labels,
    agentPid: 42,
    registeredAt: "2026-11-23T09:10:00Z"
  },
  ready,
  ...extra
})

const bound = (name: string, n: string | null) => ({ name, node: n }) as StoredPod

describe("cluster tables", () => {
  it("ps: NODE after PHASE in cluster mode, '-' while unplaced; no NODE column otherwise", () => {
    const now = Date.parse("2026-11-23T12:10:00Z")
    const rows = [
      {
        status: { name: "api", phase: "running" as const, restarts: 0, specRevision: 1, hostPid: 7, updatedAt: "x" },
        spec: { containers: [{ image: "reg/api:1" }] } as never,
        declaredAt: "2026-11-23T12:00:00Z",
        node: "n1"
      },
      {
        status: { name: "new", phase: "pending" as const, restarts: 0, specRevision: 2, updatedAt: "x" },
        spec: { containers: [{ image: "reg/new:1" }] } as never,
        declaredAt: "2026-11-23T12:09:00Z",
        node: undefined
      }
    ]
    expect(cells(psTable(rows, now, { cluster: true }))).toEqual([
      ["NAME", "PHASE", "NODE", "RESTARTS", "AGE", "IMAGE", "ADDRESSES", "HOST PID", "LAST EXIT"],
      ["api", "running", "n1", "0", "10m", "reg/api:1", "-", "7", "-"],
      ["new", "pending", "-", "0", "60s", "reg/new:1", "-", "-", "-"],
      [""]
    ])
    expect(cells(psTable(rows, now))[0]).not.toContain("NODE")
  })

  it("nodes: sorted, ready or not (since when), bound pods counted per node, labels sorted", () => {
    const now = Date.parse("2026-11-23T12:10:00Z")
    const rows = nodeRows(
      [
        node("n3", false, { notReadySince: "2026-11-23T12:09:20Z" }),
        node("n1", true, {}, { zone: "a", disk: "ssd" }),
        node("n2", false)
      ],
      [bound("a", "n1"), bound("b", "n1"), bound("c", "n3"), bound("d", null)]
    )
    expect(rows.map((r) => [r.name, r.pods])).toEqual([["n1", 2], ["n2", 0], ["n3", 1]])
    expect(cells(nodesTable(rows, now))).toEqual([
      ["NAME", "STATUS", "AGE", "ADDRESSES", "CPU", "MEMORY", "PODS", "LABELS"],
      ["n1", "Ready", "3h", "10.0.0.11,fd00::11", "2.5", "4.10GB", "2/110", "disk=ssd,zone=a"],
      ["n2", "NotReady", "3h", "10.0.0.11,fd00::11", "2.5", "4.10GB", "0/110", "-"],
      ["n3", "NotReady (40s)", "3h", "10.0.0.11,fd00::11", "2.5", "4.10GB", "1/110", "-"],
      [""]
    ])
  })
})

describe("nodes rm: what happened, in words", () => {
  const pod = (name: string, node: string | null, pin?: string) =>
    ({ name, node, spec: pin === undefined ? {} : { node: pin } }) as unknown as StoredPod

  it("no pods, pods that move, pods pinned to it; nothing for an unknown node", () => {
    expect(removalText("n3", removalOf("n3", true, [pod("a", "n1")]))).toBe(
      "node n3 removed; no pods were bound to it\n"
    )
    const r = removalOf("n3", true, [pod("a", "n3"), pod("b", "n3"), pod("db", "n3", "n3"), pod("c", "n1")])
    expect(r).toEqual({ removed: true, moving: ["a", "b"], pinned: ["db"] })
    expect(removalText("n3", r)).toBe(
      "node n3 removed; 2 pods (a, b) will be placed on other nodes by the scheduler; " +
        "1 pod (db) pinned to it stays unschedulable until a node named n3 registers\n"
    )
    expect(removalOf("n9", false, [pod("a", "n9")])).toEqual({ removed: false, moving: [], pinned: [] })
  })
})
