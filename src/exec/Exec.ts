/**
 * exec: a second process in a running pod — all of its workload's namespaces (mount → its rootfs,
 * pid, net, uts, ipc) and its cgroups, with its identity, capabilities, env and working dir — via
 * `tank-helper enter` (PROTOCOL.md §9). Works from any process: the pod record is all it needs.
 *
 * Three forms:
 *  - `exec` with a terminal (`tty`): the helper runs under node-pty; the caller's terminal goes raw,
 *    bytes are pumped both ways (Ctrl-C is a byte that the container's terminal turns into SIGINT),
 *    the window size follows SIGWINCH. The session ends when the command ends or the caller leaves
 *    (interrupting the effect hangs the terminal up), like `kubectl exec`: Ctrl-P Ctrl-Q is plain
 *    input here, because once the caller is gone nothing would hold the exec's terminal open.
 *  - `exec` without a terminal (`execStream`): stdin/stdout/stderr relayed through pipes by the
 *    helper, for the CLI. The command never holds a descriptor of the caller's terminal and runs
 *    in a session of its own (no controlling terminal: TIOCSTI on /dev/tty has nothing to reach).
 *  - `execCapture`: pipes, output collected, for scripts and tests.
 * Leaving an exec never touches the pod; any number can run at once.
 */
import { Deferred, Effect } from "effect"
import type * as pty from "node-pty"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import type { TankConfig } from "../config/Config.js"
import { enterCommand } from "../runtime/helper/enter.js"
import type { HelperNotBuilt } from "../runtime/helper/errors.js"
import { writeBacklog } from "../vendor/nodePty.js"
import { enterOptionsFor, type ExecUser, helperFailure, Tail } from "./command.js"
import type { EnvInput } from "./env.js"
import { type ContainerNotFound, EnterFailed, NotRunning, type PodMonitorBusy, SpawnFailed } from "./errors.js"
import { findTarget, type Target } from "./target.js"
import {
  pumpInput,
  rawMode,
  takeInput,
  type TerminalIO,
  watchResize,
  windowSize,
  writeWithBackpressure
} from "./terminal.js"
import { type ExecUserLookupFailed, resolveExecUser, type UnknownGroup, type UnknownUser } from "./user.js"

export type ExecResult = { readonly exited: number } | { readonly signaled: number }

export interface ExecOptions {
  /** Default: the pod's first container. */
  readonly container?: string
  /** Default: the container's working dir. */
  readonly cwd?: string
  /** Merged last over the container's env (per key). */
  readonly env?: EnvInput
  /**
   * Run as another user than the workload's: `USER[:GROUP]` (names looked up in the container's
   * /etc/passwd and /etc/group, numeric ids as they are) or resolved ids (as the container sees them).
   */
  readonly user?: ExecUser | string
  /** A terminal for the command. Default: when stdin is a TTY. */
  readonly tty?: boolean
  /**
   * Default: process.stdin / process.stdout / process.stderr. `"eof"` (streaming form): the command
   * reads EOF at once (the helper's stdin is /dev/null), without a stream of ours, or the caller's
   * stdin ever opened.
   */
  readonly stdin?: NodeJS.ReadableStream | "eof"
  readonly stdout?: NodeJS.WritableStream
  readonly stderr?: NodeJS.WritableStream
  /** tty only: the window size and its changes (default: stdout's, following SIGWINCH). */
  readonly size?: TerminalIO["size"]
  readonly onResize?: TerminalIO["onResize"]
}

/** The last three only for a `user` given by name (`USER[:GROUP]`). */
export type ExecError =
  | NotRunning
  | ContainerNotFound
  | PodMonitorBusy
  | EnterFailed
  | SpawnFailed
  | HelperNotBuilt
  | UnknownUser
  | UnknownGroup
  | ExecUserLookupFailed

const prepare = (pod: string, argv: ReadonlyArray<string>, options: ExecOptions, tty: boolean) =>
  Effect.gen(function*() {
    const target = yield* findTarget(pod, { container: options.container })
    const user = typeof options.user === "string"
      ? yield* resolveExecUser(pod, options.user, (a) =>
        execCapture(pod, a, {
          ...(options.container !== undefined ? { container: options.container } : {}),
          user: { uid: 0, gid: 0, groups: [] }
        }))
      : options.user
    const cmd = yield* enterCommand(
      enterOptionsFor(target.container, argv, { cwd: options.cwd, env: options.env, tty, user })
    )
    return { target, cmd }
  })

const resultOf = (
  target: Target,
  code: number | null,
  signal: number | NodeJS.Signals | null,
  stderrTail: string
): Effect.Effect<ExecResult, EnterFailed | NotRunning> => {
  const failure = helperFailure(code, stderrTail)
  // The workload ended between our check and the helper's open of /proc/<pid> (or the pid now
  // names another process): that is "not running", not a failure to enter.
  if (failure?.step === "open_ns_proc" && (failure.errno === 2 || failure.errno === 3)) {
    return Effect.fail(
      new NotRunning({ pod: target.pod, container: target.container.name, reason: "its workload exited" })
    )
  }
  if (failure) {
    return Effect.fail(
      new EnterFailed({ pod: target.pod, container: target.container.name, ...failure, exitCode: code ?? 125 })
    )
  }
  if (signal !== null && signal !== 0) {
    return Effect.succeed({ signaled: typeof signal === "number" ? signal : signalNumber(signal) })
  }
  return Effect.succeed({ exited: code ?? 0 })
}

const signalNumber = (s: NodeJS.Signals): number =>
  (os.constants.signals as Partial<Record<NodeJS.Signals, number>>)[s] ?? 0

/** The interactive form: a PTY for the command, the caller's terminal raw for the session. */
export const execInteractive = (
  pod: string,
  argv: ReadonlyArray<string>,
  options: ExecOptions = {}
): Effect.Effect<ExecResult, ExecError, TankConfig> =>
  Effect.gen(function*() {
    const { cmd, target } = yield* prepare(pod, argv, options, true)
    const io: TerminalIO = {
      input: inputOf(options),
      output: options.stdout ?? process.stdout,
      ...(options.size ? { size: options.size } : {}),
      ...(options.onResize ? { onResize: options.onResize } : {})
    }
    return yield* Effect.scoped(Effect.gen(function*() {
      yield* takeInput(io.input)
      yield* rawMode(io.input)
      const size = windowSize(io) ?? { rows: 24, cols: 80 }
      // Loaded here, not with this module: the CLI's startup snapshot holds this module, never an addon.
      const { spawn: ptySpawn } = yield* Effect.tryPromise({
        try: () => import("node-pty"),
        catch: (e) => new SpawnFailed({ what: "node-pty", message: String(e) })
      })
      const term = yield* Effect.acquireRelease(
        Effect.try({
          try: () =>
            ptySpawn(cmd.file, cmd.args, {
              name: "xterm",
              cols: size.cols,
              rows: size.rows,
              cwd: "/",
              env: {},
              // Bytes, not text: terminal output is not always valid UTF-8.
              encoding: null
            }),
          catch: (e) => new SpawnFailed({ what: cmd.file, message: String(e) })
        }),
        (t) => Effect.sync(() => hangUp(t))
      )
      // node-pty's write queue checked before any input (a defect naming node-pty if it changed),
      // not first in the input pump's event handler, where a throw would take the process down.
      yield* Effect.sync(() => writeBacklog(term))
      // Subscribed at once: the command may end before the pumps below are running.
      const exit = yield* Deferred.make<{ code: number; signal: number }>()
      // The caller leaves while the command runs: hang up the whole session, not just its first
      // process (busybox sh, unlike bash, does not pass SIGHUP on to its jobs).
      yield* Effect.addFinalizer(() =>
        Effect.flatMap(Deferred.isDone(exit), (done) =>
          done ? Effect.void : Effect.sync(() => hangUpSession(term.pid, target.container.cgroupProcs)))
      )
      const onExit = term.onExit(({ exitCode, signal }) =>
        Deferred.unsafeDone(exit, Effect.succeed({ code: exitCode, signal: signal ?? 0 }))
      )
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => onExit.dispose())
      )
      const tail = new Tail()
      const out = term.onData((d) => {
        const bytes = d as unknown as Buffer
        tail.push(bytes)
        writeWithBackpressure(io.output, bytes, () => term.pause(), () => term.resume())
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => out.dispose()))
      const unwatch = watchResize(io, (s) => {
        try {
          term.resize(s.cols, s.rows)
        } catch {
          // the session just ended
        }
      })
      yield* Effect.addFinalizer(() => Effect.sync(unwatch))
      yield* Effect.forkScoped(pumpInput(io.input, (chunk) => {
        term.write(Buffer.from(chunk))
        return "continue"
      }, () => writeBacklog(term) > PTY_HIGH_WATER))
      const { code, signal } = yield* Deferred.await(exit)
      return yield* resultOf(target, code, signal, tail.text)
    }))
  })

const PTY_HIGH_WATER = 64 * 1024

/**
 * SIGHUP (and SIGCONT, as the kernel does on a hangup) to every process of the exec's session left
 * in the container: the session led by the helper's child (`enter --tty`), unless one made its own
 * session (then it chose to outlive the terminal).
 */
const hangUpSession = (leader: number, cgroupProcs: ReadonlyArray<string>) => {
  const pids = new Set<number>()
  for (const file of cgroupProcs) {
    try {
      for (const p of fs.readFileSync(file, "utf8").split("\n")) if (p) pids.add(Number(p))
    } catch {
      // the cgroup is gone with the pod
    }
  }
  // Every member first, then the signals: once its shell is signalled it dies and is reaped, and a
  // background job of that session could no longer be told apart (its session leader gone).
  const members = [...pids].filter((pid) => {
    // The command's terminal is the container's: the helper's child leads its session.
    const sid = pid === leader ? undefined : sessionOf(pid)
    return sid !== undefined && parentOf(sid) === leader
  })
  for (const pid of members) {
    for (const sig of ["SIGHUP", "SIGCONT"] as const) {
      try {
        process.kill(pid, sig)
      } catch {
        // gone meanwhile
      }
    }
  }
}

/** /proc/<pid>/stat field 4 (parent pid, in our pid namespace). */
const parentOf = (pid: number): number | undefined => statField(pid, 1)

/** /proc/<pid>/stat field 6 (session id, in our pid namespace). */
const sessionOf = (pid: number): number | undefined => statField(pid, 3)

/** A numeric field of /proc/<pid>/stat, counted from the state (field 3) as 0. */
const statField = (pid: number, index: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[index])
  } catch {
    return undefined
  }
}

/**
 * Hang the terminal up: closing the master makes the kernel send SIGHUP to the session (the helper
 * forwards it to the command, and the command's foreground job gets it from the terminal), as when
 * a terminal window is closed. node-pty's destroy closes the master and then also signals SIGHUP.
 */
const hangUp = (t: pty.IPty) => {
  try {
    const destroy = (t as unknown as { destroy?: () => void }).destroy
    if (destroy) return destroy.call(t)
    t.kill("SIGHUP")
  } catch {
    // already gone
  }
}

/** A terminal's input: the caller's stdin unless a stream is given ("eof" has no meaning there). */
const inputOf = (options: ExecOptions): NodeJS.ReadableStream =>
  options.stdin === undefined || options.stdin === "eof" ? process.stdin : options.stdin

/** The streaming form: the caller's stdin/stdout/stderr passed through, no terminal. */
export const execStream = (
  pod: string,
  argv: ReadonlyArray<string>,
  options: ExecOptions = {}
): Effect.Effect<ExecResult, ExecError, TankConfig> =>
  Effect.gen(function*() {
    const { cmd, target } = yield* prepare(pod, argv, options, false)
    // process.stdin is not even looked at for "eof": its getter builds a stream (and loads its
    // module: a few ms of a CLI's start).
    const stdin = options.stdin === "eof" ? undefined : options.stdin ?? process.stdin
    const stdout = options.stdout ?? process.stdout
    const stderr = options.stderr ?? process.stderr
    return yield* Effect.async<ExecResult, EnterFailed | NotRunning | SpawnFailed>((resume) => {
      // The process's own stdio is handed over as file descriptors (EOF and backpressure for free);
      // other streams are piped. stderr always passes through us: the helper's error is its last line.
      const child = spawn(cmd.file, cmd.args, {
        stdio: [
          stdin === undefined ? "ignore" : stdin === process.stdin ? 0 : "pipe",
          stdout === process.stdout ? 1 : "pipe",
          "pipe"
        ],
        // The helper needs no environment (the command gets exactly the container's): nothing of
        // the caller's is in memory next to the container.
        env: {}
      })
      const tail = new Tail()
      if (child.stdin && stdin) stdin.pipe(child.stdin).on("error", () => {})
      if (child.stdout) child.stdout.pipe(stdout, { end: false })
      child.stderr!.on("data", (d: Buffer) => {
        tail.push(d)
        stderr.write(d)
      })
      child.on("error", (e) => resume(Effect.fail(new SpawnFailed({ what: cmd.file, message: e.message }))))
      child.on("close", (code, signal) => resume(Effect.suspend(() => resultOf(target, code, signal, tail.text))))
      return Effect.sync(() => {
        if (child.stdin && stdin) stdin.unpipe(child.stdin)
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      })
    })
  })

/** `exec` in the form the options ask for: with a terminal (default when stdin is a TTY) or streaming. */
export const exec = (
  pod: string,
  argv: ReadonlyArray<string>,
  options: ExecOptions = {}
): Effect.Effect<ExecResult, ExecError, TankConfig> => {
  const tty = options.tty ??
    (options.stdin !== "eof" && ((options.stdin ?? process.stdin) as { isTTY?: boolean }).isTTY === true)
  return tty ? execInteractive(pod, argv, options) : execStream(pod, argv, options)
}

export interface CaptureOptions {
  readonly container?: string
  readonly user?: ExecUser | string
  readonly cwd?: string
  readonly env?: EnvInput
  /** Fed to the command's stdin, then EOF (default: EOF at once). */
  readonly input?: string | Uint8Array
  /** "utf8" (default) or "buffer" for stdout/stderr. */
  readonly encoding?: "utf8" | "buffer"
}

export interface Captured<Out> {
  readonly exitCode: number | null
  readonly signal?: number
  readonly stdout: Out
  readonly stderr: Out
}

/** The capturing form: pipes, output collected, the exit code or signal. */
export function execCapture(
  pod: string,
  argv: ReadonlyArray<string>,
  options?: CaptureOptions & { readonly encoding?: "utf8" }
): Effect.Effect<Captured<string>, ExecError, TankConfig>
export function execCapture(
  pod: string,
  argv: ReadonlyArray<string>,
  options: CaptureOptions & { readonly encoding: "buffer" }
): Effect.Effect<Captured<Buffer>, ExecError, TankConfig>
export function execCapture(
  pod: string,
  argv: ReadonlyArray<string>,
  options: CaptureOptions = {}
): Effect.Effect<Captured<string | Buffer>, ExecError, TankConfig> {
  return Effect.gen(function*() {
    const { cmd, target } = yield* prepare(pod, argv, options, false)
    const raw = yield* Effect.async<
      { code: number | null; signal: NodeJS.Signals | null; out: Buffer; err: Buffer },
      SpawnFailed
    >((resume) => {
      const child = spawn(cmd.file, cmd.args, { stdio: ["pipe", "pipe", "pipe"], env: {} })
      const out: Array<Buffer> = []
      const err: Array<Buffer> = []
      child.stdout.on("data", (d: Buffer) => out.push(d))
      child.stderr.on("data", (d: Buffer) => err.push(d))
      child.stdin.on("error", () => {}) // the command may exit without reading its input
      child.stdin.end(options.input ?? "")
      child.on("error", (e) => resume(Effect.fail(new SpawnFailed({ what: cmd.file, message: e.message }))))
      child.on(
        "close",
        (code, signal) => resume(Effect.succeed({ code, signal, out: Buffer.concat(out), err: Buffer.concat(err) }))
      )
      return Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      })
    })
    const errText = raw.err.toString("utf8")
    const r = yield* resultOf(target, raw.code, raw.signal, errText.slice(-4096))
    const enc = (b: Buffer) => options.encoding === "buffer" ? b : b.toString("utf8")
    return {
      exitCode: "exited" in r ? r.exited : null,
      ...("signaled" in r ? { signal: r.signaled } : {}),
      stdout: enc(raw.out),
      stderr: enc(raw.err)
    }
  })
}
