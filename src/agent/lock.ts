/**
 * One agent per data dir: an exclusive flock on `<dataDir>/agent.lock`. The kernel drops the lock
 * when the holder dies (even by SIGKILL), so a stale file never blocks the next agent; the file holds
 * the holder's pid so the refusal can name it.
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import { errno as lastErrno, errnoName, libc, LOCK_EX, LOCK_NB } from "../host/libc.js"
import { agentLockFile } from "../runtime/layout.js"

const EWOULDBLOCK = 11

export class AgentAlreadyRunning extends Schema.TaggedError<AgentAlreadyRunning>()("AgentAlreadyRunning", {
  dataDir: Schema.String,
  pid: Schema.NullOr(Schema.Number)
}) {
  override get message() {
    return `another Tank agent already runs for ${this.dataDir}${this.pid ? ` (pid ${this.pid})` : ""}`
  }
}

export class LockError extends Schema.TaggedError<LockError>()("LockError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** The pid recorded in the lock file, if an agent holds it now. */
export const holder = (dataDir: string): number | null => {
  const file = agentLockFile(dataDir)
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch {
    return null
  }
  try {
    if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return null // nobody holds it (our probe lock closes with fd)
    const pid = Number(fs.readFileSync(file, "utf8").trim())
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } finally {
    fs.closeSync(fd)
  }
}

/** Take the agent lock for the scope's lifetime. */
export const acquire = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const file = agentLockFile(dataDir)
      const fd = yield* Effect.try({
        try: () => {
          fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
          return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
        },
        catch: (e) => new LockError({ path: file, message: String(e) })
      })
      if (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
        const errno = lastErrno()
        const pid = Number(fs.readFileSync(file, "utf8").trim())
        fs.closeSync(fd)
        if (errno === EWOULDBLOCK) {
          return yield* new AgentAlreadyRunning({ dataDir, pid: Number.isInteger(pid) && pid > 0 ? pid : null })
        }
        return yield* new LockError({ path: file, message: `flock failed: ${errnoName(errno)}` })
      }
      fs.ftruncateSync(fd, 0)
      fs.writeSync(fd, `${process.pid}\n`, 0)
      return fd
    }),
    (fd) => Effect.sync(() => fs.closeSync(fd))
  )
