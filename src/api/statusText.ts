/**
 * A pod's state in words, for messages (`tank wait`, `Tank.waitFor`) and the CLI's tables. Pure.
 */
import type { PodStatus } from "../store/status.js"

/** Signal numbers → names for the ones a user meets (exit reasons). */
const SIGNALS: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  6: "SIGABRT",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  15: "SIGTERM"
}
export const signalName = (n: number): string => SIGNALS[n] ?? `signal ${n}`

/** A last exit in a few words: `0`, `137 (OOM)`, `SIGKILL`, `setup: image: not found`. */
export const describeExit = (e: {
  readonly code?: number | undefined
  readonly signal?: number | undefined
  readonly oomKilled?: boolean | undefined
  readonly setupError?: { readonly step: string; readonly message: string } | undefined
}): string => {
  if (e.setupError) return `setup failed at ${e.setupError.step}: ${e.setupError.message}`
  const base = e.signal !== undefined ? signalName(e.signal) : e.code !== undefined ? `code ${e.code}` : "?"
  return e.oomKilled ? `${base} (OOM killed)` : base
}

/** `backing-off: exited with code 3 (restarts 2; last exit code 3)` — what a message says of a pod's state. */
export const stateText = (s: PodStatus): string => {
  const details = [
    s.restarts > 0 ? `restarts ${s.restarts}` : undefined,
    s.lastExit ? `last exit ${describeExit(s.lastExit)}` : undefined
  ].filter((d) => d !== undefined)
  return `${s.phase}${s.reason ? `: ${s.reason}` : ""}${details.length ? ` (${details.join("; ")})` : ""}`
}
