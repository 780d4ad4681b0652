/**
 * The start of a quick bundle that is also the entry of its own startup snapshot (quickPs.ts,
 * quickExec.ts; scripts/snapshot.mjs builds the blobs): while the snapshot is built, a rehearsal
 * runs the command once so the parsers and decoders it memoizes are in the heap, and `main` becomes
 * the snapshot's main; started as a plain script, `main` runs at once. A failed rehearsal fails the
 * blob's build (exit code 1, the reason on stderr): snapshot.mjs then builds no blob, and bin/tank
 * starts the bundle plainly.
 */
import * as v8 from "node:v8"

export const startQuick = (command: string, rehearse: () => Promise<unknown>, main: () => Promise<void>) => {
  if (v8.startupSnapshot.isBuildingSnapshot()) {
    // node takes the snapshot once the event loop is empty: the rehearsal has settled by then.
    void rehearse().catch((e) => {
      process.exitCode = 1
      process.stderr.write(`tank: ${command}'s rehearsal failed: ${e instanceof Error ? e.message : String(e)}\n`)
    })
    v8.startupSnapshot.setDeserializeMainFunction(() => void main())
  } else void main()
}
