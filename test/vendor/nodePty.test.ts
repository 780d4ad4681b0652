/**
 * The node-pty adapter: written for one version (a test fails when another is pinned or installed),
 * and what it relies on holds there: a large write is queued where the adapter looks (the backlog
 * is seen, then drains to 0) and is delivered in full; a terminal without the queue is refused
 * loudly instead of reading as "nothing queued".
 */
import { describe, expect, it } from "@effect/vitest"
import * as pty from "node-pty"
import { PackageInternalMissing } from "../../src/vendor/internal.js"
import { NODE_PTY_VERSION, writeBacklog } from "../../src/vendor/nodePty.js"
import { versionsOf } from "./versions.js"

const SIZE = 1024 * 1024

describe("node-pty adapter", () => {
  it("was written for the node-pty version package.json pins and node_modules holds", () => {
    expect(versionsOf("node-pty")).toEqual({ installed: NODE_PTY_VERSION, pinned: NODE_PTY_VERSION })
  })

  it("sees a large write queued, then drained, and the write is delivered in full", async () => {
    // Raw mode without echo: bytes pass unchanged and nothing comes back but the count.
    const term = pty.spawn("/bin/sh", ["-c", `stty raw -echo; echo ready; head -c ${SIZE} | wc -c`], {
      cols: 80,
      rows: 24,
      env: { PATH: "/usr/bin:/bin" }
    })
    try {
      let out = ""
      const seen = (text: RegExp) =>
        new Promise<void>((resolve) => {
          const check = () => text.test(out) && resolve()
          term.onData(check)
          check()
        })
      term.onData((d) => (out += d))
      await seen(/ready/)
      expect(writeBacklog(term)).toBe(0)
      term.write(Buffer.alloc(SIZE, "a"))
      // The kernel's tty buffer takes a few KiB at once: the rest must be in the queue we read.
      expect(writeBacklog(term)).toBeGreaterThan(SIZE / 2)
      // The count, not the exit: node-pty may report the exit before the last output.
      await seen(new RegExp(`ready[\\s\\S]*\\b${SIZE}\\b`))
      // The last write's completion (a thread-pool callback) may come after the output it caused.
      for (let i = 0; i < 200 && writeBacklog(term) > 0; i++) await new Promise((r) => setTimeout(r, 5))
      expect(writeBacklog(term)).toBe(0)
    } finally {
      term.kill()
    }
  })

  it("a terminal without the write queue is refused, naming package, pinned version and internal", () => {
    const fake = { _writeStream: {} } as unknown as pty.IPty
    expect(() => writeBacklog(fake)).toThrow(PackageInternalMissing)
    expect(() => writeBacklog(fake)).toThrow(
      `node-pty: internal CustomWriteStream#_writeQueue is not an array; Tank relies on it as of node-pty ${NODE_PTY_VERSION}`
    )
    expect(() => writeBacklog({} as pty.IPty)).toThrow("node-pty: internal UnixTerminal#_writeStream is absent")
  })
})
