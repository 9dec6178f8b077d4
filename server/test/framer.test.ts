// Stream framing: the same bytes must give the same frames however the reads split or
// coalesce them, keep-alives must be told apart, and anything unframeable must be fatal.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Frame, StreamFramer } from '../src/sip/framer.js';
import { parseMessage } from '../src/sip/parser.js';

const TORTURE = join(import.meta.dirname, '../../test/fixtures/sip-torture');

function request(
  method: string,
  body: string,
  lengthHeader: string | null = `Content-Length: ${body.length}`,
) {
  return (
    `${method} sip:bob@example.com SIP/2.0\r\n` +
    'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-1\r\n' +
    'From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n' +
    `Call-ID: ${method}-1\r\nCSeq: 1 ${method}\r\n` +
    (lengthHeader === null ? '' : `${lengthHeader}\r\n`) +
    `\r\n${body}`
  );
}

const A = request('INVITE', 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n\r\n');
const B = request('OPTIONS', '', null); // no Content-Length: empty body on a stream
const C = request('MESSAGE', 'hello\r\n\r\nworld', 'l: 14'); // compact name, CRLFCRLF inside the body
const STREAM = `\r\n\r\n${A}${B}\r\n\r\n\r\n${C}\r\n`; // ping, A, B, ping, lone CRLF, C, lone CRLF

type Summary = (string | { type: 'ping' } | { type: 'error'; reason: string })[];

function summarise(frames: Frame[]): Summary {
  return frames.map((f) => (f.type === 'message' ? f.data.toString('latin1') : f));
}

function feed(framer: StreamFramer, chunks: Buffer[]): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) out.push(...framer.push(c));
  return out;
}

function split(text: string, sizes: (i: number) => number): Buffer[] {
  const all = Buffer.from(text, 'latin1');
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < all.length; k++) {
    const n = Math.max(1, sizes(k));
    out.push(Buffer.from(all.subarray(i, i + n)));
    i += n;
  }
  return out;
}

const EXPECTED: Summary = [{ type: 'ping' }, A, B, { type: 'ping' }, C];

describe('StreamFramer', () => {
  it('frames a coalesced read of several messages and keep-alives', () => {
    const framer = new StreamFramer();
    expect(summarise(framer.push(Buffer.from(STREAM, 'latin1')))).toEqual(EXPECTED);
    expect(framer.pending).toBe(0);
  });

  it('gives the same frames when fed byte by byte', () => {
    const framer = new StreamFramer();
    expect(
      summarise(
        feed(
          framer,
          split(STREAM, () => 1),
        ),
      ),
    ).toEqual(EXPECTED);
    expect(framer.pending).toBe(0);
  });

  it('gives the same frames for many pseudo-random splits', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let run = 0; run < 200; run++) {
      const framer = new StreamFramer();
      expect(
        summarise(
          feed(
            framer,
            split(STREAM, () => rand() % 97),
          ),
        ),
      ).toEqual(EXPECTED);
    }
  });

  it('keeps emitted messages intact while later reads arrive', () => {
    const framer = new StreamFramer();
    const frames = feed(
      framer,
      split(STREAM.repeat(20), (k) => 1 + (k % 13) * 7),
    );
    const messages = frames.filter((f) => f.type === 'message').map((f) => f.data.toString('latin1'));
    expect(messages).toEqual(Array.from({ length: 20 }, () => [A, B, C]).flat());
  });

  it('hands the parser exactly one message with its body', () => {
    const [frame] = new StreamFramer().push(Buffer.from(C + A, 'latin1'));
    if (frame?.type !== 'message') throw new Error('expected a message');
    const { msg, defect } = parseMessage(frame.data, { stream: true });
    expect(defect).toBeUndefined();
    expect(msg.body.toString()).toBe('hello\r\n\r\nworld');
  });

  it('frames a 1 MiB body arriving in 64 KiB reads', () => {
    const body = Buffer.alloc(1024 * 1024, 'z').toString('latin1');
    const msg = request('MESSAGE', body);
    const frames = feed(
      new StreamFramer(),
      split(msg + B, () => 65536),
    );
    expect(summarise(frames)).toEqual([msg, B]);
  });

  it('waits for a body that has not fully arrived', () => {
    const framer = new StreamFramer();
    const head = A.slice(0, A.length - 5);
    expect(framer.push(Buffer.from(head, 'latin1'))).toEqual([]);
    expect(framer.pending).toBe(head.length);
    expect(summarise(framer.push(Buffer.from(A.slice(-5), 'latin1')))).toEqual([A]);
  });

  describe('keep-alives (RFC 5626 §4.4.1)', () => {
    it('reports a CRLFCRLF ping, also when split', () => {
      expect(new StreamFramer().push(Buffer.from('\r\n\r\n'))).toEqual([{ type: 'ping' }]);
      const framer = new StreamFramer();
      expect(feed(framer, [Buffer.from('\r'), Buffer.from('\n\r'), Buffer.from('\n')])).toEqual([
        { type: 'ping' },
      ]);
    });

    it('consumes a lone CRLF pong silently', () => {
      const framer = new StreamFramer();
      expect(framer.push(Buffer.from('\r\n'))).toEqual([]);
      expect(framer.pending).toBe(0);
      expect(summarise(framer.push(Buffer.from(B, 'latin1')))).toEqual([B]);
    });

    it('reports one ping per CRLFCRLF', () => {
      expect(new StreamFramer().push(Buffer.from('\r\n\r\n\r\n\r\n\r\n'))).toEqual([
        { type: 'ping' },
        { type: 'ping' },
      ]);
    });
  });

  describe('fatal framing errors', () => {
    it('rejects a negative Content-Length (RFC 4475 ncl) and then ignores the stream', () => {
      const framer = new StreamFramer();
      const frames = framer.push(readFileSync(join(TORTURE, 'ncl.dat')));
      expect(frames).toEqual([{ type: 'error', reason: 'bad Content-Length' }]);
      expect(framer.push(Buffer.from(B, 'latin1'))).toEqual([]);
      expect(framer.pending).toBe(0);
    });

    it('rejects conflicting Content-Length values (RFC 4475 mcl01)', () => {
      const frames = new StreamFramer().push(readFileSync(join(TORTURE, 'mcl01.dat')));
      expect(frames).toEqual([{ type: 'error', reason: 'conflicting Content-Length' }]);
    });

    it('accepts a repeated Content-Length with the same value', () => {
      const msg = request('MESSAGE', 'abc', 'Content-Length: 3\r\nl: 3');
      expect(summarise(new StreamFramer().push(Buffer.from(msg, 'latin1')))).toEqual([msg]);
    });

    it('rejects a Content-Length that is not a number, even split byte by byte', () => {
      const framer = new StreamFramer();
      const frames = feed(
        framer,
        split(request('MESSAGE', 'abc', 'Content-Length: 3x'), () => 1),
      );
      expect(frames).toEqual([{ type: 'error', reason: 'bad Content-Length' }]);
    });

    it('cuts off an endless header at the limit instead of buffering it', () => {
      const framer = new StreamFramer({ maxHeaderSize: 8192 });
      const line = Buffer.from(`X-Filler: ${'a'.repeat(1000)}\r\n`);
      const frames: Frame[] = [];
      let fed = 0;
      while (frames.length === 0 && fed < 100) {
        frames.push(...framer.push(fed === 0 ? Buffer.from('INVITE sip:x@y SIP/2.0\r\n') : line));
        fed++;
        expect(framer.pending).toBeLessThanOrEqual(8192 + line.length);
      }
      expect(frames).toEqual([{ type: 'error', reason: 'header too large' }]);
      expect(fed).toBeLessThan(12);
    });

    it('uses a 64 KiB header limit by default', () => {
      const big = request('OPTIONS', '', `X-Big: ${'b'.repeat(70 * 1024)}`);
      expect(new StreamFramer().push(Buffer.from(big))).toEqual([
        { type: 'error', reason: 'header too large' },
      ]);
      expect(summarise(new StreamFramer({ maxHeaderSize: 128 * 1024 }).push(Buffer.from(big)))).toEqual([
        big,
      ]);
    });

    it('rejects a body larger than the limit before buffering it', () => {
      const framer = new StreamFramer({ maxBodySize: 1000 });
      expect(framer.push(Buffer.from(request('MESSAGE', '', 'Content-Length: 1001'), 'latin1'))).toEqual([
        { type: 'error', reason: 'body too large' },
      ]);
      const ok = request('MESSAGE', 'x'.repeat(1000));
      expect(summarise(new StreamFramer({ maxBodySize: 1000 }).push(Buffer.from(ok)))).toEqual([ok]);
    });
  });
});
