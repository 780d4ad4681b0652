/**
 * Tiny DOM helpers for the dashboard client: element creation with text set via textContent only
 * (data never becomes HTML), and the units the tables show.
 */

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>

/** `h("a", { href: "/x", class: "c", onclick: f }, "text", child)` */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: ReadonlyArray<Child | ReadonlyArray<Child>>
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v)
    else if (v === true) el.setAttribute(k, "")
    else el.setAttribute(k, String(v))
  }
  append(el, children)
  return el
}

const append = (el: Element, children: ReadonlyArray<Child | ReadonlyArray<Child>>) => {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c)
    else if (c instanceof Node) el.appendChild(c)
    else if (c !== null && c !== undefined && c !== false) el.appendChild(document.createTextNode(String(c)))
  }
}

export const clear = (el: Element) => {
  while (el.firstChild) el.removeChild(el.firstChild)
}

export const replace = (el: Element, ...children: ReadonlyArray<Child | ReadonlyArray<Child>>) => {
  clear(el)
  append(el, children)
}

export const main = (): HTMLElement => document.getElementById("main")!

const IEC = ["B", "KiB", "MiB", "GiB", "TiB"]

export const bytes = (n: number | undefined): string => {
  if (n === undefined || !Number.isFinite(n)) return "–"
  let v = n
  let u = 0
  while (v >= 1024 && u < IEC.length - 1) {
    v /= 1024
    u++
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${IEC[u]}`
}

export const percent = (n: number | undefined): string => n === undefined ? "–" : `${n.toFixed(1)}%`

/** Seconds since an ISO time, as `42s`, `5m`, `3h`, `2d`. */
export const age = (iso: string | undefined, now = Date.now()): string => {
  if (!iso) return "–"
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) || ""}${s % 3600 >= 60 ? "m" : ""}`
  return `${Math.floor(s / 86400)}d`
}

export const time = (iso: string | undefined): string => iso ? new Date(iso).toLocaleString() : "–"

export interface LastExitView {
  readonly code?: number
  readonly signal?: number
  readonly oomKilled?: boolean
  readonly setupError?: { readonly step: string; readonly message: string }
  readonly at: string
}

export const exitText = (e: LastExitView | undefined): string =>
  e === undefined
    ? "–"
    : e.setupError
    ? `setup failed at ${e.setupError.step}: ${e.setupError.message}`
    : e.signal !== undefined
    ? `signal ${e.signal}${e.oomKilled ? " (OOM killed)" : ""}`
    : `exit ${e.code ?? "?"}`

export const badge = (phase: string) => h("span", { class: `badge phase-${phase}` }, phase)

/** Set the header's live-connection note ("" hides it). */
export const connection = (text: string, state: "live" | "down" | "" = "") => {
  const el = document.getElementById("conn")
  if (!el) return
  el.textContent = text
  el.dataset.state = state
}

/** Keep every `[data-since]` element's age current (local clock only: no request involved). */
export const tickAges = () =>
  setInterval(() => {
    for (const el of document.querySelectorAll<HTMLElement>("[data-since]")) {
      el.textContent = `${age(el.dataset.since)}${el.dataset.suffix ?? ""}`
    }
  }, 1000)
