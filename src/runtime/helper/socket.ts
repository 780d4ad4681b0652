/** Connecting to a monitor's unix socket. */
import { Effect } from "effect"
import * as net from "node:net"
import { MonitorGone } from "./errors.js"

/** Open the socket (the monitor greets with a hello line, read by the caller). */
export const openSocket = (socketPath: string) =>
  Effect.tryPromise({
    try: () =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(socketPath)
        s.once("connect", () => resolve(s))
        s.once("error", reject)
      }),
    catch: (e) => new MonitorGone({ socketPath, reason: (e as Error).message })
  })
