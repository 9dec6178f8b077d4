// What the four transaction state machines share: state, the key they are stored under, the
// lifetime bound, and timers that cannot fire into a terminated transaction or throw into
// the event loop.
import type { TimerHandle } from './clock.js';
import type { ServerTxn, TxnEnv, TxnState } from './types.js';

/** States whose own timers (D, H, I, J, K, L, M) already bound what is left of the life. */
const BOUNDED: ReadonlySet<TxnState> = new Set(['completed', 'confirmed', 'accepted']);
/** States before the final response, when a transaction's outcome is still open. */
export const WAITING: ReadonlySet<TxnState> = new Set(['calling', 'trying', 'proceeding']);

export abstract class Transaction {
  private current: TxnState;
  /** The map key the layer stores this transaction under. */
  readonly key: string;
  protected readonly env: TxnEnv;
  private lifetime: TimerHandle | undefined;
  /** See ServerTxn: the call this transaction counts in, while `counted`. */
  callOwner: string | undefined;
  counted = false;

  /**
   * `armNow`: start the lifetime bound at once. A server transaction starts it only if it is
   * still waiting once the TU had its first go (`armLifetime`): most are answered at once,
   * and a timer set and cleared for each of thousands of requests a second is work for nothing.
   */
  constructor(env: TxnEnv, key: string, initial: TxnState, armNow = true) {
    this.env = env;
    this.key = key;
    this.current = initial;
    if (armNow) this.armLifetime();
  }

  /** Starts the lifetime bound now, unless a final response already bounds the rest. */
  armLifetime(): void {
    if (this.lifetime !== undefined || BOUNDED.has(this.current) || this.current === 'terminated') return;
    this.lifetime = this.timer(this.env.timers.transTimeout, () => {
      this.lifetime = undefined;
      this.onLifetimeExpired();
    });
  }

  get state(): TxnState {
    return this.current;
  }

  set state(next: TxnState) {
    this.current = next;
    // a final response ends the wait the lifetime guards against; one timer fewer per
    // transaction in the 32 s of Timer J/K matters at thousands of requests a second
    if (BOUNDED.has(next)) this.lifetime = this.clear(this.lifetime);
    if (this.counted && !WAITING.has(next)) {
      this.counted = false;
      this.env.settled(this as unknown as ServerTxn);
    }
  }

  get terminated(): boolean {
    return this.state === 'terminated';
  }

  /** Ends the transaction now, silently (shutdown). */
  abort(): void {
    this.terminate();
  }

  /** A timer whose callback never runs after termination and never throws out. */
  protected timer(ms: number, fn: () => void): TimerHandle {
    return this.env.clock.setTimer(ms, () => this.guard(fn));
  }

  protected clear(h: TimerHandle | undefined): undefined {
    if (h) this.env.clock.clearTimer(h);
    return undefined;
  }

  /** Runs `fn` unless terminated; an exception (from a TU callback) is logged, not thrown. */
  protected guard(fn: () => void): void {
    if (this.state === 'terminated') return;
    try {
      fn();
    } catch (err) {
      this.env.log?.error({ err, txn: this.key }, 'transaction callback failed');
    }
  }

  /** RFC 3261: "destroyed the instant it enters the Terminated state". */
  protected terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.lifetime = this.clear(this.lifetime);
    this.clearTimers();
    this.env.removed(this);
  }

  protected abstract clearTimers(): void;
  protected abstract onLifetimeExpired(): void;
}
