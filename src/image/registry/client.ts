/**
 * The registry v2 client: manifests and blobs, with Basic or Bearer-token auth (tokens cached per
 * registry and scope), digest verification of everything fetched, and bounded retries with
 * exponential backoff + jitter (capped) on transient failures, honouring `Retry-After`.
 */
import { Clock, Duration, Effect, Schedule, type Scope } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import { Transform, Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import {
  BlobNotFound,
  BlobTruncated,
  ContentTooLarge,
  DigestMismatch,
  ImageNotFound,
  InvalidContent,
  isTransient,
  type RegistryError,
  type Step,
  Unauthorized,
  UntrustedTokenRealm
} from "../errors.js"
import { formatReference, type Reference } from "../reference.js"
import {
  basicHeader,
  type Challenge,
  checkRealm,
  parseChallenge,
  pullScope,
  tokenLifetimeMs,
  TokenResponse
} from "./auth.js"
import { credentialsOf, entryFor, type RegistryConfig } from "./config.js"
import {
  classify,
  dump,
  type Endpoint,
  failHttp,
  header,
  makeEndpoint,
  readLimited,
  type Response,
  send
} from "./http.js"
import { decodeJsonBytes } from "./manifest.js"
import { type Descriptor, MANIFEST_ACCEPT } from "./oci.js"

export interface RetryPolicy {
  /** Retries after the first attempt (default 4). */
  readonly retries: number
  /** First backoff delay (default 250 ms), doubled each time, jittered. */
  readonly baseDelayMs: number
  /** Cap of one backoff delay (default 10 s). */
  readonly maxDelayMs: number
  /** Longest `Retry-After` we honour (default 60 s); longer ones are cut to this. */
  readonly maxRetryAfterMs: number
}

export const defaultRetry: RetryPolicy = { retries: 4, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 }

export interface ClientOptions {
  /** Per-registry credentials / TLS / insecure settings. */
  readonly registries?: RegistryConfig | undefined
  /** No headers or no body bytes for this long fails the attempt (default 30 s). */
  readonly timeoutMs?: number | undefined
  readonly retry?: Partial<RetryPolicy> | undefined
  /** Largest manifest / index accepted (default 4 MiB). */
  readonly maxManifestBytes?: number | undefined
  /** Largest image config accepted (default 4 MiB). */
  readonly maxConfigBytes?: number | undefined
  /** Layer downloads in flight at once, over all pulls (default 6). */
  readonly maxConcurrentDownloads?: number | undefined
}

export interface FetchedManifest {
  readonly bytes: Buffer
  /** sha256 of the exact bytes received. */
  readonly digest: string
  /** The response's Content-Type (without parameters). */
  readonly contentType: string | undefined
}

export interface RegistryClient {
  readonly manifest: (ref: Reference, reference: string) => Effect.Effect<FetchedManifest, RegistryError>
  /** A small verified blob (config), read into memory. */
  readonly blobBytes: (ref: Reference, desc: Descriptor, step: Step) => Effect.Effect<Buffer, RegistryError>
  /** Streams a blob into `dest` (created or truncated), verifying size and sha256; `dest` is removed on failure.
   * `onWritten` is told the length of `dest` each time more of it is on disk (a reader may follow it). */
  readonly download: (
    ref: Reference,
    desc: Descriptor,
    dest: string,
    onBytes: (received: number) => void,
    onWritten?: (length: number) => void
  ) => Effect.Effect<void, RegistryError>
  readonly options: {
    readonly maxManifestBytes: number
    readonly maxConfigBytes: number
    readonly timeoutMs: number
    readonly retry: RetryPolicy
  }
}

interface AuthState {
  challenge: Challenge | undefined
  readonly tokens: Map<string, { readonly header: string; readonly expires: number }>
}

export const sha256 = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`

/** The retry schedule: exponential + jitter, capped, bounded, only for transient errors, Retry-After honoured. */
export const retrySchedule = (policy: RetryPolicy) =>
  Schedule.identity<RegistryError>().pipe(
    Schedule.intersect(
      Schedule.exponential(Duration.millis(policy.baseDelayMs), 2).pipe(
        Schedule.jittered,
        Schedule.union(Schedule.spaced(Duration.millis(policy.maxDelayMs)))
      )
    ),
    Schedule.intersect(Schedule.recurs(policy.retries)),
    Schedule.whileInput((e: RegistryError) => isTransient(e)),
    Schedule.modifyDelay(([[e]], d) => {
      const after = e._tag === "RegistryHttpError" ? e.retryAfterMs : undefined
      return after === undefined ? d : Duration.max(d, Duration.millis(Math.min(after, policy.maxRetryAfterMs)))
    })
  )

/** `file`, telling `onWritten` the file's length after each write lands (its writes are in order). */
const reportingWrites = (file: fs.WriteStream, start: number, onWritten: (length: number) => void) => {
  let length = start
  const out: Writable = new Writable({
    write(chunk: Buffer, _enc, cb) {
      file.write(chunk, (e) => {
        if (e) return cb(e)
        length += chunk.length
        onWritten(length)
        cb()
      })
    },
    final(cb) {
      file.end((e?: Error | null) => cb(e))
    },
    destroy(e, cb) {
      file.destroy(e ?? undefined)
      cb(e)
    }
  })
  file.on("error", (e) => out.destroy(e))
  return out
}

export const makeClient = (options: ClientOptions = {}): Effect.Effect<RegistryClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const timeoutMs = options.timeoutMs ?? 30_000
    const retry: RetryPolicy = { ...defaultRetry, ...options.retry }
    const maxManifestBytes = options.maxManifestBytes ?? 4 * 1024 * 1024
    const maxConfigBytes = options.maxConfigBytes ?? 4 * 1024 * 1024
    const schedule = retrySchedule(retry)
    const downloads = yield* Effect.makeSemaphore(options.maxConcurrentDownloads ?? 6)
    const endpoints = new Map<string, { ep: Endpoint; auth: AuthState }>()
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.all([...endpoints.values()].map(({ ep }) => ep.dispatcher.close().catch(() => {}))))
    )

    const endpoint = (registry: string) =>
      Effect.gen(function*() {
        const known = endpoints.get(registry)
        if (known) return known
        const entry = entryFor(options.registries, registry)
        const ca: Array<string> = []
        if (entry.ca) ca.push(entry.ca)
        if (entry.caFile) {
          const file = entry.caFile
          ca.push(yield* Effect.orDie(Effect.tryPromise(() => fsp.readFile(file, "utf8"))))
        }
        const made = {
          ep: makeEndpoint(registry, entry, ca, timeoutMs),
          auth: { challenge: undefined, tokens: new Map() }
        }
        endpoints.set(registry, made)
        return made
      })

    const fetchToken = (ep: Endpoint, auth: AuthState, challenge: Challenge, repository: string, scope: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const cached = auth.tokens.get(scope)
        if (cached && cached.expires > now) return cached.header
        const realm = challenge.params["realm"]
        const denied = (status: number, reason: string) =>
          new Unauthorized({ registry: ep.registry, repository, status, reason })
        if (!realm) return yield* denied(401, "Bearer challenge without a realm")
        const checked = checkRealm(realm, (host) => entryFor(options.registries, host))
        if (typeof checked === "string") {
          return yield* new UntrustedTokenRealm({ registry: ep.registry, realm, reason: checked })
        }
        const url = checked
        if (challenge.params["service"]) url.searchParams.set("service", challenge.params["service"])
        url.searchParams.append("scope", scope)
        const creds = credentialsOf(ep.entry)
        const headers: Record<string, string> = creds
          ? { authorization: basicHeader(creds.username, creds.password) }
          : {}
        // The realm's own connection pool, with the TLS trust configured for the realm's host: the
        // registry's CA or `insecure` never vouch for another host.
        const realmEp = url.host === ep.registry ? ep : (yield* endpoint(url.host)).ep
        const res = yield* send(realmEp, url.toString(), { headers, step: "token", timeoutMs })
        if (res.statusCode === 401 || res.statusCode === 403) {
          yield* dump(res)
          return yield* (
            denied(
              res.statusCode,
              creds ? "token service rejected the credentials" : "token service requires credentials"
            )
          )
        }
        if (res.statusCode !== 200) return yield* failHttp(ep, res, url.toString(), "token", timeoutMs)
        const body = yield* readLimited(ep, res, url.toString(), "token", 1024 * 1024, "token response", timeoutMs)
        const decoded = yield* decodeJsonBytes(TokenResponse, body, "token response")
        const token = decoded.token ?? decoded.access_token
        if (!token) return yield* new InvalidContent({ what: "token response", issues: "no token" })
        const value = `Bearer ${token}`
        auth.tokens.set(scope, { header: value, expires: now + tokenLifetimeMs(decoded) })
        return value
      })

    const authorization = (ep: Endpoint, auth: AuthState, repository: string, challenge: Challenge | undefined) =>
      Effect.gen(function*() {
        if (!challenge) return undefined
        if (challenge.scheme === "basic") {
          const creds = credentialsOf(ep.entry)
          if (!creds) {
            return yield* new Unauthorized({
              registry: ep.registry,
              repository,
              status: 401,
              reason: "Basic auth required, no credentials configured"
            })
          }
          return basicHeader(creds.username, creds.password)
        }
        return yield* fetchToken(ep, auth, challenge, repository, pullScope(repository))
      })

    /** Sends with the auth the registry wants; learns its challenge from the first 401. */
    const authed = (ref: Reference, path: string, headers: Record<string, string>, step: Step) =>
      Effect.gen(function*() {
        const { auth, ep } = yield* endpoint(ref.registry)
        const withAuth = (h: string | undefined) => (h ? { ...headers, authorization: h } : headers)
        let res: Response = yield* send(ep, path, {
          headers: withAuth(yield* authorization(ep, auth, ref.repository, auth.challenge)),
          step,
          timeoutMs
        })
        if (res.statusCode === 401) {
          const challenge = parseChallenge(header(res, "www-authenticate"))
          yield* dump(res)
          if (!challenge) {
            return yield* new Unauthorized({
              registry: ep.registry,
              repository: ref.repository,
              status: 401,
              reason: "no usable WWW-Authenticate challenge"
            })
          }
          auth.challenge = challenge
          auth.tokens.delete(pullScope(ref.repository))
          res = yield* send(ep, path, {
            headers: withAuth(yield* authorization(ep, auth, ref.repository, challenge)),
            step,
            timeoutMs
          })
        }
        if (res.statusCode === 401 || res.statusCode === 403) {
          yield* dump(res)
          return yield* new Unauthorized({
            registry: ep.registry,
            repository: ref.repository,
            status: res.statusCode,
            reason: "credentials refused"
          })
        }
        return { res, ep, url: `${ep.scheme ?? "https"}://${ep.registry}${path}` }
      })

    const manifest = (ref: Reference, reference: string) =>
      Effect.gen(function*() {
        const path = `/v2/${ref.repository}/manifests/${reference}`
        const { ep, res, url } = yield* authed(ref, path, { accept: MANIFEST_ACCEPT }, "manifest")
        if (res.statusCode === 404) {
          yield* dump(res)
          return yield* new ImageNotFound({ ref: formatReference(ref) })
        }
        if (res.statusCode !== 200) return yield* failHttp(ep, res, url, "manifest", timeoutMs)
        const bytes = yield* readLimited(
          ep,
          res,
          url,
          "manifest",
          maxManifestBytes,
          `manifest of ${formatReference(ref)}`,
          timeoutMs
        )
        const digest = sha256(bytes)
        const expected = reference.startsWith("sha256:")
          ? reference
          : header(res, "docker-content-digest")?.startsWith("sha256:")
          ? header(res, "docker-content-digest")!
          : undefined
        if (expected !== undefined && expected !== digest) {
          return yield* new DigestMismatch({ what: `manifest of ${formatReference(ref)}`, expected, actual: digest })
        }
        return { bytes, digest, contentType: header(res, "content-type") }
      }).pipe(Effect.retry(schedule))

    const blobRequest = (ref: Reference, desc: Descriptor, step: Step, from = 0) =>
      Effect.gen(function*() {
        const path = `/v2/${ref.repository}/blobs/${desc.digest}`
        let start = from
        for (;;) {
          const r = yield* authed(ref, path, start > 0 ? { range: `bytes=${start}-` } : {}, step)
          if (r.res.statusCode === 404) {
            yield* dump(r.res)
            return yield* new BlobNotFound({ ref: formatReference(ref), digest: desc.digest })
          }
          if (r.res.statusCode === 206 && start > 0) {
            // Resume only if the server sends exactly the rest; anything else restarts from zero.
            const range = /^bytes (\d+)-/.exec(header(r.res, "content-range") ?? "")
            if (range && Number(range[1]) === start) return { ...r, offset: start }
            yield* dump(r.res)
            start = 0
            continue
          }
          if (r.res.statusCode !== 200) return yield* failHttp(r.ep, r.res, r.url, step, timeoutMs)
          return { ...r, offset: 0 }
        }
      })

    const verify = (what: string, desc: Descriptor, received: number, digest: string) =>
      received < desc.size
        ? Effect.fail(new BlobTruncated({ digest: desc.digest, expected: desc.size, received }))
        : digest !== desc.digest
        ? Effect.fail(new DigestMismatch({ what, expected: desc.digest, actual: digest }))
        : Effect.void

    const blobBytes = (ref: Reference, desc: Descriptor, step: Step) =>
      Effect.gen(function*() {
        const what = `${step} ${desc.digest} of ${formatReference(ref)}`
        if (desc.size > maxConfigBytes) return yield* new ContentTooLarge({ what, limit: maxConfigBytes })
        const { ep, res, url } = yield* blobRequest(ref, desc, step)
        const bytes = yield* readLimited(ep, res, url, step, desc.size, what, timeoutMs)
        yield* verify(what, desc, bytes.length, sha256(bytes))
        return bytes
      }).pipe(Effect.retry(schedule))

    /** Bytes of `dest` already on disk and their running hash (a failed attempt's partial download). */
    const partial = (dest: string, size: number) =>
      Effect.promise(async () => {
        const have = await fsp.stat(dest).then((st) => st.size, () => 0)
        const hash = createHash("sha256")
        if (have === 0 || have >= size) return { have: 0, hash }
        await pipeline(fs.createReadStream(dest, { end: have - 1 }), async (chunks: AsyncIterable<Buffer>) => {
          for await (const c of chunks) hash.update(c)
        })
        return { have, hash }
      })

    const download = (
      ref: Reference,
      desc: Descriptor,
      dest: string,
      onBytes: (n: number) => void,
      onWritten?: (length: number) => void
    ) =>
      Effect.gen(function*() {
        const what = `layer ${desc.digest} of ${formatReference(ref)}`
        // A retry continues where the last attempt stopped (Range request), re-hashing what is on disk.
        const resume = yield* partial(dest, desc.size)
        const { ep, offset, res, url } = yield* blobRequest(ref, desc, "blob", resume.have)
        const hash = offset > 0 ? resume.hash : createHash("sha256")
        const declared = Number(header(res, "content-length") ?? NaN)
        if (offset + declared > desc.size) {
          yield* dump(res)
          return yield* new ContentTooLarge({ what: `${what} (sent ${declared} bytes)`, limit: desc.size })
        }
        let received = offset
        const tooLarge = new ContentTooLarge({ what, limit: desc.size })
        const meter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            received += chunk.length
            if (received > desc.size) return cb(tooLarge)
            hash.update(chunk)
            onBytes(received)
            cb(null, chunk)
          }
        })
        const file = offset > 0
          ? fs.createWriteStream(dest, { flags: "r+", start: offset })
          : fs.createWriteStream(dest)
        const out = onWritten === undefined ? file : reportingWrites(file, offset, onWritten)
        yield* Effect.tryPromise({
          try: (signal) => pipeline(res.body, meter, out, { signal }),
          catch: (e) => (e === tooLarge ? tooLarge : classify(e, ep, url, "blob", timeoutMs))
        })
        yield* verify(what, desc, received, `sha256:${hash.digest("hex")}`)
      }).pipe(
        downloads.withPermits(1), // per attempt: a backoff sleep holds no permit
        // A bad hash or size over the limit is no partial download to continue: start afresh.
        Effect.tapError((e) =>
          e._tag === "DigestMismatch" || e._tag === "ContentTooLarge"
            ? Effect.promise(() => fsp.rm(dest, { force: true }))
            : Effect.void
        ),
        Effect.retry(schedule),
        Effect.tapError(() => Effect.promise(() => fsp.rm(dest, { force: true })))
      )

    return {
      manifest,
      blobBytes,
      download,
      options: { maxManifestBytes, maxConfigBytes, timeoutMs, retry }
    } satisfies RegistryClient
  })
