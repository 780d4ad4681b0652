/** See what pods are doing: logs, stats, events, and their text/JSON forms (for the CLI and Tank.ts). */
export { events, EventsError, type EventsOptions } from "./events.js"
export * from "./format.js"
export { type LogEntry, logs, LogsError, logsIn, type LogsOptions, type LogStream, PodNotFound } from "./logs.js"
export { parseAll, parseRecord } from "./record.js"
export {
  PodNotRunning,
  runningPods,
  sample,
  sampleRecord,
  Stats,
  stats,
  type StatsDeps,
  type StatsOptions,
  type StatsService,
  statsStream
} from "./stats.js"
export type { ContainerStats, InterfaceStats, PodStats, RawSample } from "./statsModel.js"
export { Ring, toStats } from "./statsModel.js"
export { parseDurationMs, parseTime } from "./time.js"
