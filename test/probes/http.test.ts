import { describe, expect, it } from "vitest"
import { httpRequest, readStatus, STATUS_LINE_MAX, statusPasses } from "../../src/probes/http.js"

const action = { path: "/healthz?x=1", port: 8080, scheme: "HTTP" as const }

describe("httpGet probe: request and status line", () => {
  it("sends a GET with Host, closes the connection, and the probe's headers replace ours", () => {
    expect(httpRequest(action, "10.0.0.5")).toBe(
      "GET /healthz?x=1 HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nUser-Agent: tank-probe\r\nAccept: */*\r\n" +
        "Connection: close\r\n\r\n"
    )
    const r = httpRequest({
      ...action,
      httpHeaders: [{ name: "host", value: "app.example" }, { name: "X-A", value: "b" }]
    }, "127.0.0.1")
    expect(r).toContain("\r\nhost: app.example\r\nX-A: b\r\n")
    expect(r).not.toContain("Host: 127.0.0.1")
  })

  it("reads only the status line; 200..399 passes as in Kubernetes", () => {
    expect(readStatus(Buffer.from("HTTP/1.1 20"))).toEqual({ _tag: "more" })
    expect(readStatus(Buffer.from("HTTP/1.0 404 Not Found\r\nContent-Length: 9"))).toEqual({
      _tag: "status",
      code: 404,
      line: "HTTP/1.0 404 Not Found"
    })
    expect(readStatus(Buffer.from("HTTP/1.1 302\n"))).toMatchObject({ _tag: "status", code: 302 })
    expect(readStatus(Buffer.from("SSH-2.0-OpenSSH\r\n"))).toMatchObject({ _tag: "bad" })
    expect(readStatus(Buffer.alloc(STATUS_LINE_MAX, "a"))).toMatchObject({ _tag: "bad" })
    expect([199, 200, 302, 399, 400, 500].map(statusPasses)).toEqual([false, true, true, true, false, false])
  })
})
