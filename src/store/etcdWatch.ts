/**
 * A gap-free follow of one etcd key prefix: every event after a revision, in revision order, across
 * disconnects, and a reset (the caller's full read) when the history it needs has been compacted.
 *
 * Why not rely on the etcd3 Watcher's own resume: after a disconnect it re-subscribes from the last
 * *header* revision it saw (+1), and the header of the "created" response is the store revision at
 * creation time, not the last event delivered. A watcher catching up from an old revision that is cut
 * off before the backlog arrives would resume past events it never delivered. So each connection here
 * is one etcd3 Watcher, closed at the first sign of trouble, and the next one starts from our own
 * cursor: the mod revision of the last event handed on (or a progress notification's revision, which
 * etcd only sends to watchers that are caught up). Events at or below the cursor are dropped, so a
 * replay never duplicates.
 */
import { Chunk, Duration, Effect, Either, Queue, Stream, Take } from "effect"
import type { IEvent, Namespace, Watcher } from "etcd3"
import { StoreError } from "./Store.js"

export interface Reset<A> {
  /** The store revision the reset read was made at; following resumes after it. */
  readonly revision: number
  readonly items: ReadonlyArray<A>
}

export interface FollowOptions<A> {
  readonly kv: Namespace
  readonly prefix: string
  /** Deliver events with revision > after (evaluated when the stream starts). */
  readonly after: Effect.Effect<number, StoreError>
  /** One etcd event → items (none to skip it); Left fails the stream (a corrupted value). */
  readonly decode: (event: IEvent) => Either.Either<ReadonlyArray<A>, StoreError>
  /** The history after `after` is compacted: read the current state instead. */
  readonly reset: (after: number) => Effect.Effect<Reset<A>, StoreError>
  /** Was `revision` compacted? (Tells a compaction cancel from any other.) */
  readonly compacted: (revision: number) => Effect.Effect<boolean, StoreError>
  readonly where: string
}

type End =
  | { readonly _tag: "Disconnected"; readonly cause: unknown; readonly connected: boolean }
  | { readonly _tag: "Canceled"; readonly cause: unknown }
  | { readonly _tag: "Failed"; readonly error: StoreError }

const MAX_BACKOFF = Duration.seconds(2)

export const follow = <A>(options: FollowOptions<A>): Stream.Stream<A, StoreError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<Take.Take<A, StoreError>>(), Queue.shutdown)
    const state = { cursor: yield* options.after }

    /** One watcher from cursor+1 until it disconnects, is canceled, or delivers a bad value. */
    const session = Effect.async<never, End>((resume) => {
      const w: Watcher = options.kv.watch().prefix(options.prefix).startRevision(String(state.cursor + 1)).watcher()
      let done = false
      let connected = false
      const end = (e: End, cancel: boolean) => {
        if (done) return
        done = true
        // Detach now (the manager is idle after a disconnect, so this is synchronous): the etcd3
        // Watcher must not re-subscribe on its own from a revision we do not trust.
        if (cancel) void w.cancel().catch(() => undefined)
        resume(Effect.fail(e))
      }
      w.on("connected", () => {
        connected = true
      })
      w.on("data", (res) => {
        if (done) return
        if (res.events.length === 0) {
          // Progress notification: everything up to header.revision has been sent to us.
          state.cursor = Math.max(state.cursor, Number(res.header.revision))
          return
        }
        const seen = state.cursor
        const out: Array<A> = []
        for (const ev of res.events) {
          const rev = Number(ev.kv.mod_revision)
          if (rev <= seen) continue
          const items = options.decode(ev)
          if (Either.isLeft(items)) {
            if (out.length) Queue.unsafeOffer(queue, Take.chunk(Chunk.fromIterable(out)))
            return end({ _tag: "Failed", error: items.left }, true)
          }
          out.push(...items.right)
          state.cursor = Math.max(state.cursor, rev)
        }
        if (out.length) Queue.unsafeOffer(queue, Take.chunk(Chunk.fromIterable(out)))
      })
      w.on("disconnected", (cause: unknown) => end({ _tag: "Disconnected", cause, connected }, true))
      // A cancel from the server: the watcher is already gone from the stream, do not cancel again.
      w.on("error", (cause: unknown) => end({ _tag: "Canceled", cause }, false))
      return Effect.sync(() => end({ _tag: "Disconnected", cause: "interrupted", connected }, true))
    })

    const loop: Effect.Effect<void> = Effect.gen(function*() {
      let failures = 0
      while (true) {
        const ended = yield* Effect.flip(session)
        switch (ended._tag) {
          case "Disconnected": {
            failures = ended.connected ? 0 : failures + 1
            const delay = Duration.min(Duration.millis(25 * 2 ** Math.min(failures, 8)), MAX_BACKOFF)
            yield* Effect.logDebug(`etcd watch on ${options.prefix} disconnected; resuming after ${state.cursor}`)
            yield* Effect.sleep(delay)
            break
          }
          case "Canceled": {
            const gone = yield* options.compacted(state.cursor + 1)
            if (!gone) {
              const message = ended.cause instanceof Error ? ended.cause.message : String(ended.cause)
              return yield* new StoreError({
                op: "watch",
                message: `etcd ${options.where}: watch ${options.prefix} after revision ${state.cursor}: ${message}`,
                cause: ended.cause
              })
            }
            const reset = yield* options.reset(state.cursor)
            if (reset.items.length) yield* Queue.offer(queue, Take.chunk(Chunk.fromIterable(reset.items)))
            state.cursor = Math.max(state.cursor, reset.revision)
            break
          }
          case "Failed":
            return yield* ended.error
        }
      }
    }).pipe(
      Effect.catchAll((error) => Queue.offer(queue, Take.fail(error))),
      Effect.asVoid
    )
    yield* Effect.forkScoped(loop)
    return Stream.fromQueue(queue).pipe(Stream.flattenTake)
  }))
