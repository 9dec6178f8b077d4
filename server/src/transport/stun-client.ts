// Binding requests of our own over UDP (the `stun` command, RFC 5626 keep-alives): sent from
// a SIP listener's socket, retransmitted as RFC 5389 §7.2.1 says (RTO doubling, Rc sends, a
// last wait of Rm × RTO), matched to their response by transaction id.
import { hostText } from './address.js';
import {
  bindingRequest,
  errorOf,
  type MappedAddress,
  mappedAddressOf,
  newTransactionId,
  type StunMessage,
} from './stun.js';

export interface StunClientOptions {
  /** Initial retransmission timeout, ms (RFC 5389: 500). */
  rto?: number;
  /** Requests sent in all (Rc, RFC 5389: 7). */
  rc?: number;
  /** The last wait, in RTOs (Rm, RFC 5389: 16). */
  rm?: number;
}

export type StunSend = (data: Buffer) => Promise<void>;

interface Pending {
  resolve(m: MappedAddress): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export class StunClient {
  private readonly rto: number;
  private readonly rc: number;
  private readonly rm: number;
  private readonly pending = new Map<string, Pending>();

  constructor(opts: StunClientOptions = {}) {
    this.rto = opts.rto ?? 500;
    this.rc = opts.rc ?? 7;
    this.rm = opts.rm ?? 16;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Sends a Binding request through `send`; resolves with the mapped address it reports. */
  request(send: StunSend, to: { address: string; port: number }): Promise<MappedAddress> {
    const id = newTransactionId();
    const key = id.toString('hex');
    const data = bindingRequest(id);
    const where = `${hostText(to.address)}:${to.port}`;
    return new Promise((resolve, reject) => {
      let sent = 0;
      let wait = this.rto;
      const fail = (e: Error) => {
        const p = this.pending.get(key);
        if (!p) return;
        clearTimeout(p.timer);
        this.pending.delete(key);
        reject(e);
      };
      const transmit = (): void => {
        sent++;
        send(data).catch((err: Error) => fail(new Error(`STUN to ${where}: ${err.message}`)));
        const last = sent >= this.rc;
        const p = this.pending.get(key);
        if (!p) return;
        p.timer = setTimeout(
          last ? () => fail(new Error(`STUN to ${where}: no response`)) : transmit,
          last ? this.rm * this.rto : wait,
        );
        p.timer.unref();
        wait *= 2;
      };
      this.pending.set(key, { resolve, reject, timer: undefined });
      transmit();
    });
  }

  /** A response came: settles its request; false when it matches none. */
  onResponse(msg: StunMessage): boolean {
    const key = msg.transactionId.toString('hex');
    const p = this.pending.get(key);
    if (!p || (msg.cls !== 'success' && msg.cls !== 'error')) return false;
    clearTimeout(p.timer);
    this.pending.delete(key);
    const mapped = msg.cls === 'success' ? mappedAddressOf(msg) : undefined;
    if (mapped) p.resolve(mapped);
    else
      p.reject(new Error(msg.cls === 'error' ? `STUN ${errorOf(msg)}` : 'STUN response without an address'));
    return true;
  }

  /** Fails every request in flight. */
  close(): void {
    for (const [key, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(key);
      p.reject(new Error('transport closed'));
    }
  }
}
