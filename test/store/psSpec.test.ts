/**
 * psSpec.ts: the part of a stored spec `tank ps` shows, decoded without the whole Pod schema. Over
 * the stored form of real pods (the Store's own encoding), ps's table and JSON read the same from
 * it as from the whole decode; a bad value in a shown field is rejected by the Pod's own rules (the
 * quick path then runs the full CLI, which names the row); a bad value elsewhere is not its concern.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { imageOf, psTable } from "../../src/cli/psList.js"
import { decodePodEither } from "../../src/spec/decode.js"
import { psSpecOf } from "../../src/store/psSpec.js"
import { encodeSpec } from "../../src/store/rows.js"
import type { PodStatus } from "../../src/store/status.js"

const pods = [
  { name: "plain", containers: [{ name: "app", image: "busybox" }] },
  { name: "empty-labels", labels: {}, containers: [{ name: "app", image: "busybox" }] },
  {
    name: "web",
    labels: { app: "web", "example.com/tier": "front" },
    containers: [
      { name: "app", image: { rootfs: "/srv/rootfs/app" }, readinessProbe: { httpGet: { path: "/", port: 8080 } } },
      {
        name: "side",
        image: "ghcr.io/o/side:1.2@sha256:" + "a".repeat(64),
        startupProbe: { exec: { command: ["true"] } }
      }
    ],
    network: {
      nics: [{ name: "eth0", mode: "bridge" }],
      ports: [{ containerPort: 8080, hostPort: 18080 }, {
        containerPort: 53,
        hostPort: 5353,
        protocol: "udp",
        hostIP: "127.0.0.1"
      }]
    }
  },
  { name: "host", network: "host", containers: [{ name: "app", image: "busybox" }] }
]

const stored = (input: unknown): string => encodeSpec(Either.getOrThrow(decodePodEither(input)))

const running = (name: string, containers: Array<string>): PodStatus => ({
  name,
  phase: "running",
  restarts: 0,
  specRevision: 1,
  updatedAt: "2026-12-03T12:00:00.000Z",
  startedAt: "2026-12-03T12:00:00.000Z",
  containers: containers.map((c) => ({ name: c, state: "running", restarts: 0, ready: true }))
})

describe("ps's view of a stored spec", () => {
  it("reads what ps shows exactly as the whole Pod's decode does", () => {
    const now = Date.parse("2026-12-03T12:05:00.000Z")
    const rows = (view: "whole" | "narrow") =>
      pods.map((p) => {
        const text = stored(p)
        const spec = view === "whole"
          ? Either.getOrThrow(decodePodEither(JSON.parse(text)))
          : Either.getOrThrow(psSpecOf(text))
        return { status: running(p.name, spec.containers.map((c) => c.name)), spec, declaredAt: undefined }
      })
    for (const wide of [false, true]) {
      expect(psTable(rows("narrow"), now, { wide })).toBe(psTable(rows("whole"), now, { wide }))
    }
    // -o json prints the image and the labels (absent for a pod without any, `{}` included).
    const json = (view: "whole" | "narrow") =>
      rows(view).map(({ spec }) => ({ image: imageOf(spec), ...(spec.labels ? { labels: spec.labels } : {}) }))
    expect(json("narrow")).toEqual(json("whole"))
    expect(json("narrow")[1]).toEqual({ image: "busybox" })
    // The stored form has no `{}` labels; a row written otherwise reads as the whole decode reads it.
    const emptyLabels = { name: "p", labels: {}, containers: [{ name: "app", image: "busybox" }] }
    expect(Either.getOrThrow(psSpecOf(JSON.stringify(emptyLabels))).labels).toBeUndefined()
    expect(Either.getOrThrow(decodePodEither(emptyLabels)).labels).toBeUndefined()
  })

  it("rejects a bad value in a field ps shows, by the Pod's own rules", () => {
    const base = { name: "p", containers: [{ name: "app", image: "busybox" }] }
    const bad: Array<[unknown, string]> = [
      [{ ...base, containers: [{ name: "app", image: "not a reference" }] }, "containers[0].image"],
      [{ ...base, containers: [{ name: "app", image: { rootfs: "/a:b" } }] }, "containers[0].image"],
      [{ ...base, containers: [] }, "containers"],
      [{ ...base, containers: [{ name: "Bad Name", image: "busybox" }] }, "containers[0].name"],
      [{ ...base, name: "-x" }, "name"],
      [{ ...base, labels: { "bad key!": "v" } }, "labels"],
      [{ ...base, network: { ports: [{ containerPort: 80, hostPort: 70000 }] } }, "network"],
      [{ ...base, network: { ports: [{ containerPort: 80, hostPort: 80, protocol: "sctp" }] } }, "network"]
    ]
    for (const [spec, field] of bad) {
      const r = psSpecOf(JSON.stringify(spec))
      expect(Either.isLeft(r), JSON.stringify(spec)).toBe(true)
      expect(Either.isLeft(r) && r.left, JSON.stringify(spec)).toContain(field)
      // The whole decode rejects each of them too: the narrow view is never the laxer one on these.
      expect(Either.isLeft(decodePodEither(spec)), JSON.stringify(spec)).toBe(true)
    }
    expect(Either.isLeft(psSpecOf("{ not json"))).toBe(true)
  })

  it("does not decode what ps does not show (the full decode and `tank status` judge those)", () => {
    const spec = { name: "p", restart: "sometimes", containers: [{ name: "app", image: "busybox", cpu: -1 }] }
    expect(Either.isLeft(decodePodEither(spec))).toBe(true)
    expect(Either.getOrThrow(psSpecOf(JSON.stringify(spec))).containers[0]!.image).toBe("busybox")
  })
})
