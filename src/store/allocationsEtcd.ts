/**
 * Allocations in etcd (cluster mode): every agent of the cluster allocates from the same keys, and
 * each write is one transaction that compares the address key (absent, or unchanged) and the
 * holder's key together, so two agents never hand out one address, even at the same instant.
 *
 *   alloc/<pool>/addr/<address>        → { holder, nic, at }
 *   alloc/<pool>/own/<holder>/<nic>    → <address>
 *
 * (Components URI-encoded.) A lost race re-reads and tries again. A transaction whose outcome was
 * unknown (retried by the caller) is safe: the retry finds the holder's own key and returns it.
 */
import { Effect, Layer, Schema } from "effect"
import type { IKeyValue } from "etcd3"
import { Etcd } from "../etcd/client.js"
import {
  AddressTaken,
  type Allocation,
  Allocations,
  byPoolAndAddress,
  firstFree,
  ipNumber,
  ipText,
  PoolExhausted,
  poolSize
} from "./Allocations.js"
import { makeCaller } from "./etcdCall.js"
import { StoreError } from "./Store.js"

const PREFIX = "alloc/"
const enc = encodeURIComponent
const addrKey = (pool: string, address: string) => `${PREFIX}${enc(pool)}/addr/${enc(address)}`
const ownKey = (pool: string, holder: string, nic: string) => `${PREFIX}${enc(pool)}/own/${enc(holder)}/${enc(nic)}`

const Value = Schema.parseJson(Schema.Struct({ holder: Schema.String, nic: Schema.String, at: Schema.Number }))
const decodeValue = Schema.decodeUnknownOption(Value)

/** An address key's record; undefined for anything else (own keys, or a value that cannot be read). */
const parse = (key: string, value: string): Allocation | undefined => {
  const m = /^alloc\/([^/]+)\/addr\/([^/]+)$/.exec(key)
  if (m === null) return undefined
  const v = decodeValue(value)
  if (v._tag === "None") return undefined
  return { pool: decodeURIComponent(m[1]!), address: decodeURIComponent(m[2]!), ...v.value }
}

/** Attempts before a write gives up on a hot pool (each lost race re-reads). */
const MAX_RACES = 200

export const makeEtcd = Effect.gen(function*() {
  const { config, kv } = yield* Etcd
  const call = makeCaller(config.endpoints, "30 seconds")

  const get = (op: string, key: string) =>
    call(op, key, (deadline) => kv.get(key).options({ deadline }).exec()).pipe(
      Effect.map((r) => r.kvs[0] as IKeyValue | undefined)
    )

  const valueOf = (a: Allocation) => JSON.stringify({ holder: a.holder, nic: a.nic, at: a.at })

  /** Runs `attempt` until it decides (Some); a lost race returns None and goes round again. */
  const loop = <A, E>(op: string, attempt: Effect.Effect<A | undefined, E | StoreError>) =>
    Effect.gen(function*() {
      for (let i = 0; i < MAX_RACES; i++) {
        const r = yield* attempt
        if (r !== undefined) return r
      }
      return yield* new StoreError({
        op,
        message: `etcd ${config.endpoints.join(",")}: ${op}: lost ${MAX_RACES} races`
      })
    })

  /** The holder's allocation for this NIC if its own key and the address key agree. */
  const current = (pool: string, holder: string, nic: string) =>
    Effect.gen(function*() {
      const own = yield* get("allocate", ownKey(pool, holder, nic))
      if (own === undefined) return { own: undefined, mine: undefined }
      const address = own.value.toString()
      const at = yield* get("allocate", addrKey(pool, address))
      const a = at === undefined ? undefined : parse(addrKey(pool, address), at.value.toString())
      return { own, mine: a !== undefined && a.holder === holder && a.nic === nic ? a : undefined }
    })

  const put = (a: Allocation, ownRev: number, drop?: { readonly key: string; readonly rev: number }) =>
    call("allocate", addrKey(a.pool, a.address), (deadline) => {
      const txn = kv.if(addrKey(a.pool, a.address), "Create", "==", 0)
        .and(ownKey(a.pool, a.holder, a.nic), "Mod", "==", ownRev)
      const guarded = drop === undefined ? txn : txn.and(drop.key, "Mod", "==", drop.rev)
      return guarded.options({ deadline })
        .then(
          kv.put(addrKey(a.pool, a.address)).value(valueOf(a)),
          kv.put(ownKey(a.pool, a.holder, a.nic)).value(a.address),
          ...(drop === undefined ? [] : [kv.delete().key(drop.key)])
        )
        .commit()
    }).pipe(Effect.map((r) => r.succeeded))

  const all = call("list allocations", PREFIX, (deadline) => kv.getAll().prefix(PREFIX).options({ deadline }).exec())

  return Allocations.of({
    allocate: (req) =>
      loop(
        "allocate",
        Effect.gen(function*() {
          const { mine, own } = yield* current(req.pool, req.holder, req.nic)
          if (mine !== undefined) return mine
          const res = yield* call(
            "allocate",
            `${PREFIX}${enc(req.pool)}/addr/`,
            (deadline) => kv.getAll().prefix(`${PREFIX}${enc(req.pool)}/addr/`).options({ deadline }).keys()
          )
          const taken = new Set(
            res.flatMap((k) => {
              const m = /\/addr\/([^/]+)$/.exec(k)
              return m === null ? [] : ipNumber(decodeURIComponent(m[1]!)) ?? []
            })
          )
          const n = firstFree(req, taken)
          if (n === undefined) return yield* new PoolExhausted({ pool: req.pool, size: poolSize(req) })
          const a: Allocation = { pool: req.pool, address: ipText(n), holder: req.holder, nic: req.nic, at: Date.now() }
          return (yield* put(a, own === undefined ? 0 : Number(own.mod_revision))) ? a : undefined
        })
      ),
    claim: (req) =>
      loop(
        "claim",
        Effect.gen(function*() {
          const at = yield* get("claim", addrKey(req.pool, req.address))
          if (at !== undefined) {
            const cur = parse(addrKey(req.pool, req.address), at.value.toString())
            if (cur !== undefined && cur.holder === req.holder && cur.nic === req.nic) return cur
            return yield* new AddressTaken({
              ...req,
              holder: cur?.holder ?? "(unreadable)",
              nic: cur?.nic ?? "?"
            })
          }
          const { mine, own } = yield* current(req.pool, req.holder, req.nic)
          const old = mine === undefined ? undefined : yield* get("claim", addrKey(mine.pool, mine.address))
          const a: Allocation = { ...req, at: Date.now() }
          const drop = old === undefined || mine === undefined
            ? undefined
            : { key: addrKey(mine.pool, mine.address), rev: Number(old.mod_revision) }
          return (yield* put(a, own === undefined ? 0 : Number(own.mod_revision), drop)) ? a : undefined
        })
      ),
    release: (holder, which) =>
      Effect.gen(function*() {
        const res = yield* all
        const gone: Array<Allocation> = []
        for (const x of res.kvs) {
          const a = parse(x.key.toString(), x.value.toString())
          if (a === undefined || a.holder !== holder || !(which?.(a) ?? true)) continue
          const ok = yield* call("release", x.key.toString(), (deadline) =>
            kv.if(x.key.toString(), "Mod", "==", Number(x.mod_revision)).options({ deadline })
              .then(kv.delete().key(x.key.toString()), kv.delete().key(ownKey(a.pool, a.holder, a.nic)))
              .commit())
          if (ok.succeeded) {
            gone.push(a)
          }
        }
        return gone
      }),
    list: Effect.map(
      all,
      (res) => res.kvs.flatMap((x) => parse(x.key.toString(), x.value.toString()) ?? []).sort(byPoolAndAddress)
    )
  })
})

export const layerEtcd: Layer.Layer<Allocations, never, Etcd> = Layer.effect(Allocations, makeEtcd)
