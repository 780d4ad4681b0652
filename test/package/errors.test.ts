// The package's error classes: one tag each, all exported from the entry (users catchTag on them).
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Entry from "../../src/index.js"

const root = path.resolve(import.meta.dirname, "../..")
const srcFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? srcFiles(path.join(dir, d.name)) : d.name.endsWith(".ts") ? [path.join(dir, d.name)] : []
  )

// Every tagged error class declared in src: [file, class, tag].
const declared = srcFiles(path.join(root, "src")).flatMap((file) =>
  [
    ...fs.readFileSync(file, "utf8").matchAll(
      /class (\w+) extends (?:Schema\.TaggedError<\w+>\(\)|Data\.TaggedError)\(\s*"(\w+)"/g
    )
  ].map((m) => ({ file: path.relative(root, file), name: m[1]!, tag: m[2]! }))
)

// Errors that never leave their module's own handling (CLI exits, HTTP handler failures mapped to
// responses, an unpin retried internally, the quick ps reader's "run the full CLI", the trash's
// remover failing, which trash.ts logs and retries at the next emptying): not part of the public API.
const INTERNAL = new Set([
  "src/cli/",
  "src/web/http.ts",
  "src/runtime/unpin.ts",
  "src/store/psReader.ts",
  "src/runtime/trashWorker.ts"
])
const internal = (file: string) => [...INTERNAL].some((p) => file.startsWith(p))

describe("error classes", () => {
  it("finds the declarations (the scan works)", () => {
    expect(declared.length).toBeGreaterThan(50)
    expect(declared).toContainEqual({ file: "src/api/Api.ts", name: "PodNotFound", tag: "PodNotFound" })
  })

  it("no two error classes in src share a tag", () => {
    const byTag = new Map<string, Array<string>>()
    for (const d of declared) byTag.set(d.tag, [...(byTag.get(d.tag) ?? []), `${d.file}:${d.name}`])
    const shared = [...byTag].filter(([, where]) => where.length > 1)
    expect(shared).toEqual([])
  })

  it("every public error class is exported from the entry, under its tag", () => {
    const missing = declared.filter((d) => !internal(d.file)).filter((d) => {
      const exported = (Entry as Record<string, unknown>)[d.name] as { new(...a: Array<never>): unknown } | undefined
      return typeof exported !== "function" || !fs.readFileSync(path.join(root, d.file), "utf8").includes(d.name)
    })
    expect(missing).toEqual([])
    // And the exported class is the declared one (tag checked on an instance's prototype chain).
    for (const d of declared.filter((x) => !internal(x.file))) {
      const C = (Entry as Record<string, unknown>)[d.name] as { prototype: { _tag?: string } }
      expect(Object.create(C.prototype)._tag ?? (C as unknown as { _tag?: string })._tag, d.name).toBe(d.tag)
    }
  })
})
