/**
 * Did PID 1 of a pid namespace drop a signal it was sent? The kernel drops a signal such an init
 * has no handler for (pid_namespaces(7)): a plain `sleep` never sees SIGTERM, and waiting out a grace
 * period would only delay the SIGKILL that ends it anyway. The same reading as the monitor's
 * (native/src/monitor.c `workload_signal_fate`), for when the agent must stop a workload by signals
 * itself (its monitor cannot be reached). Pure: over the texts of /proc/<pid>/status and
 * /proc/<pid>/syscall, read after the signal was sent (a handler installed in between reads as
 * caught). Any doubt — a field missing, an unreadable file — answers "not dropped": the grace stays.
 */

/** x86_64's rt_sigtimedwait: tank-init, tini and dumb-init wait for their signals there (unblocked while waiting). */
const SYS_RT_SIGTIMEDWAIT = 128

/** Bit `sig` of a mask line ("SigCgt:\t0000000000004002"); undefined when the line is missing. */
const maskBit = (status: string, field: string, sig: number): boolean | undefined => {
  const m = new RegExp(`(?:^|\\n)${field}:\\s*([0-9a-fA-F]+)`).exec(status)
  return m ? ((BigInt(`0x${m[1]}`) >> BigInt(sig - 1)) & 1n) === 1n : undefined
}

export const signalDropped = (status: string | undefined, syscall: string | undefined, sig: number): boolean => {
  if (status === undefined || syscall === undefined) return false
  const bits = ["SigCgt", "SigBlk", "ShdPnd", "SigPnd"].map((f) => maskBit(status, f, sig))
  if (bits.some((b) => b !== false)) return false // caught, blocked, pending, or unknown
  // "running" (on a CPU, in no call) is not waiting for signals either.
  const nr = /^-?\d+/.exec(syscall.trim())
  return nr === null || Number(nr[0]) !== SYS_RT_SIGTIMEDWAIT
}
