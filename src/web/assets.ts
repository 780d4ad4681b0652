/**
 * The client bundle (built by scripts/build.mjs into dist/web: app.js, app.css, with xterm.js and
 * uPlot inside), read once at start and served from memory under /assets/ with a content hash in
 * the URL, so browsers may cache it for good. Nothing comes from a CDN.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { AssetRefs } from "./pages.js"

export interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
}

export interface Assets {
  readonly dir: string | undefined
  readonly files: ReadonlyMap<string, Asset>
  readonly refs: AssetRefs
}

const TYPES: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8"
}

export const packageRoot = (from: string): string | undefined => {
  for (let dir = from;; dir = path.dirname(dir)) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).name === "tank") return dir
    } catch {
      // not here
    }
    if (path.dirname(dir) === dir) return undefined
  }
}

/** Where the bundle is: the given dir, else `web/` beside the bundled CLI, else `<package>/dist/web`. */
export const assetsDirCandidates = (given?: string): Array<string> => {
  if (given) return [given]
  const here = path.dirname(fileURLToPath(import.meta.url))
  const root = packageRoot(here)
  return [path.join(here, "web"), ...(root ? [path.join(root, "dist", "web")] : [])]
}

export const loadAssets = (given?: string): Assets => {
  const dir = assetsDirCandidates(given).find((d) => fs.existsSync(path.join(d, "app.js")))
  const files = new Map<string, Asset>()
  if (dir) {
    for (const name of fs.readdirSync(dir)) {
      const type = TYPES[path.extname(name)]
      if (type) files.set(name, { body: fs.readFileSync(path.join(dir, name)), contentType: type })
    }
  }
  const ref = (name: string) => {
    const a = files.get(name)
    return a ? `/assets/${name}?v=${createHash("sha256").update(a.body).digest("hex").slice(0, 12)}` : undefined
  }
  return { dir, files, refs: { script: ref("app.js"), style: ref("app.css") } }
}
