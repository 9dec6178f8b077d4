// What the four transaction state machines share: state, the key they are stored under, the
// lifetime bound, and timers that cannot fire into a terminated transaction or throw into
// the event loop.
import type { TimerHandle } from './clock.js';
import type { TxnEnv, TxnState } from './types.js';

export abstract class Transaction {
  state: TxnState;
  /** The map key the layer stores this transaction under. */
  readonly key: string;
  protected readonly env: TxnEnv;
  private lifetime: TimerHandle | undefined;

  constructor(env: TxnEnv, key: string, initial: TxnState) {
    this.env = env;
    this.key = key;
    this.state = initial;
    this.lifetime = this.timer(env.timers.transTimeout, () => {
      this.lifetime = undefined;
      this.onLifetimeExpired();
    });
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
