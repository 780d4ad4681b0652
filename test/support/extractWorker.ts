/**
 * The layer extraction worker bundled from source (as scripts/build.mjs does for dist/, unminified),
 * for tests and benches that run extraction off the thread without a build. Written inside the repo's
 * dist/ so that the bundle's external koffi resolves from node_modules, as the real one's does.
 */
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"

const repo = path.join(import.meta.dirname, "../..")

/** Bundles the worker into a fresh dir under dist/ named `prefix`…; returns the file and its dir. */
export const buildExtractWorker = async (prefix: string): Promise<{ readonly dir: string; readonly file: string }> => {
  fs.mkdirSync(path.join(repo, "dist"), { recursive: true })
  const dir = fs.mkdtempSync(path.join(repo, "dist", prefix))
  const file = path.join(dir, "extractWorker.cjs")
  await build({
    entryPoints: [path.join(repo, "src/image/extractWorker.ts")],
    outfile: file,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["koffi"],
    logLevel: "warning"
  })
  return { dir, file }
}
