/**
 * The dashboard's access token: 32 random bytes (base64url), created on the first start and kept in
 * `<dataDir>/web-token`, mode 0600 (the data dir itself is 0700). Whoever holds it can run shells in
 * every pod, so it is compared in constant time, never logged, and replaced if the file was readable
 * by anyone else (it may have leaked).
 *
 * `<dataDir>/web.json` records where the running agent serves the dashboard, so `tank web url` can
 * print the URL again (the token is not in it).
 */
import { Effect, Schema } from "effect"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

export const TOKEN_FILE = "web-token"
export const ENDPOINT_FILE = "web.json"

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

export class WebTokenError extends Schema.TaggedError<WebTokenError>()("WebTokenError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `web token ${this.path}: ${this.reason}`
  }
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest()

/** Constant time in the content of both (the digests have equal length whatever the inputs). */
export const tokenMatches = (expected: string, given: string | undefined): boolean =>
  given !== undefined && given.length > 0 && timingSafeEqual(digest(expected), digest(given))

const newToken = () => randomBytes(32).toString("base64url")

const writeNew = (file: string): string => {
  const token = newToken()
  const tmp = `${file}.${process.pid}.tmp`
  fs.rmSync(tmp, { force: true })
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600)
  try {
    fs.writeSync(fd, token + "\n")
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
  return token
}

/** The token in the file, if it is a regular 0600 file of ours holding a well-formed token. */
const readValid = (file: string): { readonly token?: string; readonly why?: string } => {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return code === "ENOENT" ? {} : { why: `cannot open (${code})` }
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) return { why: "not a regular file" }
    if (st.uid !== process.getuid?.()) return { why: `owned by uid ${st.uid}` }
    if ((st.mode & 0o077) !== 0) return { why: `readable by others (mode ${(st.mode & 0o777).toString(8)})` }
    const token = fs.readFileSync(fd, "utf8").trim()
    return TOKEN_SHAPE.test(token) ? { token } : { why: "malformed" }
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * The data dir's token, created on first use. A file that is not ours, not 0600 or malformed is
 * replaced by a new token (with a warning): the old one must be assumed known to others.
 */
export const ensureToken = (dataDir: string): Effect.Effect<string, WebTokenError> =>
  Effect.gen(function*() {
    const file = path.join(dataDir, TOKEN_FILE)
    const found = readValid(file)
    if (found.token !== undefined) return found.token
    if (found.why !== undefined) {
      yield* Effect.logWarning(`web token ${file} ${found.why}: replacing it with a new token`)
    }
    return yield* Effect.try({
      try: () => {
        fs.rmSync(file, { force: true })
        return writeNew(file)
      },
      catch: (e) => new WebTokenError({ path: file, reason: (e as Error).message })
    })
  })

/** The token if one exists and is valid (for `tank web url`); never creates one. */
export const readToken = (dataDir: string): Effect.Effect<string, WebTokenError> =>
  Effect.suspend(() => {
    const file = path.join(dataDir, TOKEN_FILE)
    const found = readValid(file)
    return found.token !== undefined
      ? Effect.succeed(found.token)
      : Effect.fail(
        new WebTokenError({
          path: file,
          reason: found.why ?? "none yet: start the agent with the dashboard (tank daemon --web 127.0.0.1:4400)"
        })
      )
  })

export const Endpoint = Schema.Struct({
  /** The dashboard's base URL without the token, e.g. http://127.0.0.1:4400/ */
  url: Schema.String,
  pid: Schema.Number
})
export type Endpoint = typeof Endpoint.Type

/** The dashboard URL a person opens: the base URL with the token as a query parameter. */
export const urlWithToken = (base: string, token: string): string => {
  const u = new URL(base)
  u.searchParams.set("token", token)
  return u.toString()
}

export const writeEndpoint = (dataDir: string, endpoint: Endpoint): Effect.Effect<void, WebTokenError> => {
  const file = path.join(dataDir, ENDPOINT_FILE)
  return Effect.try({
    try: () => {
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, JSON.stringify(endpoint) + "\n", { mode: 0o600 })
      fs.renameSync(tmp, file)
    },
    catch: (e) => new WebTokenError({ path: file, reason: (e as Error).message })
  })
}

/** Remove the endpoint record if it is still this process's. */
export const removeEndpoint = (dataDir: string, pid: number): Effect.Effect<void> =>
  Effect.sync(() => {
    const file = path.join(dataDir, ENDPOINT_FILE)
    try {
      const e = JSON.parse(fs.readFileSync(file, "utf8")) as { pid?: unknown }
      if (e.pid === pid) fs.rmSync(file, { force: true })
    } catch {
      // absent or unreadable: nothing of ours to remove
    }
  })

/** The endpoint of a live agent serving the dashboard for `dataDir`, if any. */
export const readEndpoint = (dataDir: string): Endpoint | undefined => {
  try {
    const raw: unknown = JSON.parse(fs.readFileSync(path.join(dataDir, ENDPOINT_FILE), "utf8"))
    const e = Schema.decodeUnknownSync(Endpoint)(raw)
    return fs.existsSync(`/proc/${e.pid}`) ? e : undefined
  } catch {
    return undefined
  }
}
