/**
 * `tank status [POD]`: the observed status in detail (what the agent last wrote to the store).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect, Option } from "effect"
import { printable } from "../spec/printable.js"
import type { ContainerStatus, Health, PodStatus } from "../store/status.js"
import { dataDirOption, describe, jsonOption, podArg, withStore } from "./common.js"
import { formatOf, outputOption, printListing } from "./output.js"
import { ageSince, describeExit, renderTable, shortExit } from "./table.js"

/** "in 7s", or "passed" once the time is behind us. */
const untilText = (iso: string, now: number) => {
  const ms = Date.parse(iso) - now
  return Number.isNaN(ms) ? "?" : ms <= 0 ? "passed" : `in ${Math.ceil(ms / 1000)}s`
}

/** "yes", "no (why)", or nothing when the reader did not derive it. */
const readyText = (s: { readonly ready?: boolean | undefined; readonly readyReason?: string | undefined }) =>
  s.ready === undefined ? undefined : s.ready ? "yes" : s.readyReason ? `no (${s.readyReason})` : "no"

/** The image HEALTHCHECK's verdict as docker words it: "unhealthy (3 failures in a row: exit 1: ...)". */
export const healthText = (h: Health): string => {
  const streak = h.failingStreak > 0 ? `${h.failingStreak} failure${h.failingStreak > 1 ? "s" : ""} in a row` : ""
  const why = [streak, h.output].filter((x) => x !== undefined && x !== "").join(": ")
  return why ? `${h.status} (${why})` : h.status
}

/** A status as `key: value` lines (pure). */
export const statusText = (s: PodStatus, now: number): string => {
  const lines: Array<[string, string | undefined]> = [
    ["Name", s.name],
    ["Phase", s.phase],
    // Cluster mode: the node that wrote this status (runs, or last ran, the pod).
    ["Node", s.node],
    ["Reason", s.reason],
    // terminating: when the workload is killed if it has not stopped by then.
    ["Grace deadline", s.graceDeadline ? `${s.graceDeadline} (${untilText(s.graceDeadline, now)})` : undefined],
    // unknown: when the pod's node was last heard from.
    ["Last heartbeat", s.lastHeartbeat ? `${s.lastHeartbeat} (${ageSince(s.lastHeartbeat, now)} ago)` : undefined],
    // Derived by readers (src/api/readiness.ts); only a running pod says why it is not ready.
    ["Ready", readyText(s)],
    ["Health", s.health ? healthText(s.health) : undefined],
    ["Restarts", String(s.restarts)],
    ["Started", s.startedAt ? `${s.startedAt} (${ageSince(s.startedAt, now)} ago)` : undefined],
    ["Host PID", s.hostPid !== undefined ? String(s.hostPid) : undefined],
    ["Addresses", s.addresses?.length ? s.addresses.join(", ") : undefined],
    [
      "User namespace",
      s.userNamespace
        ? `container ids 0-${s.userNamespace.size - 1} are host uids ${s.userNamespace.hostUid}-${
          s.userNamespace.hostUid + s.userNamespace.size - 1
        }, gids ${s.userNamespace.hostGid}-${s.userNamespace.hostGid + s.userNamespace.size - 1}`
        : undefined
    ],
    ["Last exit", s.lastExit ? `${describeExit(s.lastExit)} at ${s.lastExit.at}` : undefined],
    ["Next restart", s.nextRestartAt],
    ["Spec revision", String(s.specRevision)],
    ["Agent PID", s.agentPid !== undefined ? String(s.agentPid) : undefined],
    ["Updated", s.updatedAt]
  ]
  const shown = lines.filter((l): l is [string, string] => l[1] !== undefined).map(([k, v]): [string, string] => [
    k,
    printable(v, 4000)
  ])
  const width = Math.max(...shown.map(([k]) => k.length)) + 1
  const text = shown.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join("\n") + "\n"
  if (!s.containers?.length) return text
  // Why each running container is not ready, or how its image healthcheck reads, under the table.
  const notes = s.containers.flatMap((c) => [
    ...(c.state === "running" && c.ready === false
      ? [`  ${c.name} not ready: ${printable(c.readyReason ?? "?", 2000)}`]
      : []),
    ...(c.health ? [`  ${c.name} health: ${printable(healthText(c.health), 2000)}`] : [])
  ])
  return text + "Containers:\n" + containersTable(s.containers, now) + notes.map((l) => `${l}\n`).join("")
}

/** One row per container of a pod with several: its own state, restarts, pid, last exit. */
const containersTable = (cs: ReadonlyArray<ContainerStatus>, now: number): string =>
  renderTable(
    ["NAME", "STATE", "READY", "HEALTH", "RESTARTS", "AGE", "HOST PID", "LAST EXIT", "NEXT RESTART"],
    cs.map((c) => [
      c.name,
      c.state,
      c.ready === undefined ? "-" : c.ready ? "yes" : "no",
      c.health?.status ?? "-",
      String(c.restarts),
      c.state === "running" ? ageSince(c.startedAt, now) : "-",
      c.state === "running" && c.hostPid !== undefined ? String(c.hostPid) : "-",
      shortExit(c.lastExit),
      c.nextRestartAt ?? "-"
    ])
  ).split("\n").map((l) => l ? `  ${l}` : l).join("\n")

export const status = Command.make(
  "status",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    output: outputOption,
    pod: podArg.pipe(Args.withDescription("A pod name (default: every pod)."), Args.optional)
  },
  ({ dataDir, json, output, pod }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const [Api, { warnInvalid }] = yield* Effect.promise(() =>
          Promise.all([import("../api/Api.js"), import("./ps.js")])
        )
        const report = Option.isSome(pod) ? undefined : yield* Api.statusReport
        if (report) yield* warnInvalid(report.invalid)
        const list = report ? report.statuses : [yield* Api.status(Option.getOrThrow(pod))]
        const now = Date.now()
        return yield* printListing(formatOf({ json, output }), {
          value: Option.isSome(pod) ? list[0] : list,
          names: list.map((s) => `pod/${s.name}`),
          table: () => list.length ? list.map((s) => statusText(s, now)).join("\n") : "no pods\n"
        })
      }), { readOnly: true })
).pipe(
  Command.withDescription(
    describe(
      "status",
      "Show the observed status of pods in detail: phase, reason, ready (and why not: the probe that failed last with its output), image healthcheck, restarts, last exit, next restart, host pid, addresses, and each container's state for pods with several.",
      [
        ["tank status web", "one pod"],
        ["tank status --json", "every pod, as the agent wrote it"]
      ]
    )
  )
)
