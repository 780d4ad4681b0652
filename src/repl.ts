/**
 * `npm start`: a TypeScript REPL with the agent running in-process (like the original's iex), or,
 * when an agent already runs for the data dir, as a client of its store.
 *
 * In scope: Tank, Api, Effect, Stream, Schema, Layer, Host, Agent, and helpers:
 *   run(effect)            run an Effect with the agent's layers (Store, Config, Images, ...)
 *   exec(pod, argv, opts)  an interactive process in a running pod (gives the terminal back after)
 *   attach(pod)            take over a tty pod's main process (Ctrl-P Ctrl-Q detaches)
 * Input is TypeScript (types are stripped), with top-level await.
 */
import { Cause, Effect, Exit, Layer, ManagedRuntime, Schema, Stream } from "effect"
import { transformSync } from "esbuild"
import * as repl from "node:repl"
import * as Agent from "./agent/Agent.js"
import * as Api from "./api/Api.js"
import * as Config from "./config/Config.js"
import { Host } from "./host/Host.js"
import * as Tank from "./Tank.js"

const config = await Effect.runPromise(Config.load())
const holder = Agent.runningAgent(config.dataDir)
let dashboard: string | undefined
const layer = holder === null
  ? Agent.layer({
    config,
    // `web:` in the config (or TANK_WEB=127.0.0.1:4400): the dashboard runs in this process too.
    web: { onListening: ({ withToken }) => Effect.sync(() => void (dashboard = withToken)) }
  })
  : Layer.merge(Tank.StoreLive, Layer.succeed(Config.TankConfig, config))
const runtime = ManagedRuntime.make(layer as Layer.Layer<Layer.Layer.Success<typeof layer>, unknown>)
await runtime.runPromise(Effect.void).catch((e) => {
  console.error(`tank: cannot start: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})

/** Run an Effect with the agent's layers; a failure rejects with the typed error itself (e.g. PodNotFound). */
const run = async <A, E>(eff: Effect.Effect<A, E, any>): Promise<A> => {
  const exit = await runtime.runPromiseExit(eff as Effect.Effect<A, E, never>)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

console.log(
  [
    `Tank REPL — data dir ${config.dataDir}, store ${config.storeFile}`,
    holder === null
      ? "agent: running in this process (pods keep running when you leave, unless stopPodsOnExit)"
      : `agent: pid ${holder} owns this data dir; this REPL is a client of its store`,
    ...(dashboard ? [`web dashboard: ${dashboard}`] : []),
    `try: await run(Tank.apply({ name: "hi", containers: [{ name: "c", image: "busybox" }] }))`,
    `     await run(Tank.status())   ·   await exec("hi", ["sh"])   ·   .exit or Ctrl-D to leave`
  ].join("\n")
)

const server = repl.start({ prompt: "tank> ", useGlobal: true, breakEvalOnSigint: true })
const defaultEval = server.eval
// TypeScript in, JavaScript out; the default eval then handles top-level await.
const tsEval: repl.REPLEval = function(this: repl.REPLServer, code, context, file, cb) {
  let js = code
  try {
    js = transformSync(code, { loader: "ts", target: "node20" }).code
  } catch {
    // Let the default eval report the syntax error (or ask for more input).
  }
  defaultEval.call(this, js, context, file, cb)
}
;(server as unknown as { eval: repl.REPLEval }).eval = tsEval

/** Pause the REPL while something else owns the terminal, then give it back. */
const withTerminal = async <A>(f: () => Promise<A>): Promise<A> => {
  server.pause()
  try {
    return await f()
  } finally {
    if (process.stdin.isTTY) process.stdin.setRawMode(true) // the REPL's own mode
    server.resume()
  }
}

const interactive = await import("./exec/index.js").catch(() => undefined)
Object.assign(server.context, {
  Tank,
  Api,
  Agent,
  Config,
  Effect,
  Stream,
  Schema,
  Layer,
  Host,
  run,
  exec: (pod: string, argv: ReadonlyArray<string> = ["sh"], opts: Record<string, unknown> = {}) =>
    interactive
      ? withTerminal(() => run(interactive.exec(pod, argv, { tty: true, ...opts })))
      : Promise.reject(new Error("exec is not available in this build")),
  attach: (pod: string, opts: Record<string, unknown> = {}) =>
    interactive
      ? withTerminal(() => run(interactive.attach(pod, opts)))
      : Promise.reject(new Error("attach is not available in this build"))
})

server.on("exit", () => {
  void runtime.dispose().finally(() => process.exit(0))
})
