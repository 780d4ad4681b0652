/**
 * Api.apply / Api.applyAll take Kubernetes Pod manifests (and kind List) next to Tank specs, through
 * the in-memory store: what the web editor and scripts get, without the CLI.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import * as Api from "../../src/api/Api.js"
import { InvalidSpec } from "../../src/spec/decode.js"
import { layerMemory } from "../../src/store/memory.js"

const manifest = (name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, ...metadata },
  spec: { containers: [{ name: "app", image: "busybox", command: ["sleep", "1d"] }], ...spec }
})

const warningsOf = <A, E, R>(eff: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) {
        warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      }
    })
    return eff.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Effect.map((a) => [a, warnings] as const)
    )
  })

describe("Api with Kubernetes manifests", () => {
  it.effect("apply converts a Pod manifest; its ignored fields are logged as warnings naming their paths", () =>
    Effect.gen(function*() {
      const [stored, warnings] = yield* warningsOf(
        Api.apply(manifest("web", { restartPolicy: "OnFailure", dnsPolicy: "ClusterFirst" }, { namespace: "prod" }))
      )
      assert.strictEqual(stored.outcome, "created")
      const pod = yield* Api.get("web")
      assert.strictEqual(pod.restart, "on_failure")
      assert.deepStrictEqual(pod.containers[0]!.command, ["sleep", "1d"])
      assert.isFalse("namespace" in pod)
      assert.strictEqual(warnings.length, 2)
      assert.match(warnings[0]!, /metadata\.namespace: Tank has no namespaces/)
      assert.match(warnings[1]!, /spec\.dnsPolicy: /)
      // The same manifest again is the same pod.
      assert.strictEqual((yield* Api.apply(manifest("web", { restartPolicy: "OnFailure" }))).outcome, "unchanged")
    }).pipe(Effect.provide(layerMemory)))

  it.effect("applyAll expands a kind List; one refused item stores nothing and is named by its path", () =>
    Effect.gen(function*() {
      const list = { apiVersion: "v1", kind: "List", items: [manifest("a"), manifest("b")] }
      const stored = yield* Api.applyAll([list, { name: "c", containers: [{ name: "m", image: "x" }] }], "pods.yaml")
      assert.deepStrictEqual(stored.map((p) => p.name), ["a", "b", "c"])
      const bad = { ...list, items: [manifest("d"), manifest("e", { hostPID: true })] }
      const e = yield* Effect.flip(Api.applyAll([bad], "more.yaml"))
      assert.instanceOf(e, InvalidSpec)
      assert.strictEqual(e.source, "more.yaml#1, items[1]")
      assert.deepStrictEqual(e.issues.map((i) => i.path), ["spec.hostPID"])
      assert.deepStrictEqual((yield* Api.list).map((p) => p.name), ["a", "b", "c"])
    }).pipe(Effect.provide(layerMemory)))

  it.effect("apply refuses a List (several pods) and names Tank's own issues by the manifest's paths", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Api.apply({ apiVersion: "v1", kind: "List", items: [manifest("a"), manifest("b")] }))
      assert.match(e.message, /a List of 2 pods: use applyAll/)
      const bad = yield* Effect.flip(
        Api.apply(manifest("x", { containers: [{ name: "app", image: "busybox", workingDir: "relative" }] }))
      )
      assert.instanceOf(bad, InvalidSpec)
      assert.deepStrictEqual(bad.issues.map((i) => i.path), ["spec.containers[0].workingDir"])
    }).pipe(Effect.provide(layerMemory)))
})
