/**
 * Debian's `etcd` (etcd-server 3.4) on loopback, as scoped resources: a single member or a cluster of
 * several members on one machine, each with its own data dir and free ports. Members can be killed
 * (SIGKILL) and started again on the same data dir, to test losing a member or a disconnect.
 *
 *   const etcd = yield* startEtcd()            // one member: etcd.endpoints
 *   const c = yield* startEtcdCluster(3)       // c.members[1].kill(), c.members[1].start()
 *   const t = yield* startEtcd({ tls: true })  // https client URLs, client certs required: t.tls
 *
 * Everything (processes, data dirs) is removed when the scope closes, also on failure. Use it in
 * `it.scopedLive` (its readiness polling needs the real clock).
 */
import { Effect, Schedule, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Agent, request } from "undici"
import { makeCa, signedBy } from "./certs.js"
import { freePort } from "./registry.js"

export interface EtcdOptions {
  /**
   * Serve clients over TLS with a CA of the cluster's own and require client certificates signed by
   * it (`--client-cert-auth`). Peers stay plain HTTP on loopback.
   */
  readonly tls?: boolean
}

/** PEM files (absolute paths) for a TLS cluster: the CA, and a client certificate it signed. */
export interface EtcdTlsFiles {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

export interface EtcdMember {
  readonly name: string
  /** `http://127.0.0.1:PORT` */
  readonly clientUrl: string
  readonly peerUrl: string
  readonly dataDir: string
  /** SIGKILL the member (no-op if not running); resolves when the process is gone. */
  readonly kill: Effect.Effect<void>
  /** Start it again on the same data dir and ports; resolves when it serves /health (with quorum). */
  readonly start: Effect.Effect<void>
  readonly running: () => boolean
}

export interface EtcdCluster {
  readonly members: ReadonlyArray<EtcdMember>
  /** Client URLs of every member. */
  readonly endpoints: ReadonlyArray<string>
  readonly dir: string
  /** Set for `{ tls: true }`. */
  readonly tls: EtcdTlsFiles | undefined
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
const makeCerts = (dir: string) =>
  Effect.tryPromise(async () => {
    const f = (n: string) => path.join(dir, n)
    await makeCa(dir, "tank-etcd-test-ca")
    await signedBy(
      dir,
      "server",
      "127.0.0.1",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    await signedBy(dir, "client", "tank-client", "extendedKeyUsage=clientAuth\n")
    return {
      server: { cert: f("server.crt"), key: f("server.key") },
      client: { ca: f("ca.crt"), cert: f("client.crt"), key: f("client.key") }
    }
  }).pipe(Effect.orDie)

const waitHealthy = (
  url: string,
  proc: () => ChildProcess | undefined,
  logFile: string,
  tls: EtcdTlsFiles | undefined
) =>
  Effect.tryPromise(async () => {
    const p = proc()
    if (!p || p.exitCode !== null || p.signalCode !== null) {
      throw new Error(`etcd exited: ${fs.readFileSync(logFile, "utf8").slice(-2000)}`)
    }
    const dispatcher = new Agent(
      tls
        ? { connect: { ca: fs.readFileSync(tls.ca), cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) } }
        : {}
    )
    try {
      const res = await request(`${url}/health`, { dispatcher, signal: AbortSignal.timeout(1000) })
      const body = (await res.body.json()) as { health?: string }
      if (body.health !== "true") throw new Error(`unhealthy: ${JSON.stringify(body)}`)
    } finally {
      await dispatcher.close()
    }
  }).pipe(
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds"))),
    Effect.orDie
  )

/** A cluster of `size` members on loopback. */
export const startEtcdCluster = (size = 3, options: EtcdOptions = {}): Effect.Effect<EtcdCluster, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "tank-etcd-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const certs = options.tls ? yield* makeCerts(dir) : undefined
    const scheme = certs ? "https" : "http"
    const ports = yield* Effect.forEach(Array.from({ length: size }), () => Effect.zip(freePort(), freePort()))
    const names = ports.map((_, i) => `m${i}`)
    const initialCluster = ports.map(([, peer], i) => `${names[i]}=http://127.0.0.1:${peer}`).join(",")
    const members = ports.map(([client, peer], i): EtcdMember => {
      const name = names[i]!
      const clientUrl = `${scheme}://127.0.0.1:${client}`
      const peerUrl = `http://127.0.0.1:${peer}`
      const dataDir = path.join(dir, name)
      const logFile = path.join(dir, `${name}.log`)
      let proc: ChildProcess | undefined
      const exited = () => !proc || proc.exitCode !== null || proc.signalCode !== null
      const spawnIt = () => {
        const log = fs.openSync(logFile, "a")
        proc = spawn("etcd", [
          "--name",
          name,
          "--data-dir",
          dataDir,
          "--listen-client-urls",
          clientUrl,
          "--advertise-client-urls",
          clientUrl,
          "--listen-peer-urls",
          peerUrl,
          "--initial-advertise-peer-urls",
          peerUrl,
          "--initial-cluster",
          initialCluster,
          "--initial-cluster-state",
          "new",
          "--initial-cluster-token",
          path.basename(dir),
          // Quick elections: tests kill members and expect the rest to carry on soon.
          "--heartbeat-interval",
          "50",
          "--election-timeout",
          "500",
          "--logger",
          "zap",
          "--log-outputs",
          "stderr",
          ...(certs
            ? [
              "--cert-file",
              certs.server.cert,
              "--key-file",
              certs.server.key,
              "--trusted-ca-file",
              certs.client.ca,
              "--client-cert-auth"
            ]
            : [])
        ], { stdio: ["ignore", log, log] })
        fs.closeSync(log)
      }
      const kill = Effect.async<void>((resume) => {
        if (exited()) return resume(Effect.void)
        proc!.once("exit", () => resume(Effect.void))
        proc!.kill("SIGKILL")
      })
      return {
        name,
        clientUrl,
        peerUrl,
        dataDir,
        kill,
        start: Effect.suspend(() => {
          if (exited()) spawnIt()
          return waitHealthy(clientUrl, () => proc, logFile, certs?.client)
        }),
        running: () => !exited()
      }
    })
    yield* Effect.addFinalizer(() => Effect.forEach(members, (m) => m.kill, { discard: true }))
    // All members must be up before any reports health (quorum), so start them all, then wait.
    yield* Effect.forEach(members, (m) => m.start, { concurrency: "unbounded", discard: true })
    return { members, endpoints: members.map((m) => m.clientUrl), dir, tls: certs?.client }
  })

/** One etcd member on loopback. */
export const startEtcd = (options: EtcdOptions = {}): Effect.Effect<EtcdCluster, never, Scope.Scope> =>
  startEtcdCluster(1, options)
