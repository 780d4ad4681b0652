/**
 * docs/cluster.md's walk-through ("Try it on one machine") runs as written (root): its ```sh blocks
 * in order, in one bash session (exports and background jobs carry over, as in a terminal), with
 * only its ports (2379, 2380, 5000) and its directory (/tmp/tank-demo) swapped for free ones, and
 * `tank` on PATH as this checkout's CLI (built for this test).
 *
 * A block followed by a ```text block whose previous line is a directive is a check: it is run again
 * until its output matches the text shown, within the time the directive gives:
 *
 *   <!-- walkthrough: [after Ns] [within Ns] columns A,B | keys A,B | lines | events -->
 *
 * `columns`: the table's rows, in order, compared on those columns; `keys`: those `Key: value`
 * lines; `lines`: every line; `events`: the lines shown appear in order among those printed. Times,
 * ages of "N s ago", pids and revisions are not compared. `within` counts from the check's start;
 * `after` from the end of the block before the check (the action it watches): a match earlier is
 * a failure (a claim like "10 s later" is checked both ways). Any other block must exit 0. Blocks
 * after `<!-- walkthrough: skip -->` are not run (installing packages, building the CLI).
 *
 * Whatever happens, the session's processes (etcd, the registry, agents), the pods' monitors and
 * the directory are removed, and nothing of them may be left.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Config from "../../src/config/Config.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import { buildCli } from "../cli/harness.js"
import type { FixtureRefs } from "../support/fixtureImages.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { freePort } from "../support/registry.js"
import { runtimeLayer } from "../support/tankEnv.js"
import { tmpDir } from "../support/tmp.js"

const root = path.resolve(import.meta.dirname, "../..")
const doc = fs.readFileSync(path.join(root, "docs/cluster.md"), "utf8")

interface Block {
  readonly lang: string
  readonly code: string
  readonly line: number
  /** The directive before the fence, if any (`after 10s within 30s columns ...`). */
  readonly directive: string | undefined
}

/** The fenced blocks of the walk-through section, with the directive before each. */
const walkthrough = (): Array<Block> => {
  const lines = doc.split("\n")
  const from = lines.indexOf("## Try it on one machine")
  const to = lines.findIndex((l, i) => i > from && l.startsWith("## "))
  const out: Array<Block> = []
  for (let i = from; i < to; i++) {
    const m = /^```(\w+)\s*$/.exec(lines[i]!)
    if (!m) continue
    const start = i
    const body: Array<string> = []
    for (i++; lines[i] !== "```"; i++) body.push(lines[i]!)
    const prev = lines.slice(from, start).reverse().find((l) => l.trim() !== "")
    const d = prev && /^<!-- walkthrough: (.*) -->$/.exec(prev)
    out.push({ lang: m[1]!, code: body.join("\n"), line: start + 1, directive: d ? d[1] : undefined })
  }
  return out
}

interface Check {
  readonly mode: "columns" | "keys" | "lines" | "events"
  readonly names: ReadonlyArray<string>
  readonly withinMs: number
  readonly afterMs: number | undefined
}

const parseCheck = (d: string): Check => {
  const within = /within (\d+)s/.exec(d)
  const after = /after (\d+)s/.exec(d)
  const mode = /(columns|keys|lines|events)(?: (\S+))?/.exec(d)
  if (!mode) throw new Error(`walkthrough directive without a mode: ${d}`)
  return {
    mode: mode[1] as Check["mode"],
    names: mode[2]?.split(",") ?? [],
    withinMs: within ? Number(within[1]) * 1000 : 5_000,
    afterMs: after ? Number(after[1]) * 1000 : undefined
  }
}

/** What is not compared: times, "N s ago", pids, revisions. */
const normalize = (s: string) =>
  s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>")
    .replace(/\(\d+ ?s ago\)/g, "(<n>s ago)")
    .replace(/pid=\d+/g, "pid=<n>")
    .replace(/revision \d+/g, "revision <n>")

const table = (text: string, names: ReadonlyArray<string>) => {
  const rows = text.trimEnd().split("\n").map((l) => l.split(/\s{2,}/))
  const header = rows[0] ?? []
  const idx = names.map((n) => header.indexOf(n))
  if (idx.some((i) => i < 0)) return `header ${JSON.stringify(header)} lacks one of ${names.join(",")}`
  return JSON.stringify(rows.slice(1).map((r) => idx.map((i) => r[i])))
}

const keys = (text: string, names: ReadonlyArray<string>) => {
  const kv = new Map(
    text.split("\n").flatMap((l) => {
      const m = /^([A-Za-z ]+):\s+(.*)$/.exec(l)
      return m ? [[m[1]!, normalize(m[2]!)] as const] : []
    })
  )
  return JSON.stringify(names.map((n) => [n, kv.get(n)]))
}

/** Does `actual` show what `expected` shows (per the check's mode)? */
const matches = (c: Check, expected: string, actual: string): boolean => {
  switch (c.mode) {
    case "columns":
      return table(expected, c.names) === table(actual, c.names)
    case "keys":
      return keys(expected, c.names) === keys(actual, c.names)
    case "lines":
      return normalize(expected.trim()) === normalize(actual.trim())
    case "events": {
      // Each shown line, without its time, among the printed ones, in order.
      const strip = (l: string) => normalize(l).replace(/^<time> /, "")
      const got = actual.trim().split("\n").map(strip)
      let at = 0
      for (const want of expected.trim().split("\n").map(strip)) {
        at = got.indexOf(want, at)
        if (at < 0) return false
        at++
      }
      return true
    }
  }
}

/** One bash for the whole walk-through, as a terminal would be. */
const session = (cwd: string, env: NodeJS.ProcessEnv, dir: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const bash = spawn("bash", [], { cwd, env, detached: true, stdio: ["pipe", "pipe", "pipe"] })
      let out = ""
      let err = ""
      bash.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
      bash.stderr.setEncoding("utf8").on("data", (d: string) => (err += d))
      let n = 0
      /** Run a block in the session; its stdout, stderr and exit status. */
      const run = (code: string) =>
        Effect.async<{ stdout: string; stderr: string; status: number }>((resume) => {
          const id = n++
          const file = path.join(dir, `block-${id}.sh`)
          fs.writeFileSync(file, `${code}\n`)
          const marker = `__WALKTHROUGH_${id}__`
          const start = out.length
          const errStart = err.length
          const poll = setInterval(() => {
            const at = out.indexOf(marker, start)
            if (at < 0) return
            const end = out.indexOf("\n", at)
            if (end < 0) return
            clearInterval(poll)
            resume(Effect.succeed({
              stdout: out.slice(start, at),
              stderr: err.slice(errStart),
              status: Number(out.slice(at + marker.length, end).trim())
            }))
          }, 20)
          bash.stdin.write(`source ${file}; echo "${marker} $?"\n`)
          return Effect.sync(() => clearInterval(poll))
        })
      return { bash, run, log: () => err }
    }),
    // Everything the session started is in its process group (no job control): etcd, the
    // registry, the agents. The pods' monitors are not (they detach); they are swept below.
    ({ bash }) =>
      Effect.sync(() => {
        try {
          process.kill(-bash.pid!, "SIGKILL")
        } catch {
          // gone already
        }
      })
  )

describe("docs/cluster.md walk-through (live, root)", () => {
  it.scopedLive(
    "runs as written: etcd, two agents, pods, an agent killed and back, clean up",
    () =>
      Effect.gen(function*() {
        const dir = yield* tmpDir("tank-walk-")
        const [etcdClient, etcdPeer, registry] = [yield* freePort(), yield* freePort(), yield* freePort()]
        const swap = (s: string) =>
          s.replaceAll("/tmp/tank-demo", dir)
            .replaceAll("127.0.0.1:2379", `127.0.0.1:${etcdClient}`)
            .replaceAll("127.0.0.1:2380", `127.0.0.1:${etcdPeer}`)
            .replaceAll("127.0.0.1:5000", `127.0.0.1:${registry}`)
            .replaceAll("REGISTRY_PORT=5000", `REGISTRY_PORT=${registry}`)
        const blocks = walkthrough().map((b) => ({ ...b, code: swap(b.code) }))
        assert.isAbove(blocks.filter((b) => b.lang === "sh").length, 8)

        // `tank` is this checkout's CLI, built for this test.
        const cli = yield* Effect.acquireRelease(Effect.sync(buildCli), (c) => Effect.sync(c.cleanup))
        const bin = path.join(dir, "bin")
        fs.mkdirSync(bin)
        fs.writeFileSync(path.join(bin, "tank"), `#!/bin/sh\nexec "${process.execPath}" "${cli.entry}" "$@"\n`, {
          mode: 0o755
        })
        const work = path.join(dir, ".walkthrough")
        fs.mkdirSync(work)
        const client = path.join(dir, ".client")
        const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
        for (const k of Object.keys(env)) if (k.startsWith("TANK_")) delete env[k]
        env.PATH = `${bin}:${path.dirname(process.execPath)}:${process.env.PATH}`
        // The client's own data dir: empty, so no config of this machine's /var/lib/tank is read.
        env.TANK_DATA_DIR = client

        // The pods' monitors outlive the agents (live restore): whatever a failed run leaves in the
        // two data dirs is swept, then nothing of the walk-through may be left.
        const leakOpts = { pathPrefixes: [dir], processMarkers: [dir] }
        const before = yield* leakSnapshot(leakOpts)
        for (const node of ["n1", "n2"]) {
          yield* Effect.addFinalizer(() =>
            Effect.gen(function*() {
              const dataDir = path.join(dir, node)
              if (!fs.existsSync(dataDir)) return
              const config = yield* Config.load({ dataDir, env: {} })
              yield* Effect.flatMap(
                Runtime,
                (runtime) =>
                  Effect.flatMap(runtime.leftovers, (pods) => Effect.forEach(pods, runtime.sweep, { discard: true }))
              ).pipe(
                Effect.provide(runtimeLayer({ dataDir, refs: {} as FixtureRefs, config })),
                Effect.scoped
              )
            }).pipe(Effect.ignore)
          )
        }
        const sh = yield* session(root, env, work)
        yield* Effect.addFinalizer((exit) =>
          Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => {
            const tail = (f: string) =>
              fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").slice(-30).join("\n") : "(none)"
            process.stderr.write(`--- walkthrough stderr ---\n${sh.log().slice(-4000)}\n`)
            for (const f of ["n1.log", "n2.log", "registry.log", "etcd.log"]) {
              process.stderr.write(`--- ${f} ---\n${tail(path.join(dir, f))}\n`)
            }
          })
        )

        let lastActionEnd = Date.now()
        for (let i = 0; i < blocks.length; i++) {
          const b = blocks[i]!
          if (b.lang !== "sh" || b.directive === "skip") continue
          const next = blocks[i + 1]
          if (next?.lang !== "text" || next.directive === undefined) {
            const r = yield* sh.run(b.code)
            assert.strictEqual(r.status, 0, `cluster.md line ${b.line} failed:\n${b.code}\n${r.stdout}${r.stderr}`)
            lastActionEnd = Date.now()
            continue
          }
          const check = parseCheck(next.directive)
          const start = Date.now()
          let last = ""
          let matched = false
          while (!matched) {
            const r = yield* sh.run(b.code)
            last = r.stdout + (r.status === 0 ? "" : `\n(exit ${r.status}) ${r.stderr}`)
            matched = r.status === 0 && matches(check, next.code, r.stdout)
            if (matched) break
            if (Date.now() - start > check.withinMs) {
              assert.fail(
                `cluster.md line ${b.line}: \`${b.code}\` did not show what line ${next.line} shows within ` +
                  `${check.withinMs / 1000} s (${check.mode} ${check.names.join(",")}); last output:\n${last}`
              )
            }
            yield* Effect.sleep("500 millis")
          }
          if (check.afterMs !== undefined) {
            const at = Date.now() - lastActionEnd
            assert.isAtLeast(
              at,
              check.afterMs,
              `cluster.md line ${next.line}: shown ${at} ms after the action, before the ${check.afterMs} ms it says`
            )
          }
          yield* Effect.logInfo(`cluster.md line ${next.line}: as shown after ${Date.now() - lastActionEnd} ms`)
          // To refresh the outputs the page shows: WALKTHROUGH_PRINT=1 npx vitest run test/docs/cluster.test.ts
          if (process.env.WALKTHROUGH_PRINT) process.stdout.write(`--- line ${next.line}\n${last}\n`)
        }

        // The walk-through stopped everything it started: nothing may be left (assertNoLeaks retries
        // while the processes exit).
        yield* assertNoLeaks(before, leakOpts)
      }),
    { timeout: 240_000 }
  )
})
