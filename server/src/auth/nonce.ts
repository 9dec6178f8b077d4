// Digest nonces, stateless: everything needed to check one is inside it, authenticated with
// an HMAC under a per-process secret, so issuing costs no memory and a flood of unanswered
// challenges cannot grow a table (NkSIP keeps each nonce in the call's cache instead).
//
//   nonce = base64url( issued(6) | random(6) | tag(12) | bind(8) )
//   tag   = HMAC(secret, "n" | issued | random | realm)        — we issued it, for this realm
//   bind  = HMAC(secret, "b" | issued | random | ip:port)      — to this source
//
// Two MACs so that a nonce can be checked without its source (an ACK: NkSIP lets it come
// from elsewhere) and so a rejection can say why (unknown, expired, other source), which
// decides between 403 and a `stale=true` challenge.
//
// What statelessness gives up: a nonce can be replayed from the same ip:port while it lives
// (nc is not counted). NkSIP does not count nc either. Lifetimes are short (30 s default).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../transaction/clock.js';

const ISSUED_LEN = 6;
const RANDOM_LEN = 6;
const TAG_LEN = 12;
const BIND_LEN = 8;
const PAYLOAD_LEN = ISSUED_LEN + RANDOM_LEN;
const NONCE_LEN = PAYLOAD_LEN + TAG_LEN + BIND_LEN;

/** Where a request came from, as the transport reports it (a `Source` fits). */
export interface AuthSource {
  address: string;
  port: number;
}

export type NonceStatus = 'ok' | 'unknown' | 'expired' | 'source';

export interface NonceOptions {
  clock: Clock;
  /** Lifetime in seconds (NkSIP `sip_nonce_timeout`, default 30). */
  timeout?: number;
  /** HMAC key; random per process by default. Share it to let several nodes check each other's. */
  secret?: Buffer;
  /** Bind nonces to the client's ip:port (default true, as NkSIP). */
  bindSource?: boolean;
}

export function sourceKey(s: AuthSource): string {
  return `${s.address.toLowerCase()}:${s.port}`;
}

export class NonceIssuer {
  readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly secret: Buffer;
  private readonly bindSource: boolean;

  constructor(opts: NonceOptions) {
    this.clock = opts.clock;
    this.timeoutMs = (opts.timeout ?? 30) * 1000;
    this.secret = opts.secret ?? randomBytes(32);
    this.bindSource = opts.bindSource ?? true;
  }

  issue(realm: string, source: AuthSource): string {
    const payload = Buffer.alloc(PAYLOAD_LEN);
    payload.writeUIntBE(Math.max(0, Math.floor(this.clock.now())) % 2 ** 48, 0, ISSUED_LEN);
    randomBytes(RANDOM_LEN).copy(payload, ISSUED_LEN);
    return Buffer.concat([payload, this.tag(payload, realm), this.bind(payload, source)]).toString(
      'base64url',
    );
  }

  /**
   * Whether `nonce` is one of ours for `realm`, still alive, and issued to `source`
   * (unless `anySource`). Checks in that order and reports the first failure.
   */
  verify(nonce: string, realm: string, source: AuthSource, anySource = false): NonceStatus {
    if (!/^[A-Za-z0-9_-]+$/.test(nonce)) return 'unknown';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_LEN) return 'unknown';
    const payload = raw.subarray(0, PAYLOAD_LEN);
    if (!timingSafeEqual(raw.subarray(PAYLOAD_LEN, PAYLOAD_LEN + TAG_LEN), this.tag(payload, realm)))
      return 'unknown';
    const issued = payload.readUIntBE(0, ISSUED_LEN);
    const age = this.clock.now() - issued;
    // a little slack for a secret shared by nodes whose clocks differ
    if (age < -5000) return 'unknown';
    if (age > this.timeoutMs) return 'expired';
    if (
      this.bindSource &&
      !anySource &&
      !timingSafeEqual(raw.subarray(PAYLOAD_LEN + TAG_LEN), this.bind(payload, source))
    )
      return 'source';
    return 'ok';
  }

  /** A value for `opaque`: constant per realm and process; clients echo it, we do not rely on it. */
  opaque(realm: string): string {
    return this.mac('o', Buffer.alloc(0), realm, 12).toString('base64url');
  }

  private tag(payload: Buffer, realm: string): Buffer {
    return this.mac('n', payload, realm, TAG_LEN);
  }

  private bind(payload: Buffer, source: AuthSource): Buffer {
    return this.mac('b', payload, this.bindSource ? sourceKey(source) : '', BIND_LEN);
  }

  private mac(kind: string, payload: Buffer, text: string, len: number): Buffer {
    return createHmac('sha256', this.secret)
      .update(kind)
      .update(payload)
      .update(text, 'latin1')
      .digest()
      .subarray(0, len);
  }
}
