/**
 * The defect an adapter raises when a third-party package lacks an internal it relies on: a version
 * other than the pinned one is installed (or bundled). It is a defect, not an error: no caller can
 * recover, and carrying on would misbehave silently (no backpressure, misread archive names).
 */
export class PackageInternalMissing extends Error {
  constructor(readonly pkg: string, readonly pinned: string, readonly internal: string, readonly problem: string) {
    super(
      `${pkg}: internal ${internal} ${problem}; Tank relies on it as of ${pkg} ${pinned} (package.json pins that ` +
        `version): update the adapter in src/vendor/ for the installed one`
    )
    this.name = "PackageInternalMissing"
  }
}
