/**
 * The pods page: counts by phase, the table (live from /api/pods/stream: a snapshot, then changed
 * rows, removals and stats), a filter, restart/delete with confirmation, and the "Apply pod" editor.
 */
import { ApiError, follow, send } from "./api.js"
import { confirmAction } from "./dialogs.js"
import { age, badge, bytes, connection, h, main, percent, replace, tickAges } from "./dom.js"
import { makeEditor } from "./editor.js"

export interface Row {
  readonly name: string
  readonly phase: string
  readonly declared: boolean
  readonly restarts: number
  readonly ready: { readonly running: number; readonly total: number }
  readonly images: ReadonlyArray<string>
  readonly addresses: ReadonlyArray<string>
  readonly node?: string
  readonly since?: string
  readonly reason?: string
  readonly cpuPercent?: number
  readonly memoryBytes?: number
  readonly memoryLimitBytes?: number
}

const TEMPLATE = `name: hello
restart: always
containers:
  - name: app
    image: busybox
    command: [sh, -c, "while true; do echo hello from $(hostname); sleep 5; done"]
`

const PHASES = ["running", "pending", "pulling", "starting", "backing-off", "stopping", "failed", "terminal", "lost"]

export const restartPod = async (name: string) => {
  if (!await confirmAction(`Restart ${name}?`, `Its containers are stopped and started again.`, "Restart")) return
  await send("POST", `/api/pods/${encodeURIComponent(name)}/restart`).catch(report)
}

export const deletePod = async (name: string) => {
  if (
    !await confirmAction(
      `Delete ${name}?`,
      `Its containers are stopped and its managed volumes removed. This cannot be undone.`,
      "Delete"
    )
  ) return false
  try {
    await send("DELETE", `/api/pods/${encodeURIComponent(name)}`)
    return true
  } catch (e) {
    report(e)
    return false
  }
}

export const report = (e: unknown) => {
  const msg = e instanceof ApiError ? e.message : String(e)
  const box = document.getElementById("toast")
  if (box) box.textContent = msg
}

export const podsPage = () => {
  const rows = new Map<string, Row>()
  const counts = h("ul", { class: "counts", "aria-label": "Pods by phase" })
  const filter = h("input", {
    type: "search",
    id: "filter",
    placeholder: "Filter by name, phase, image, address",
    "aria-label": "Filter pods"
  })
  const tbody = h("tbody")
  const table = h(
    "table",
    { class: "pods", "aria-label": "Pods" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Name", "Phase", "Restarts", "Ready", "Image", "Addresses", "Node", "CPU", "Memory", "Age", "Actions"].map((
          c
        ) => h("th", { scope: "col", class: `col-${c.toLowerCase()}` }, c))
      )
    ),
    tbody
  )
  const empty = h("p", { class: "empty", hidden: true }, "No pods. Apply one with the button above.")
  const dialog = h("dialog", { class: "apply", "aria-labelledby": "apply-title" })
  const cancel = h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel")
  const editor = makeEditor({
    id: "apply",
    label: "Pod spec (YAML or JSON; several pods separated by ---)",
    initial: TEMPLATE,
    applyLabel: "Apply",
    extraButtons: [cancel],
    onApplied: () => dialog.close()
  })
  dialog.append(h("h2", { id: "apply-title" }, "Apply pod"), editor.element)
  const applyButton = h("button", {
    type: "button",
    id: "apply-pod",
    onclick: () => {
      dialog.showModal()
      editor.textarea.focus()
    }
  }, "Apply pod")
  main().append(
    counts,
    h("div", { class: "toolbar" }, filter, applyButton),
    h("div", { class: "table-wrap" }, table),
    empty,
    dialog,
    h("p", { id: "toast", class: "toast", role: "status", "aria-live": "polite" })
  )

  const cell = (label: string, ...content: ReadonlyArray<Node | string>) =>
    h("td", { "data-label": label, class: `col-${label.toLowerCase()}` }, ...content)

  const render = (r: Row): HTMLTableRowElement => {
    const link = h("a", { href: `/pods/${encodeURIComponent(r.name)}` }, r.name)
    const image = r.images[0] ?? "–"
    return h(
      "tr",
      { "data-name": r.name, "data-phase": r.phase, id: `pod-${r.name}` },
      cell("Name", link),
      cell(
        "Phase",
        badge(r.phase),
        ...(r.declared ? [] : [" ", h("small", {}, "(deleted)")]),
        ...(r.reason && r.phase !== "running" ? [h("small", { class: "reason", title: r.reason }, r.reason)] : [])
      ),
      cell("Restarts", String(r.restarts)),
      cell("Ready", `${r.ready.running}/${r.ready.total}`),
      cell(
        "Image",
        h("span", { class: "image", title: r.images.join("\n") }, image),
        r.images.length > 1 ? ` +${r.images.length - 1}` : ""
      ),
      cell("Addresses", r.addresses.length ? r.addresses.join(", ") : "–"),
      cell("Node", r.node ?? "–"),
      cell("CPU", percent(r.cpuPercent)),
      cell("Memory", bytes(r.memoryBytes)),
      cell("Age", h("span", { "data-since": r.since ?? "" }, age(r.since))),
      cell(
        "Actions",
        h("button", {
          type: "button",
          class: "small secondary",
          "aria-label": `Restart pod ${r.name}`,
          disabled: !r.declared,
          onclick: () => void restartPod(r.name)
        }, "Restart"),
        h("button", {
          type: "button",
          class: "small danger",
          "aria-label": `Delete pod ${r.name}`,
          disabled: !r.declared,
          onclick: () => void deletePod(r.name)
        }, "Delete")
      )
    )
  }

  const matches = (r: Row, q: string) =>
    q === "" ||
    [r.name, r.phase, ...r.images, ...r.addresses, r.node ?? ""].some((s) => s.toLowerCase().includes(q))

  const refreshCounts = () => {
    const by = new Map<string, number>()
    for (const r of rows.values()) by.set(r.phase, (by.get(r.phase) ?? 0) + 1)
    const order = [...PHASES, ...[...by.keys()].filter((p) => !PHASES.includes(p))]
    replace(
      counts,
      h("li", { class: "total" }, h("strong", {}, String(rows.size)), rows.size === 1 ? " pod" : " pods"),
      order.filter((p) => by.has(p)).map((p) =>
        h("li", { "data-phase": p }, badge(p), " ", h("strong", {}, String(by.get(p))))
      )
    )
    empty.hidden = rows.size > 0
    table.classList.toggle("has-nodes", [...rows.values()].some((r) => r.node !== undefined))
  }

  const applyFilter = () => {
    const q = filter.value.trim().toLowerCase()
    for (const tr of tbody.rows) tr.hidden = !matches(rows.get(tr.dataset.name!)!, q)
  }

  const upsert = (r: Row) => {
    rows.set(r.name, r)
    const tr = render(r)
    const old = document.getElementById(`pod-${r.name}`)
    if (old) old.replaceWith(tr)
    else {
      // Keep the table sorted by name.
      const after = [...tbody.rows].find((x) => x.dataset.name! > r.name)
      tbody.insertBefore(tr, after ?? null)
    }
    tr.hidden = !matches(r, filter.value.trim().toLowerCase())
  }

  filter.addEventListener("input", applyFilter)
  follow("/api/pods/stream", {
    snapshot: (d: { pods: ReadonlyArray<Row> }) => {
      rows.clear()
      replace(tbody)
      for (const r of d.pods) upsert(r)
      refreshCounts()
      document.body.dataset.loaded = String(d.pods.length)
    },
    pod: (r: Row) => {
      upsert(r)
      refreshCounts()
    },
    removed: (d: { name: string }) => {
      rows.delete(d.name)
      document.getElementById(`pod-${d.name}`)?.remove()
      refreshCounts()
    },
    stats: (d: Record<string, { cpuPercent?: number; memoryBytes?: number }>) => {
      for (const [name, s] of Object.entries(d)) {
        const r = rows.get(name)
        if (!r) continue
        const next = { ...r, ...s }
        rows.set(name, next)
        const tr = document.getElementById(`pod-${name}`)
        const cpu = tr?.querySelector("td.col-cpu")
        const mem = tr?.querySelector("td.col-memory")
        if (cpu) cpu.textContent = percent(next.cpuPercent)
        if (mem) mem.textContent = bytes(next.memoryBytes)
      }
    },
    problem: (d: { message: string }) => connection(`error: ${d.message}`, "down")
  })
  tickAges()
}
