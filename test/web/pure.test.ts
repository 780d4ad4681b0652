/**
 * The dashboard's pure parts: listen addresses and the loopback rule, the API's row and chart
 * shapes, spec issues located on their lines, terminal flow control, SSE encoding, page escaping.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import type { PodStats } from "../../src/observe/statsModel.js"
import { decodePodEither } from "../../src/spec/decode.js"
import type { PodStatus } from "../../src/store/status.js"
import type { StoredPod } from "../../src/store/Store.js"
import { isLoopback, isWebProblem, parseListen, resolveWeb } from "../../src/web/config.js"
import { makeFlow } from "../../src/web/flow.js"
import { escapeHtml, renderPage } from "../../src/web/pages.js"
import { parseEditorText, parsePath } from "../../src/web/specText.js"
import { encodeEvent } from "../../src/web/sse.js"
import { terminalRequest } from "../../src/web/terminal.js"
import { chartPoint, phaseCounts, podRow, podRows } from "../../src/web/views.js"

const stored = (name: string, containers: number, extra: object = {}): StoredPod => ({
  name,
  spec: Either.getOrThrow(decodePodEither({
    name,
    containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: "busybox", ...extra }))
  })),
  revision: 3,
  createdRevision: 1,
  updatedAt: Date.parse("2026-01-01T00:00:00Z"),
  restartGeneration: 0,
  node: null
})

describe("web config", () => {
  it("parses host:port, IPv6 in brackets; says what is wrong otherwise", () => {
    assert.deepStrictEqual(parseListen("127.0.0.1:4400"), { host: "127.0.0.1", port: 4400 })
    assert.deepStrictEqual(parseListen("[::1]:0"), { host: "::1", port: 0 })
    assert.deepStrictEqual(parseListen("localhost:80"), { host: "localhost", port: 80 })
    assert.include(parseListen("4400") as string, "not host:port")
    assert.include(parseListen("127.0.0.1:70000") as string, "out of range")
    assert.include(parseListen("[zz]:1") as string, "not host:port")
  })

  it("loopback: 127/8, ::1, localhost; nothing else", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) {
      assert.isTrue(isLoopback(h), h)
    }
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "::ffff:10.0.0.1"]) {
      assert.isFalse(isLoopback(h), h)
    }
  })

  it("refuses a non-loopback address without TLS, naming the setting; allows it with TLS", () => {
    assert.isUndefined(resolveWeb(undefined))
    const dflt = resolveWeb({})
    assert.isFalse(isWebProblem(dflt))
    assert.strictEqual(!isWebProblem(dflt) && dflt?.listen, "127.0.0.1:4400")
    const bad = resolveWeb({ listen: "0.0.0.0:4400" })
    assert.isTrue(isWebProblem(bad))
    assert.strictEqual(isWebProblem(bad) && bad.field, "web.listen")
    assert.include(isWebProblem(bad) ? bad.reason : "", "needs TLS")
    const flag = resolveWeb({}, { listen: "10.0.0.5:4400", field: "--web" })
    assert.strictEqual(isWebProblem(flag) && flag.field, "--web")
    const tls = resolveWeb({ listen: "0.0.0.0:4400", tls: { cert: "/etc/c.pem", key: "/etc/k.pem" } })
    assert.isFalse(isWebProblem(tls))
  })
})

describe("web views", () => {
  it("a declared pod the agent has not acted on is a pending row", () => {
    const r = podRow(stored("web", 1), undefined, undefined)!
    assert.strictEqual(r.phase, "pending")
    assert.isTrue(r.declared)
    assert.deepStrictEqual(r.ready, { running: 0, total: 1 })
    assert.deepStrictEqual(r.images, ["busybox"])
    assert.strictEqual(r.since, "2026-01-01T00:00:00.000Z")
  })

  it("running: ready counts running containers; stats round; a deleted pod still stopping is not declared", () => {
    const status: PodStatus = {
      name: "web",
      phase: "running",
      restarts: 2,
      specRevision: 3,
      startedAt: "2026-01-02T00:00:00.000Z",
      addresses: ["10.0.0.20/24"],
      containers: [
        { name: "c0", state: "running", restarts: 0 },
        { name: "c1", state: "backing-off", restarts: 2 }
      ],
      updatedAt: "2026-01-02T00:00:01.000Z"
    }
    const stats = { pod: "web", at: new Date(), containers: [], cpuPercent: 12.345, memoryBytes: 1024 } as PodStats
    const r = podRow(stored("web", 2), status, stats)!
    assert.deepStrictEqual(r.ready, { running: 1, total: 2 })
    assert.strictEqual(r.cpuPercent, 12.3)
    assert.strictEqual(r.since, "2026-01-02T00:00:00.000Z")
    assert.deepStrictEqual(r.addresses, ["10.0.0.20/24"])
    const stopping = podRow(undefined, { ...status, phase: "stopping" }, undefined)!
    assert.isFalse(stopping.declared)
    assert.isUndefined(podRow(undefined, undefined, undefined))
    const rows = podRows([stored("b", 1), stored("a", 1)], [{ ...status, name: "zz", phase: "stopping" }], [])
    assert.deepStrictEqual(rows.map((x) => x.name), ["a", "b", "zz"])
    assert.deepStrictEqual(phaseCounts(rows), { pending: 2, stopping: 1 })
  })

  it("chart points: network rates without loopback, undefined until there is a rate", () => {
    const s = {
      pod: "web",
      at: new Date(10_000),
      containers: [],
      cpuPercent: 50,
      pids: 3,
      network: [
        { name: "lo", rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, rxBytesPerSec: 999, txBytesPerSec: 999 },
        { name: "eth0", rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, rxBytesPerSec: 100, txBytesPerSec: 50 }
      ]
    } as PodStats
    assert.deepStrictEqual(chartPoint(s), { t: 10, cpuPercent: 50, rxBytesPerSec: 100, txBytesPerSec: 50, pids: 3 })
    assert.deepStrictEqual(chartPoint({ pod: "x", at: new Date(0), containers: [] } as PodStats), { t: 0 })
  })
})

describe("web spec editor", () => {
  it("paths back to keys", () => {
    assert.deepStrictEqual(parsePath("containers[0].mounts[12].volume"), ["containers", 0, "mounts", 12, "volume"])
    assert.deepStrictEqual(parsePath(`env["A-B"]`), ["env", "A-B"])
    assert.deepStrictEqual(parsePath(""), [])
  })

  it("an issue points at its field's line, or the nearest existing parent's", () => {
    const text = "---\nname: web\ncontainers:\n  - name: app\n    image: 12\n---\nname: b\ncontainers: []\n"
    const parsed = parseEditorText(text, "editor")
    assert.isTrue(Either.isRight(parsed))
    if (Either.isLeft(parsed)) return
    assert.strictEqual(parsed.right.entries.length, 2)
    const [image, missing] = parsed.right.locate(0, [
      { path: "containers[0].image", message: "bad" },
      { path: "containers[0].limits.memory", message: "bad" }
    ])
    assert.strictEqual(image!.line, 5)
    assert.strictEqual(missing!.line, 4) // no limits: the container's line
    assert.strictEqual(parsed.right.locate(1, [{ path: "containers", message: "x" }])[0]!.line, 8)
  })

  it("YAML syntax errors come back with their line", () => {
    const r = parseEditorText("name: web\ncontainers: [\n", "editor")
    assert.isTrue(Either.isLeft(r))
    if (Either.isRight(r)) return
    assert.include(r.left.message, "not valid YAML")
    assert.isNumber(r.left.line)
  })
})

describe("web terminal and transport", () => {
  it("flow control holds output past the high mark until acks bring it under the low mark", () => {
    const flow = makeFlow(100, 40)
    const resumed: Array<number> = []
    flow.sent(60, () => resumed.push(1))
    flow.sent(50, () => resumed.push(2)) // 110 > 100: held
    assert.deepStrictEqual(resumed, [1])
    flow.ack(30) // 80: still above 40
    assert.deepStrictEqual(resumed, [1])
    flow.ack(-5)
    flow.ack(50) // 30
    assert.deepStrictEqual(resumed, [1, 2])
    assert.strictEqual(flow.unacked(), 30)
  })

  it("terminal query: mode, size, command; bad values named", () => {
    const ok = terminalRequest("web", new URLSearchParams("mode=exec&cols=120&rows=40&cmd=ls&cmd=-l"))
    assert.deepStrictEqual(ok, {
      pod: "web",
      mode: "exec",
      container: undefined,
      command: ["ls", "-l"],
      size: { rows: 40, cols: 120 }
    })
    assert.deepStrictEqual((terminalRequest("web", new URLSearchParams("")) as { command: unknown }).command, ["sh"])
    assert.include(terminalRequest("web", new URLSearchParams("mode=shell")) as string, "mode")
    assert.include(terminalRequest("web", new URLSearchParams("cols=0")) as string, "cols")
  })

  it("SSE events are one data line of JSON", () => {
    assert.strictEqual(encodeEvent({ event: "pod", data: { a: "x\ny" } }), `event: pod\ndata: {"a":"x\\ny"}\n\n`)
    assert.strictEqual(encodeEvent({ event: "e", data: 1, id: "7\n" }), "id: 7\nevent: e\ndata: 1\n\n")
  })

  it("pages escape what they print", () => {
    assert.strictEqual(escapeHtml(`<a href="x">'&`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;")
    const html = renderPage("pod", { script: "/assets/app.js?v=1", style: undefined }, "<x>")
    assert.include(html, `data-pod="&lt;x&gt;"`)
    assert.notInclude(html, "<x>")
    assert.include(renderPage("pods", { script: undefined, style: undefined }), "not built")
  })
})
