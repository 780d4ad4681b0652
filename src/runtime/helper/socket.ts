/** Connecting to a monitor's unix socket. */
import { Effect } from "effect"
import * as net from "node:net"
import { MonitorBusy, MonitorGone } from "./errors.js"

/**
 * Open the socket (the monitor greets with a hello line, read by the caller). A full connect queue
 * (EAGAIN: the monitor is alive but has not accepted yet) is MonitorBusy, not MonitorGone.
 */
export const openSocket = (socketPath: string) =>
  Effect.tryPromise({
    try: () =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(socketPath)
        s.once("connect", () => resolve(s))
        s.once("error", reject)
      }),
    catch: (e) =>
      (e as NodeJS.ErrnoException).code === "EAGAIN"
        ? new MonitorBusy({ socketPath })
        : new MonitorGone({ socketPath, reason: (e as Error).message })
  })

/**
 * Does something listen on `socketPath`? Only "nothing there" (ENOENT) and "a stale file"
 * (ECONNREFUSED) say no; anything else (connected, backlog full) counts as a live listener, so a
 * live monitor's socket file is never taken for stale.
 */
export const isListening = (socketPath: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const s = net.createConnection(socketPath)
    s.once("connect", () => {
      s.destroy()
      resume(Effect.succeed(true))
    })
    s.once("error", (e: NodeJS.ErrnoException) => {
      s.destroy()
      resume(Effect.succeed(e.code !== "ENOENT" && e.code !== "ECONNREFUSED"))
    })
    return Effect.sync(() => s.destroy())
  })
