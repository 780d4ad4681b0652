/**
 * The spec editor (the "Apply pod" dialog and a pod's Spec tab): YAML or JSON text, applied through
 * POST /api/pods. A rejected spec shows each issue inline, naming its field and line; choosing an
 * issue puts the cursor on that line.
 */
import { ApiError, send } from "./api.js"
import { h, replace } from "./dom.js"

interface Issue {
  readonly path: string
  readonly message: string
  readonly line?: number
}

export interface Editor {
  readonly element: HTMLElement
  readonly textarea: HTMLTextAreaElement
  setText(text: string): void
}

const lineStart = (text: string, line: number) => {
  let at = 0
  for (let i = 1; i < line; i++) {
    const nl = text.indexOf("\n", at)
    if (nl < 0) break
    at = nl + 1
  }
  return at
}

export const makeEditor = (options: {
  readonly id: string
  readonly label: string
  readonly initial: string
  readonly applyLabel: string
  readonly onApplied: (names: ReadonlyArray<string>) => void
  readonly extraButtons?: ReadonlyArray<HTMLElement>
}): Editor => {
  const textarea = h("textarea", {
    id: `${options.id}-text`,
    class: "code",
    spellcheck: "false",
    autocapitalize: "off",
    autocomplete: "off",
    rows: 18,
    "aria-describedby": `${options.id}-issues`
  })
  textarea.value = options.initial
  const issues = h("div", { id: `${options.id}-issues`, class: "issues", role: "alert" })
  const button = h("button", { type: "submit" }, options.applyLabel)
  const form = h(
    "form",
    { class: "editor" },
    h("label", { for: textarea.id }, options.label),
    textarea,
    issues,
    h("div", { class: "buttons" }, ...(options.extraButtons ?? []), button)
  )
  const showIssues = (message: string, list: ReadonlyArray<Issue>) => {
    replace(
      issues,
      h("p", { class: "error" }, list.length > 0 ? "The spec was not applied:" : message),
      list.length > 0
        ? h(
          "ul",
          {},
          list.map((i) =>
            h(
              "li",
              { class: "issue", "data-path": i.path },
              h("code", {}, i.path || "(spec)"),
              `: ${i.message}`,
              i.line !== undefined
                ? [
                  " ",
                  h("button", {
                    type: "button",
                    class: "link",
                    onclick: () => {
                      const at = lineStart(textarea.value, i.line!)
                      textarea.focus()
                      textarea.setSelectionRange(at, at)
                    }
                  }, `line ${i.line}`)
                ]
                : null
            )
          )
        )
        : null
    )
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault()
    button.disabled = true
    replace(issues)
    try {
      const r = await send<{ applied: ReadonlyArray<{ name: string }> }>(
        "POST",
        "/api/pods",
        textarea.value,
        "application/yaml"
      )
      replace(issues, h("p", { class: "ok" }, `Applied ${r.applied.map((a) => a.name).join(", ")}.`))
      options.onApplied(r.applied.map((a) => a.name))
    } catch (err) {
      const body = err instanceof ApiError ? err.body : { message: String(err) }
      showIssues(String(body.message ?? "failed"), (body.issues as ReadonlyArray<Issue> | undefined) ?? [])
    } finally {
      button.disabled = false
    }
  })
  return { element: form, textarea, setText: (t) => void (textarea.value = t) }
}
