/**
 * What a lone start waits for between its steps (issue 21): the sandbox's request to the helper
 * goes out before its stage's synchronous steps hold the agent's thread, and a `network: "none"`
 * pod's network step touches nothing (the helper's sandbox has `lo` up already). The steps here are
 * the real ones; what they would call of the machine is a double that fails the test when called.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { podLayout } from "../../src/runtime/layout.js"
import { network } from "../../src/runtime/steps/05-network.js"
import { stages } from "../../src/runtime/steps/index.js"
import { type Bringup, openJournal, runSteps } from "../../src/runtime/steps/runner.js"
import type { AnyStep, LiveOutputs, Run, StepDeps } from "../../src/runtime/steps/Step.js"
import { decodePod } from "../../src/spec/decode.js"
import { removeLooseRunRoot } from "../support/tmp.js"

describe("the steps' order within a stage", () => {
  it("the sandbox goes first in its stage (its helper works while images and cgroups run)", () => {
    const stage = stages.find((s) => s.some((x) => x.name === "sandbox"))!
    assert.deepStrictEqual(stage.map((s) => s.name), ["sandbox", "images", "cgroups"])
  })

  it.scopedLive("a stage's first step runs up to its first wait before the next one begins", () =>
    Effect.gen(function*() {
      // Why the order matters: the steps of a stage share one thread; a step that never waits
      // (images, cgroups) runs to its end once begun, so a request placed after it goes out late.
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-steppath-"))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          fs.rmSync(dataDir, { recursive: true, force: true })
          removeLooseRunRoot(dataDir)
        })
      )
      const layout = podLayout(dataDir, "p")
      const pod = yield* decodePod({ name: "p", containers: [{ name: "a", image: "busybox" }] })
      const seen: Array<string> = []
      const reply = yield* Deferred.make<void>()
      const step = (name: "sandbox" | "images", acquire: Effect.Effect<void>) =>
        ({ name, acquire: () => acquire, release: () => Effect.void }) as unknown as AnyStep
      const asking = step(
        "sandbox",
        Effect.sync(() => seen.push("request sent")).pipe(Effect.zipRight(Deferred.await(reply)))
      )
      const busy = step(
        "images",
        Effect.sync(() => {
          seen.push("synchronous work")
          Deferred.unsafeDone(reply, Exit.void)
        })
      )
      const runScope = yield* Scope.make()
      const journal = yield* openJournal(layout, "p", "{}", true)
      const b: Bringup = {
        deps: {} as StepDeps,
        pod,
        layout,
        journal,
        runScope,
        progress: () => Effect.void
      }
      yield* runSteps([[asking, busy]], b, new Map(), {})
      assert.deepStrictEqual(seen, ["request sent", "synchronous work"])
      yield* Scope.close(runScope, Exit.void)
    }))
})

describe("network step", () => {
  const runOf = (pod: Run["pod"], live: LiveOutputs): Run =>
    ({
      deps: {
        podNetworks: {
          setup: () => Effect.die("the network was set up for a pod with network none"),
          release: () => Effect.void
        }
      } as unknown as StepDeps,
      pod,
      layout: podLayout("/nonexistent", pod.name),
      // Not used by this step (its own scope is the one the runner extends it with).
      scope: undefined,
      results: () => ({ sandbox: { dir: "/nonexistent/ns", net: "/nonexistent/ns/net" } }),
      save: () => Effect.void,
      setPhase: () => Effect.void,
      live,
      hook: () => Effect.void,
      progress: () => Effect.void
    }) as unknown as Run

  it.scoped("network none: nothing is set up (lo is the sandbox's); no addresses, DNS or links", () =>
    Effect.gen(function*() {
      const pod = yield* decodePod({ name: "p", containers: [{ name: "a", image: "busybox" }] })
      assert.strictEqual(pod.network, "none")
      const live: LiveOutputs = {}
      const result = yield* network.acquire(runOf(pod, live))
      assert.deepStrictEqual(result, { addresses: [], dns: [], hostLinks: [] })
      assert.deepStrictEqual(live, { addresses: [], dns: [] })
    }))

  it.scoped("a pod with NICs still goes through the pod networks", () =>
    Effect.gen(function*() {
      const pod = yield* decodePod({
        name: "p",
        network: { nics: [{ name: "eth0", parent: "auto", address: "10.9.0.2/24" }] },
        containers: [{ name: "a", image: "busybox" }]
      })
      const exit = yield* Effect.exit(network.acquire(runOf(pod, {})))
      assert.isTrue(Exit.isFailure(exit) && String(exit.cause).includes("network none"))
    }))
})
