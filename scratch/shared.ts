/**
 * What the examples share (not an example itself): the image they run, an in-process agent, and
 * waiting for pods (`waitFor` / `watch` from the API, over the agent's store).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, type Layer, Stream } from "effect"
import * as Agent from "../src/agent/Agent.js"
import { Config, type Status, Tank, waitFor, watch } from "../src/index.js"

/** $TANK_EXAMPLE_IMAGE, else the local registry's busybox (`npx tsx scripts/local-registry.ts`). */
export const exampleImage = (): string => process.env.TANK_EXAMPLE_IMAGE || "127.0.0.1:5000/tank/busybox:latest"

/**
 * A main process that lives until stopped. PID 1 of a pid namespace gets no default signal
 * handlers, so a plain `sleep` would ignore SIGTERM and wait out the grace period: trap it.
 */
export const KEEPALIVE = `trap "exit 0" TERM; while :; do sleep 1 & wait; done`

/**
 * Follow the pod's changes (the store's event feed: `watch`) until `done` says so; print each new
 * phase on the way. For the usual conditions (running, ready, exited, deleted) `waitFor` from the
 * API says it in one call; this is for the others (restarted twice, a new host pid, ...).
 */
export const waitUntil = (
  name: string,
  what: string,
  done: (s: Status.PodStatus) => boolean,
  timeout: Duration.DurationInput = "90 seconds"
) =>
  watch(name).pipe(
    Stream.map((c) => c._tag === "Updated" ? c.status : undefined),
    Stream.tap((s) =>
      Effect.sync(() => console.log(`  ${name}: ${s ? `${s.phase}${s.reason ? ` (${s.reason})` : ""}` : "gone"}`))
    ),
    Stream.filter((s): s is Status.PodStatus => s !== undefined && done(s)),
    Stream.runHead,
    Effect.flatten,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`${name}: not ${what} after ${Duration.format(timeout)}`)
    })
  )

/** Wait until the pod runs (fails at once, naming its state, if it cannot: `waitFor`). */
export const waitRunning = (name: string, timeout: Duration.DurationInput = "90 seconds") =>
  Effect.flatMap(
    waitFor(name, "running", { timeout }),
    (s) => s ? Effect.succeed(s) : Effect.die(new Error(`${name}: no status`))
  )

/** Wait until the agent has torn the pod down (no status left, declared or not). */
export const waitGone = (name: string, timeout: Duration.DurationInput = "60 seconds") =>
  Effect.asVoid(waitFor(name, "deleted", { timeout }))

/**
 * Run `body` and then delete the pods it names and wait until the agent has torn them down — also
 * when `body` fails, so an example never leaves pods behind.
 */
export const withPods = <A, E, R>(names: ReadonlyArray<string>, body: Effect.Effect<A, E, R>) =>
  Effect.ensuring(
    body,
    Effect.forEach(names, (name) =>
      Tank.delete(name).pipe(
        Effect.zipRight(waitGone(name)),
        Effect.tap(() => Effect.sync(() => console.log(`${name} deleted`))),
        Effect.catchAll((e) => Effect.sync(() => console.error(`could not delete ${name}: ${e}`)))
      )).pipe(Effect.asVoid)
  )

/**
 * Run an example with an agent in-process (Agent.layer with the default config, or `options`), the
 * way `npm start` does. Exit code 1 and the error on failure; Ctrl-C interrupts cleanly.
 */
/**
 * Agent options with short restart backoff (defaults: 10 s base, 5 min cap), so restarts show in
 * seconds: operational config (`reconciler.*` in config.yaml), overridden here in code.
 */
export const shortBackoff = (): Agent.AgentOptions => {
  const config = Effect.runSync(Config.load())
  return {
    config: {
      ...config,
      reconciler: { ...config.reconciler, backoffBaseMs: 300, backoffCapMs: 2_000, stopGracePeriodMs: 2_000 }
    }
  }
}

/** What the in-process agent provides to an example: Store, TankConfig, Reconciler, Images. */
export type AgentServices = Layer.Layer.Success<ReturnType<typeof Agent.layer>>

export const runExample = <E>(program: Effect.Effect<void, E, AgentServices>, options: Agent.AgentOptions = {}) => {
  // Tests put macvlan parents in a namespace of their own (a path such as /run/netns/lan-hub).
  const parentNetns = process.env.TANK_EXAMPLE_PARENT_NETNS
  const agent = Agent.layer(parentNetns ? { ...options, runtime: { ...options.runtime, parentNetns } } : options)
  NodeRuntime.runMain(program.pipe(Effect.provide(agent)))
}
