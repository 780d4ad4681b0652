/**
 * What `-f` names, read and checked the same way for `apply`, `apply --dry-run`, `diff` and
 * `delete -f`: `-` (stdin, read as a stream at the writer's pace), files, and directories (their
 * `.yaml`, `.yml` and `.json` files, sorted by name, not recursive, like `kubectl apply -f DIR`).
 * Every pod of every source is read before anything is done with any of them, so one bad document
 * anywhere changes nothing; problems name the file, the document and the field.
 */
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { TankConfigShape } from "../config/Config.js"
import type { TankDocument } from "../kube/documents.js"
import type { InvalidSpec } from "../spec/decode.js"
import { PodName } from "../spec/fields.js"
import { printable } from "../spec/printable.js"
import { CliExit, err } from "./common.js"
import type { SpecEntry } from "./specFile.js"

/** The extensions a directory's spec files have. */
const SPEC_EXTENSIONS = [".yaml", ".yml", ".json"]

/** One source to read: stdin, or a file (given, or found in a given directory). */
export interface SpecSource {
  /** `-` for stdin, else a path. */
  readonly path: string
  /** As messages name it: `stdin`, or the path as given (`dir/a.yaml` for a directory's file). */
  readonly name: string
}

/**
 * A pod's data and where it came from. A Kubernetes manifest's `spec` is already Tank's (its
 * conversion's errors, warnings and paths are in `entry`, src/kube/documents.ts).
 */
export interface SpecAt {
  readonly spec: unknown
  readonly source: string
  readonly entry: TankDocument<SpecEntry>
}

/** `-f` arguments → sources: a directory becomes its spec files, sorted by name (byte order). */
export const expandSources = (args: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<SpecSource>, CliExit> =>
  Effect.try({
    try: () =>
      args.flatMap((arg): ReadonlyArray<SpecSource> => {
        if (arg === "-") return [{ path: "-", name: "stdin" }]
        if (!fs.statSync(arg).isDirectory()) return [{ path: arg, name: arg }]
        const files = fs.readdirSync(arg)
          .filter((f) => SPEC_EXTENSIONS.some((ext) => f.endsWith(ext)))
          .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
          .map((f) => path.join(arg, f))
          .filter((f) => fs.statSync(f).isFile())
        if (files.length === 0) throw new Error(`no ${SPEC_EXTENSIONS.join(", ")} files in directory`)
        return files.map((f) => ({ path: f, name: f }))
      }),
    catch: (e) => {
      const err = e as NodeJS.ErrnoException
      const which = args.find((a) => err.path === a) ?? err.path ?? args.join(", ")
      return new CliExit({
        code: 1,
        message: `cannot read ${which}: ${err.code === "ENOENT" ? "no such file or directory" : err.message}`
      })
    }
  })

/**
 * The bytes of a file or stdin, at most `cap` + 1 of them: a larger input is refused by the parser
 * without being read whole (a 50 MB spec once cost the CLI 2 GB and 15 s). Stdin is read as a stream:
 * a writer that starts late or writes in pieces (`(sleep 1; cat web.yaml) | tank apply -f -`) is
 * waited for until it closes the pipe.
 */
export const readCapped = (source: SpecSource, cap: number) =>
  Effect.tryPromise({
    try: async () => {
      const stream = source.path === "-" ? process.stdin : fs.createReadStream(source.path)
      const chunks: Array<Buffer> = []
      let total = 0
      for await (const chunk of stream) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
        chunks.push(b)
        total += b.length
        if (total > cap) break
      }
      if (source.path !== "-") stream.destroy()
      return Buffer.concat(chunks)
    },
    catch: (e) => new CliExit({ code: 1, message: `cannot read ${source.name}: ${(e as Error).message}` })
  })

const at = (source: string, entry: SpecEntry) =>
  `${source}: ${entry.where}${entry.line !== undefined ? ` (line ${entry.line})` : ""}`

/** `pods.yaml: document 2 (line 7), pod "web": invalid pod spec` + one line per field. */
export const renderInvalid = (source: string, entry: SpecEntry, e: InvalidSpec) =>
  [
    `${at(source, entry)}${e.pod ? `, pod "${e.pod}"` : ""}: invalid pod spec`,
    ...e.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`)
  ].join("\n")

/**
 * Every pod of the sources, parsed (not validated). Problems (unreadable, not YAML/JSON, no pods) are
 * collected for all sources; any of them fails the whole read with every problem listed and
 * `nothing` ("nothing was applied") as the last line.
 */
export const readSpecs = (args: ReadonlyArray<string>, nothing: string) =>
  Effect.gen(function*() {
    const [{ decodeSpecText, MAX_SPEC_FILE_BYTES, parseSpecFile }, { toTankDocuments, warningLines }] = yield* Effect
      .promise(() => Promise.all([import("./specFile.js"), import("../kube/documents.js")]))
    const sources = yield* expandSources(args)
    const specs: Array<SpecAt> = []
    const problems: Array<string> = []
    for (const source of sources) {
      const text = decodeSpecText(yield* readCapped(source, MAX_SPEC_FILE_BYTES), source.name)
      if (Either.isLeft(text)) {
        problems.push(text.left.message)
        continue
      }
      const parsed = parseSpecFile(text.right, source.name)
      if (Either.isLeft(parsed)) {
        problems.push(parsed.left.message)
        continue
      }
      if (parsed.right.length === 0) problems.push(`${source.name}: no pods in file`)
      // Kubernetes Pod manifests (and kind List) become Tank specs here; Tank's own pass through.
      for (const entry of toTankDocuments(parsed.right)) {
        for (const w of warningLines(entry)) yield* err(`${source.name}: ${entry.where}: warning: ${w}`)
        specs.push({ spec: entry.spec, source: source.name, entry })
      }
    }
    if (problems.length) return yield* new CliExit({ code: 1, message: `${problems.join("\n")}\n${nothing}` })
    return specs
  })

/**
 * `readSpecs`, then every pod validated as `apply` would (schema, host volumes and devices, names
 * unique across all sources). Fails listing every problem, ending with `nothing`.
 */
export const readValidSpecs = (args: ReadonlyArray<string>, config: TankConfigShape, nothing: string) =>
  Effect.gen(function*() {
    const specs = yield* readSpecs(args, nothing)
    const [
      { InvalidSpec, SpecIssue },
      { hostPathIssues, hostPathPolicy },
      { hostDeviceIssues },
      { decodeDocument }
    ] = yield* Effect.promise(() =>
      Promise.all([
        import("../spec/decode.js"),
        import("../config/hostPaths.js"),
        import("../config/hostDevices.js"),
        import("../kube/documents.js")
      ])
    )
    const policy = hostPathPolicy(config)
    // Single machine: this host is the agent's, so devices it lacks are refused now (cluster mode:
    // the node the pod lands on checks at bring-up).
    const hostIssues = (pod: Parameters<typeof hostDeviceIssues>[0]) => [
      ...hostPathIssues(pod, policy),
      ...(config.etcd === undefined ? hostDeviceIssues(pod) : [])
    ]
    const problems: Array<string> = []
    const first = new Map<string, SpecAt>()
    for (const s of specs) {
      const decoded = decodeDocument(s.entry, `${s.source}: ${s.entry.where}`)
      if (Either.isLeft(decoded)) {
        problems.push(renderInvalid(s.source, s.entry, decoded.left))
        continue
      }
      const refused = hostIssues(decoded.right)
      if (refused.length) {
        const e = new InvalidSpec({
          pod: decoded.right.name,
          issues: refused.map((i) => new SpecIssue({ path: s.entry.sourcePath(i.path), message: i.message }))
        })
        problems.push(renderInvalid(s.source, s.entry, e))
      }
      const name = decoded.right.name
      const seen = first.get(name)
      if (seen) {
        problems.push(`${at(s.source, s.entry)}: pod "${name}" is given twice (also ${at(seen.source, seen.entry)})`)
      } else first.set(name, s)
    }
    if (problems.length) return yield* new CliExit({ code: 1, message: `${problems.join("\n")}\n${nothing}` })
    return specs
  })

const isPodName = Schema.is(PodName)

/**
 * The pod names of the sources (`delete -f`): only `name` has to be right, so a file from an older
 * or newer Tank still deletes its pods.
 */
export const readNames = (args: ReadonlyArray<string>, nothing: string) =>
  Effect.gen(function*() {
    const specs = yield* readSpecs(args, nothing)
    const problems: Array<string> = []
    const names: Array<string> = []
    for (const s of specs) {
      const name = typeof s.spec === "object" && s.spec !== null ? (s.spec as { name?: unknown }).name : undefined
      if (isPodName(name)) {
        if (!names.includes(name)) names.push(name)
      } else {
        const given = name === undefined ? "absent" : printable(JSON.stringify(name) ?? String(name), 100)
        problems.push(`${at(s.source, s.entry)}: no valid pod name (name: ${given})`)
      }
    }
    if (problems.length) return yield* new CliExit({ code: 1, message: `${problems.join("\n")}\n${nothing}` })
    return names
  })
