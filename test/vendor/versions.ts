import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "../..")

/** The version of `pkg` installed in node_modules and the one package.json pins. */
export const versionsOf = (pkg: string): { readonly installed: string; readonly pinned: string } => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
    dependencies: Record<string, string>
  }
  const installed = JSON.parse(fs.readFileSync(path.join(root, "node_modules", pkg, "package.json"), "utf8")) as {
    version: string
  }
  return { installed: installed.version, pinned: manifest.dependencies[pkg] ?? "(not pinned)" }
}
