/**
 * The second half of exec's blob rehearsal (quickExec.ts): one whole exec, the way a real one runs,
 * so the code after the run record is found (the record's and the monitor's decoders, the monitor
 * client and its socket, the enter options, child_process and the helper's exit) is compiled in the
 * blob too, not at every `tank exec` (~8 ms of CPU less a run under the blob's --no-opt, measured).
 * Everything is this process's own and gone before the snapshot is taken: a data dir in the temp
 * dir whose run record names this process as the workload (its pid and start time: "still ours"),
 * a fake monitor on a unix socket there that greets and says `running` (PROTOCOL.md §4), and
 * /bin/true standing in for `tank-helper enter` (TANK_HELPER, restored after). Nothing is entered.
 */
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Exec from "../exec/Exec.js"
import { PROTOCOL_VERSION } from "../runtime/helper/schema.js"
import { podLayout, runRootOf } from "../runtime/layout.js"
import { CURRENT_VERSION, procStartTime, type RunRecord } from "../runtime/record.js"
import { removeRunRootDir } from "../runtime/runRootDir.js"
import { loadConfigAt } from "./base.js"
import { type ExecOptions, runExec } from "./execRun.js"
import { finish } from "./run.js"

/** A plain `tank exec POD -- true` in `dataDir` (both halves of the rehearsal run one). */
export const rehearsalOptions = (dataDir: string, pod: string): ExecOptions => ({
  dataDir: Option.some(dataDir),
  interactive: false,
  tty: false,
  container: Option.none(),
  env: Option.none(),
  user: Option.none(),
  workdir: Option.none(),
  pod,
  command: ["true"]
})

/** The stand-in for the helper: exits 0, whatever its arguments. */
const STAND_IN = "/bin/true"

/** A monitor that greets and answers every request with `state` (running, this process as its workload). */
const fakeMonitor = (socketPath: string, startTime: number) =>
  Effect.acquireRelease(
    Effect.async<net.Server, Error>((resume) => {
      const state = {
        status: "running",
        pid: process.pid,
        monitorPid: process.pid,
        startTime,
        tty: false,
        attached: false
      }
      const server = net.createServer((socket) => {
        socket.write(
          `${JSON.stringify({ hello: { protocol: PROTOCOL_VERSION, monitorPid: process.pid, pid: process.pid } })}\n`
        )
        let buffered = ""
        socket.on("data", (d) => {
          buffered += d.toString("utf8")
          for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
            const { id } = JSON.parse(buffered.slice(0, nl)) as { id: number }
            buffered = buffered.slice(nl + 1)
            socket.write(`${JSON.stringify({ id, ok: true, state })}\n`)
          }
        })
        socket.on("error", () => {})
      })
      server.once("error", (e) => resume(Effect.fail(e)))
      server.listen(socketPath, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

const record = (dataDir: string, pod: string, socketPath: string, startTime: number): RunRecord => ({
  version: CURRENT_VERSION,
  pod,
  specKey: "{}",
  startedAt: new Date(0).toISOString(),
  phase: "running",
  steps: [],
  results: {
    monitors: [{
      name: "app",
      socketPath,
      exitPath: path.join(dataDir, "exit.json"),
      pid: process.pid,
      monitorPid: process.pid,
      startTime,
      env: ["PATH=/bin"],
      cwd: "/",
      uid: 0,
      gid: 0,
      groups: [],
      tty: false,
      cgroupProcs: [],
      logPath: path.join(dataDir, "app.log")
    }]
  }
})

/** One exec of `true` in a pod that only this process plays; skipped where there is no /bin/true. */
export const rehearseWholeExec = Effect.gen(function*() {
  const startTime = procStartTime(process.pid)
  if (startTime === undefined || !fs.existsSync(STAND_IN)) return
  const dataDir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "tank-snapshot-exec-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const pod = "rehearsal"
  const socketPath = path.join(dataDir, "monitor.sock")
  yield* fakeMonitor(socketPath, startTime)
  const file = podLayout(dataDir, pod).record
  // The record is in the data dir's run root, /run/tank/<hash> (not writable but by root: then no
  // rehearsal); removed with the data dir.
  const root = runRootOf(dataDir)
  const made = yield* Effect.acquireRelease(
    Effect.sync(() => {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
        return true
      } catch {
        return false
      }
    }),
    () => Effect.sync(() => removeRunRootDir(root))
  )
  if (!made) return
  fs.writeFileSync(file, `${JSON.stringify(record(dataDir, pod, socketPath, startTime))}\n`)
  const helper = process.env.TANK_HELPER
  yield* Effect.acquireRelease(
    Effect.sync(() => (process.env.TANK_HELPER = STAND_IN)),
    () => Effect.sync(() => helper === undefined ? delete process.env.TANK_HELPER : (process.env.TANK_HELPER = helper))
  )
  const config = yield* loadConfigAt(Option.some(dataDir))
  yield* finish(runExec(rehearsalOptions(dataDir, pod), { Exec, config }))
}).pipe(Effect.scoped)
