/**
 * Layer extraction off the agent's event loop: a large layer is extracted by `extractLayerCollect`
 * (the same confined extractor, every check included) in a worker thread, so a pull of hundreds of
 * megabytes no longer stalls the agent's reconciler, API and monitors for seconds. Small layers stay
 * on this thread: they extract in less time than a worker takes to start (~50 ms with the bundle).
 *
 * The worker is `extractWorker.ts`: beside the bundle as `extractWorker.cjs` (scripts/build.mjs),
 * or the TypeScript source loaded through tsx when Tank itself runs from source. Interrupting the
 * pull asks the worker to stop; it closes its descriptors and exits (terminated after a deadline).
 */
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Worker, type WorkerOptions } from "node:worker_threads"
import { ExtractError, extractLayer, type ExtractOptions, logSkipped } from "./extract.js"
import { type Job, Reply, STOP } from "./extract/workerProtocol.js"

/** Compressed size from which a layer goes to a worker. */
export const OFF_THREAD_BYTES = 2 * 1024 * 1024

/** How long a stopped worker gets to close its descriptors before it is terminated. */
const STOP_DEADLINE_MS = 10_000

type WorkerSource = { readonly file: string | URL; readonly options: WorkerOptions }

/** Where the worker's code is: the bundle's sibling, or the source through tsx; undefined if neither. */
const workerSource = (): WorkerSource | undefined => {
  const here = fileURLToPath(import.meta.url)
  if (here.endsWith(".ts")) {
    // tsx's ESM API registers its hooks for this thread (its loader entry does not, in a worker).
    const pkg = path.dirname(createRequire(import.meta.url).resolve("tsx/package.json"))
    const tsx = pathToFileURL(path.join(pkg, "dist/esm/api/index.mjs")).href
    const source = pathToFileURL(path.join(path.dirname(here), "extractWorker.ts")).href
    return {
      file: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(source)}) })`,
      options: { eval: true }
    }
  }
  const bundled = path.join(path.dirname(here), "extractWorker.cjs")
  return fs.existsSync(bundled) ? { file: bundled, options: {} } : undefined
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
export const inWorker = (source: WorkerSource, job: Job): Effect.Effect<Reply, ExtractError> =>
  Effect.async<Reply, ExtractError>((resume) => {
    const worker = new Worker(source.file, { ...source.options, workerData: job })
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

/** `extractLayer`, on a worker thread for layers of `OFF_THREAD_BYTES` and more. */
export const extractLayerOffThread = (opts: ExtractOptions): Effect.Effect<void, ExtractError> =>
  Effect.gen(function*() {
    const source = sizeOf(opts.blobPath) >= OFF_THREAD_BYTES ? workerSource() : undefined
    if (source === undefined) return yield* extractLayer(opts)
    const job: Job = { blobPath: opts.blobPath, mediaType: opts.mediaType, dest: opts.dest }
    const reply = yield* inWorker(source, opts.limits === undefined ? job : { ...job, limits: opts.limits })
    switch (reply._tag) {
      case "Done":
        return yield* logSkipped(opts.blobPath, reply.skipped)
      case "Failed":
        return yield* reply.error
      case "Stopped":
        return yield* Effect.interrupt
    }
  })
