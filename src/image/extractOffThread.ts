/**
 * Layer extraction off the agent's event loop: a large layer is extracted by `extractLayerCollect`
 * (the same confined extractor, every check included) in a worker thread, so a pull of hundreds of
 * megabytes no longer stalls the agent's reconciler, API and monitors for seconds. Small layers stay
 * on this thread: they extract in less time than a worker takes to start (~50 ms with the bundle).
 *
 * The worker is `extractWorker.ts`, bundled beside Tank's bundle as `extractWorker.cjs`
 * (scripts/build.mjs). Interrupting the pull asks the worker to stop; it closes its descriptors and
 * exits (terminated after a deadline).
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import { ExtractError, extractLayer, type ExtractOptions, logSkipped } from "./extract.js"
import { type Job, Reply, STOP } from "./extract/workerProtocol.js"

/** Compressed size from which a layer goes to a worker. */
export const OFF_THREAD_BYTES = 2 * 1024 * 1024

/** How long a stopped worker gets to close its descriptors before it is terminated. */
const STOP_DEADLINE_MS = 10_000

/**
 * The worker's code: `extractWorker.cjs` beside the bundle (`tank daemon`). Running from source
 * (tsx: the REPL, scripts) there is none and layers extract on this thread, as a worker loading the
 * sources through tsx's hooks starts in seconds, longer than most layers take.
 */
const bundledWorker = (): string | undefined => {
  const here = fileURLToPath(import.meta.url)
  const bundled = path.join(path.dirname(here), "extractWorker.cjs")
  return !here.endsWith(".ts") && fs.existsSync(bundled) ? bundled : undefined
}

const sizeOf = (file: string) => {
  try {
    return fs.statSync(file).size
  } catch {
    return 0 // the extractor reports the missing blob itself
  }
}

const workerFailed = (blob: string, detail: string) =>
  new ExtractError({ reason: "Io", blob, detail: `the extraction worker failed: ${detail}` })

/** Runs one job in a new worker thread; its one reply, decoded. */
export const inWorker = (file: string, job: Job): Effect.Effect<Reply, ExtractError> =>
  Effect.async<Reply, ExtractError>((resume) => {
    const worker = new Worker(file, { workerData: job })
    let settled = false
    const settle = (e: Effect.Effect<Reply, ExtractError>) => {
      if (settled) return
      settled = true
      resume(e)
    }
    worker.on("message", (m) =>
      settle(
        Schema.decodeUnknown(Reply)(m).pipe(
          Effect.mapError((e) => workerFailed(job.blobPath, `bad reply: ${e.message}`))
        )
      ))
    worker.on("error", (e) => settle(Effect.fail(workerFailed(job.blobPath, e.message))))
    worker.on("exit", (code) => settle(Effect.fail(workerFailed(job.blobPath, `exited (${code}) without a reply`))))
    return Effect.async<void>((stopped) => {
      settled = true
      const deadline = setTimeout(() => void worker.terminate(), STOP_DEADLINE_MS)
      worker.once("exit", () => {
        clearTimeout(deadline)
        stopped(Effect.void)
      })
      worker.postMessage(STOP)
    })
  })

/**
 * `extractLayer`, on a worker thread for layers of `OFF_THREAD_BYTES` and more when a worker bundle
 * exists (`workerFile`, default: the one beside Tank's bundle).
 */
export const extractLayerOffThread = (
  opts: ExtractOptions,
  options: { readonly workerFile?: string } = {}
): Effect.Effect<void, ExtractError> =>
  Effect.gen(function*() {
    // a followed blob is still being written: its final size is the manifest's
    const size = opts.follow?.size ?? sizeOf(opts.blobPath)
    const file = size >= OFF_THREAD_BYTES ? options.workerFile ?? bundledWorker() : undefined
    if (file === undefined) return yield* extractLayer(opts)
    const job: Job = {
      blobPath: opts.blobPath,
      mediaType: opts.mediaType,
      dest: opts.dest,
      ...(opts.limits === undefined ? {} : { limits: opts.limits }),
      ...(opts.follow === undefined ? {} : { follow: opts.follow })
    }
    const reply = yield* inWorker(file, job)
    switch (reply._tag) {
      case "Done":
        return yield* logSkipped(opts.blobPath, reply.skipped)
      case "Failed":
        return yield* reply.error
      case "Stopped":
        return yield* Effect.interrupt
    }
  })
