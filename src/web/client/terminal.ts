/**
 * The terminal tab: xterm.js over the agent's WebSocket (docs/web.md). "Exec" runs a command (a
 * shell by default) beside the pod's workload, like `tank exec -it`; "Attach" takes over a
 * `tty: true` container's main process, like `tank attach` — Ctrl-P Ctrl-Q leaves it running.
 * The window size follows the panel; output is acknowledged as rendered (flow control).
 */
import { FitAddon } from "@xterm/addon-fit"
import { Terminal } from "@xterm/xterm"
import { h } from "./dom.js"

/** Acknowledge rendered output at least this often (server: src/web/flow.ts ACK_EVERY). */
const ACK_EVERY = 16 * 1024

export const makeTerminal = (pod: string) => {
  const mode = h("select", { id: "term-mode" }, h("option", { value: "exec" }, "Exec a command"))
  const container = h("select", { id: "term-container" })
  const command = h("input", { id: "term-command", value: "sh", "aria-label": "Command", size: 12 })
  const connect = h("button", { type: "button", id: "term-connect" }, "Connect")
  const status = h("p", { class: "muted", id: "term-status", role: "status", "aria-live": "polite" })
  const hint = h("p", { class: "muted small" })
  const screen = h("div", { class: "term", id: "term-screen" })
  const element = h(
    "section",
    { class: "terminal-panel" },
    h(
      "div",
      { class: "toolbar" },
      h("label", {}, "Mode ", mode),
      h("label", {}, "Container ", container),
      h("label", { class: "command" }, "Command ", command),
      connect
    ),
    status,
    screen,
    hint
  )
  let ttys: ReadonlyArray<string> = []
  let term: Terminal | undefined
  let fit: FitAddon | undefined
  let ws: WebSocket | undefined

  const updateHint = () => {
    command.disabled = mode.value === "attach"
    hint.textContent = mode.value === "attach"
      ? "Attached to the main process: Ctrl-P Ctrl-Q detaches and leaves it running."
      : "A new process beside the workload; leaving ends it. Ctrl-P is plain input here."
  }
  mode.addEventListener("change", updateHint)
  updateHint()

  const disconnect = () => {
    ws?.close()
    ws = undefined
    connect.textContent = "Connect"
  }

  const open = () => {
    if (ws) return disconnect()
    if (!term) {
      term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, screenReaderMode: false })
      fit = new FitAddon()
      term.loadAddon(fit)
      term.open(screen)
      new ResizeObserver(() => fit?.fit()).observe(screen)
    }
    fit!.fit()
    const t = term
    t.reset()
    const q = new URLSearchParams({ mode: mode.value, cols: String(t.cols), rows: String(t.rows) })
    if (container.value) q.set("container", container.value)
    if (mode.value === "exec") {
      for (const part of command.value.trim().split(/\s+/).filter(Boolean)) q.append("cmd", part)
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws"
    const socket = new WebSocket(`${scheme}://${location.host}/api/pods/${encodeURIComponent(pod)}/terminal?${q}`)
    socket.binaryType = "arraybuffer"
    ws = socket
    connect.textContent = "Disconnect"
    status.textContent = "connecting…"
    let rendered = 0
    const subs = [
      t.onData((d) => socket.readyState === WebSocket.OPEN && socket.send(new TextEncoder().encode(d))),
      t.onBinary((d) => {
        if (socket.readyState !== WebSocket.OPEN) return
        socket.send(Uint8Array.from(d, (c) => c.charCodeAt(0)))
      }),
      t.onResize(({ cols, rows }) =>
        socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify({ type: "resize", cols, rows }))
      )
    ]
    socket.addEventListener("message", (ev) => {
      if (typeof ev.data !== "string") {
        const bytes = new Uint8Array(ev.data as ArrayBuffer)
        t.write(bytes, () => {
          rendered += bytes.length
          if (rendered >= ACK_EVERY && socket.readyState === WebSocket.OPEN) {
            socket.send(JSON.stringify({ type: "ack", bytes: rendered }))
            rendered = 0
          }
        })
        return
      }
      const msg = JSON.parse(ev.data) as { type: string; code?: number; signal?: number; message?: string }
      if (msg.type === "ready") {
        status.textContent = mode.value === "attach" ? "attached" : "connected"
        t.focus()
      } else if (msg.type === "exit") {
        status.textContent = msg.signal !== undefined ? `ended by signal ${msg.signal}` : `exited with code ${msg.code}`
      } else if (msg.type === "detached") status.textContent = "detached (the container keeps running)"
      else if (msg.type === "error") status.textContent = msg.message ?? "error"
    })
    socket.addEventListener("close", () => {
      for (const s of subs) s.dispose()
      if (ws === socket) {
        ws = undefined
        connect.textContent = "Connect"
      }
      if (status.textContent === "connecting…") status.textContent = "refused"
    })
  }
  connect.addEventListener("click", open)
  return {
    element,
    setContainers: (all: ReadonlyArray<string>, ttyContainers: ReadonlyArray<string>) => {
      const current = container.value
      container.replaceChildren(...all.map((n) => h("option", { value: n }, n)))
      if (all.includes(current)) container.value = current
      ttys = ttyContainers
      const hasAttach = mode.querySelector("option[value=attach]") !== null
      if (ttys.length > 0 && !hasAttach) mode.append(h("option", { value: "attach" }, "Attach to main process"))
      if (ttys.length === 0 && hasAttach) {
        mode.querySelector("option[value=attach]")!.remove()
        updateHint()
      }
    },
    stop: disconnect
  }
}
