// Issue 19: writing the monitor's config on a full disk is a typed bring-up failure, not a defect.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { MonitorSetupFailed } from "../../src/runtime/helper/errors.js"
import { startMonitor } from "../../src/runtime/helper/monitor.js"
import { baseConfig, runDir } from "./harness.js"

describe("startMonitor: the config file cannot be written", () => {
  it.scoped("ENOSPC (/dev/full) fails with MonitorSetupFailed naming the step, the file and the errno", () =>
    Effect.gen(function*() {
      const dir = yield* runDir
      // /dev/full: every write fails with ENOSPC, as on a full data dir.
      const exit = yield* Effect.exit(startMonitor(baseConfig(dir, dir), "/dev/full"))
      assert.isTrue(Exit.isFailure(exit) && !Exit.isInterrupted(exit))
      const failure = Exit.isFailure(exit) ? exit.cause : undefined
      const e = failure?._tag === "Fail" ? failure.error : undefined
      assert.instanceOf(e, MonitorSetupFailed, `a typed failure, not a defect: ${String(failure)}`)
      assert.strictEqual((e as MonitorSetupFailed).step, "config")
      assert.strictEqual((e as MonitorSetupFailed).errno, 28)
      assert.include((e as MonitorSetupFailed).message, "/dev/full")
      assert.include((e as MonitorSetupFailed).message, "ENOSPC")
    }))
})
