/**
 * docs/guide.md stays true: every code block in it is checked against the current source.
 *
 * - ```ts blocks are type-checked with the project's compiler options. Each block is one module,
 *   written as if it lived in scratch/ (imports of "../src/..." are pointed at the project's src).
 *   A block whose first line is `// prelude: tank` gets PRELUDE prepended — the imports and
 *   declarations the guide lists once at its top (that listing is itself a ts block, checked too,
 *   and must match PRELUDE so the guide never promises imports the test does not give).
 *   The generated modules go to test/docs/generated-<pid>/ (inside the project, so package imports
 *   resolve from node_modules) and are removed afterwards. Unused locals are allowed there:
 *   snippets show values without always using them.
 * - ```yaml blocks are pod specs (one or more documents) and must decode with decodePod; a block
 *   whose first line is `# config.yaml` is a config file and must decode as one (Config.load).
 * - The ```text block after `<!-- invalid-spec-output -->` must be exactly the message decodePod
 *   gives for the spec shown just before it.
 * - ```sh blocks are not run.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import * as YAML from "yaml"
import * as Config from "../../src/config/Config.js"
import { decodePod } from "../../src/spec/decode.js"

const root = path.resolve(import.meta.dirname, "../..")
const guide = fs.readFileSync(path.join(root, "docs/guide.md"), "utf8")

interface Block {
  readonly lang: string
  readonly code: string
  /** 1-based line of the opening fence. */
  readonly line: number
  /** The line before the fence (for markers). */
  readonly before: string
}

const blocks: Array<Block> = (() => {
  const out: Array<Block> = []
  const lines = guide.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(\w*)\s*$/.exec(lines[i]!)
    if (!m || m[1] === "") continue
    const start = i
    const body: Array<string> = []
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i]!)
    out.push({ lang: m[1]!, code: body.join("\n"), line: start + 1, before: lines[start - 1] ?? "" })
  }
  return out
})()

const PRELUDE = `import { Chunk, Effect, Layer, Stream } from "effect"
import * as Agent from "../src/agent/Agent.js"
import { attach, exec, execCapture } from "../src/exec/index.js"
import { logs } from "../src/observe/logs.js"
import { Api, Config, decodePod, Host, InvalidSpec, NoUplink, Spec, Store, StoreMemory, StoreSql, Tank } from "../src/index.js"

type PodInput = Spec.PodInput // what you write: the canonical spec shape
declare const image: string // e.g. "127.0.0.1:5000/tank/busybox:latest"`

const PRELUDE_MARK = "// prelude: tank"

/** Point "../src/..." at the project and hoist the block's own imports above the prelude's body. */
const moduleOf = (b: Block): string => {
  const code = b.code.startsWith(PRELUDE_MARK) ? b.code.slice(PRELUDE_MARK.length).trimStart() : b.code
  const lines = code.split("\n")
  const imports = lines.filter((l) => l.startsWith("import "))
  const rest = lines.filter((l) => !l.startsWith("import "))
  const parts = b.code.startsWith(PRELUDE_MARK)
    ? [
      PRELUDE.split("\n").filter((l) => l.startsWith("import ")),
      imports,
      PRELUDE.split("\n").filter((l) => !l.startsWith("import ")),
      rest
    ]
    : [imports, rest]
  const text = `// docs/guide.md line ${b.line}\n${parts.flat().join("\n")}\nexport {}\n`
  return text.replace(/(["'])\.\.\/src\//g, `$1${root}/src/`)
}

const run = promisify(execFile)

describe("docs/guide.md", () => {
  it("has code blocks of every checked kind", () => {
    const langs = new Set(blocks.map((b) => b.lang))
    for (const l of ["ts", "yaml", "sh", "text"]) expect(langs).toContain(l)
    expect(blocks.filter((b) => b.lang === "ts").length).toBeGreaterThan(15)
  })

  it("lists the same prelude the test gives", () => {
    const listed = blocks.find((b) => b.lang === "ts" && !b.code.startsWith(PRELUDE_MARK))
    expect(listed?.code).toBe(PRELUDE)
  })

  it("every ts block type-checks against the current source (and a broken one would not)", async () => {
    const dir = path.join(root, "test/docs", `generated-${process.pid}`)
    fs.mkdirSync(dir, { recursive: true })
    try {
      const ts = blocks.filter((b) => b.lang === "ts")
      ts.forEach((b, i) => fs.writeFileSync(path.join(dir, `block${String(i).padStart(2, "0")}.ts`), moduleOf(b)))
      // A control in the same compile: proves the check reports errors at all.
      const broken: Block = {
        lang: "ts",
        code:
          `${PRELUDE_MARK}\nconst typo = { name: "x", containers: [{ name: "c", imag: image }] } satisfies PodInput`,
        line: 0,
        before: ""
      }
      fs.writeFileSync(path.join(dir, "control.ts"), moduleOf(broken))
      fs.writeFileSync(
        path.join(dir, "tsconfig.json"),
        JSON.stringify({
          extends: "../../../tsconfig.json",
          compilerOptions: { noUnusedLocals: false, plugins: [] },
          include: ["*.ts"]
        })
      )
      const tsc = path.join(root, "node_modules/typescript/bin/tsc")
      const result = await run(process.execPath, [tsc, "--noEmit", "--pretty", "false", "-p", dir], { cwd: root })
        .then(
          () => ({ code: 0, out: "" }),
          (e: { code?: number; stdout?: string }) => ({ code: e.code ?? 1, out: e.stdout ?? "" })
        )
      const errors = result.out.split("\n").filter((l) => /error TS\d+/.test(l))
      expect(errors.some((l) => l.includes("control.ts"))).toBe(true)
      // Name the guide line of each error, not the generated file's.
      const guideErrors = errors.filter((l) => !l.includes("control.ts")).map((l) =>
        l.replace(
          /^.*generated-\d+\/block(\d+)\.ts\((\d+),\d+\)/,
          (_, n: string, g: string) => `guide.md block at line ${ts[Number(n)]!.line} (generated line ${g})`
        )
      )
      expect(guideErrors).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it.effect("every yaml pod spec decodes, every config block loads", () =>
    Effect.gen(function*() {
      const yamls = blocks.filter((b) => b.lang === "yaml")
      expect(yamls.length).toBeGreaterThanOrEqual(4)
      let configs = 0
      for (const b of yamls) {
        if (b.code.startsWith("# config.yaml")) {
          configs++
          const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tank-guide-")), "config.yaml")
          fs.writeFileSync(file, b.code)
          const loaded = yield* Effect.either(Config.load({ env: { TANK_CONFIG: file } }))
          fs.rmSync(path.dirname(file), { recursive: true, force: true })
          if (Either.isLeft(loaded)) expect.fail(`guide line ${b.line}: ${loaded.left.message}`)
          // Its seed pods are pods too.
          for (const s of Either.getOrThrow(loaded).seed) yield* decodePod(s, `guide line ${b.line} seed`)
          continue
        }
        const docs = YAML.parseAllDocuments(b.code)
        expect(docs.length).toBeGreaterThan(0)
        for (const d of docs) {
          const r = yield* Effect.either(decodePod(d.toJS(), `guide line ${b.line}`))
          if (Either.isLeft(r)) expect.fail(r.left.message)
        }
      }
      expect(configs).toBeGreaterThanOrEqual(1)
    }))

  it.effect("the InvalidSpec output shown is the real message", () =>
    Effect.gen(function*() {
      const i = blocks.findIndex((b) => b.before.includes("<!-- invalid-spec-output -->"))
      expect(i).toBeGreaterThan(0)
      const shown = blocks[i]!.code
      // The spec is the one in the ts block right before it.
      const src = blocks.slice(0, i).reverse().find((b) => b.lang === "ts")!.code
      const spec = Function("image", `return (${/Tank\.apply\((\{[\s\S]*?\})\)\.pipe/.exec(src)![1]})`)(
        "127.0.0.1:5000/tank/busybox:latest"
      )
      const err = yield* Effect.flip(decodePod(spec))
      expect(err.message).toBe(shown)
    }))
})
