/**
 * A pod's logs: the last N lines, then (with "Follow") new lines live over SSE; stream and
 * container choice, a search that filters and highlights, and a download of the whole log.
 */
import { follow, getJson } from "./api.js"
import { clear, h } from "./dom.js"

interface Line {
  readonly time: string
  readonly container: string
  readonly stream: string
  readonly text: string
  readonly partial?: boolean
}

/** Lines kept in the page; older ones are dropped (the download has them all). */
const KEEP = 5000

export const makeLogs = (pod: string, containers: () => ReadonlyArray<string>) => {
  const tail = h("select", { id: "logs-tail" }, ["100", "500", "1000", "all"].map((v) => h("option", { value: v }, v)))
  const stream = h(
    "select",
    { id: "logs-stream" },
    h("option", { value: "" }, "all streams"),
    h("option", { value: "stdout" }, "stdout"),
    h("option", { value: "stderr" }, "stderr"),
    h("option", { value: "tty" }, "tty")
  )
  const container = h("select", { id: "logs-container" }, h("option", { value: "" }, "all containers"))
  const followBox = h("input", { type: "checkbox", id: "logs-follow", checked: true })
  const search = h("input", { type: "search", id: "logs-search", placeholder: "Search", "aria-label": "Search logs" })
  const download = h("a", { class: "button secondary", id: "logs-download", download: `${pod}.log` }, "Download")
  const out = h("pre", { class: "logs", id: "logs-out", tabindex: "0", role: "log", "aria-label": "Log lines" })
  const status = h("p", { class: "muted", id: "logs-status", role: "status" })
  const element = h(
    "section",
    { class: "logs-panel" },
    h(
      "div",
      { class: "toolbar" },
      h("label", {}, "Tail ", tail),
      h("label", {}, "Stream ", stream),
      h("label", {}, "Container ", container),
      h("label", { class: "check" }, followBox, " Follow"),
      search,
      download
    ),
    status,
    out
  )
  let lines: Array<Line> = []
  let source: EventSource | undefined

  const query = (extra: Record<string, string>) => {
    const q = new URLSearchParams(extra)
    q.set("tail", tail.value)
    if (stream.value) q.set("stream", stream.value)
    if (container.value) q.set("container", container.value)
    return q
  }

  const lineNode = (l: Line, needle: string) => {
    const span = h("span", { class: `line ${l.stream}`, title: `${l.time} ${l.container} ${l.stream}` })
    if (containers().length > 1) span.append(h("span", { class: "ctr" }, `${l.container} `))
    if (needle) {
      const lower = l.text.toLowerCase()
      let at = 0
      for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
        span.append(l.text.slice(at, i), h("mark", {}, l.text.slice(i, i + needle.length)))
        at = i + needle.length
      }
      span.append(l.text.slice(at))
    } else span.append(l.text)
    span.append("\n")
    return span
  }

  const visible = (l: Line, needle: string) => !needle || l.text.toLowerCase().includes(needle)

  const renderAll = () => {
    const needle = search.value.trim().toLowerCase()
    clear(out)
    const frag = document.createDocumentFragment()
    for (const l of lines) if (visible(l, needle)) frag.append(lineNode(l, needle))
    out.append(frag)
    out.scrollTop = out.scrollHeight
  }

  const add = (l: Line) => {
    lines.push(l)
    if (lines.length > KEEP) {
      lines = lines.slice(-KEEP)
      return renderAll()
    }
    const needle = search.value.trim().toLowerCase()
    if (!visible(l, needle)) return
    const atBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 40
    out.append(lineNode(l, needle))
    if (atBottom) out.scrollTop = out.scrollHeight
  }

  const start = async () => {
    source?.close()
    source = undefined
    lines = []
    renderAll()
    download.href = `/api/pods/${encodeURIComponent(pod)}/logs?${query({ format: "text", tail: "all" })}`.replace(
      /tail=[^&]*/,
      "tail=all"
    )
    status.textContent = "loading…"
    if (followBox.checked) {
      source = follow(`/api/pods/${encodeURIComponent(pod)}/logs?${query({ follow: "1" })}`, {
        line: add,
        problem: (d: { message: string }) => void (status.textContent = d.message)
      }, { quiet: true })
      source.addEventListener("open", () => void (status.textContent = "following"))
    } else {
      try {
        const r = await getJson<{ lines: Array<Line> }>(`/api/pods/${encodeURIComponent(pod)}/logs?${query({})}`)
        lines = r.lines
        renderAll()
        status.textContent = `${r.lines.length} lines`
      } catch (e) {
        status.textContent = String((e as Error).message)
      }
    }
  }

  for (const el of [tail, stream, container, followBox]) el.addEventListener("change", () => void start())
  search.addEventListener("input", renderAll)
  return {
    element,
    start,
    stop: () => {
      source?.close()
      source = undefined
    },
    setContainers: (names: ReadonlyArray<string>) => {
      const current = container.value
      clear(container)
      container.append(h("option", { value: "" }, "all containers"), ...names.map((n) => h("option", { value: n }, n)))
      container.value = names.includes(current) ? current : ""
    }
  }
}
