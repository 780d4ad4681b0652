/**
 * Starts Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1 with a random free port,
 * as a scoped resource: the process is killed and its temp dir removed when the scope closes.
 *
 *   const reg = yield* startRegistry()                                  // plain HTTP
 *   const reg = yield* startRegistry({ auth: "htpasswd" })              // Basic auth (tank / tankpass)
 *   const reg = yield* startRegistry({ auth: "token" })                 // Bearer tokens from our token server
 *   const reg = yield* startRegistry({ tls: true })                     // HTTPS with a CA of its own (reg.caPem)
 *   const reg = yield* startRegistry({ storage: other.storage, ... })   // serve another registry's content
 */
import { Data, Effect, type Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { Agent, request } from "undici"
import { makeCa, signedBy } from "./certs.js"
import { startTokenServer, type TokenServer } from "./tokenServer.js"

const run = promisify(execFile)

export const USER = "tank"
export const PASSWORD = "tankpass"

export interface RegistryOptions {
  readonly auth?: "none" | "htpasswd" | "token"
  readonly tls?: boolean
  /** Storage root to serve (e.g. another registry's `storage`, so its pushed images appear here too). */
  readonly storage?: string
  /** Token auth: let anonymous clients pull. */
  readonly anonymousPull?: boolean
  /** Token auth: token lifetime in seconds (default 300). */
  readonly tokenExpiresIn?: number
  /** Token auth: where the token server listens (default 127.0.0.1). */
  readonly tokenHost?: string
  /** Token auth: the host name in the realm the registry announces (default: tokenHost). */
  readonly tokenRealmHost?: string
  /** Token auth: the token server speaks HTTPS with the registry's certificate (implies the test CA). */
  readonly tokenTls?: boolean
}

export interface Registry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  readonly host: string
  /** `http://127.0.0.1:PORT` or `https://…`. */
  readonly url: string
  readonly storage: string
  readonly dir: string
  /** The CA that signed the TLS certificate (tls only). */
  readonly caPem: string | undefined
  readonly caFile: string | undefined
  readonly username: string
  readonly password: string
  readonly tokenServer: TokenServer | undefined
}

export const freePort = () =>
  Effect.async<number>((resume) => {
    const s = net.createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resume(Effect.succeed(port)))
    })
  })

const makeRegistryCerts = (dir: string) =>
  Effect.tryPromise(async () => {
    await makeCa(dir, "tank-test-ca")
    await signedBy(dir, "domain", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
  })

const waitReady = (url: string, ca: string | undefined, proc: ChildProcess, log: string) =>
  Effect.tryPromise(async () => {
    const dispatcher = new Agent(ca ? { connect: { ca } } : {})
    try {
      for (let i = 0; i < 200; i++) {
        if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${fs.readFileSync(log, "utf8")}`)
        try {
          const res = await request(`${url}/v2/`, { dispatcher })
          await res.body.dump()
          return
        } catch {
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      throw new Error(`docker-registry did not answer at ${url}: ${fs.readFileSync(log, "utf8")}`)
    } finally {
      await dispatcher.close()
    }
  })

const stop = (proc: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resume(Effect.void)
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000)
    proc.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    proc.kill("SIGTERM")
  })

/** The registry (or its token server, certificates, htpasswd) could not be set up. */
export class RegistryStartError extends Data.TaggedError("RegistryStartError")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export const startRegistry = (opts: RegistryOptions = {}): Effect.Effect<Registry, RegistryStartError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "tank-registry-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const storage = opts.storage ?? path.join(dir, "data")
    fs.mkdirSync(storage, { recursive: true })
    const lines = [
      "version: 0.1",
      "log: {level: error, accesslog: {disabled: true}}",
      "storage:",
      `  filesystem: {rootdirectory: ${storage}}`,
      "  delete: {enabled: true}"
    ]
    let tokenServer: TokenServer | undefined
    let caPem: string | undefined
    let caFile: string | undefined
    if (opts.tls || opts.tokenTls) {
      yield* makeRegistryCerts(dir)
      caFile = path.join(dir, "ca.crt")
      caPem = fs.readFileSync(caFile, "utf8")
    }
    if (opts.auth === "htpasswd") {
      yield* Effect.tryPromise(() => run("htpasswd", ["-Bbc", path.join(dir, "htpasswd"), USER, PASSWORD]))
      lines.push("auth:", `  htpasswd: {realm: tank-test, path: ${path.join(dir, "htpasswd")}}`)
    } else if (opts.auth === "token") {
      tokenServer = yield* startTokenServer({
        dir,
        users: { [USER]: PASSWORD },
        ...(opts.anonymousPull ? { anonymousPull: true } : {}),
        ...(opts.tokenExpiresIn !== undefined ? { expiresIn: opts.tokenExpiresIn } : {}),
        ...(opts.tokenHost !== undefined ? { host: opts.tokenHost } : {}),
        ...(opts.tokenRealmHost !== undefined ? { realmHost: opts.tokenRealmHost } : {}),
        ...(opts.tokenTls ? { tls: { key: path.join(dir, "domain.key"), cert: path.join(dir, "domain.crt") } } : {})
      })
      lines.push(
        "auth:",
        "  token:",
        `    realm: ${tokenServer.realm}`,
        `    service: ${tokenServer.service}`,
        `    issuer: ${tokenServer.issuer}`,
        `    rootcertbundle: ${tokenServer.certPath}`
      )
    }
    // The port is free when we look; a clash with another process in between is retried.
    for (let attempt = 0;; attempt++) {
      const port = yield* freePort()
      const http = [
        "http:",
        `  addr: 127.0.0.1:${port}`,
        "  secret: tank-test-secret",
        ...(opts.tls
          ? [`  tls: {certificate: ${path.join(dir, "domain.crt")}, key: ${path.join(dir, "domain.key")}}`]
          : [])
      ]
      const config = path.join(dir, "config.yml")
      fs.writeFileSync(config, [...lines, ...http, ""].join("\n"))
      const log = path.join(dir, "log")
      const out = fs.openSync(log, "w")
      const proc = yield* Effect.acquireRelease(
        // --pdeathsig: the registry dies with the test process even if that is killed outright.
        Effect.sync(() =>
          spawn("setpriv", ["--pdeathsig", "TERM", "docker-registry", "serve", config], { stdio: ["ignore", out, out] })
        ),
        stop
      )
      fs.closeSync(out)
      const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`
      const ready = yield* Effect.either(waitReady(url, caPem, proc, log))
      if (ready._tag === "Left") {
        if (attempt < 3 && /address already in use/.test(String(ready.left))) continue
        return yield* new RegistryStartError({ reason: String(ready.left) })
      }
      return {
        host: `127.0.0.1:${port}`,
        url,
        storage,
        dir,
        caPem,
        caFile,
        username: USER,
        password: PASSWORD,
        tokenServer
      }
    }
  }).pipe(
    Effect.mapError((e) => (e instanceof RegistryStartError ? e : new RegistryStartError({ reason: String(e) })))
  )
