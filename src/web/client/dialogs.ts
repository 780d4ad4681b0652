/** A confirmation dialog (native <dialog>: focus trapped, Escape cancels, Cancel focused first). */
import { h } from "./dom.js"

export const confirmAction = (title: string, text: string, action: string): Promise<boolean> =>
  new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel")
    const ok = h("button", { type: "button", class: "danger" }, action)
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title", role: "alertdialog" },
      h("h2", { id: "confirm-title" }, title),
      h("p", {}, text),
      h("div", { class: "buttons" }, cancel, ok)
    )
    const done = (answer: boolean) => {
      dialog.close()
      dialog.remove()
      resolve(answer)
    }
    cancel.addEventListener("click", () => done(false))
    ok.addEventListener("click", () => done(true))
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault()
      done(false)
    })
    document.body.appendChild(dialog)
    dialog.showModal()
    cancel.focus()
  })
