/**
 * The etcd v3 connection (cluster mode), as a scoped layer: one client per process, closed with the
 * scope. Every key Tank uses lives under the configured prefix (`client.namespace(prefix)`), so the
 * Store and the cluster services see a keyspace of their own.
 *
 * `etcd3` is imported lazily: the single-machine default (SQLite) never loads gRPC.
 */
import { Context, Effect, Layer, Schema } from "effect"
import type { Etcd3, Namespace } from "etcd3"
import * as fs from "node:fs"
import type { EtcdConfig } from "../config/Config.js"

export class EtcdError extends Schema.TaggedError<EtcdError>()("EtcdError", {
  /** What Tank was doing ("connect", "put pods/web", "watch"). */
  op: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

export interface EtcdService {
  /** The client with every key under the configured prefix. */
  readonly kv: Namespace
  /** The raw client (leases and elections are namespaced through `kv` too). */
  readonly client: Etcd3
  readonly config: EtcdConfig
}

export class Etcd extends Context.Tag("tank/Etcd")<Etcd, EtcdService>() {}

const readFile = (what: string, file: string | undefined) =>
  file === undefined ? Effect.succeed(undefined) : Effect.try({
    try: () => fs.readFileSync(file),
    catch: (e) => new EtcdError({ op: "connect", message: `cannot read ${what} ${file}: ${(e as Error).message}` })
  })

/** Connect to etcd; the client is closed when the layer's scope ends. */
export const layer = (config: EtcdConfig): Layer.Layer<Etcd, EtcdError> =>
  Layer.scoped(
    Etcd,
    Effect.gen(function*() {
      const [{ Etcd3, isRecoverableError }, { circuitBreaker, ConsecutiveBreaker, handleWhen }] = yield* Effect.promise(
        () => Promise.all([import("etcd3"), import("cockatiel")])
      )
      const ca = yield* readFile("store.etcd.tls.ca", config.tls?.ca)
      const cert = yield* readFile("store.etcd.tls.cert", config.tls?.cert)
      const key = yield* readFile("store.etcd.tls.key", config.tls?.key)
      const hosts = config.endpoints.map((e) => e.replace(/^https?:\/\//, ""))
      const secure = config.endpoints.some((e) => e.startsWith("https://"))
      const client = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new Etcd3({
            hosts,
            ...(secure
              ? {
                credentials: {
                  rootCertificate: ca ?? Buffer.alloc(0),
                  ...(cert ? { certChain: cert } : {}),
                  ...(key ? { privateKey: key } : {})
                }
              }
              : {}),
            ...(config.auth ? { auth: config.auth } : {}),
            // etcd3's default keeps an endpoint out for 5 s after 3 failures: with one endpoint, a
            // restarted etcd was ignored that long. Probe again after 500 ms.
            faultHandling: {
              host: () =>
                circuitBreaker(handleWhen(isRecoverableError), {
                  halfOpenAfter: 500,
                  breaker: new ConsecutiveBreaker(3)
                })
            }
          })
        ),
        (c) => Effect.sync(() => c.close())
      )
      return { client, kv: client.namespace(config.prefix), config }
    })
  )
