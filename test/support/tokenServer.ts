/**
 * A small token service for distribution's `auth: token` mode (the Docker registry token spec):
 * `GET /token?service=…&scope=repository:<name>:<actions>` with optional Basic credentials returns
 * `{ token, access_token, expires_in }`, an RS256 JWT whose header carries the signing certificate
 * (x5c), which the registry checks against its `rootcertbundle`.
 */
import { Effect, type Scope } from "effect"
import { createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as path from "node:path"
import { selfSigned } from "./certs.js"

/** A fresh self-signed RSA certificate (2 days) for `cn`: the token issuer's, or a test CA. */
export interface TokenServerOptions {
  /** Directory for the key and certificate (the caller removes it). */
  readonly dir: string
  /** Accepted users (Basic credentials on the token request). */
  readonly users: Readonly<Record<string, string>>
  /** Give anonymous clients pull-only tokens. */
  readonly anonymousPull?: boolean
  /** Token lifetime in seconds (default 300). */
  readonly expiresIn?: number
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string
  /** Host name the realm URL uses (default: `host`), e.g. "localhost" to differ from a 127.0.0.1 registry. */
  readonly realmHost?: string
  /** Serve HTTPS with this PEM key and certificate (files). */
  readonly tls?: { readonly key: string; readonly cert: string }
}

export interface TokenServer {
  readonly realm: string
  readonly service: string
  readonly issuer: string
  /** The certificate the registry must trust (its `rootcertbundle`). */
  readonly certPath: string
  /** Number of token requests served so far (any outcome). */
  readonly requests: () => number
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url")

export const ISSUER = "tank-token-issuer"
export const SERVICE = "tank-registry"

export const startTokenServer = (opts: TokenServerOptions): Effect.Effect<TokenServer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const keyPath = path.join(opts.dir, "token.key")
    const certPath = path.join(opts.dir, "token.crt")
    yield* Effect.tryPromise(() => selfSigned(ISSUER, keyPath, certPath))
    const key = createPrivateKey(fs.readFileSync(keyPath))
    const der = new X509Certificate(fs.readFileSync(certPath)).raw
    let count = 0

    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      count++
      const url = new URL(req.url ?? "/", "http://x")
      if (url.pathname !== "/token") return void res.writeHead(404).end()
      let account: string | undefined
      const auth = req.headers.authorization
      if (auth?.startsWith("Basic ")) {
        const [user, ...rest] = Buffer.from(auth.slice(6), "base64").toString().split(":")
        if (!user || opts.users[user] === undefined || opts.users[user] !== rest.join(":")) {
          return void res.writeHead(401, { "content-type": "application/json" }).end("{\"error\":\"bad credentials\"}")
        }
        account = user
      } else if (!opts.anonymousPull) {
        return void res.writeHead(401, { "content-type": "application/json" }).end(
          "{\"error\":\"credentials required\"}"
        )
      }
      const access = url.searchParams.getAll("scope").flatMap((scope) => {
        const m = /^repository:([^:]+):(.+)$/.exec(scope)
        if (!m) return []
        const wanted = m[2]!.split(",")
        const actions = account
          ? wanted.filter((a) => a === "pull" || a === "push")
          : wanted.filter((a) => a === "pull")
        return [{ type: "repository", name: m[1]!, actions }]
      })
      const now = Math.floor(Date.now() / 1000)
      const expiresIn = opts.expiresIn ?? 300
      const header = { typ: "JWT", alg: "RS256", x5c: [der.toString("base64")] }
      const claims = {
        iss: ISSUER,
        sub: account ?? "",
        aud: url.searchParams.get("service") ?? SERVICE,
        exp: now + expiresIn,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString("hex"),
        access
      }
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
      const token = `${input}.${b64url(sign("sha256", Buffer.from(input), key))}`
      res.writeHead(200, { "content-type": "application/json" })
      res.end(
        JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() })
      )
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server>((resume) => {
        const s = opts.tls
          ? https.createServer({ key: fs.readFileSync(opts.tls.key), cert: fs.readFileSync(opts.tls.cert) }, handler)
          : http.createServer(handler)
        s.listen(0, opts.host ?? "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    )
    const port = (server.address() as { port: number }).port
    return {
      realm: `${opts.tls ? "https" : "http"}://${opts.realmHost ?? opts.host ?? "127.0.0.1"}:${port}/token`,
      service: SERVICE,
      issuer: ISSUER,
      certPath,
      requests: () => count
    }
  })
