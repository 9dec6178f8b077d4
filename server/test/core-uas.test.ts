// The UAS core with NkSIP's defaults, over a real transaction layer on a fake clock and a
// recording transport: what each request gets back, and that nothing is left behind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler } from '../src/core/app.js';
import { PROCESS } from '../src/core/decision.js';
import type { Reply } from '../src/core/reply.js';
import { UasCore } from '../src/core/uas.js';
import { makeStatelessResponse } from '../src/sip/build.js';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { FakeClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import type { Incoming, Source } from '../src/transport/types.js';
import { request as baseRequest, FakeTransport, flush, source } from './support/transaction.js';

let seq = 0;
/** A request with its own branch and Call-ID unless the test sets them: a new transaction. */
function request(spec: Parameters<typeof baseRequest>[0] = {}): SipRequest {
  seq++;
  return baseRequest({ branch: `z9hG4bKt${seq}`, callId: `call-${seq}`, ...spec });
}

/** An app that processes everything and answers with `method` (NkSIP's route default). */
function app(method: AppHandler['method'], cancelled?: AppHandler['cancelled']): AppHandler {
  const a: AppHandler = { route: () => PROCESS, method };
  if (cancelled) a.cancelled = cancelled;
  return a;
}

function setup(handler?: AppHandler) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const layer = new TransactionLayer({ transport, clock });
  const profile = () => ({
    allow: DEFAULTS.allow,
    supported: ['path'],
    contact: '<sip:192.0.2.1:5060>',
  });
  const core = new UasCore(
    handler ? { transport, layer, profile, app: handler } : { transport, layer, profile },
  );
  const send = (msg: SipRequest, defect?: string) => {
    const inc: Incoming = { msg, source: source(), size: 0 };
    if (defect) inc.defect = defect;
    core.receive(inc);
  };
  /** Runs every timer out: afterwards no transaction may be left. */
  const settle = async () => {
    await flush();
    for (let i = 0; i < 1000 && clock.nextDue() !== undefined; i++) {
      clock.advanceToNext();
      await flush();
    }
  };
  return { clock, transport, layer, core, send, settle };
}

describe('NkSIP default answers', () => {
  const cases: [string, Partial<Parameters<typeof request>[0]>, number][] = [
    ['OPTIONS', { method: 'OPTIONS' }, 200],
    ['INVITE', { method: 'INVITE' }, 603],
    ['BYE outside a dialog', { method: 'BYE' }, 481],
    ['INFO outside a dialog', { method: 'INFO' }, 481],
    ['REGISTER without registrar', { method: 'REGISTER' }, 405],
    ['MESSAGE', { method: 'MESSAGE' }, 603],
    ['REFER', { method: 'REFER' }, 603],
    ['PUBLISH', { method: 'PUBLISH' }, 405],
    ['SUBSCRIBE to an event not accepted', { method: 'SUBSCRIBE' }, 489],
    ['NOTIFY outside a subscription', { method: 'NOTIFY' }, 481],
    ['unknown method', { method: 'FOO' }, 501],
    ['re-INVITE in an unknown dialog', { method: 'INVITE', toTag: 'abc' }, 481],
  ];
  for (const [what, spec, status] of cases) {
    it(`${what} → ${status}`, async () => {
      const t = setup();
      t.send(request(spec));
      await flush();
      const finals = t.transport.responses().filter((r) => r.status >= 200);
      expect(finals.map((r) => r.status)).toEqual([status]);
      if (status > 100) expect(finals[0]?.toTag).toBeDefined();
      await t.settle();
      expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
    });
  }

  it('OPTIONS carries Allow, Accept, Supported and Contact', async () => {
    const t = setup();
    t.send(request({ method: 'OPTIONS' }));
    await flush();
    const r = t.transport.responses(200)[0]!;
    expect(r.header('allow')).toBe(DEFAULTS.allow);
    expect(r.header('accept')).toBe('*/*');
    expect(r.header('supported')).toBe('path');
    expect(r.header('contact')).toBe('<sip:192.0.2.1:5060>');
  });

  it('INVITE gets 100 Trying first, then 603 with a To tag; 501 and 405 carry Allow', async () => {
    const t = setup();
    t.send(request({ method: 'INVITE' }));
    t.send(request({ method: 'FOO', callId: 'x2' }));
    t.send(request({ method: 'REGISTER', callId: 'x3' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([100, 603, 501, 405]);
    expect(t.transport.responses(501)[0]?.header('allow')).toBe(DEFAULTS.allow);
    expect(t.transport.responses(405)[0]?.header('allow')).toBe(DEFAULTS.allow);
  });
});

describe('checks before the method', () => {
  it('Require with an unknown option tag → 420 listing it; a supported one passes', async () => {
    const t = setup();
    const req = request({ method: 'OPTIONS' });
    req.addHeader('Require', 'path, foo, 100rel');
    t.send(req);
    const ok = request({ method: 'OPTIONS', callId: 'y' });
    ok.addHeader('Require', 'path');
    t.send(ok);
    await flush();
    const [r420, r200] = t.transport.responses();
    expect(r420?.status).toBe(420);
    expect(r420?.header('unsupported')).toBe('foo, 100rel');
    expect(r200?.status).toBe(200);
  });

  it('Max-Forwards 0 → 483, except OPTIONS which is answered', async () => {
    const t = setup();
    const inv = request({ method: 'INVITE' });
    inv.setHeader('Max-Forwards', '0');
    const opt = request({ method: 'OPTIONS', callId: 'z' });
    opt.setHeader('Max-Forwards', '0');
    t.send(inv);
    t.send(opt);
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([100, 483, 200]);
  });

  it('unsupported URI scheme → 416; tel: is fine', async () => {
    const t = setup();
    t.send(request({ method: 'OPTIONS', uri: 'mailto:bob@example.com' }));
    t.send(request({ method: 'OPTIONS', uri: 'tel:+1-201-555-0123', callId: 'tel' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([416, 200]);
  });

  it('merged request (same From tag, Call-ID, CSeq; other branch) → 482', async () => {
    const t = setup(app(() => new Promise<Reply>(() => {})));
    t.send(request({ method: 'OPTIONS', branch: 'z9hG4bKfirst', callId: 'm' }));
    t.send(request({ method: 'OPTIONS', branch: 'z9hG4bKsecond', callId: 'm' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([482]);
  });

  it('a merged copy that reached another listener (another app of this server) is not a loop', async () => {
    const t = setup(app(() => new Promise<Reply>(() => {})));
    t.send(request({ method: 'OPTIONS', branch: 'z9hG4bKfirst', callId: 'm2' }));
    const other: Source = { ...source(), localPort: 5070 };
    t.core.receive({
      msg: request({ method: 'OPTIONS', branch: 'z9hG4bKsecond', callId: 'm2' }),
      source: other,
      size: 0,
    });
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([]);
    t.send(request({ method: 'OPTIONS', branch: 'z9hG4bKthird', callId: 'm2' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([482]);
  });

  it('malformed requests get 400 naming the fault, 505 for another version, statelessly', async () => {
    const t = setup();
    t.send(request({ method: 'INVITE', cseqMethod: 'OPTIONS' }));
    const v = request({ method: 'OPTIONS', callId: 'v' });
    v.version = 'SIP/7.0';
    t.send(v);
    t.send(request({ method: 'OPTIONS', callId: 'd' }), 'Bad Content-Length');
    await flush();
    expect(t.transport.responses().map((r) => [r.status, r.reason])).toEqual([
      [400, 'CSeq Method Mismatch'],
      [505, 'Version Not Supported'],
      [400, 'Bad Content-Length'],
    ]);
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
  });

  it('a malformed ACK gets nothing', async () => {
    const t = setup();
    t.send(request({ method: 'ACK', cseqMethod: 'INVITE' }));
    await flush();
    expect(t.transport.sent).toHaveLength(0);
  });
});

describe('CANCEL', () => {
  it('200 for the CANCEL and 487 for the pending INVITE, with one To tag; the app is told', async () => {
    const cancelled: string[] = [];
    const t = setup(
      app(
        (req) => (req.method === 'INVITE' ? new Promise<Reply>(() => {}) : { status: 200 }),
        (inv) => void cancelled.push(inv.callId),
      ),
    );
    const inv = request({ method: 'INVITE', branch: 'z9hG4bKinv', callId: 'c1' });
    t.send(inv);
    t.send(request({ method: 'CANCEL', branch: 'z9hG4bKinv', callId: 'c1' }));
    await flush();
    const rs = t.transport.responses();
    expect(rs.map((r) => [r.status, r.cseq.method])).toEqual([
      [100, 'INVITE'],
      [200, 'CANCEL'],
      [487, 'INVITE'],
    ]);
    expect(rs[1]?.toTag).toBeDefined();
    expect(rs[1]?.toTag).toBe(rs[2]?.toTag);
    expect(cancelled).toEqual([inv.callId]);
    // the peer ACKs the 487; nothing is left afterwards
    const ack = request({ method: 'ACK', branch: 'z9hG4bKinv', callId: 'c1', toTag: rs[2]?.toTag });
    t.send(ack);
    await t.settle();
    expect(t.layer.stats()).toEqual({ client: 0, server: 0 });
  });

  it('a late answer from the app after the 487 is discarded', async () => {
    let answer: (r: Reply) => void = () => {};
    const t = setup(app(() => new Promise<Reply>((r) => (answer = r))));
    t.send(request({ method: 'INVITE', branch: 'z9hG4bKinv', callId: 'c1' }));
    t.send(request({ method: 'CANCEL', branch: 'z9hG4bKinv', callId: 'c1' }));
    await flush();
    answer({ status: 200 });
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([100, 200, 487]);
  });

  it('CANCEL matching nothing → 481; CANCEL after the final answer → 200 only', async () => {
    const t = setup();
    t.send(request({ method: 'CANCEL' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([481]);
    const u = setup();
    u.send(request({ method: 'INVITE', branch: 'z9hG4bKinv', callId: 'c1' }));
    await flush();
    u.send(request({ method: 'CANCEL', branch: 'z9hG4bKinv', callId: 'c1' }));
    await flush();
    expect(u.transport.responses().map((r) => [r.status, r.cseq.method])).toEqual([
      [100, 'INVITE'],
      [603, 'INVITE'],
      [200, 'CANCEL'],
    ]);
  });
});

describe('route decisions', () => {
  function routed(decide: AppHandler['route']): AppHandler {
    return { route: decide, method: () => ({ status: 299 }) };
  }

  it('reply and reply_stateless answer without the method callback', async () => {
    const t = setup(routed(() => ({ kind: 'reply', reply: { status: 486 } })));
    t.send(request({ method: 'INVITE' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([100, 486]);
    const u = setup(routed(() => ({ kind: 'reply_stateless', reply: { status: 404, reason: 'Nobody' } })));
    u.send(request({ method: 'OPTIONS' }));
    await flush();
    expect(u.transport.responses().map((r) => [r.status, r.reason])).toEqual([[404, 'Nobody']]);
    // the transaction is gone at once: a retransmission is a new request
    expect(u.layer.stats().server).toBe(0);
  });

  it('an answer sent without a transaction has the same To tag for every copy of the request (§8.2.7)', async () => {
    const u = setup(routed(() => ({ kind: 'reply_stateless', reply: { status: 404 } })));
    const copy = { method: 'OPTIONS', branch: 'z9hG4bKsl1', callId: 'sl1' };
    u.send(request(copy));
    u.send(request(copy)); // a retransmission: answered again, the same tag
    u.send(request({ ...copy, branch: 'z9hG4bKsl2' })); // another request
    const bad = { method: 'INVITE', cseqMethod: 'OPTIONS', branch: 'z9hG4bKsl3', callId: 'sl3' };
    u.send(request(bad)); // malformed, twice
    u.send(request(bad));
    await flush();
    const tags = u.transport.responses().map((r) => r.toTag);
    expect(u.transport.responses().map((r) => r.status)).toEqual([404, 404, 404, 400, 400]);
    expect(tags.every((t) => t !== undefined && /^[A-Za-z0-9]{12}$/.test(t))).toBe(true);
    expect(tags[1]).toBe(tags[0]);
    expect(tags[4]).toBe(tags[3]);
    expect(new Set(tags).size).toBe(3);
    // a tag the answer names, or the request's own, stays; a 100 has none
    expect(makeStatelessResponse(request({ ...copy, toTag: 'theirs' }), 404).toTag).toBe('theirs');
    expect(makeStatelessResponse(request(copy), 404, { toTag: 'mine' }).toTag).toBe('mine');
    expect(makeStatelessResponse(request(copy), 100).toTag).toBeUndefined();
  });

  it('process runs the checks then the method; process_stateless too, but never for INVITE', async () => {
    const t = setup(routed(() => ({ kind: 'process_stateless' })));
    t.send(request({ method: 'OPTIONS' }));
    t.send(request({ method: 'INVITE' }));
    await flush();
    expect(t.transport.responses().map((r) => [r.status, r.reason])).toEqual([
      [299, 'OK'],
      [100, 'Trying'],
      [500, 'Invalid Service Reply'],
    ]);
  });

  it('proxy without a proxy configured → 500; a route that throws → 500', async () => {
    const t = setup(routed(() => ({ kind: 'proxy', targets: [], options: {} })));
    t.send(request({ method: 'OPTIONS' }));
    const u = setup(
      routed(() => {
        throw new Error('route broke');
      }),
    );
    u.send(request({ method: 'OPTIONS' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([500]);
    expect(u.transport.responses().map((r) => r.status)).toEqual([500]);
  });
});

describe('proxy-related core rules', () => {
  it('a merged request that the app routes elsewhere is not a loop (a spiral): no 482', async () => {
    const t = setup({
      route: () => ({ kind: 'reply', reply: { status: 404 } }),
      method: () => ({ status: 200 }),
    });
    t.send(request({ method: 'OPTIONS', branch: 'z9hG4bKone', callId: 'sp' }));
    t.send(request({ method: 'OPTIONS', branch: 'z9hG4bKtwo', callId: 'sp' }));
    await flush();
    expect(t.transport.responses().map((r) => r.status)).toEqual([404, 404]);
  });

  it('a 2xx to an INVITE carries the Record-Route of the request; a 4xx does not', async () => {
    const t = setup(app((req) => ({ status: req.callId === 'ok' ? 200 : 486 })));
    for (const id of ['ok', 'busy']) {
      const inv = request({ method: 'INVITE', callId: id });
      inv.addHeader('Record-Route', '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>');
      t.send(inv);
    }
    await flush();
    const finals = t.transport.responses().filter((r) => r.status >= 200);
    expect(finals.map((r) => [r.status, r.header('record-route')])).toEqual([
      [200, '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>'],
      [486, undefined],
    ]);
  });

  it('a CANCEL matching no INVITE is routed: a stateless proxy decision forwards it, else 481', async () => {
    const forwarded: string[] = [];
    const t = setup({
      route: () => ({ kind: 'proxy_stateless', targets: [['sip:b@192.0.2.9']], options: {} }),
      method: () => ({ status: 200 }),
    });
    const forwarder = {
      forward: () => {},
      forwardStateless: (req: SipRequest) => void forwarded.push(req.method),
      forwardAck: () => {},
      isProxying: () => false,
      cancel: () => {},
      stray: () => {},
    };
    const core = new UasCore({
      transport: t.transport,
      layer: t.layer,
      profile: () => ({ allow: '', supported: [] }),
      app: {
        route: () => ({ kind: 'proxy_stateless', targets: [['sip:b@192.0.2.9']], options: {} }),
        method: () => ({ status: 200 }),
      },
      forwarder,
    });
    core.receive({ msg: request({ method: 'CANCEL' }), source: source(), size: 0 });
    await flush();
    expect(forwarded).toEqual(['CANCEL']);
    expect(t.transport.responses()).toHaveLength(0);
    const u = setup();
    u.send(request({ method: 'CANCEL' }));
    await flush();
    expect(u.transport.responses().map((r) => r.status)).toEqual([481]);
  });
});

describe('handlers that fail', () => {
  it('a handler that throws, rejects or answers nothing → 500; the core keeps serving', async () => {
    let n = 0;
    const t = setup(
      app(() => {
        n++;
        if (n === 1) throw new Error('boom');
        if (n === 2) return Promise.reject(new Error('async boom'));
        // what a broken app could hand over despite the types
        if (n === 3) return undefined as unknown as Reply;
        return { status: 200 };
      }),
    );
    for (const id of ['a', 'b', 'c', 'd']) t.send(request({ method: 'OPTIONS', callId: id }));
    await flush();
    await flush();
    // the rejected promise answers a tick later, hence the sort
    expect(
      t.transport
        .responses()
        .map((r) => r.status)
        .sort(),
    ).toEqual([200, 500, 500, 500]);
  });

  it('while draining, new requests get 503 with Retry-After', async () => {
    const t = setup();
    t.core.drain();
    t.send(request({ method: 'OPTIONS' }));
    await flush();
    const r = t.transport.responses()[0];
    expect([r?.status, r?.header('retry-after')]).toEqual([503, '5']);
  });
});

describe('torture messages rejected by the UAS (valid-but-reject)', () => {
  const DIR = join(import.meta.dirname, '../../test/fixtures/sip-torture');
  const expected: Record<string, number | 'drop'> = {
    intmeth: 501,
    esc02: 501,
    unkscm: 416,
    novelsc: 416,
    unksm2: 405,
    bext01: 420,
    invut: 415,
    bcast: 'drop',
    // an OPTIONS: an endpoint answers it whatever its Max-Forwards (RFC 4475 §3.3.11)
    zeromf: 200,
    sdp01: 406,
  };
  for (const [name, want] of Object.entries(expected)) {
    it(`${name} → ${want}`, async () => {
      const t = setup();
      const p = parseMessage(readFileSync(join(DIR, `${name}.dat`)));
      const inc: Incoming = { msg: p.msg, source: source(), size: 0 };
      t.core.receive(inc);
      await flush();
      const finals = t.transport.responses().filter((r) => r.status >= 200);
      if (want === 'drop') expect(t.transport.sent).toHaveLength(0);
      else expect(finals.map((r) => r.status)).toEqual([want]);
      if (want === 420)
        expect(finals[0]?.header('unsupported')).toBe('nothingSupportsThis, nothingSupportsThisEither');
      if (want === 415) expect(finals[0]?.header('accept')).toBe('application/sdp');
    });
  }
});
