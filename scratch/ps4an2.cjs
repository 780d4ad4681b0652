const fs = require("fs")
const { SourceMapConsumer } = require("source-map-js")
const map = new SourceMapConsumer(JSON.parse(fs.readFileSync("/work/wt-ps4/dist/quick-ps.cjs.map", "utf8")))
const OFFSET = +process.argv[2] // lines of entry before the bundle
const agg = new Map(); let total = 0
for (const f of fs.readdirSync("/tmp/ps4prof")) {
  const p = JSON.parse(fs.readFileSync("/tmp/ps4prof/" + f))
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  p.samples.forEach((id, i) => {
    const n = byId.get(id); const cf = n.callFrame; let k
    if (cf.url.includes("snapshot-entry") && cf.lineNumber + 1 - OFFSET >= 1) {
      const pos = map.originalPositionFor({ line: cf.lineNumber + 1 - OFFSET, column: cf.columnNumber })
      k = (pos.source ?? "?").replace(/.*node_modules\//, "").replace(/^(\.\.\/)+/, "") + " " + (pos.name ?? "")
      k = k.replace(/(effect\/dist\/esm\/[^ ]+).*/, "$1")
    } else k = cf.functionName + " " + cf.url.split("/").pop()
    agg.set(k, (agg.get(k) ?? 0) + p.timeDeltas[i]); total += p.timeDeltas[i]
  })
}
console.log("total", (total / 3000).toFixed(1), "ms/run")
console.log([...agg].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, v]) => `  ${(v / 3000).toFixed(1)} ${k}`).join("\n"))
