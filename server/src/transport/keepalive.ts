// Outbound keep-alives (RFC 5626 §4.4): a flow is probed every interval (a random 80–100 %
// of it, §4.4.1), with a CRLFCRLF ping on a stream that any traffic back within the pong
// timeout answers, or a STUN Binding request on UDP whose mapped address must not change
// (§4.4.2: a new one means the NAT binding, and so the flow, was lost). A probe that fails
// ends the keep-alive and reports the flow lost. The probes themselves come from the manager.

/** One probe of a flow: resolves true while it lives, false (or rejects) once it is gone. */
export type Probe = () => Promise<boolean>;

export interface KeepAliveHandle {
  stop(): void;
}

export class KeepAlives {
  private readonly live = new Map<string, { timer: NodeJS.Timeout | undefined; stopped: boolean }>();

  constructor(private readonly random: () => number = Math.random) {}

  get size(): number {
    return this.live.size;
  }

  /**
   * Probes the flow `key` every `intervalMs` until `stop` or a failed probe (then `lost`).
   * Starting a key already kept alive replaces it.
   */
  start(key: string, intervalMs: number, probe: Probe, lost: (why: string) => void): KeepAliveHandle {
    this.stop(key);
    const entry = { timer: undefined as NodeJS.Timeout | undefined, stopped: false };
    this.live.set(key, entry);
    const arm = () => {
      entry.timer = setTimeout(run, intervalMs * (0.8 + 0.2 * this.random()));
      entry.timer.unref();
    };
    const run = () => {
      probe().then(
        (ok) => {
          if (entry.stopped) return;
          if (ok) arm();
          else this.fail(key, entry, lost, 'no answer to keep-alives');
        },
        (err: Error) => {
          if (!entry.stopped) this.fail(key, entry, lost, err.message);
        },
      );
    };
    arm();
    return { stop: () => this.stopEntry(key, entry) };
  }

  stop(key: string): void {
    const e = this.live.get(key);
    if (e) this.stopEntry(key, e);
  }

  has(key: string): boolean {
    return this.live.has(key);
  }

  close(): void {
    for (const [key, e] of this.live) this.stopEntry(key, e);
  }

  private fail(
    key: string,
    entry: { timer: NodeJS.Timeout | undefined; stopped: boolean },
    lost: (why: string) => void,
    why: string,
  ): void {
    this.stopEntry(key, entry);
    lost(why);
  }

  private stopEntry(key: string, entry: { timer: NodeJS.Timeout | undefined; stopped: boolean }): void {
    entry.stopped = true;
    if (entry.timer) clearTimeout(entry.timer);
    if (this.live.get(key) === entry) this.live.delete(key);
  }
}
