#!/usr/bin/env node
// Runs the whole suite (unit, integration, root e2e) with vitest and ends with the line
// "N passed, N failed" that CI reads. Extra arguments go to vitest (e.g. a folder).
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname))
const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tank-vitest-")), "report.json")
const build = spawnSync(process.execPath, [path.join(root, "scripts/build.mjs")], { stdio: "inherit", cwd: root })
if (build.status !== 0) process.exit(build.status ?? 1)
const r = spawnSync(
  process.execPath,
  [
    path.join(root, "node_modules/vitest/vitest.mjs"),
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...process.argv.slice(2)
  ],
  { stdio: "inherit", cwd: root }
)
let passed = 0, failed = 0, skipped = 0
try {
  const j = JSON.parse(fs.readFileSync(report, "utf8"))
  passed = j.numPassedTests
  failed = j.numFailedTests + (j.numFailedTestSuites > 0 && j.numFailedTests === 0 ? j.numFailedTestSuites : 0)
  skipped = j.numPendingTests + j.numTodoTests
} catch {
  failed = Math.max(failed, 1)
}
fs.rmSync(path.dirname(report), { recursive: true, force: true })
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`)
process.exit(r.status === 0 && failed === 0 ? 0 : 1)
