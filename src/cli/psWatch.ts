/**
 * `tank ps -w`: the listing's rows followed through the store's event feed. Apart from psList.ts so
 * that a plain `ps` (and its quick bundle, quickPs.ts) never loads Effect's streams.
 */
import { Effect, Option, Stream } from "effect"
import { out } from "./base.js"
import { imageOf, type PsRow, type PsSpec, psTable } from "./psList.js"

/**
 * `ps -w`: after the table, one line per change as the store's event feed reports it (a row as in
 * the table, without the header; `NAME removed` when a pod is gone); with --json one object a line.
 * Changes already shown by the table are not printed again.
 */
export const follow = (
  shownRows: ReadonlyArray<PsRow>,
  json: boolean,
  cluster: boolean,
  keep: (spec: PsSpec | undefined) => boolean
) =>
  Effect.gen(function*() {
    const [{ keyOf, watch }, { Store }] = yield* Effect.promise(() =>
      Promise.all([import("../api/watch.js"), import("../store/Store.js")])
    )
    const store = yield* Store
    const last = new Map(shownRows.map((r) => [r.status.name, keyOf(r.status)]))
    const shown = new Set(shownRows.map((r) => r.status.name))
    yield* watch().pipe(
      Stream.filter((c) => {
        const key = keyOf(c._tag === "Updated" ? c.status : undefined)
        if ((last.get(c.name) ?? "") === key) return false
        last.set(c.name, key)
        return true
      }),
      Stream.runForEach((c) =>
        Effect.gen(function*() {
          if (c._tag === "Removed") {
            // Only pods this listing showed (a selector cannot be checked on a pod that is gone).
            if (!shown.has(c.name)) return
            return yield* out(json ? JSON.stringify({ name: c.name, removed: true }) : `${c.name}   removed`)
          }
          const stored = yield* store.get(c.name).pipe(Effect.option, Effect.map(Option.flatten))
          const spec = Option.getOrUndefined(stored)
          if (!keep(spec?.spec) && !shown.has(c.name)) return
          shown.add(c.name)
          if (json) return yield* out(JSON.stringify({ ...c.status, image: imageOf(spec?.spec) }))
          const row: PsRow = {
            status: c.status,
            spec: spec?.spec,
            declaredAt: spec ? new Date(spec.updatedAt).toISOString() : undefined,
            node: spec?.node ?? c.status.node
          }
          // The row without its header line.
          yield* out(psTable([row], Date.now(), { cluster }).split("\n").slice(1).join("\n"))
        })
      )
    )
  })
