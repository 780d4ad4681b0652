/**
 * Holding a monitor's connection slots with real unix-socket connections, and counting monitor
 * processes, for the tests of busy monitors (PROTOCOL.md §4).
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { alive } from "./poll.js"

/**
 * Take every slot of the monitor at `socketPath` this process can get, with real connections
 * (closed with the scope): connect until one is refused with `busy`. Returns how many are held.
 */
export const fillSlots = (socketPath: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const sockets: Array<net.Socket> = []
      for (;;) {
        const s = net.createConnection(socketPath)
        const first = await new Promise<string>((resolve, reject) => {
          s.setEncoding("utf8")
          let buf = ""
          s.on("data", (d: string) => {
            buf += d
            if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")))
          })
          s.once("error", reject)
        })
        if (!first.startsWith("{\"hello\"")) {
          s.destroy()
          if (!first.includes("\"busy\"")) throw new Error(`unexpected first line ${first}`)
          return sockets
        }
        sockets.push(s)
      }
    }),
    (sockets) => Effect.sync(() => sockets.forEach((s) => s.destroy()))
  ).pipe(Effect.map((sockets) => ({ count: sockets.length, release: () => sockets.forEach((s) => s.destroy()) })))

/** Live `tank-helper monitor` processes started for one container's config file. */
export const monitorsOf = (configFile: string): Array<number> =>
  fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
      return argv[1] === "monitor" && argv.includes(configFile) && alive(Number(pid))
    } catch {
      return false
    }
  }).map(Number)
