/**
 * exec's whole-exec rehearsal (src/cli/execRehearsal.ts), which runs while dist/exec.blob is built:
 * a real exec path end to end against this process playing the pod (fake monitor, /bin/true as the
 * helper) that succeeds, and leaves nothing behind: no temp dir, no socket, TANK_HELPER as it was.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import { describe, expect, it } from "vitest"
import { rehearseWholeExec } from "../../src/cli/execRehearsal.js"

const ours = () => new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("tank-snapshot-exec-")))

describe("rehearseWholeExec", () => {
  it("runs a whole exec to status 0 and leaves nothing behind", async () => {
    const before = ours()
    const helper = process.env.TANK_HELPER
    await Effect.runPromise(rehearseWholeExec)
    expect(process.env.TANK_HELPER).toBe(helper)
    expect([...ours()].filter((f) => !before.has(f))).toEqual([])
  })

  it("puts TANK_HELPER back when it was set", async () => {
    process.env.TANK_HELPER = "/somewhere/tank-helper"
    try {
      await Effect.runPromise(rehearseWholeExec)
      expect(process.env.TANK_HELPER).toBe("/somewhere/tank-helper")
    } finally {
      delete process.env.TANK_HELPER
    }
  })
})
