/**
 * A pod's page: status (with per-container rows and last exits), charts, events, logs, a terminal
 * and the spec editor, in keyboard-navigable tabs (the URL's #fragment names the tab). Everything
 * is live from /api/pods/NAME/stream.
 */
import { follow } from "./api.js"
import { makeCharts, type Point } from "./charts.js"
import { age, badge, connection, exitText, h, type LastExitView, main, replace, tickAges, time } from "./dom.js"
import { makeEditor } from "./editor.js"
import { makeLogs } from "./logs.js"
import { deletePod, report, restartPod, type Row } from "./pods.js"
import { makeTerminal } from "./terminal.js"

interface ContainerStatus {
  readonly name: string
  readonly state: string
  readonly restarts: number
  readonly hostPid?: number
  readonly startedAt?: string
  readonly lastExit?: LastExitView
  readonly reason?: string
}

interface Detail {
  readonly name: string
  readonly row: Row
  readonly status?: {
    readonly phase: string
    readonly restarts: number
    readonly hostPid?: number
    readonly startedAt?: string
    readonly nextRestartAt?: string
    readonly lastExit?: LastExitView
    readonly reason?: string
    readonly containers?: ReadonlyArray<ContainerStatus>
    readonly specRevision: number
    readonly updatedAt: string
  }
  readonly specYaml?: string
  readonly revision?: number
  readonly containers: ReadonlyArray<string>
  readonly ttyContainers: ReadonlyArray<string>
}

interface PodEvent {
  readonly id: number
  readonly at: string
  readonly type: string
  readonly container?: string
  readonly message?: string
  readonly hostPid?: number
  readonly restarts?: number
  readonly lastExit?: LastExitView
  readonly delayMs?: number
}

const TABS = ["overview", "logs", "terminal", "spec", "events"] as const
type Tab = typeof TABS[number]

const LABELS: Record<Tab, string> = {
  overview: "Overview",
  logs: "Logs",
  terminal: "Terminal",
  spec: "Spec",
  events: "Events"
}

export const podPage = (pod: string) => {
  const root = main()
  const head = h("div", { class: "pod-head" })
  const actions = h(
    "div",
    { class: "actions" },
    h("button", { type: "button", class: "secondary", onclick: () => void restartPod(pod) }, "Restart"),
    h("button", {
      type: "button",
      class: "danger",
      onclick: async () => {
        if (await deletePod(pod)) location.href = "/"
      }
    }, "Delete")
  )
  const tablist = h("div", { role: "tablist", "aria-label": "Pod sections", class: "tabs" })
  const panels = new Map<Tab, HTMLElement>()
  const buttons = new Map<Tab, HTMLButtonElement>()
  for (const t of TABS) {
    const b = h("button", {
      type: "button",
      role: "tab",
      id: `tab-${t}`,
      "aria-controls": `panel-${t}`,
      "aria-selected": "false",
      tabindex: "-1"
    }, LABELS[t])
    b.addEventListener("click", () => select(t, true))
    buttons.set(t, b)
    tablist.append(b)
    panels.set(t, h("section", { role: "tabpanel", id: `panel-${t}`, "aria-labelledby": `tab-${t}`, hidden: true }))
  }
  tablist.addEventListener("keydown", (e) => {
    const i = TABS.indexOf(current)
    const next = e.key === "ArrowRight" ? TABS[(i + 1) % TABS.length] : e.key === "ArrowLeft"
      ? TABS[(i + TABS.length - 1) % TABS.length]
      : e.key === "Home"
      ? TABS[0]
      : e.key === "End"
      ? TABS[TABS.length - 1]
      : undefined
    if (next) {
      e.preventDefault()
      select(next, true)
      buttons.get(next)!.focus()
    }
  })
  const gone = h("p", { class: "notice", hidden: true, role: "alert" }, "This pod no longer exists.")
  root.append(head, actions, gone, tablist, ...panels.values(), h("p", { id: "toast", class: "toast", role: "status" }))

  // Overview
  const statusBox = h("dl", { class: "facts", id: "pod-status" })
  const containersTable = h("table", { class: "containers", "aria-label": "Containers" })
  const charts = makeCharts()
  panels.get("overview")!.append(
    h("h2", {}, "Status"),
    statusBox,
    h("h2", {}, "Containers"),
    h("div", { class: "table-wrap" }, containersTable),
    h("h2", {}, "Usage"),
    charts.element
  )

  // Events
  const eventsBody = h("tbody")
  panels.get("events")!.append(
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "events", "aria-label": "Events" },
        h("thead", {}, h("tr", {}, ["Time", "Event", "Container", "Details"].map((c) => h("th", { scope: "col" }, c)))),
        eventsBody
      )
    )
  )

  // Logs, terminal, spec
  let containers: ReadonlyArray<string> = []
  const logs = makeLogs(pod, () => containers)
  panels.get("logs")!.append(logs.element)
  const terminal = makeTerminal(pod)
  panels.get("terminal")!.append(terminal.element)
  let specShown: string | undefined
  const reset = h("button", { type: "button", class: "secondary" }, "Reset")
  const editor = makeEditor({
    id: "spec",
    label: "Spec (edit and apply: the agent replaces the pod)",
    initial: "",
    applyLabel: "Apply changes",
    extraButtons: [reset],
    onApplied: () => {}
  })
  reset.addEventListener("click", () => editor.setText(specShown ?? ""))
  panels.get("spec")!.append(editor.element)

  let current: Tab = "overview"
  let logsStarted = false
  const select = (t: Tab, push: boolean) => {
    current = t
    for (const x of TABS) {
      const on = x === t
      buttons.get(x)!.setAttribute("aria-selected", String(on))
      buttons.get(x)!.tabIndex = on ? 0 : -1
      panels.get(x)!.hidden = !on
    }
    if (push) history.replaceState(null, "", `#${t}`)
    if (t === "logs" && !logsStarted) {
      logsStarted = true
      void logs.start()
    }
  }
  const fromHash = TABS.find((t) => `#${t}` === location.hash)
  select(fromHash ?? "overview", false)

  const fact = (k: string, v: Node | string) => [h("dt", {}, k), h("dd", {}, v)]
  const showDetail = (d: Detail) => {
    gone.hidden = true
    const s = d.status
    const r = d.row
    replace(head, badge(r.phase), r.declared ? "" : h("small", {}, " (being deleted)"))
    document.body.dataset.phase = r.phase
    replace(
      statusBox,
      fact("Phase", badge(r.phase)),
      fact("Ready", `${r.ready.running}/${r.ready.total}`),
      fact("Restarts", String(r.restarts)),
      fact("Host PID", s?.hostPid !== undefined ? String(s.hostPid) : "–"),
      fact(
        "Started",
        s?.startedAt
          ? h(
            "span",
            {},
            `${time(s.startedAt)} (`,
            h("span", { "data-since": s.startedAt, "data-suffix": " ago" }, `${age(s.startedAt)} ago`),
            ")"
          )
          : "–"
      ),
      fact("Addresses", r.addresses.length ? r.addresses.join(", ") : "–"),
      ...(r.node ? [fact("Node", r.node)] : []),
      fact("Last exit", exitText(s?.lastExit)),
      ...(s?.reason ? [fact("Reason", s.reason)] : []),
      ...(s?.nextRestartAt ? [fact("Next restart", time(s.nextRestartAt))] : []),
      fact("Spec revision", d.revision !== undefined ? String(d.revision) : "–")
    )
    const rows = s?.containers && s.containers.length > 0
      ? s.containers
      : d.containers.map((name): ContainerStatus => ({
        name,
        state: r.phase,
        restarts: r.restarts,
        ...(s?.hostPid !== undefined ? { hostPid: s.hostPid } : {}),
        ...(s?.startedAt ? { startedAt: s.startedAt } : {}),
        ...(s?.lastExit ? { lastExit: s.lastExit } : {})
      }))
    replace(
      containersTable,
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Container", "State", "Restarts", "PID", "Started", "Last exit"].map((c) => h("th", { scope: "col" }, c))
        )
      ),
      h(
        "tbody",
        {},
        rows.map((c) =>
          h(
            "tr",
            {},
            h("td", { "data-label": "Container" }, c.name),
            h(
              "td",
              { "data-label": "State" },
              badge(c.state),
              c.reason ? h("small", { class: "reason" }, c.reason) : ""
            ),
            h("td", { "data-label": "Restarts" }, String(c.restarts)),
            h("td", { "data-label": "PID" }, c.hostPid !== undefined ? String(c.hostPid) : "–"),
            h(
              "td",
              { "data-label": "Started" },
              c.startedAt
                ? h("span", { "data-since": c.startedAt, "data-suffix": " ago" }, `${age(c.startedAt)} ago`)
                : "–"
            ),
            h("td", { "data-label": "Last exit" }, exitText(c.lastExit))
          )
        )
      )
    )
    containers = d.containers
    logs.setContainers(d.containers)
    terminal.setContainers(d.containers, d.ttyContainers)
    // Replace the editor's text only while the user has not changed it.
    if (d.specYaml !== undefined && (specShown === undefined || editor.textarea.value === specShown)) {
      editor.setText(d.specYaml)
    }
    specShown = d.specYaml ?? specShown
  }

  const seenEvents = new Set<number>()
  const addEvent = (e: PodEvent) => {
    // A reconnected feed sends the recent events again.
    if (seenEvents.has(e.id)) return
    seenEvents.add(e.id)
    const details = [
      e.message,
      e.hostPid !== undefined ? `pid ${e.hostPid}` : undefined,
      e.restarts ? `restarts ${e.restarts}` : undefined,
      e.lastExit ? exitText(e.lastExit) : undefined,
      e.delayMs !== undefined ? `retry in ${(e.delayMs / 1000).toFixed(1)}s` : undefined
    ].filter(Boolean).join(" · ")
    eventsBody.prepend(
      h(
        "tr",
        { "data-type": e.type },
        h("td", { "data-label": "Time" }, time(e.at)),
        h("td", { "data-label": "Event" }, h("span", { class: `badge event-${e.type}` }, e.type)),
        h("td", { "data-label": "Container" }, e.container ?? "–"),
        h("td", { "data-label": "Details" }, details || "–")
      )
    )
  }

  tickAges()
  follow(`/api/pods/${encodeURIComponent(pod)}/stream`, {
    pod: showDetail,
    removed: () => {
      gone.hidden = false
      replace(head, badge("gone"))
      document.body.dataset.phase = "gone"
    },
    history: (d: { points: ReadonlyArray<Point> }) => charts.seed(d.points),
    stats: (d: { point: Point }) => charts.add(d.point),
    event: addEvent,
    problem: (d: { message: string }) => {
      connection(`error: ${d.message}`, "down")
      report(d.message)
    }
  })
}
