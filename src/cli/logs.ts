/**
 * `tank logs [-f] [--tail N] [--since T] [--until T] [-t] [-c C] POD | -l SELECTOR`: a pod's output from
 * its log files (written by the monitors, so it works without the agent and after the pod ended).
 * With -l, every pod the selector picks, each line prefixed `[pod/NAME] ` (kubectl's --prefix): one
 * pod after the other, or with -f all followed at once, merged as lines arrive.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import type * as Logs from "../observe/logs.js"
import {
  CliExit,
  dataDirOption,
  describe,
  ExitCode,
  jsonOption,
  podArg,
  selectNames,
  selectorOption,
  withStore
} from "./common.js"
import { type StdStream, write } from "./stdio.js"

export const logs = Command.make(
  "logs",
  {
    dataDir: dataDirOption,
    json: jsonOption.pipe(Options.withDescription("One JSON object per line (time, container, stream, text).")),
    follow: Options.boolean("follow").pipe(
      Options.withAlias("f"),
      Options.withDescription("Keep printing new output (across restarts) until interrupted.")
    ),
    tail: Options.integer("tail").pipe(
      Options.withPseudoName("N"),
      Options.withDescription("Only the last N lines of history."),
      Options.optional
    ),
    since: Options.text("since").pipe(
      Options.withPseudoName("TIME"),
      Options.withDescription("Only output at or after TIME: RFC 3339, unix seconds, or a duration ago (10m, 1h30m)."),
      Options.optional
    ),
    until: Options.text("until").pipe(
      Options.withPseudoName("TIME"),
      Options.withDescription("Only output before TIME (same forms as --since)."),
      Options.optional
    ),
    timestamps: Options.boolean("timestamps").pipe(
      Options.withAlias("t"),
      Options.withDescription("Prefix each line with its timestamp.")
    ),
    container: Options.text("container").pipe(
      Options.withAlias("c"),
      Options.withDescription("One container (default: all, merged by time)."),
      Options.optional
    ),
    selector: selectorOption,
    pod: podArg.pipe(Args.withDescription("The pod (or -l SELECTOR)."), Args.optional)
  },
  (o) =>
    withStore(o.dataDir, (config) =>
      Effect.gen(function*() {
        const [LogsModule, Format, Config, NodeView, { Store }] = yield* Effect.promise(() =>
          Promise.all([
            import("../observe/logs.js"),
            import("../observe/format.js"),
            import("../config/Config.js"),
            import("../cluster/nodeView.js"),
            import("../store/Store.js")
          ])
        )
        const named = Option.toArray(o.pod)
        const pods = [...(yield* selectNames(named, o.selector))].sort()
        if (pods.length === 0) {
          return yield* new CliExit({
            code: Option.isNone(o.selector) ? ExitCode.usage : ExitCode.error,
            message: Option.isNone(o.selector) ? "name a pod, or give -l SELECTOR" : "no pod matches the selector"
          })
        }
        // Log files live on the node that runs the pod (cluster mode): refuse elsewhere, naming it.
        if (config.etcd) {
          for (const pod of pods) yield* Effect.flatMap(Store, (s) => NodeView.ensureLocal(s, config.node.name, pod))
        }
        const prefix = Option.isNone(o.container)
        // The pod's name on each line once a selector may pick several (kubectl logs -l --prefix).
        const podPrefix = Option.isSome(o.selector)
        const options = {
          follow: o.follow,
          ...(Option.isSome(o.tail) ? { tail: o.tail.value } : {}),
          ...(Option.isSome(o.since) ? { since: o.since.value } : {}),
          ...(Option.isSome(o.until) ? { until: o.until.value } : {}),
          ...(Option.isSome(o.container) ? { container: o.container.value } : {})
        }
        const perPod = pods.map((pod) => LogsModule.logs(pod, options).pipe(Stream.map((e) => ({ pod, e }))))
        // Followed: all at once (each may never end); else one pod's history after the other.
        const entries = o.follow
          ? Stream.mergeAll(perPod, { concurrency: "unbounded" })
          : Stream.concatAll(Chunk.fromIterable(perPod))
        const containers = new Map<string, Set<string>>()
        const text = ({ e, pod }: { pod: string; e: Logs.LogEntry }) => {
          if (o.json) return JSON.stringify({ ...(podPrefix ? { pod } : {}), ...Format.logEntryJson(e) }) + "\n"
          const seen = containers.get(pod) ?? new Set<string>()
          containers.set(pod, seen.add(e.container))
          return (podPrefix ? `[pod/${pod}] ` : "") +
            Format.formatLogEntry(e, { timestamps: o.timestamps, container: prefix && seen.size > 1 }) +
            (e.partial ? "" : "\n")
        }
        // One write per chunk of entries and stream, each waiting for the reader (backpressure).
        // stderr output goes to stderr, as docker logs does (not with --json); a tty's is one stream.
        yield* entries.pipe(
          Stream.runForEachChunk((chunk) =>
            Effect.forEach(
              Chunk.toReadonlyArray(chunk).reduce<Array<{ stream: StdStream; text: string }>>((runs, e) => {
                const stream: StdStream = !o.json && e.e.stream === "stderr" ? "stderr" : "stdout"
                const last = runs[runs.length - 1]
                if (last?.stream === stream) last.text += text(e)
                else runs.push({ stream, text: text(e) })
                return runs
              }, []),
              (run) => write(run.stream, run.text),
              { discard: true }
            )
          ),
          Effect.provide(Layer.succeed(Config.TankConfig, config))
        )
      }), { readOnly: true })
).pipe(Command.withDescription(describe(
  "logs",
  "Print a pod's output (stdout to stdout, stderr to stderr), from its log files.",
  [
    ["tank logs web", "everything kept for pod \"web\""],
    ["tank logs -f --tail 20 web", "the last 20 lines, then follow"],
    ["tank logs --since 10m -t web", "the last ten minutes, with timestamps"],
    ["tank logs -c sidecar --json web | jq -r .text", "one container, as JSON lines"],
    ["tank logs -f -l app=web", "every pod labelled app=web, followed, each line prefixed [pod/NAME]"]
  ],
  "Logs outlive the pod's processes (and, with logs.keepOnDelete, the pod itself)."
)))
