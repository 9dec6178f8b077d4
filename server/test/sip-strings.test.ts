// Long-lived strings and messages must not keep the message text or bytes they came from.
import { describe, expect, it } from 'vitest';
import { makeResponse } from '../src/sip/build.js';
import { keptBuffer } from '../src/sip/kept.js';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { serialize, serializeKept } from '../src/sip/serializer.js';
import { detached, flat } from '../src/sip/strings.js';
import { bigText, heldBy } from './support/heap.js';
import { request } from './support/transaction.js';

const TEXT = 4 * 1024 * 1024;

/** 64 strings made by `keep` from 40-character slices of a 4 MiB text, which is dropped. */
function keepSlices(keep: (slice: string) => string): string[] {
  const parent = bigText();
  return Array.from({ length: 64 }, (_, i) => keep(parent.slice(i * 1024, i * 1024 + 40)));
}

describe('long-lived strings', () => {
  it('detached: the same text, without the text it was cut from', () => {
    // the control shows the measure works: plain slices keep the whole parent
    expect(heldBy(() => keepSlices((s) => s)).held).toBeGreaterThan(TEXT / 2);
    const { held, kept } = heldBy(() => keepSlices(detached));
    expect(held).toBeLessThan(TEXT / 8);
    expect(kept[1]).toBe('1'.padEnd(40, 'x'));
  });

  it('flat: a key built from slices keeps none of them', () => {
    const { held, kept } = heldBy(() => keepSlices((s) => flat(`${s}\n${s.length}`)));
    expect(held).toBeLessThan(TEXT / 8);
    expect(kept[2]).toBe(`${'2'.padEnd(40, 'x')}\n40`);
  });
});

describe('long-lived messages', () => {
  const PAD = 256 * 1024;
  /** A received INVITE whose head is mostly one big header, with an SDP body. */
  const received = (i: number) =>
    request({
      callId: `call-${i}-${'c'.repeat(40)}`,
      headers: [`X-Pad: ${'p'.repeat(PAD)}`, `Subject: ${'s'.repeat(40)}`],
    });

  it('compacted: the same request; its values keep none of the received text', () => {
    const orig = received(0);
    const c = orig.compacted();
    expect(c).not.toBe(orig);
    expect([c.method, c.uri, c.version, c.callId]).toEqual([
      orig.method,
      orig.uri,
      orig.version,
      orig.callId,
    ]);
    expect(c.headers.map((h) => [h.name, h.value])).toEqual(orig.headers.map((h) => [h.name, h.value]));
    expect(c.headers.every((h) => h.raw === undefined)).toBe(true);
    expect(orig.headers.some((h) => h.raw !== undefined)).toBe(true);
    // once the big header goes, the rest of a compacted copy is small; the control (the
    // received request itself, less that header) shows the measure works. The bound leaves
    // room for what a full collection leaves of the test's own allocations (up to ~450 KB).
    const keepRest = (make: (r: SipRequest) => SipRequest) => () =>
      Array.from({ length: 16 }, (_, i) => make(received(i)).removeHeader('x-pad'));
    expect(heldBy(keepRest((r) => r)).held).toBeGreaterThan(12 * PAD);
    const { held, kept } = heldBy(keepRest((r) => r.compacted()));
    expect(held).toBeLessThan(4 * PAD);
    expect(kept[3]?.header('subject')).toBe('s'.repeat(40));
  });

  it("compacted: the body among kept bytes, not a view of the datagram nor in Node's pool", () => {
    const datagram = Buffer.from(
      'MESSAGE sip:bob@biloxi.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKm1\r\n' +
        'Max-Forwards: 70\r\nTo: <sip:bob@biloxi.com>\r\nFrom: <sip:alice@atlanta.com>;tag=1\r\n' +
        'Call-ID: m1@pc33\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
      'latin1',
    );
    const orig = parseMessage(datagram).msg as SipRequest;
    expect(orig.body.buffer).toBe(datagram.buffer); // the control: a view
    const c = orig.compacted();
    expect(c.body.toString()).toBe('hello');
    expect(c.body.buffer).not.toBe(datagram.buffer);
    expect(c.body.buffer).not.toBe(Buffer.from('of the moment', 'latin1').buffer);
    expect(c.body.buffer).toBe(keptBuffer(1).buffer);
  });

  it("serializeKept: the bytes of serialize, in a slab of kept bytes only, not Node's pool", () => {
    const req = request({ method: 'OPTIONS' });
    const pooled = serialize(req);
    const kept = serializeKept(req);
    expect(kept.equals(pooled)).toBe(true);
    const withBody = parseMessage(serialize(makeResponse(req, 200, { body: Buffer.from('v=0\r\n') }))).msg;
    const kept2 = serializeKept(withBody);
    expect(kept2.equals(serialize(withBody))).toBe(true);
    // the pool's slab holds the messages of the moment; kept bytes share one of their own
    const moment = Buffer.from('INVITE sip:x SIP/2.0\r\n', 'latin1');
    expect(moment.buffer).toBe(pooled.buffer); // the control: small buffers share Node's pool
    expect(kept.buffer).not.toBe(moment.buffer);
    expect(kept2.buffer).toBe(kept.buffer);
    // bytes too big to share a slab get their own buffer
    const big = makeResponse(req, 200, { body: Buffer.alloc(16 * 1024, 97) });
    expect(serializeKept(big).buffer.byteLength).toBe(serialize(big).length);
  });
});
