/**
 * The web dashboard's API from a script, as curl would use it: the agent serves the dashboard on a
 * loopback port; with its token (the `Authorization: Bearer` header) a pod is applied as YAML,
 * listed, followed live over SSE until it runs, its logs read, and deleted. Open the printed URL
 * in a browser for the pages (docs/web.md).
 *
 *   tsx scratch/web.ts
 *
 * Starts an agent in-process. Image: $TANK_EXAMPLE_IMAGE (default 127.0.0.1:5000/tank/busybox).
 */
import { Effect } from "effect"
import { exampleImage, KEEPALIVE, runExample, withPods } from "./shared.js"

let urlReady: (url: string) => void = () => {}
const url = new Promise<string>((resolve) => (urlReady = resolve))

/** The SSE feed until `done` returns true for an event (name and parsed data). */
const followUntil = async (target: string, token: string, done: (event: string, data: any) => boolean) => {
  const abort = new AbortController()
  const res = await fetch(target, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal })
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ""
  try {
    for (;;) {
      const { done: end, value } = await reader.read()
      if (end) throw new Error("the feed ended")
      buf += value
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event && data && done(event, JSON.parse(data))) return
      }
    }
  } finally {
    abort.abort()
  }
}

const program = Effect.gen(function*() {
  const withToken = yield* Effect.promise(() => url)
  const base = new URL(withToken)
  const token = base.searchParams.get("token")!
  const api = (path: string, init: RequestInit = {}) =>
    fetch(new URL(path, base), { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } })
  console.log(`dashboard at ${base.origin}/ (open the URL with ?token=… in a browser)`)
  console.log(`without the token: ${(yield* Effect.promise(() => fetch(new URL("/api/pods", base)))).status}`)

  const bad = yield* Effect.promise(() =>
    api("/api/pods", { method: "POST", body: `name: hello\ncontainers:\n  - name: app\n    image: 42\n` })
  )
  const problem = yield* Effect.promise(() => bad.json())
  for (const i of problem.issues) console.log(`rejected (${bad.status}): line ${i.line}: ${i.path}: ${i.message}`)

  const spec = `name: hello
containers:
  - name: app
    image: ${exampleImage()}
    command: [sh, -c, 'echo hello from $(hostname); ${KEEPALIVE}']
`
  const running = Effect.promise(() =>
    followUntil(`${base.origin}/api/pods/stream`, token, (event, data) => {
      if (event === "snapshot") console.log(`feed: snapshot of ${data.pods.length} pods`)
      if (event === "pod") console.log(`feed: ${data.name} ${data.phase}`)
      return event === "pod" && data.name === "hello" && data.phase === "running"
    })
  )
  const applied = yield* Effect.promise(() =>
    api("/api/pods", { method: "POST", headers: { "content-type": "application/yaml" }, body: spec }).then((r) =>
      r.json()
    )
  )
  console.log(`applied: ${applied.applied.map((a: { name: string }) => a.name).join(", ")}`)
  yield* running
  const logs = yield* Effect.promise(() => api("/api/pods/hello/logs?tail=5").then((r) => r.json()))
  console.log(`logs: ${logs.lines.map((l: { text: string }) => l.text).join(" | ")}`)
  const deleted = yield* Effect.promise(() => api("/api/pods/hello", { method: "DELETE" }).then((r) => r.json()))
  console.log(`DELETE /api/pods/hello: deleted=${deleted.deleted}`)
})

// withPods: the pod is deleted (and waited for) also when something above fails.
runExample(withPods(["hello"], program), {
  web: { listen: "127.0.0.1:0", onListening: ({ withToken }) => Effect.sync(() => urlReady(withToken)) }
})
