// Where the registrar keeps its bindings. The interface is asynchronous so an external store
// (Redis, a database) can sit behind it; the in-memory one answers at once.
import { detached } from '../sip/strings.js';
import { type Clock, realClock, type TimerHandle } from '../transaction/clock.js';
import type { Binding } from './binding.js';

/**
 * Bindings per AOR (the key is `aorOf(uri)`, e.g. `sip:alice@example.com`). The registrar
 * reads an AOR's bindings, computes the new list and writes it back whole, under its own
 * per-AOR lock. Returned arrays and bindings are treated as immutable by the registrar, so
 * a store may hand out what it holds.
 */
export interface RegistrarStore {
  /** The AOR's unexpired bindings; `[]` when none. A store may also return expired ones. */
  get(aor: string): Promise<Binding[]>;
  /** Replaces the AOR's bindings. `ttlMs` is when the last of them expires, from now. */
  put(aor: string, bindings: Binding[], ttlMs: number): Promise<void>;
  /** Removes the AOR; false when it had no bindings. */
  del(aor: string): Promise<boolean>;
  /** Removes every AOR. */
  clear(): Promise<void>;
}

/** Thrown by `put` when a new AOR does not fit; the registrar answers 503. */
export class StoreFullError extends Error {
  override name = 'StoreFullError';
}

export interface MemoryStoreOptions {
  /** Clock the expiry times are read against (the registrar's). */
  clock?: Clock;
  /** Most AORs held at once; a new AOR beyond it is refused with StoreFullError. */
  maxAors?: number;
}

interface Entry {
  bindings: Binding[];
  /** When the last binding expires (absolute ms). */
  until: number;
}

/** Minimum time between two sweeps forced by a full store (a flood of new AORs). */
const FULL_SWEEP_GAP_MS = 1000;

/**
 * Bindings in a Map, with no timer per binding: expired bindings are dropped when their AOR is
 * read, and `sweep()` (called by the owner, or every `intervalMs` after `startSweeper`) drops
 * AORs nobody read since they expired.
 */
export class MemoryStore implements RegistrarStore {
  private readonly clock: Clock;
  private readonly maxAors: number | undefined;
  private readonly map = new Map<string, Entry>();
  private timer: TimerHandle | undefined;
  private lastFullSweep = Number.NEGATIVE_INFINITY;

  constructor(opts: MemoryStoreOptions = {}) {
    this.clock = opts.clock ?? realClock;
    if (opts.maxAors !== undefined && (!Number.isInteger(opts.maxAors) || opts.maxAors < 1))
      throw new RangeError('maxAors must be a positive integer');
    this.maxAors = opts.maxAors;
  }

  /** AORs held, expired ones not yet swept included. */
  get size(): number {
    return this.map.size;
  }

  get(aor: string): Promise<Binding[]> {
    return Promise.resolve(this.live(aor));
  }

  put(aor: string, bindings: Binding[], ttlMs: number): Promise<void> {
    try {
      this.putSync(aor, bindings, ttlMs);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  del(aor: string): Promise<boolean> {
    const e = this.map.get(aor);
    this.map.delete(aor);
    return Promise.resolve(e !== undefined && e.until > this.clock.now());
  }

  clear(): Promise<void> {
    this.map.clear();
    return Promise.resolve();
  }

  /** Drops every expired binding and every AOR left without one; returns the AORs dropped. */
  sweep(): number {
    const now = this.clock.now();
    let dropped = 0;
    for (const [aor, e] of this.map) {
      if (e.until <= now) {
        this.map.delete(aor);
        dropped++;
        continue;
      }
      if (e.bindings.some((b) => b.expires <= now)) e.bindings = e.bindings.filter((b) => b.expires > now);
    }
    return dropped;
  }

  /** Sweeps every `intervalMs` on the store's clock until `stopSweeper()`. */
  startSweeper(intervalMs = 60_000): void {
    this.stopSweeper();
    const tick = (): void => {
      this.sweep();
      this.timer = this.clock.setTimer(intervalMs, tick);
    };
    this.timer = this.clock.setTimer(intervalMs, tick);
  }

  stopSweeper(): void {
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private live(aor: string): Binding[] {
    const e = this.map.get(aor);
    if (!e) return [];
    const now = this.clock.now();
    if (e.until <= now) {
      this.map.delete(aor);
      return [];
    }
    if (e.bindings.some((b) => b.expires <= now)) {
      e.bindings = e.bindings.filter((b) => b.expires > now);
      if (e.bindings.length === 0) {
        this.map.delete(aor);
        return [];
      }
    }
    return e.bindings;
  }

  private putSync(aor: string, bindings: Binding[], ttlMs: number): void {
    const now = this.clock.now();
    if (bindings.length === 0 || ttlMs <= 0) {
      this.map.delete(aor);
      return;
    }
    if (this.maxAors !== undefined && !this.map.has(aor) && this.map.size >= this.maxAors) {
      if (now - this.lastFullSweep >= FULL_SWEEP_GAP_MS) {
        this.lastFullSweep = now;
        this.sweep();
      }
      if (this.map.size >= this.maxAors)
        throw new StoreFullError(`registrar store full (${this.maxAors} AORs)`);
    }
    // its own copy, as an external store would hold: bindings built from a REGISTER are made of
    // slices of its whole text, and each would keep that text alive until the binding expires
    this.map.set(detached(aor), { bindings: structuredClone(bindings), until: now + ttlMs });
  }
}
