/**
 * What `tank ps` / `tank list` does once its options are parsed: one row per pod, like `podman ps`.
 * Free of @effect/cli: ps.ts (the full CLI's command) and quick.ts (the quick entry) both run `runPs`.
 */
import { Effect, Either, Option } from "effect"
import type { TankConfigShape } from "../config/Config.js"
import { type InvalidSelector, parseSelector } from "../spec/selector.js"
import { err, withStore, withStoreAt } from "./base.js"
import { printListing } from "./listing.js"
import {
  invalidWarning,
  keepBySelector,
  psFormat,
  type PsOptions,
  psOutput,
  type PsReport,
  psRows,
  type PsSpec
} from "./psView.js"

// What ps shows is pure and Schema-free (psView.ts: ps's lite path prints through it too).
export {
  imageOf,
  liveAgentPid,
  psFormat,
  type PsOptions,
  psOutput,
  type PsReport,
  type PsRow,
  psRows,
  type PsSpec,
  psTable,
  readyColumn
} from "./psView.js"

/** The rows, and the unreadable records behind rows in phase "invalid" (reported on stderr). */
export const loadReport = /* @__PURE__ */ Effect.gen(function*() {
  const [{ statusReport }, { Store }] = yield* Effect.promise(() =>
    Promise.all([import("../api/Api.js"), import("../store/Store.js")])
  )
  const store = yield* Store
  const [{ invalid, statuses }, { invalid: badPods, pods }] = yield* Effect.all([statusReport, store.list])
  return { rows: psRows(statuses, pods, badPods), invalid } satisfies PsReport
})

/** ps's report and the config it was read with. */
export interface PsRead {
  readonly config: TankConfigShape
  readonly report: PsReport
}

/** The Store's read of ps's report (a data dir without a store reads as empty, creating nothing). */
const storeRead = (dataDir: Option.Option<string>): Effect.Effect<PsRead, unknown> =>
  withStoreAt(dataDir, (config) => Effect.map(loadReport, (report) => ({ config, report })), { readOnly: true })

/**
 * Unreadable records are reported, never fatal: each on stderr with its key and reason; the listing
 * goes on and the command exits 0 (`tank doctor` exits 1 while any remain, for scripts to check).
 */
export const warnInvalid = (records: ReadonlyArray<{ readonly message: string }>) =>
  Effect.forEach(records, (r) => err(invalidWarning(r)), { discard: true })

/** Rows whose pod's labels match `-l` (a pod being torn down has no spec, so no labels). Pure. */
export const selectorFilter = (
  selector: Option.Option<string>
): Either.Either<(spec: PsSpec | undefined) => boolean, InvalidSelector> =>
  Option.isNone(selector)
    ? Either.right(() => true)
    : Either.map(parseSelector(selector.value), keepBySelector)

const bySelector = (selector: Option.Option<string>) => Effect.suspend(() => selectorFilter(selector))

/**
 * `read`: where the report comes from (default the Store's; the quick bundle's is the narrow
 * reader's, already read: quickPs.ts).
 */
export const runPs = (
  { dataDir, json: jsonFlag, output, quiet, selector, watch }: PsOptions,
  read: (dataDir: Option.Option<string>) => Effect.Effect<PsRead, unknown> = storeRead
) => {
  const format = psFormat({ json: jsonFlag, output, quiet })
  const json = format === "json" || format === "yaml"
  return Effect.gen(function*() {
    const { config, report: { invalid, rows } } = yield* read(dataDir)
    const keep = yield* bySelector(selector)
    return { rows: rows.filter((r) => keep(r.spec)), invalid, config, keep }
  })
    .pipe(
      Effect.tap((r) => {
        const { listing, warnings } = psOutput({ quiet }, r, Date.now)
        return Effect.zipRight(
          Effect.forEach(warnings, err, { discard: true }),
          printListing(format, listing)
        )
      }),
      Effect.flatMap(({ config, keep, rows }) =>
        watch
          ? withStore(
            config,
            () =>
              Effect.flatMap(
                Effect.promise(() => import("./psWatch.js")),
                ({ follow }) => follow(rows, json, config.etcd !== undefined, keep)
              )
          )
          : Effect.void
      )
    )
}
