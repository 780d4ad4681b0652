/**
 * A bounded cache of upstream answers, each kept for its smallest TTL (capped), evicted oldest-first
 * when full (a Map iterates in insertion order; a hit moves the entry to the end). Pure data: the
 * caller passes the time.
 */
export interface Cached {
  readonly packet: Buffer
  readonly expires: number
}

export class AnswerCache {
  private readonly entries = new Map<string, Cached>()

  constructor(readonly maxEntries: number, readonly maxTtlSeconds = 3600) {}

  get size(): number {
    return this.entries.size
  }

  get(key: string, now: number): Buffer | undefined {
    const hit = this.entries.get(key)
    if (hit === undefined) return undefined
    this.entries.delete(key)
    if (hit.expires <= now) return undefined
    this.entries.set(key, hit)
    return hit.packet
  }

  /** Keeps `packet` for `ttlSeconds` (nothing for 0). */
  set(key: string, packet: Buffer, ttlSeconds: number, now: number): void {
    const ttl = Math.min(ttlSeconds, this.maxTtlSeconds)
    if (!(ttl > 0) || this.maxEntries <= 0) return
    this.entries.delete(key)
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
    this.entries.set(key, { packet, expires: now + ttl * 1000 })
  }
}

/** Per-source token buckets, bounded in number (the least recently seen source is forgotten first). */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(readonly perSecond: number, readonly burst: number, readonly maxSources = 4096) {}

  allow(source: string, now: number): boolean {
    const b = this.buckets.get(source) ?? { tokens: this.burst, at: now }
    this.buckets.delete(source)
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond)
    b.at = now
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    while (this.buckets.size >= this.maxSources) {
      const oldest = this.buckets.keys().next().value
      if (oldest === undefined) break
      this.buckets.delete(oldest)
    }
    this.buckets.set(source, b)
    return ok
  }
}
