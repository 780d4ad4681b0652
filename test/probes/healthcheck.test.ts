/**
 * The image HEALTHCHECK (src/probes/healthcheck.ts): docker's config field decoded field by field
 * (a bad duration or count is ignored with a warning naming it, never a crash; a Test that is not
 * one of docker's forms drops the check), and docker's timing on the TestClock: starting, healthy at
 * a success, unhealthy after Retries failures in a row, failures in the start period not counted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Ref, TestClock } from "effect"
import { Either, Schema } from "effect"
import { ImageRunConfig } from "../../src/image/registry/oci.js"
import { decodeDocument, toTankDocuments } from "../../src/kube/documents.js"
import { toKube } from "../../src/kube/toKube.js"
import { decodeHealthcheck, DEFAULTS, healthLoop } from "../../src/probes/healthcheck.js"
import type { ProbeOutcome } from "../../src/probes/timing.js"
import { decodePodEither } from "../../src/spec/decode.js"

const S = 1_000_000_000

describe("decodeHealthcheck", () => {
  it("docker's three forms, durations in nanoseconds, 0 meaning the default", () => {
    assert.deepStrictEqual(
      decodeHealthcheck({
        Test: ["CMD-SHELL", "wget -q -O- http://127.0.0.1/ || exit 1"],
        Interval: 5 * S,
        Retries: 2
      }),
      {
        healthcheck: {
          command: ["/bin/sh", "-c", "wget -q -O- http://127.0.0.1/ || exit 1"],
          name: "image HEALTHCHECK [CMD-SHELL wget -q -O- http://127.0.0.1/ || exit 1]",
          intervalMs: 5000,
          timeoutMs: DEFAULTS.timeoutMs,
          startPeriodMs: 0,
          retries: 2
        },
        warnings: []
      }
    )
    const cmd = decodeHealthcheck({ Test: ["CMD", "cat", "/tmp/ok"], Timeout: 0, StartPeriod: 2 * S })
    assert.deepStrictEqual(cmd.healthcheck?.command, ["cat", "/tmp/ok"])
    assert.strictEqual(cmd.healthcheck?.timeoutMs, DEFAULTS.timeoutMs)
    assert.strictEqual(cmd.healthcheck?.startPeriodMs, 2000)
    assert.deepStrictEqual(decodeHealthcheck({ Test: ["NONE"] }), { warnings: [] })
    assert.deepStrictEqual(decodeHealthcheck({ Test: [] }), { warnings: [] })
    assert.deepStrictEqual(decodeHealthcheck(null), { warnings: [] })
    assert.deepStrictEqual(decodeHealthcheck(undefined), { warnings: [] })
  })

  it("a bad duration or count is ignored with a warning naming the field; the check still runs", () => {
    const d = decodeHealthcheck({
      Test: ["CMD", "true"],
      Interval: "30s",
      Timeout: -1,
      StartPeriod: 1.5,
      Retries: "three"
    })
    assert.deepStrictEqual(
      [d.healthcheck?.intervalMs, d.healthcheck?.timeoutMs, d.healthcheck?.startPeriodMs, d.healthcheck?.retries],
      [DEFAULTS.intervalMs, DEFAULTS.timeoutMs, 0, DEFAULTS.retries]
    )
    assert.deepStrictEqual(d.warnings, [
      `Healthcheck.Interval: "30s" is not a number; the default 30s is used`,
      "Healthcheck.Timeout: -1 is out of range; the default 30s is used",
      "Healthcheck.StartPeriod: 1.5 is out of range; the default 0s is used",
      `Healthcheck.Retries: "three" is not a number; the default 3 is used`
    ])
  })

  it("a Test that cannot be run drops the check, with a warning", () => {
    for (const Test of [["CMD"], ["CMD-SHELL"], ["CMD-SHELL", "a", "b"], ["SHELL", "x"], "true", [1]]) {
      const d = decodeHealthcheck({ Test })
      assert.isUndefined(d.healthcheck, JSON.stringify(Test))
      assert.strictEqual(d.warnings.length, 1)
      assert.match(d.warnings[0]!, /^Healthcheck\.Test: .*; no healthcheck$/)
    }
    assert.match(decodeHealthcheck("yes").warnings[0]!, /^Healthcheck: "yes" is not an object/)
  })

  it("the image config keeps the field as found (whatever its shape, the config still decodes)", () => {
    const c = Schema.decodeUnknownSync(ImageRunConfig)({
      Cmd: ["sh"],
      Healthcheck: { Test: ["CMD", "true"], Interval: "x" }
    })
    assert.deepStrictEqual(c.Healthcheck, { Test: ["CMD", "true"], Interval: "x" })
  })
})

describe("healthLoop", () => {
  const hc = (over: Partial<Parameters<typeof healthLoop>[0]> = {}) => ({
    command: ["true"],
    name: "image HEALTHCHECK [CMD true]",
    intervalMs: 1000,
    timeoutMs: 500,
    startPeriodMs: 0,
    retries: 2,
    ...over
  })
  const run = (script: ReadonlyArray<boolean>, h: ReturnType<typeof hc>, seconds: number) =>
    Effect.gen(function*() {
      let n = 0
      const check = Effect.sync((): ProbeOutcome => {
        n++
        return { ok: script[n - 1] ?? false, detail: `call ${n}` }
      })
      const seen = yield* Ref.make<Array<string>>([])
      const fiber = yield* Effect.fork(healthLoop(h, check, (health, changed) =>
        Ref.update(seen, (xs) => [
          ...xs,
          `${Date.parse(health.at!) / 1000}s ${health.status} ${health.failingStreak}${changed ? " *" : ""}`
        ])))
      yield* TestClock.adjust(`${seconds} seconds`)
      yield* Fiber.interrupt(fiber)
      return yield* Ref.get(seen)
    })

  it.effect("starting, healthy at a success, unhealthy after Retries failures in a row, healthy again", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* run([false, true, false, true, false, false, false, true], hc(), 8), [
        "1s starting 1", // one failure: not yet unhealthy, still starting
        "2s healthy 0 *",
        "3s healthy 1",
        "4s healthy 0",
        "5s healthy 1",
        "6s unhealthy 2 *",
        "7s unhealthy 3",
        "8s healthy 0 *"
      ])
    }))

  it.effect("failures within the start period do not count while starting", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* run([false, false, false, false], hc({ startPeriodMs: 2500 }), 4), [
        "1s starting 0",
        "2s starting 0",
        "3s starting 1",
        "4s unhealthy 2 *"
      ])
    }))

  it.effect("a check that takes longer than the timeout has failed", () =>
    Effect.gen(function*() {
      const slow = Effect.sleep("2 seconds").pipe(Effect.as<ProbeOutcome>({ ok: true, detail: "late" }))
      const seen = yield* Ref.make<Array<string>>([])
      const fiber = yield* Effect.fork(
        healthLoop(hc({ retries: 1 }), slow, (h, _, r) => Ref.update(seen, (xs) => [...xs, `${h.status} ${r.detail}`]))
      )
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(yield* Ref.get(seen), ["unhealthy no answer within 0.5s (timeoutSeconds)"])
    }))
})

describe("the spec's healthcheck field", () => {
  const pod = (c: Record<string, unknown>, init = false) => ({
    name: "p",
    containers: [{ name: "app", image: "busybox", ...(init ? {} : c) }],
    ...(init ? { initContainers: [{ name: "init", image: "busybox", ...c }] } : {})
  })
  it("show | restart | off; anything else is refused naming the field; not on init containers", () => {
    for (const mode of ["show", "restart", "off"]) {
      assert.strictEqual(
        Either.getOrThrow(decodePodEither(pod({ healthcheck: mode }))).containers[0]!.healthcheck,
        mode
      )
    }
    const bad = decodePodEither(pod({ healthcheck: true }))
    assert.isTrue(Either.isLeft(bad))
    assert.match(Either.isLeft(bad) ? bad.left.message : "", /containers\.0\.healthcheck|containers\[0\]\.healthcheck/)
    const init = decodePodEither(pod({ healthcheck: "restart" }, true))
    assert.match(Either.isLeft(init) ? init.left.message : "", /init containers run to completion/)
  })

  it("survives -o kube and back (Kubernetes has no such field: it rides in tank/extra)", () => {
    const p = Either.getOrThrow(decodePodEither(pod({ healthcheck: "restart" })))
    const [doc] = toTankDocuments([{ spec: toKube(p), where: "-" }])
    assert.strictEqual(Either.getOrThrow(decodeDocument(doc!)).containers[0]!.healthcheck, "restart")
  })
})
