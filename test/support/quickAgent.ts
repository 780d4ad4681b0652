/**
 * An in-process agent on a test environment, with restarts and resyncs quick enough for a test
 * to watch a probe kill and restart a container; returns its store. Lives for the test's scope.
 */
import { Context, Effect, Layer } from "effect"
import * as Agent from "../../src/agent/Agent.js"
import { Store } from "../../src/store/Store.js"
import type { TankEnv } from "./tankEnv.js"

export const quickAgentStore = (env: TankEnv) =>
  Effect.map(
    Layer.build(Agent.layer({
      config: {
        ...env.config,
        reconciler: { ...env.config.reconciler, backoffBaseMs: 200, backoffCapMs: 1_000, resyncIntervalMs: 1_000 }
      }
    })),
    (ctx) => Context.get(ctx, Store)
  )
