/**
 * `tank daemon`: the agent in the foreground. SIGINT/SIGTERM shut it down gracefully (NodeRuntime.runMain
 * interrupts the fiber, the layer graph's finalizers run); pods keep running unless asked otherwise.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"
import { dataDirOption, describe, out, resolveDataDir } from "./common.js"

export const daemon = Command.make(
  "daemon",
  {
    dataDir: dataDirOption,
    stopPodsOnExit: Options.boolean("stop-pods-on-exit").pipe(
      Options.withDescription("Stop every pod when the agent exits (default: leave them running for the next agent).")
    ),
    web: Options.text("web").pipe(
      Options.withPseudoName("HOST:PORT"),
      Options.withDescription(
        "Serve the web dashboard there (e.g. 127.0.0.1:4400); prints its URL with the access token. " +
          "Non-loopback addresses need web.tls in the config."
      ),
      Options.optional
    )
  },
  ({ dataDir, stopPodsOnExit, web }) =>
    Effect.gen(function*() {
      const dir = yield* resolveDataDir(dataDir)
      const Agent = yield* Effect.promise(() => import("../agent/Agent.js"))
      yield* Effect.logInfo(`tank agent starting (pid ${process.pid})`)
      return yield* Agent.run({
        ...(dir._tag === "Some" ? { dataDir: dir.value } : {}),
        ...(stopPodsOnExit ? { stopPodsOnExit: true } : {}),
        // The URL with the token goes to stdout once (like Jupyter), never into the log.
        web: {
          ...(web._tag === "Some" ? { listen: web.value } : {}),
          // If stdout is gone the URL is lost, not the agent: `tank web url` prints it again.
          onListening: ({ withToken }) => Effect.ignore(out(`web dashboard: ${withToken}`))
        }
      })
    }).pipe(
      Effect.onInterrupt(() => Effect.logInfo("tank agent stopped"))
    )
).pipe(
  Command.withDescription(
    describe(
      "daemon",
      "Run the Tank agent in the foreground: it converges the machine to the declared pods and keeps it there.",
      [
        ["sudo tank daemon", "run the agent for the default data dir (Ctrl-C stops it; pods keep running)"],
        ["sudo tank daemon --data-dir /srv/tank --stop-pods-on-exit", "another data dir; stop all pods on exit"],
        ["sudo tank daemon --web 127.0.0.1:4400", "also serve the web dashboard (prints its URL with the token)"],
        [
          "sudo TANK_ETCD_ENDPOINTS=https://10.0.0.5:2379 TANK_NODE_NAME=web-1 tank daemon",
          "join a cluster as node web-1 (desired state in etcd, tls from the config; see docs/cluster.md)"
        ]
      ],
      "One agent per data dir: a second one exits with status 1 naming the running agent's pid. Needs root.\n" +
        "In cluster mode (store.etcd) the agent registers its node, may lead the scheduler, and runs only the\n" +
        "pods bound to its node."
    )
  )
)
