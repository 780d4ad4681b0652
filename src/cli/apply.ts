/**
 * `tank apply -f FILE|-`: validate every pod in the file(s) first, then store them all at once
 * (Api.applyAll): one invalid document stores nothing. Errors name the file, the document and the field.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import type { InvalidSpec } from "../spec/decode.js"
import { CliExit, dataDirOption, describe, err, loadConfig, out, withStore } from "./common.js"
import type { SpecEntry } from "./specFile.js"

/**
 * The bytes of a file or stdin, at most `cap` + 1 of them: a larger input is refused by the parser
 * without being read whole (a 50 MB spec once cost the CLI 2 GB and 15 s).
 */
const readCapped = (file: string, cap: number) =>
  Effect.tryPromise({
    try: async () => {
      const stream = file === "-" ? process.stdin : fs.createReadStream(file)
      const chunks: Array<Buffer> = []
      let total = 0
      for await (const chunk of stream) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
        chunks.push(b)
        total += b.length
        if (total > cap) break
      }
      if (file !== "-") stream.destroy()
      return Buffer.concat(chunks)
    },
    catch: (e) => new CliExit({ code: 1, message: `cannot read ${file}: ${(e as Error).message}` })
  })

/** `pods.yaml, document 2 (line 7), pod "web": invalid pod spec` + one line per field. */
const renderInvalid = (file: string, entry: SpecEntry, e: InvalidSpec) =>
  [
    `${file}: ${entry.where}${entry.line !== undefined ? ` (line ${entry.line})` : ""}${
      e.pod ? `, pod "${e.pod}"` : ""
    }: invalid pod spec`,
    ...e.issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`)
  ].join("\n")

export const apply = Command.make(
  "apply",
  {
    dataDir: dataDirOption,
    files: Options.text("filename").pipe(
      Options.withAlias("f"),
      Options.withPseudoName("FILE"),
      Options.withDescription("A YAML or JSON file of pods, or - for stdin. Repeatable."),
      Options.atLeast(1)
    )
  },
  ({ dataDir, files }) =>
    Effect.gen(function*() {
      const [
        { InvalidSpec, SpecIssue },
        { decodeSpecText, MAX_SPEC_FILE_BYTES, parseSpecFile },
        { decodeDocument, toTankDocuments, warningLines },
        { hostPathIssues, hostPathPolicy },
        { hostDeviceIssues }
      ] = yield* Effect.promise(() =>
        Promise.all([
          import("../spec/decode.js"),
          import("./specFile.js"),
          import("../kube/documents.js"),
          import("../config/hostPaths.js"),
          import("../config/hostDevices.js")
        ])
      )
      const config = yield* loadConfig(dataDir)
      const policy = hostPathPolicy(config)
      // Single machine: this host is the agent's, so devices it lacks are refused now (cluster mode:
      // the node the pod lands on checks at bring-up).
      const hostIssues = (pod: Parameters<typeof hostDeviceIssues>[0]) => [
        ...hostPathIssues(pod, policy),
        ...(config.etcd === undefined ? hostDeviceIssues(pod) : [])
      ]
      const specs: Array<unknown> = []
      const problems: Array<string> = []
      for (const file of files) {
        const name = file === "-" ? "stdin" : file
        const text = decodeSpecText(yield* readCapped(file, MAX_SPEC_FILE_BYTES), name)
        if (Either.isLeft(text)) {
          problems.push(text.left.message)
          continue
        }
        const parsed = parseSpecFile(text.right, name)
        if (Either.isLeft(parsed)) {
          problems.push(parsed.left.message)
          continue
        }
        if (parsed.right.length === 0) problems.push(`${name}: no pods in file`)
        // Kubernetes Pod manifests (and kind List) become Tank specs here; Tank's own pass through.
        for (const entry of toTankDocuments(parsed.right)) {
          for (const w of warningLines(entry)) yield* err(`${name}: ${entry.where}: warning: ${w}`)
          const decoded = decodeDocument(entry, `${name}: ${entry.where}`)
          if (Either.isLeft(decoded)) problems.push(renderInvalid(name, entry, decoded.left))
          else {
            const refused = hostIssues(decoded.right)
            if (refused.length) {
              const e = new InvalidSpec({
                pod: decoded.right.name,
                issues: refused.map((i) => new SpecIssue({ path: entry.sourcePath(i.path), message: i.message }))
              })
              problems.push(renderInvalid(name, entry, e))
            }
          }
          specs.push(entry.spec)
        }
      }
      if (problems.length) {
        return yield* new CliExit({ code: 1, message: `${problems.join("\n")}\nnothing was applied` })
      }
      const stored = yield* withStore(dataDir, () =>
        Effect.flatMap(Effect.promise(() => import("../api/Api.js")), (Api) => Api.applyAll(specs, files.join(","))))
      for (const p of stored) {
        yield* out(`pod/${p.name} ${p.outcome}`)
      }
    })
).pipe(
  Command.withDescription(
    describe(
      "apply",
      "Declare pods from YAML or JSON: create them or replace their spec. The running agent converges.",
      [
        ["tank apply -f web.yaml", "one or more pods (YAML documents separated by ---)"],
        ["tank apply -f pods.json", "a JSON pod, a JSON array of pods, or { \"pods\": [...] }"],
        ["tank get web -o json | tank apply -f -", "read from stdin"],
        ["tank apply -f a.yaml -f b.yaml", "several files; if any pod is invalid, nothing is applied"],
        ["tank apply -f k8s-pod.yaml", "a Kubernetes Pod manifest (apiVersion: v1, kind: Pod or List)"]
      ],
      "Every pod is validated before any is stored; errors name the file, the document and the field.\n" +
        "Each pod is reported created, configured (its spec changed) or unchanged (same spec: nothing is written)."
    )
  )
)
