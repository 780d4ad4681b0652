// The helper edge of the one exit type: the helper's exit record (JSON, decoded by its schema) → Ending.
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { fromExitRecord, oomKill } from "../../src/runtime/ending.js"
import { ExitRecord } from "../../src/runtime/helper/schema.js"

const base = { version: 1, pid: 42, startTime: 1, finishedAt: "2026-01-01T00:00:00Z" }
const decode = Schema.decodeUnknownSync(ExitRecord)

describe("fromExitRecord", () => {
  it("maps exits, signals (with the OOM verdict) and a setup failure seen only in the record", () => {
    expect(fromExitRecord(decode({ ...base, reason: "exited", exitCode: 3 }), false)).toEqual({
      _tag: "Exited",
      code: 3
    })
    expect(fromExitRecord(decode({ ...base, reason: "signaled", signal: 15 }), false)).toEqual({
      _tag: "Signaled",
      signal: 15
    })
    expect(fromExitRecord(decode({ ...base, reason: "signaled", signal: 9 }), true)).toEqual(oomKill)
    const setup = decode({
      ...base,
      reason: "setup_failed",
      setupError: { step: "exec", errno: 2, message: "no such file" }
    })
    expect(fromExitRecord(setup, false)).toEqual({ _tag: "Exited", code: 127 })
  })
})
