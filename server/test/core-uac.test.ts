// The UAC core over a real transaction layer on a fake clock and a recording transport: the
// requests it builds, what it refuses, and what it reports back (responses, timeouts,
// transport errors, CANCEL held until a provisional, INVITE expiry, ACK for a 2xx).
import { describe, expect, it } from 'vitest';
import { UacCore, type UacErrorKind, type UacListener, type UacRequestSpec } from '../src/core/uac.js';
import { makeResponse } from '../src/sip/build.js';
import { viaBranch } from '../src/sip/headers.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { FakeClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import type { Endpoint } from '../src/transport/types.js';
import { FakeTransport, flush, incoming, parse } from './support/transaction.js';

const ALLOW = 'INVITE,ACK,CANCEL,BYE,OPTIONS,INFO,UPDATE,SUBSCRIBE,NOTIFY,REFER,MESSAGE';

class UacFakeTransport extends FakeTransport {
  contactHost = '192.0.2.1';
  asked: Endpoint[] = [];
  localContact(target: Endpoint) {
    this.asked.push(target);
    return { host: this.contactHost, port: 5060, transport: target.transport };
  }
}

interface Recorder extends UacListener {
  provisionals: SipResponse[];
  finals: SipResponse[];
  /** The dialog handle each final carried. */
  dialogs: (string | undefined)[];
  errors: { kind: UacErrorKind; message: string }[];
}

function recorder(): Recorder {
  const r: Recorder = {
    provisionals: [],
    finals: [],
    dialogs: [],
    errors: [],
    provisional: (resp) => void r.provisionals.push(resp),
    final: (resp, dialog) => {
      r.finals.push(resp);
      r.dialogs.push(dialog);
    },
    error: (kind, message) => void r.errors.push({ kind, message }),
  };
  return r;
}

function setup(
  opts: { userAgent?: string; route?: string[]; resolve?: (h: string) => Promise<string> } = {},
) {
  const clock = new FakeClock();
  const transport = new UacFakeTransport();
  const layer = new TransactionLayer({ transport, clock });
  const lookups: string[] = [];
  const defaults = {
    from: '"NkSIP App" <sip:user@nksip>',
    route: opts.route ?? [],
    allow: ALLOW,
    supported: 'path',
    ...(opts.userAgent ? { userAgent: opts.userAgent } : {}),
  };
  const uac = new UacCore({
    layer,
    transport,
    clock,
    defaults,
    resolve:
      opts.resolve ??
      ((h) => {
        lookups.push(h);
        return Promise.resolve('192.0.2.99');
      }),
  });
  const rec = recorder();
  const send = (spec: UacRequestSpec, listener: UacListener = rec) => uac.send(spec, listener);
  /** The last request of a method the transport was asked to send, and where. */
  const sent = (method: string): { req: SipRequest; to: Endpoint } => {
    const all = transport.sent.filter((s) => s.kind === 'request' && s.msg.method === method);
    const last = all[all.length - 1];
    if (last?.kind !== 'request') throw new Error(`no ${method} sent`);
    return { req: last.msg, to: last.to };
  };
  /** A response from the peer to `req`, through the wire format, into the layer. */
  const answer = (req: SipRequest, status: number, toTag = 'peer1', headers: [string, string][] = []) => {
    const resp = makeResponse(req, status, { toTag, headers });
    const wire = parse(serialize(resp).toString('latin1')) as SipResponse;
    layer.receive(incoming(wire));
    return wire;
  };
  return { clock, transport, layer, uac, rec, send, sent, answer, lookups };
}

describe('request building (RFC 3261 §8.1.1)', () => {
  it('OPTIONS carries every mandatory header, Supported and Allow, and no Contact', () => {
    const t = setup({ userAgent: 'nksip-server test' });
    const h = t.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20:5070;transport=udp' });
    expect(h).toBeDefined();
    expect(h?.handle).toMatch(/^R_/);
    const { req, to } = t.sent('OPTIONS');
    expect(req).toBe(h?.request);
    expect(to).toEqual({ transport: 'udp', address: '192.0.2.20', port: 5070 });
    expect(req.uri).toBe('sip:bob@192.0.2.20:5070;transport=udp');
    expect(req.header('max-forwards')).toBe('70');
    expect(viaBranch(req.topVia!)).toMatch(/^z9hG4bK/);
    expect(req.vias).toHaveLength(1);
    expect(req.from.displayName).toBe('NkSIP App');
    expect(req.fromTag).toMatch(/^\w{6,}$/);
    expect(req.header('to')).toBe('<sip:bob@192.0.2.20>');
    expect(req.toTag).toBeUndefined();
    expect(req.callId).toBe(h?.callId);
    expect(req.cseq.method).toBe('OPTIONS');
    expect(req.cseq.seq).toBeGreaterThan(0);
    expect(req.header('supported')).toBe('path');
    expect(req.header('allow')).toBe(ALLOW);
    expect(req.header('user-agent')).toBe('nksip-server test');
    expect(req.hasHeader('contact')).toBe(false);
    expect(serialize(req).toString('latin1')).toContain('Content-Length: 0\r\n');
  });

  it('gives every request a fresh From tag, branch, Call-ID and handle', () => {
    const t = setup();
    const a = t.send({ method: 'OPTIONS', uri: 'sip:192.0.2.20' });
    const b = t.send({ method: 'OPTIONS', uri: 'sip:192.0.2.20' });
    expect(a?.handle).not.toBe(b?.handle);
    expect(a?.callId).not.toBe(b?.callId);
    expect(a?.request.fromTag).not.toBe(b?.request.fromTag);
    expect(viaBranch(a!.request.topVia!)).not.toBe(viaBranch(b!.request.topVia!));
  });

  it('keeps Call-ID, CSeq, From, To and body as given', () => {
    const t = setup();
    t.send({
      method: 'MESSAGE',
      uri: 'sip:bob@192.0.2.20',
      from: 'Alice <sip:alice@atlanta.com>',
      to: '"Bob B" <sip:bob@biloxi.com>',
      callId: 'my-call@here',
      cseq: 42,
      body: Buffer.from('hello'),
      contentType: 'text/plain',
    });
    const { req } = t.sent('MESSAGE');
    expect(req.callId).toBe('my-call@here');
    expect(req.header('cseq')).toBe('42 MESSAGE');
    expect(req.from.uri).toMatchObject({ user: 'alice', host: 'atlanta.com' });
    expect(req.fromTag).toBeDefined();
    expect(req.to.displayName).toBe('Bob B');
    expect(req.body.toString()).toBe('hello');
    expect(req.header('content-type')).toBe('text/plain');
    expect(serialize(req).toString('latin1')).toContain('Content-Length: 5\r\n');
    expect(req.hasHeader('supported')).toBe(false);
    expect(req.hasHeader('date')).toBe(false);
  });

  it('keeps a From tag the app chose', () => {
    const t = setup();
    t.send({ method: 'OPTIONS', uri: 'sip:192.0.2.20', from: '<sip:a@b>;tag=mine' });
    expect(t.sent('OPTIONS').req.fromTag).toBe('mine');
  });

  it('MESSAGE with expires gets Expires and a Date (NkSIP)', () => {
    const t = setup();
    t.clock.advance(Date.UTC(2030, 0, 2, 3, 4, 5));
    t.send({ method: 'MESSAGE', uri: 'sip:bob@192.0.2.20', expires: 30 });
    const { req } = t.sent('MESSAGE');
    expect(req.header('expires')).toBe('30');
    expect(req.header('date')).toBe('Wed, 02 Jan 2030 03:04:05 GMT');
  });

  describe('Contact', () => {
    for (const method of ['INVITE', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'UPDATE']) {
      it(`${method} gets one automatically, with the From user and the listener's address`, () => {
        const t = setup();
        t.send({ method, uri: 'sip:bob@192.0.2.20', event: 'presence', referTo: 'sip:carol@192.0.2.5' });
        const { req, to } = t.sent(method);
        expect(req.headerValues('contact')).toEqual(['<sip:user@192.0.2.1:5060>']);
        expect(t.transport.asked).toEqual([to]);
        // right after CSeq, where §8.1.1 lists it
        const names = req.headers.map((h) => h.name);
        expect(names.indexOf('contact')).toBe(names.indexOf('cseq') + 1);
      });
    }
    for (const method of ['OPTIONS', 'MESSAGE', 'REGISTER', 'INFO', 'PUBLISH']) {
      it(`${method} gets none unless asked`, () => {
        const t = setup();
        t.send({ method, uri: 'sip:bob@192.0.2.20', event: 'presence', body: Buffer.from('x') });
        expect(t.sent(method).req.hasHeader('contact')).toBe(false);
        t.send({
          method,
          uri: 'sip:bob@192.0.2.20',
          event: 'presence',
          body: Buffer.from('x'),
          makeContact: true,
        });
        expect(t.sent(method).req.headerValues('contact')).toEqual(['<sip:user@192.0.2.1:5060>']);
      });
    }
    it('a given Contact is used as is; makeContact false suppresses the automatic one', () => {
      const t = setup();
      t.send({
        method: 'INVITE',
        uri: 'sip:bob@192.0.2.20',
        contact: '<sip:me@198.51.100.7:5099>;expires=60',
      });
      expect(t.sent('INVITE').req.headerValues('contact')).toEqual(['<sip:me@198.51.100.7:5099>;expires=60']);
      t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20', makeContact: false });
      expect(t.sent('INVITE').req.hasHeader('contact')).toBe(false);
    });
    it('names TCP and honours localHost', () => {
      const t = setup();
      t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20;transport=TCP', localHost: 'pbx.example.com' });
      const { req, to } = t.sent('INVITE');
      expect(to).toEqual({ transport: 'tcp', address: '192.0.2.20', port: 5060 });
      expect(req.headerValues('contact')).toEqual(['<sip:user@pbx.example.com:5060;transport=tcp>']);
      t.transport.contactHost = '2001:db8::1';
      t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20', from: '<sip:192.0.2.9>' });
      expect(t.sent('INVITE').req.headerValues('contact')).toEqual(['<sip:[2001:db8::1]:5060>']);
    });
    it('a sips: Request-URI goes over TLS (port 5061) with a sips: Contact; transport=ws is WS', () => {
      const t = setup();
      t.send({ method: 'INVITE', uri: 'sips:bob@192.0.2.20' });
      const { req, to } = t.sent('INVITE');
      expect(to).toEqual({ transport: 'tls', address: '192.0.2.20', port: 5061 });
      expect(req.headerValues('contact')).toEqual(['<sips:user@192.0.2.1:5060>']);
      t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20:8080;transport=ws' });
      const ws = t.sent('INVITE');
      expect(ws.to).toEqual({ transport: 'ws', address: '192.0.2.20', port: 8080 });
      expect(ws.req.headerValues('contact')).toEqual(['<sip:user@192.0.2.1:5060;transport=ws>']);
    });
  });

  describe('REGISTER', () => {
    it('To is the From (to_as_from), with Supported and Allow', () => {
      const t = setup();
      t.send({
        method: 'REGISTER',
        uri: 'sip:registrar.test;maddr=192.0.2.20',
        from: 'Me <sip:me@example.com>',
        expires: 3600,
        makeContact: true,
      });
      const { req, to } = t.sent('REGISTER');
      expect(to.address).toBe('192.0.2.20');
      expect(req.header('to')).toBe('"Me" <sip:me@example.com>');
      expect(req.toTag).toBeUndefined();
      expect(req.fromTag).toBeDefined();
      expect(req.header('expires')).toBe('3600');
      expect(req.headerValues('contact')).toEqual(['<sip:me@192.0.2.1:5060>']);
      expect(req.header('supported')).toBe('path');
      expect(req.header('allow')).toBe(ALLOW);
    });
    it('an explicit To wins over to_as_from', () => {
      const t = setup();
      t.send({ method: 'REGISTER', uri: 'sip:192.0.2.20', to: '<sip:other@example.com>' });
      expect(t.sent('REGISTER').req.header('to')).toBe('<sip:other@example.com>');
    });
    it('unregister: our Contact with Expires 0', () => {
      const t = setup();
      t.send({ method: 'REGISTER', uri: 'sip:192.0.2.20', unregister: true, expires: 300 });
      const { req } = t.sent('REGISTER');
      expect(req.headerValues('contact')).toEqual(['<sip:user@192.0.2.1:5060>']);
      expect(req.header('expires')).toBe('0');
    });
    it('unregisterAll: Contact * with Expires 0', () => {
      const t = setup();
      t.send({ method: 'REGISTER', uri: 'sip:192.0.2.20', unregisterAll: true });
      const { req } = t.sent('REGISTER');
      expect(req.headerValues('contact')).toEqual(['*']);
      expect(req.header('expires')).toBe('0');
    });
  });

  it('toAsFrom works for any method', () => {
    const t = setup();
    t.send({ method: 'OPTIONS', uri: 'sip:192.0.2.20', toAsFrom: true });
    expect(t.sent('OPTIONS').req.header('to')).toBe('"NkSIP App" <sip:user@nksip>');
  });

  it('SUBSCRIBE, NOTIFY, REFER, PUBLISH get their event headers', () => {
    const t = setup();
    t.send({ method: 'SUBSCRIBE', uri: 'sip:bob@192.0.2.20', event: 'presence;id=1', expires: 60 });
    let req = t.sent('SUBSCRIBE').req;
    expect(req.header('event')).toBe('presence;id=1');
    expect(req.header('expires')).toBe('60');
    expect(req.header('supported')).toBe('path');
    t.send({ method: 'NOTIFY', uri: 'sip:bob@192.0.2.20', event: 'presence' });
    expect(t.sent('NOTIFY').req.header('subscription-state')).toBe('active');
    t.send({
      method: 'NOTIFY',
      uri: 'sip:bob@192.0.2.20',
      event: 'presence',
      subscriptionState: 'terminated;reason=timeout',
    });
    expect(t.sent('NOTIFY').req.header('subscription-state')).toBe('terminated;reason=timeout');
    t.send({ method: 'REFER', uri: 'sip:bob@192.0.2.20', referTo: 'sip:carol@192.0.2.5' });
    expect(t.sent('REFER').req.header('refer-to')).toBe('<sip:carol@192.0.2.5>');
    t.send({
      method: 'PUBLISH',
      uri: 'sip:bob@192.0.2.20',
      event: 'presence',
      sipIfMatch: 'etag-1',
      expires: 0,
    });
    req = t.sent('PUBLISH').req;
    expect(req.header('sip-if-match')).toBe('etag-1');
    expect(req.header('expires')).toBe('0');
  });

  it('applies ;method= and ?headers embedded in the URI', () => {
    const t = setup();
    t.send({
      method: 'OPTIONS',
      uri: '<sip:bob@192.0.2.20;method=MESSAGE?Subject=hi%20there&X-Foo=1&body=hello>',
    });
    const { req } = t.sent('MESSAGE');
    expect(req.uri).toBe('sip:bob@192.0.2.20');
    expect(req.cseq.method).toBe('MESSAGE');
    expect(req.header('subject')).toBe('hi there');
    expect(req.header('x-foo')).toBe('1');
    expect(req.body.toString()).toBe('hello');
  });

  it('applies header operations last, over the automatic headers', () => {
    const t = setup({ userAgent: 'ua' });
    t.send({
      method: 'OPTIONS',
      uri: 'sip:192.0.2.20',
      headers: [
        { op: 'add', name: 'X-One', value: '1' },
        { op: 'replace', name: 'Supported', value: 'path, timer' },
        { op: 'remove', name: 'User-Agent', value: '' },
        { op: 'add', name: 'X-Two', value: 'b' },
        { op: 'insert', name: 'X-Two', value: 'a' },
      ],
    });
    const { req } = t.sent('OPTIONS');
    expect(req.header('x-one')).toBe('1');
    expect(req.header('supported')).toBe('path, timer');
    expect(req.hasHeader('user-agent')).toBe(false);
    expect(req.headerLines('x-two')).toEqual(['a', 'b']);
  });

  it('puts UTF-8 text from the app on the wire as UTF-8', () => {
    const t = setup();
    t.send({ method: 'OPTIONS', uri: 'sip:192.0.2.20', from: '"Zoë" <sip:zoe@example.com>' });
    const wire = serialize(t.sent('OPTIONS').req);
    expect(wire.includes(Buffer.from('"Zoë"', 'utf8'))).toBe(true);
  });
});

describe('next hop', () => {
  it('Route from the defaults (loose): sent to the first Route, R-URI unchanged', () => {
    const t = setup({ route: ['<sip:192.0.2.50:5080;lr>', 'sip:192.0.2.51;lr'] });
    t.send({ method: 'OPTIONS', uri: 'sip:bob@example.com' });
    const { req, to } = t.sent('OPTIONS');
    expect(to).toEqual({ transport: 'udp', address: '192.0.2.50', port: 5080 });
    expect(req.uri).toBe('sip:bob@example.com');
    expect(req.headerValues('route')).toEqual(['<sip:192.0.2.50:5080;lr>', '<sip:192.0.2.51;lr>']);
    expect(t.lookups).toEqual([]);
  });

  it('spec.route replaces the defaults; TCP from the Route', () => {
    const t = setup({ route: ['<sip:192.0.2.50;lr>'] });
    t.send({ method: 'OPTIONS', uri: 'sip:bob@example.com', route: ['<sip:192.0.2.60;lr;transport=tcp>'] });
    const { req, to } = t.sent('OPTIONS');
    expect(to).toEqual({ transport: 'tcp', address: '192.0.2.60', port: 5060 });
    expect(req.headerValues('route')).toEqual(['<sip:192.0.2.60;lr;transport=tcp>']);
  });

  it('strict first Route (§12.2.1.1): becomes the R-URI, the R-URI goes last', () => {
    const t = setup();
    t.send({
      method: 'OPTIONS',
      uri: 'sip:bob@example.com',
      route: ['<sip:192.0.2.70:5062>', '<sip:192.0.2.71;lr>'],
    });
    const { req, to } = t.sent('OPTIONS');
    expect(req.uri).toBe('sip:192.0.2.70:5062');
    expect(req.headerValues('route')).toEqual(['<sip:192.0.2.71;lr>', '<sip:bob@example.com>']);
    expect(to).toEqual({ transport: 'udp', address: '192.0.2.70', port: 5062 });
  });

  it('maddr, IPv6 literals and names', async () => {
    const t = setup();
    t.send({ method: 'OPTIONS', uri: 'sip:bob@example.com;maddr=192.0.2.80' });
    expect(t.sent('OPTIONS').to.address).toBe('192.0.2.80');
    t.send({ method: 'OPTIONS', uri: 'sip:bob@[2001:DB8::1]:5070' });
    expect(t.sent('OPTIONS').to).toEqual({ transport: 'udp', address: '2001:db8::1', port: 5070 });
    expect(t.lookups).toEqual([]);
    const h = t.send({ method: 'INVITE', uri: 'sip:bob@example.com' });
    expect(h).toBeDefined();
    expect(t.lookups).toEqual(['example.com']);
    await flush();
    const { req, to } = t.sent('INVITE');
    expect(to).toEqual({ transport: 'udp', address: '192.0.2.99', port: 5060 });
    expect(req.headerValues('contact')).toEqual(['<sip:user@192.0.2.1:5060>']);
  });

  it('a name that does not resolve → service_unavailable, later', async () => {
    const t = setup({ resolve: () => Promise.reject(new Error('ENOTFOUND')) });
    const h = t.send({ method: 'OPTIONS', uri: 'sip:nowhere.invalid' });
    expect(h).toBeDefined();
    expect(t.rec.errors).toEqual([]);
    await flush();
    expect(t.rec.errors).toEqual([
      { kind: 'service_unavailable', message: expect.stringContaining('ENOTFOUND') },
    ]);
    expect(t.uac.stats().pending).toBe(0);
    expect(t.transport.sent).toEqual([]);
  });
});

describe('validation (NkSIP errors, reported synchronously)', () => {
  const cases: [string, Partial<UacRequestSpec>, UacErrorKind][] = [
    ['bad R-URI', { uri: 'sip:bob@exa mple.com' }, 'invalid_uri'],
    ['R-URI without scheme', { uri: 'bob' }, 'invalid_uri'],
    ['bad From', { from: '<sip:alice@' }, 'invalid_from'],
    ['bad To', { to: 'Bob <sip:bob@biloxi.com' }, 'invalid_to'],
    ['bad Route', { route: ['<sip:proxy'] }, 'invalid_route'],
    ['non-SIP Route', { route: ['<tel:+123>'] }, 'invalid_route'],
    ['bad Contact', { contact: '<sip:me@' }, 'invalid_contact'],
    ['Contact * outside REGISTER', { contact: '*' }, 'invalid_contact'],
    ['SUBSCRIBE without event', { method: 'SUBSCRIBE' }, 'invalid_event'],
    ['bad event', { method: 'SUBSCRIBE', event: 'pres ence' }, 'invalid_event'],
    ['REFER without referTo', { method: 'REFER' }, 'invalid_refer_to'],
    ['bad referTo', { method: 'REFER', referTo: '<sip:x' }, 'invalid_refer_to'],
    ['transport=sctp', { uri: 'sip:bob@192.0.2.20;transport=sctp' }, 'service_unavailable'],
    ['tel: without a route', { uri: 'tel:+1-201-555-0123' }, 'service_unavailable'],
    ['bad method', { method: 'OPT IONS' }, 'invalid_option'],
    ['ACK out of a dialog', { method: 'ACK' }, 'unknown_dialog'],
    ['CANCEL as a request', { method: 'CANCEL' }, 'unknown_request'],
    ['CSeq 0', { cseq: 0 }, 'invalid_option'],
    ['CSeq 2^31', { cseq: 2 ** 31 }, 'invalid_option'],
    ['Call-ID with a space', { callId: 'a b' }, 'invalid_option'],
    ['negative expires', { expires: -1 }, 'invalid_option'],
    ['header op with a bad name', { headers: [{ op: 'add', name: 'X Bad', value: '1' }] }, 'invalid_option'],
    [
      'header op with CRLF',
      { headers: [{ op: 'add', name: 'X-A', value: '1\r\nX-B: 2' }] },
      'invalid_option',
    ],
    ['header op on Via', { headers: [{ op: 'add', name: 'Via', value: 'SIP/2.0/UDP x' }] }, 'invalid_option'],
    [
      'header op breaking From',
      { headers: [{ op: 'replace', name: 'From', value: '<sip:x' }] },
      'invalid_from',
    ],
    ['subscriptionState outside NOTIFY', { subscriptionState: 'active' }, 'invalid_option'],
    [
      'bad subscriptionState',
      { method: 'NOTIFY', event: 'x', subscriptionState: 'sleeping' },
      'invalid_option',
    ],
    ['PUBLISH without a body', { method: 'PUBLISH', event: 'presence' }, 'invalid_option'],
    ['bad localHost', { localHost: 'a b' }, 'invalid_option'],
    ['route that is not a list', { route: 'sip:x' as unknown as string[] }, 'invalid_route'],
    ['headers that are not a list', { headers: {} as unknown as [] }, 'invalid_option'],
  ];
  for (const [what, spec, kind] of cases) {
    it(`${what} → ${kind}`, () => {
      const t = setup();
      const h = t.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20', ...spec });
      expect(h).toBeUndefined();
      expect(t.rec.errors).toHaveLength(1);
      expect(t.rec.errors[0]?.kind).toBe(kind);
      expect(t.rec.errors[0]?.message).not.toBe('');
      expect(t.transport.sent).toEqual([]);
      expect(t.uac.stats().pending).toBe(0);
    });
  }
});

describe('responses', () => {
  it('passes every 1xx and the final, then forgets the request', async () => {
    const t = setup();
    const h = t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    expect(t.uac.stats().pending).toBe(1);
    const { req } = t.sent('INVITE');
    t.answer(req, 100);
    t.answer(req, 180);
    t.answer(req, 183);
    t.answer(req, 486);
    expect(t.rec.provisionals.map((r) => r.status)).toEqual([100, 180, 183]);
    expect(t.rec.finals.map((r) => r.status)).toEqual([486]);
    expect(t.uac.stats().pending).toBe(0);
    expect(t.uac.cancel(h!.handle)).toBe(false);
    // the transaction layer ACKs the non-2xx
    expect(t.transport.requests('ACK')).toHaveLength(1);
  });

  it('a non-INVITE final response', async () => {
    const t = setup();
    t.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' });
    await flush();
    t.answer(t.sent('OPTIONS').req, 200);
    t.answer(t.sent('OPTIONS').req, 200); // retransmission: absorbed
    expect(t.rec.finals.map((r) => r.status)).toEqual([200]);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('Timer F → 408 "Timer F Timeout"', async () => {
    const t = setup();
    t.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' });
    await flush();
    t.clock.advance(32_000);
    expect(t.rec.finals).toHaveLength(1);
    expect(t.rec.finals[0]?.status).toBe(408);
    expect(t.rec.finals[0]?.reason).toBe('Timer F Timeout');
    expect(t.rec.finals[0]?.callId).toBe(t.sent('OPTIONS').req.callId);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('Timer B → 408 "Timer B Timeout"', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    t.clock.advance(31_999);
    expect(t.rec.finals).toHaveLength(0);
    t.clock.advance(1);
    expect(t.rec.finals.map((r) => [r.status, r.reason])).toEqual([[408, 'Timer B Timeout']]);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('Timer C: a provisional and then nothing → 408 "Timer C Timeout" 180 s after the last 1xx, and a CANCEL', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    const { req } = t.sent('INVITE');
    t.answer(req, 180);
    t.clock.advance(100_000);
    t.answer(req, 183); // restarts Timer C
    t.clock.advance(179_999);
    expect(t.rec.finals).toHaveLength(0);
    expect(t.transport.requests('CANCEL')).toHaveLength(0);
    t.clock.advance(1);
    expect(t.rec.finals.map((r) => [r.status, r.reason])).toEqual([[408, 'Timer C Timeout']]);
    expect(t.transport.requests('CANCEL')).toHaveLength(1);
    expect(t.uac.stats().pending).toBe(0);
    // the far end's 487 to the INVITE is ACKed by the transaction and reported to nobody
    t.answer(req, 487);
    expect(t.rec.finals).toHaveLength(1);
    expect(t.transport.requests('ACK')).toHaveLength(1);
  });

  it('Timer C stops with the final response', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    const { req } = t.sent('INVITE');
    t.answer(req, 180);
    t.answer(req, 486);
    t.clock.advance(400_000);
    expect(t.rec.finals.map((r) => r.status)).toEqual([486]);
    expect(t.transport.requests('CANCEL')).toHaveLength(0);
  });

  it('a transport error → service_unavailable', async () => {
    const t = setup();
    t.transport.fail = new Error('ECONNREFUSED');
    const h = t.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20;transport=tcp' });
    expect(h).toBeDefined();
    expect(t.rec.errors).toEqual([]);
    await flush();
    expect(t.rec.errors).toEqual([
      { kind: 'service_unavailable', message: expect.stringContaining('ECONNREFUSED') },
    ]);
    expect(t.rec.finals).toEqual([]);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('no listener to name in the Contact → service_unavailable, synchronously for an IP target', () => {
    const t = setup();
    t.transport.localContact = () => {
      throw new Error('no udp listener for IPv4');
    };
    expect(t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' })).toBeUndefined();
    expect(t.rec.errors).toEqual([
      { kind: 'service_unavailable', message: expect.stringContaining('no udp listener') },
    ]);
    expect(t.transport.sent).toEqual([]);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('a listener that throws breaks nothing', async () => {
    const t = setup();
    const bad: UacListener = {
      provisional: () => {
        throw new Error('app bug');
      },
      final: () => {
        throw new Error('app bug');
      },
      error: () => {},
    };
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' }, bad);
    await flush();
    t.answer(t.sent('INVITE').req, 180);
    t.answer(t.sent('INVITE').req, 404);
    expect(t.uac.stats().pending).toBe(0);
    expect(t.transport.requests('ACK')).toHaveLength(1);
  });
});

describe('CANCEL (§9.1)', () => {
  it('is held until a provisional arrives', async () => {
    const t = setup();
    const h = t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' })!;
    await flush();
    expect(h.cancel('SIP;cause=480')).toBe(true);
    expect(t.uac.cancel(h.handle)).toBe(true); // twice is harmless
    await flush();
    expect(t.transport.requests('CANCEL')).toHaveLength(0);
    const invite = t.sent('INVITE').req;
    t.answer(invite, 180);
    await flush();
    const cancels = t.transport.requests('CANCEL');
    expect(cancels).toHaveLength(1);
    const cancel = cancels[0] as SipRequest;
    expect(cancel.uri).toBe(invite.uri);
    expect(viaBranch(cancel.topVia!)).toBe(viaBranch(invite.topVia!));
    expect(cancel.header('cseq')).toBe(`${invite.cseq.seq} CANCEL`);
    expect(cancel.toTag).toBeUndefined();
    expect(cancel.header('reason')).toBe('SIP;cause=480');
    expect(t.sent('CANCEL').to).toEqual(t.sent('INVITE').to);
    expect(t.rec.provisionals.map((r) => r.status)).toEqual([180]);
    t.answer(invite, 487);
    expect(t.rec.finals.map((r) => r.status)).toEqual([487]);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('goes at once after a provisional', async () => {
    const t = setup();
    const h = t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' })!;
    await flush();
    t.answer(t.sent('INVITE').req, 100);
    expect(t.uac.cancel(h.handle)).toBe(true);
    await flush();
    expect(t.transport.requests('CANCEL')).toHaveLength(1);
  });

  it('is never sent when the final comes first', async () => {
    const t = setup();
    const h = t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' })!;
    await flush();
    h.cancel();
    t.answer(t.sent('INVITE').req, 603);
    await flush();
    t.clock.advance(64_000);
    expect(t.transport.requests('CANCEL')).toHaveLength(0);
    expect(t.rec.finals.map((r) => r.status)).toEqual([603]);
    expect(h.cancel()).toBe(false);
  });

  it('is refused for unknown handles and non-INVITE requests', () => {
    const t = setup();
    expect(t.uac.cancel('R_nope')).toBe(false);
    const h = t.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.20' })!;
    expect(t.uac.cancel(h.handle)).toBe(false);
    expect(h.cancel()).toBe(false);
  });

  it('no final within 64*T1 of the CANCEL → 408, request forgotten', async () => {
    const t = setup();
    const h = t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' })!;
    await flush();
    t.answer(t.sent('INVITE').req, 180);
    h.cancel();
    await flush();
    t.clock.advance(32_000);
    expect(t.rec.finals.map((r) => [r.status, r.reason])).toEqual([[408, 'Cancel Timeout']]);
    expect(t.uac.stats().pending).toBe(0);
    expect(t.layer.stats().client).toBe(0);
  });

  it('INVITE expires → CANCEL after N s (unless noAutoExpire)', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20', expires: 10 });
    await flush();
    const invite = t.sent('INVITE').req;
    expect(invite.header('expires')).toBe('10');
    t.answer(invite, 180);
    t.clock.advance(9_999);
    await flush();
    expect(t.transport.requests('CANCEL')).toHaveLength(0);
    t.clock.advance(1);
    await flush();
    expect(t.transport.requests('CANCEL')).toHaveLength(1);
    t.answer(invite, 487);
    expect(t.rec.finals.map((r) => r.status)).toEqual([487]);
    expect(t.uac.stats().pending).toBe(0);

    const u = setup();
    u.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20', expires: 10, noAutoExpire: true });
    await flush();
    u.answer(u.sent('INVITE').req, 180);
    u.clock.advance(20_000);
    await flush();
    expect(u.transport.requests('CANCEL')).toHaveLength(0);
    expect(u.uac.stats().pending).toBe(1);
  });

  it('INVITE expires before any provisional: the CANCEL waits for one', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20', expires: 5 });
    await flush();
    t.clock.advance(5_000);
    await flush();
    expect(t.transport.requests('CANCEL')).toHaveLength(0);
    t.answer(t.sent('INVITE').req, 100);
    await flush();
    expect(t.transport.requests('CANCEL')).toHaveLength(1);
  });
});

describe('ACK for a 2xx (auto2xxAck)', () => {
  const rr: [string, string][] = [
    ['Record-Route', '<sip:192.0.2.41;lr>, <sip:192.0.2.42;lr>'],
    ['Contact', '<sip:bob@192.0.2.30:5070;transport=tcp>'],
  ];

  it('to the 2xx Contact through the reversed Record-Route, CSeq kept, new branch', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20', auto2xxAck: true });
    await flush();
    const invite = t.sent('INVITE').req;
    t.answer(invite, 200, 'b1', rr);
    await flush();
    expect(t.rec.finals.map((r) => r.status)).toEqual([200]);
    expect(t.uac.stats().pending).toBe(0);
    const { req: ack, to } = t.sent('ACK');
    expect(ack.uri).toBe('sip:bob@192.0.2.30:5070;transport=tcp');
    expect(ack.headerValues('route')).toEqual(['<sip:192.0.2.42;lr>', '<sip:192.0.2.41;lr>']);
    expect(to).toEqual({ transport: 'udp', address: '192.0.2.42', port: 5060 });
    expect(ack.header('cseq')).toBe(`${invite.cseq.seq} ACK`);
    expect(ack.callId).toBe(invite.callId);
    expect(ack.fromTag).toBe(invite.fromTag);
    expect(ack.toTag).toBe('b1');
    expect(viaBranch(ack.topVia!)).toMatch(/^z9hG4bK/);
    expect(viaBranch(ack.topVia!)).not.toBe(viaBranch(invite.topVia!));
    expect(ack.header('max-forwards')).toBe('70');

    // a retransmitted 2xx gets the same ACK again, and is not reported twice
    t.answer(invite, 200, 'b1', rr);
    await flush();
    const acks = t.transport.requests('ACK');
    expect(acks).toHaveLength(2);
    expect(acks[1]).toBe(acks[0]);
    expect(t.rec.finals).toHaveLength(1);

    // a 2xx from another branch of a fork: reported, ACKed on its own and hung up (NkSIP)
    t.answer(invite, 200, 'b2', [['Contact', '<sip:bob2@192.0.2.31>']]);
    await flush();
    expect(t.rec.finals.map((r) => r.toTag)).toEqual(['b1', 'b2']);
    const [d1, d2] = t.rec.dialogs;
    expect(d1).toBeDefined();
    expect(d2).toBeDefined();
    expect(d2).not.toBe(d1);
    const last = t.sent('ACK');
    expect(last.req.uri).toBe('sip:bob2@192.0.2.31');
    expect(last.req.toTag).toBe('b2');
    expect(last.req.header('cseq')).toBe(`${invite.cseq.seq} ACK`);
    expect(last.to).toEqual({ transport: 'udp', address: '192.0.2.31', port: 5060 });
    const bye = t.sent('BYE');
    expect(bye.req.uri).toBe('sip:bob2@192.0.2.31');
    expect(bye.req.toTag).toBe('b2');
    expect(bye.req.cseq.seq).toBe(invite.cseq.seq + 1);
    expect(t.uac.dialogs.counts()).toEqual({ total: 2, early: 0, confirmed: 2 });
    // its 200 ends that dialog; the first one stays
    t.answer(bye.req, 200, 'b2');
    await flush();
    expect(t.uac.dialogs.size).toBe(1);
    expect(t.uac.dialogs.handle(d1 as string)?.inviteStatus).toBe('confirmed');
    expect(t.uac.dialogs.handle(d2 as string)).toBeUndefined();
  });

  it('early dialogs of a fork: a 2xx ends the others; a non-2xx final ends them all', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    const invite = t.sent('INVITE').req;
    t.answer(invite, 180, 'e1', [['Contact', '<sip:e1@192.0.2.31>']]);
    t.answer(invite, 183, 'e2', [['Contact', '<sip:e2@192.0.2.32>']]);
    await flush();
    expect(t.uac.dialogs.counts()).toEqual({ total: 2, early: 2, confirmed: 0 });
    t.answer(invite, 200, 'e1', [['Contact', '<sip:e1@192.0.2.31>']]);
    await flush();
    expect(t.uac.dialogs.counts()).toEqual({ total: 1, early: 0, confirmed: 1 });

    const u = setup();
    u.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    const inv2 = u.sent('INVITE').req;
    u.answer(inv2, 180, 'e1', [['Contact', '<sip:e1@192.0.2.31>']]);
    u.answer(inv2, 180, 'e2', [['Contact', '<sip:e2@192.0.2.32>']]);
    await flush();
    expect(u.uac.dialogs.size).toBe(2);
    u.answer(inv2, 486, 'e2');
    await flush();
    expect(u.rec.finals.map((r) => r.status)).toEqual([486]);
    expect(u.uac.dialogs.size).toBe(0);
  });

  it('in a dialog: unknown handle → unknown_dialog; ACK only for a 2xx; BYE 200 ends it', async () => {
    const t = setup();
    expect(t.uac.sendInDialog('D_nope', { method: 'BYE' }, t.rec)).toBeUndefined();
    expect(t.rec.errors.map((e) => e.kind)).toEqual(['unknown_dialog']);
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    const invite = t.sent('INVITE').req;
    t.answer(invite, 180, 'b1', [['Contact', '<sip:bob@192.0.2.30>']]);
    await flush();
    const early = t.uac.dialogs.all()[0]?.handle as string;
    // nothing to ACK yet (NkSIP invalid_dialog)
    expect(t.uac.sendInDialog(early, { method: 'ACK' }, t.rec)).toBeUndefined();
    expect(t.rec.errors.at(-1)?.kind).toBe('unknown_dialog');
    t.answer(invite, 200, 'b1', [['Contact', '<sip:bob@192.0.2.30>']]);
    await flush();
    expect(t.rec.dialogs).toEqual([early]);
    // a re-INVITE before the ACK is refused
    expect(t.uac.sendInDialog(early, { method: 'INVITE' }, t.rec)).toBeUndefined();
    expect(t.rec.errors.at(-1)?.kind).toBe('request_pending');
    expect(t.uac.sendInDialog(early, { method: 'ACK' }, t.rec)).toBeDefined();
    await flush();
    expect(t.sent('ACK').req.uri).toBe('sip:bob@192.0.2.30');
    expect(t.rec.finals).toHaveLength(2); // the ACK reports the 2xx it acknowledged
    // a retransmitted 2xx gets the app's ACK again
    t.answer(invite, 200, 'b1', [['Contact', '<sip:bob@192.0.2.30>']]);
    await flush();
    expect(t.transport.requests('ACK')).toHaveLength(2);
    expect(t.uac.sendInDialog(early, { method: 'BYE' }, t.rec)).toBeDefined();
    await flush();
    const bye = t.sent('BYE');
    t.answer(bye.req, 200, 'b1');
    await flush();
    expect(t.rec.finals.at(-1)?.status).toBe(200);
    expect(t.rec.dialogs.at(-1)).toBe(early);
    expect(t.uac.dialogs.size).toBe(0);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('without auto2xxAck no ACK is sent (the app sends it)', async () => {
    const t = setup();
    t.send({ method: 'INVITE', uri: 'sip:bob@192.0.2.20' });
    await flush();
    t.answer(t.sent('INVITE').req, 200, 'b1', rr);
    await flush();
    expect(t.rec.finals.map((r) => r.status)).toEqual([200]);
    expect(t.transport.requests('ACK')).toHaveLength(0);
  });
});
