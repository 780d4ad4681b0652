/**
 * A loopback TCP proxy in front of one etcd member that can lose answers: in `swallow` mode it still
 * forwards what the client sends (so etcd applies the request) but drops what etcd answers, then
 * cuts every connection. The client sees a request whose outcome is unknown, as when a connection
 * dies just after commit.
 */
import { Effect, type Scope } from "effect"
import * as net from "node:net"

export interface CutProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** Drop answers from now on; after `ms`, cut every connection and forward normally again. */
  readonly swallowThenCut: (ms: number) => Effect.Effect<void>
  /** Bytes dropped in swallow mode so far. */
  readonly swallowed: () => number
}

export const startCutProxy = (target: string): Effect.Effect<CutProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { hostname, port } = new URL(target)
    const sockets = new Set<net.Socket>()
    let swallow = false
    let dropped = 0
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(port), hostname)
      sockets.add(client).add(upstream)
      client.on("data", (d) => upstream.write(d))
      upstream.on("data", (d) => {
        if (swallow) dropped += d.length
        else client.write(d)
      })
      const close = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on("close", close).on("error", close)
      upstream.on("close", close).on("error", close)
    })
    const url = yield* Effect.acquireRelease(
      Effect.async<string>((resume) => {
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const s of sockets) {
            s.destroy()
          }
          server.close(() =>
            resume(Effect.void)
          )
        })
    )
    return {
      url,
      swallowed: () => dropped,
      swallowThenCut: (ms) =>
        Effect.sync(() => {
          swallow = true
          setTimeout(() => {
            for (const s of sockets) s.destroy()
            sockets.clear()
            swallow = false
          }, ms)
        })
    }
  })
