// The proxy (RFC 3261 §16, NkSIP reference §5) behind the UAS core, on a fake clock and a
// recording transport: what goes downstream, what comes back up, and that no fork, branch or
// transaction is left once everything is over.
import { afterEach, describe, expect, it } from 'vitest';
import { type BranchAnswer, type BranchFinal, CONTINUE } from '../src/core/decision.js';
import { bestResponse } from '../src/proxy/index.js';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { FlowFailedError, flowToken } from '../src/transport/flow.js';
import type { Source } from '../src/transport/types.js';
import { collect } from './support/heap.js';
import { type ProxyHarness, proxyDecision, proxyHarness } from './support/proxy.js';
import { request as baseRequest, parse, source } from './support/transaction.js';

let seq = 0;
function request(spec: Parameters<typeof baseRequest>[0] = {}): SipRequest {
  seq++;
  return baseRequest({
    branch: `z9hG4bKp${seq}`,
    callId: `pcall-${seq}`,
    sentBy: '192.0.2.10:5060',
    ...spec,
  });
}

/** The same request with extra header lines, through the parser. */
function withHeaders(req: SipRequest, lines: string[]): SipRequest {
  for (const l of lines) {
    const i = l.indexOf(':');
    req.addHeader(l.slice(0, i), l.slice(i + 1).trim());
  }
  return req;
}

const A = '192.0.2.31';
const B = '192.0.2.32';
const C = '192.0.2.33';

let live: ProxyHarness[] = [];
function setup(opts: Parameters<typeof proxyHarness>[0] = {}): ProxyHarness {
  const h = proxyHarness(opts);
  live.push(h);
  return h;
}

afterEach(async () => {
  // whatever a test did, once every timer has run nothing may be left behind
  for (const h of live) {
    await h.settle();
    expect(h.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 0 });
    expect(h.layer.stats()).toEqual({ client: 0, server: 0 });
  }
  live = [];
});

const statuses = (rs: SipResponse[]) => rs.map((r) => r.status);

describe('single target', () => {
  it('edits the request (§16.6) and relays 180 and 200 without its Via', async () => {
    const t = setup({ decide: proxyDecision([[`sip:carol@${A}:5070`]], { recordRoute: true }) });
    await t.send(request());
    const [fwd] = t.transport.to(A);
    expect(fwd).toBeDefined();
    const req = fwd as SipRequest;
    expect(req.uri).toBe(`sip:carol@${A}:5070`);
    expect(t.transport.out()[0]?.to).toEqual({ transport: 'udp', address: A, port: 5070 });
    expect(req.maxForwards).toBe(69);
    expect(req.vias).toHaveLength(2);
    expect(req.vias[0]?.params.find(([n]) => n === 'branch')?.[1]).toMatch(/^z9hG4bKnkp/);
    expect(req.vias[1]?.host).toBe('192.0.2.10');
    expect(req.headerValues('record-route')).toEqual(['<sip:192.0.2.1:5060;lr>']);
    expect(t.proxy.stats()).toEqual({ forks: 1, branches: 1, dialogs: 0 });

    await t.answer(req, 180);
    await t.answer(req, 200);
    const up = t.transport.up();
    expect(statuses(up)).toEqual([100, 180, 200]);
    for (const r of up.slice(1)) {
      expect(r.vias).toHaveLength(1);
      expect(r.vias[0]?.host).toBe('192.0.2.10');
      expect(r.toTag).toMatch(/^tag/);
    }
    expect(t.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 1 });
  });

  it('adds no Record-Route unless asked, and sends to the first Route (loose routing)', async () => {
    const t = setup({ decide: proxyDecision([], { route: [`sip:${B};lr`] }) });
    await t.send(request({ uri: `sip:bob@${A}` }));
    const [o] = t.transport.out('INVITE');
    expect(o?.to.address).toBe(B);
    expect(o?.msg.uri).toBe(`sip:bob@${A}`);
    expect(o?.msg.hasHeader('record-route')).toBe(false);
    expect(o?.msg.headerValues('route')).toEqual([`<sip:${B};lr>`]);
    await t.answer(o?.msg as SipRequest, 486);
    expect(statuses(t.transport.up())).toEqual([100, 486]);
  });

  it('removes its own Route and restores a Request-URI a strict router put there (§16.4)', async () => {
    const t = setup({ decide: proxyDecision([]) });
    // loose: our own Route on top is removed, the next one is the next hop
    await t.send(withHeaders(request(), ['Route: <sip:192.0.2.1:5060;lr>', `Route: <sip:${B};lr>`]));
    const [o1] = t.transport.out('INVITE');
    expect(o1?.msg.headerValues('route')).toEqual([`<sip:${B};lr>`]);
    expect(o1?.to.address).toBe(B);
    // strict upstream: R-URI is our Record-Route, the real one is the last Route
    await t.send(withHeaders(request({ uri: 'sip:192.0.2.1:5060;lr' }), [`Route: <sip:carol@${C}>`]));
    const o2 = t.transport.out('INVITE')[1];
    expect(o2?.msg.uri).toBe(`sip:carol@${C}`);
    expect(o2?.msg.hasHeader('route')).toBe(false);
    expect(o2?.to.address).toBe(C);
  });

  it('rewrites for a strict next hop, applies header ops and URI headers', async () => {
    const t = setup({
      decide: proxyDecision([[`sip:carol@${A}?X-From-Uri=yes`]], {
        route: [`<sip:${B}>`],
        headers: [
          { op: 'add', name: 'X-Added', value: '1' },
          { op: 'remove', name: 'Contact', value: '' },
          { op: 'replace', name: 'Subject', value: 'new' },
        ],
      }),
    });
    await t.send(withHeaders(request(), ['Subject: old']));
    const [o] = t.transport.out('INVITE');
    const req = o?.msg as SipRequest;
    expect(req.uri).toBe(`sip:${B}`); // strict router: R-URI is the route, target goes last
    expect(req.headerValues('route')).toEqual([`<sip:carol@${A}>`]);
    expect(o?.to.address).toBe(B);
    expect(req.header('x-added')).toBe('1');
    expect(req.header('x-from-uri')).toBe('yes');
    expect(req.hasHeader('contact')).toBe(false);
    expect(req.headerLines('subject')).toEqual(['new']);
  });

  it('puts two Record-Route values when the transport changes (RFC 5658)', async () => {
    const t = setup({ decide: proxyDecision([[`sip:carol@${A};transport=tcp`]], { recordRoute: true }) });
    await t.send(request());
    const [o] = t.transport.out('INVITE');
    expect(o?.to).toEqual({ transport: 'tcp', address: A, port: 5060 });
    expect(o?.msg.headerValues('record-route')).toEqual([
      '<sip:192.0.2.1:5060;transport=tcp;lr>',
      '<sip:192.0.2.1:5060;lr>',
    ]);
    await t.answer(o?.msg as SipRequest, 200);
  });

  it('sends a sips: target over TLS and record-routes it with sips: URIs (§16.6 step 4)', async () => {
    const t = setup({
      decide: proxyDecision([[`sips:carol@${A}`]], { recordRoute: true }),
      listeners: () => [
        { transport: 'udp', address: '192.0.2.1', port: 5060 },
        { transport: 'tls', address: '192.0.2.1', port: 5061 },
      ],
    });
    await t.send(request({ uri: 'sips:bob@biloxi.com' }));
    const [o] = t.transport.out('INVITE');
    expect(o?.to).toEqual({ transport: 'tls', address: A, port: 5061 });
    expect(o?.msg.headerValues('record-route')).toEqual([
      '<sips:192.0.2.1:5061;lr>',
      '<sips:192.0.2.1:5060;lr>',
    ]);
    await t.answer(o?.msg as SipRequest, 486);
  });

  it("names a WebSocket caller's connection in its Record-Route, and follows such a Route back (flow token)", async () => {
    const t = setup({
      decide: proxyDecision([[`sip:carol@${A}`]], { recordRoute: true }),
      listeners: () => [
        { transport: 'udp', address: '192.0.2.1', port: 5060 },
        { transport: 'ws', address: '192.0.2.1', port: 8080 },
      ],
    });
    const browser: Source = { ...source('ws', 3), address: '192.0.2.10', port: 50123, localPort: 8080 };
    await t.send(request(), browser);
    const [o] = t.transport.out('INVITE');
    const token = flowToken({ transport: 'ws', address: '192.0.2.10', port: 50123 });
    expect(o?.msg.headerValues('record-route')).toEqual([
      '<sip:192.0.2.1:5060;lr>',
      `<sip:${token}@192.0.2.1:8080;transport=ws;lr>`,
    ]);
    await t.answer(o?.msg as SipRequest, 200);
    // the callee's BYE along the route set: over the browser's connection, whatever its Contact says
    t.setDecide(proxyDecision([]));
    await t.send(
      request({
        method: 'BYE',
        uri: 'sip:xyz@df7jal23ls0d.invalid;transport=ws',
        headers: [`Route: <sip:192.0.2.1:5060;lr>, <sip:${token}@192.0.2.1:8080;transport=ws;lr>`],
      }),
      { ...source(), address: A },
    );
    const [bye] = t.transport.out('BYE');
    // a flow: that connection or nothing (no new connection to the browser's port)
    expect(bye?.to).toEqual({ transport: 'ws', address: '192.0.2.10', port: 50123, flow: true });
    expect(bye?.msg.hasHeader('route')).toBe(false);
    expect(bye?.msg.uri).toBe('sip:xyz@df7jal23ls0d.invalid;transport=ws');
  });

  it('answers 430 Flow Failed when the flow a Route names is gone (RFC 5626 §5.3), statefully or not', async () => {
    for (const mode of ['stateful', 'stateless'] as const) {
      const t = setup({
        decide:
          mode === 'stateless'
            ? () => ({ kind: 'proxy_stateless', targets: [], options: {} })
            : proxyDecision([]),
      });
      const send = t.transport.sendRequest.bind(t.transport);
      t.transport.sendRequest = (req, target) => {
        if (!target.flow) return send(req, target);
        t.transport.sent.push({ kind: 'request', msg: req, to: target });
        return Promise.reject(new FlowFailedError('gone'));
      };
      const token = flowToken({ transport: 'tcp', address: '192.0.2.10', port: 40123 });
      await t.send(
        request({
          method: 'OPTIONS',
          uri: 'sip:a@192.0.2.10:5070;transport=tcp',
          headers: [`Route: <sip:${token}@192.0.2.1:5060;transport=tcp;lr>`],
        }),
        { ...source(), address: A },
      );
      const [o] = t.transport.out('OPTIONS');
      expect(o?.to).toMatchObject({ transport: 'tcp', address: '192.0.2.10', port: 40123, flow: true });
      expect([mode, statuses(t.transport.up()).filter((s) => s >= 200)]).toEqual([mode, [430]]);
      expect(t.transport.up().find((r) => r.status === 430)?.reason).toBe('Flow Failed');
    }
  });

  it('sends over a UDP flow from the socket its Route names (RFC 5626 outbound binding)', async () => {
    const t = setup({
      decide: proxyDecision([]),
      listeners: () => [
        { transport: 'udp', address: '192.0.2.1', port: 5060 },
        { transport: 'udp', address: '192.0.2.1', port: 5070 },
      ],
    });
    const token = flowToken({ transport: 'udp', address: '198.51.100.9', port: 61000 });
    await t.send(
      request({
        method: 'OPTIONS',
        uri: 'sip:a@10.0.0.5:5060',
        headers: [`Route: <sip:${token}@192.0.2.1:5070;lr>`],
      }),
      { ...source(), address: A },
    );
    const [o] = t.transport.out('OPTIONS');
    expect(o?.to).toEqual({
      transport: 'udp',
      address: '198.51.100.9',
      port: 61000,
      flow: true,
      from: [{ transport: 'udp', address: '192.0.2.1', port: 5070 }],
    });
    expect(o?.msg.hasHeader('route')).toBe(false);
    await t.answer(o?.msg as SipRequest, 200);
  });

  it('takes the outgoing Record-Route from the listener the transport will use', async () => {
    const t = setup({
      decide: proxyDecision([[`sip:carol@${A};transport=tcp`]], { recordRoute: true }),
      localContact: (to) => {
        expect(to).toEqual({ transport: 'tcp', address: A, port: 5060 });
        return { host: '192.0.2.2', port: 5080 };
      },
    });
    await t.send(request());
    const [o] = t.transport.out('INVITE');
    expect(o?.msg.headerValues('record-route')).toEqual([
      '<sip:192.0.2.2:5080;transport=tcp;lr>',
      '<sip:192.0.2.1:5060;lr>',
    ]);
    await t.answer(o?.msg as SipRequest, 200);
    // both values are ours: an in-dialog request through them loses both
    t.setDecide(proxyDecision([]));
    await t.send(
      withHeaders(request({ uri: `sip:carol@${A}`, toTag: 'x' }), [
        'Route: <sip:192.0.2.2:5080;transport=tcp;lr>',
        'Route: <sip:192.0.2.1:5060;lr>',
      ]),
    );
    const o2 = t.transport.out('INVITE')[1];
    expect(o2?.msg.hasHeader('route')).toBe(false);
    expect(o2?.to.address).toBe(A);
    await t.answer(o2?.msg as SipRequest, 200);
  });

  it('record-routes the listener the request came in on (an app of its own), both transports of it', async () => {
    const t = setup({
      decide: proxyDecision([[`sip:carol@${A}`]], { recordRoute: true }),
      localContact: () => ({ host: '192.0.2.1', port: 5060 }),
      listeners: () => [
        { transport: 'udp', address: '192.0.2.1', port: 5060 },
        { transport: 'udp', address: '192.0.2.1', port: 5070 },
        { transport: 'tcp', address: '192.0.2.1', port: 5070 },
      ],
    });
    const app: Source = { ...source(), localPort: 5070 };
    await t.send(request(), app);
    const [o] = t.transport.out('INVITE');
    expect(o?.msg.headerValues('record-route')).toEqual(['<sip:192.0.2.1:5070;lr>']);
    await t.answer(o?.msg as SipRequest, 486);
    t.setDecide(proxyDecision([[`sip:carol@${A};transport=tcp`]], { recordRoute: true }));
    await t.send(request(), app);
    const o2 = t.transport.out('INVITE')[1];
    expect(o2?.msg.headerValues('record-route')).toEqual([
      '<sip:192.0.2.1:5070;transport=tcp;lr>',
      '<sip:192.0.2.1:5070;lr>',
    ]);
    await t.answer(o2?.msg as SipRequest, 486);
  });

  it("keeps a Route to another app's listener of this server: that app is the next hop", async () => {
    const t = setup({
      decide: proxyDecision([]),
      listeners: () => [
        { transport: 'udp', address: '192.0.2.1', port: 5060 },
        { transport: 'udp', address: '192.0.2.1', port: 5070 },
      ],
      // 5070 belongs to another app
      sameService: (a, b) => (a.localPort === 5070) === (b.localPort === 5070),
    });
    await t.send(
      withHeaders(request({ uri: `sip:carol@${A}`, toTag: 'x' }), [
        'Route: <sip:192.0.2.1:5060;lr>',
        'Route: <sip:192.0.2.1:5070;lr>',
      ]),
    );
    const [o] = t.transport.out('INVITE');
    expect(o?.msg.headerValues('route')).toEqual(['<sip:192.0.2.1:5070;lr>']);
    expect(o?.to).toEqual({ transport: 'udp', address: '192.0.2.1', port: 5070 });
    await t.answer(o?.msg as SipRequest, 200);
  });

  it('answers 483 at Max-Forwards 0 and 420 for Proxy-Require', async () => {
    const t = setup();
    const r = request();
    r.setHeader('max-forwards', '0');
    await t.send(r);
    await t.send(withHeaders(request(), ['Proxy-Require: foo']));
    expect(t.transport.out()).toHaveLength(0);
    const finals = t.transport.up().filter((x) => x.status >= 200);
    expect(statuses(finals)).toEqual([483, 420]);
    expect(finals[1]?.header('unsupported')).toBe('foo');
  });

  it('relays a non-INVITE and its answer (no Timer C, no CANCEL)', async () => {
    const t = setup({ decide: proxyDecision([[`sip:carol@${A}`]]) });
    await t.send(request({ method: 'OPTIONS' }));
    const [o] = t.transport.out('OPTIONS');
    await t.answer(o?.msg as SipRequest, 200);
    expect(statuses(t.transport.up())).toEqual([200]);
  });
});

describe('parallel and serial forking', () => {
  it('first 2xx wins: relayed, the others CANCELled with the Reason (CANCEL waits for a 1xx)', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`, `sip:c@${C}`]]) });
    await t.send(request());
    const [ia, ib, ic] = [A, B, C].map((x) => t.transport.to(x)[0] as SipRequest);
    const branches = [ia, ib, ic].map((r) => r?.topVia?.params.find(([n]) => n === 'branch')?.[1]);
    expect(new Set(branches).size).toBe(3);
    await t.answer(ia as SipRequest, 180);
    await t.answer(ib as SipRequest, 180);
    await t.answer(ib as SipRequest, 200);
    expect(statuses(t.transport.up())).toEqual([100, 180, 180, 200]);
    const ca = t.transport.to(A, 'CANCEL');
    expect(ca).toHaveLength(1);
    expect(ca[0]?.header('reason')).toBe('SIP;cause=200;text="Call completed elsewhere"');
    expect(t.transport.to(B, 'CANCEL')).toHaveLength(0);
    // §9.1: no CANCEL to C before it sends a provisional
    expect(t.transport.to(C, 'CANCEL')).toHaveLength(0);
    await t.answer(ic as SipRequest, 100);
    expect(t.transport.to(C, 'CANCEL')).toHaveLength(1);
    await t.answer(ia as SipRequest, 487);
    await t.answer(ic as SipRequest, 487);
    // a later 2xx (a downstream fork) still goes up, RFC 6026
    await t.answer(ib as SipRequest, 200, { toTag: 'other' });
    expect(statuses(t.transport.up())).toEqual([100, 180, 180, 200, 200]);
    expect(t.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 0 });
  });

  it('once a branch has its 2xx the fork is let go; later 2xx on it still go up for Timer M', async () => {
    let options: WeakRef<object> | undefined;
    const t = setup({
      decide: () => {
        // a fresh options object per fork, held by the fork alone
        const o = { recordRoute: true };
        options = new WeakRef(o);
        return { kind: 'proxy', targets: [[`sip:a@${A}`]], options: o };
      },
    });
    await t.send(request());
    const ia = t.transport.to(A)[0] as SipRequest;
    await t.answer(ia, 200);
    await collect();
    expect(options?.deref()).toBeUndefined();
    await t.answer(ia, 200); // a retransmission
    await t.answer(ia, 200, { toTag: 'other' }); // a fork further down
    expect(statuses(t.transport.up())).toEqual([100, 200, 200, 200]);
    expect(t.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 2 });
  });

  it('tries the next serial group when a group fails', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`], [`sip:b@${B}`, `sip:c@${C}`]]) });
    await t.send(request());
    expect(t.transport.out('INVITE')).toHaveLength(1);
    await t.answer(t.transport.to(A)[0] as SipRequest, 486);
    expect(t.transport.to(A, 'ACK')).toHaveLength(1); // hop by hop
    expect(t.transport.to(B)).toHaveLength(1);
    expect(t.transport.to(C)).toHaveLength(1);
    await t.answer(t.transport.to(B)[0] as SipRequest, 404);
    await t.answer(t.transport.to(C)[0] as SipRequest, 480);
    const finals = t.transport.up().filter((r) => r.status >= 200);
    expect(statuses(finals)).toEqual([404]); // 404 < 480 < 486, all "other 4xx"
  });

  it('a 6xx goes up at once, CANCELs the rest and stops later groups', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`], [`sip:c@${C}`]]) });
    await t.send(request());
    await t.answer(t.transport.to(B)[0] as SipRequest, 180);
    await t.answer(t.transport.to(A)[0] as SipRequest, 603);
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([603]);
    const cancel = t.transport.to(B, 'CANCEL')[0];
    expect(cancel?.header('reason')).toBe('SIP;cause=603;text="Decline"');
    await t.answer(t.transport.to(B)[0] as SipRequest, 487);
    expect(t.transport.to(C)).toHaveLength(0);
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([603]);
  });

  it('merges the challenges of every 401 and 407', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`, `sip:c@${C}`]]) });
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 407, {
      headers: [['Proxy-Authenticate', 'Digest realm="a", nonce="1"']],
    });
    await t.answer(t.transport.to(B)[0] as SipRequest, 401, {
      headers: [['WWW-Authenticate', 'Digest realm="b", nonce="2"']],
    });
    await t.answer(t.transport.to(C)[0] as SipRequest, 404);
    const final = t.transport.up().find((r) => r.status >= 200) as SipResponse;
    expect(final.status).toBe(401);
    expect(final.headerLines('www-authenticate')).toEqual(['Digest realm="b", nonce="2"']);
    expect(final.headerLines('proxy-authenticate')).toEqual(['Digest realm="a", nonce="1"']);
  });

  it('turns a best 503 into 500, and gives 503 to a branch whose transport fails', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`]]) });
    t.transport.unreachable.add(B);
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 503);
    const final = t.transport.up().find((r) => r.status >= 200);
    expect(final?.status).toBe(500);
  });

  it('a branch that never answers ends with 408 (Timer B)', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`]]) });
    await t.send(request());
    t.clock.advance(32_000);
    await t.settle();
    // (the 408 is retransmitted by Timer G: this test's caller never ACKs)
    expect(new Set(statuses(t.transport.up()).filter((s) => s >= 200))).toEqual(new Set([408]));
  });

  it('answers 480 when no target is usable, and 503 → 500 for unknown transports and names', async () => {
    const t = setup({ decide: proxyDecision([['not a uri', '']]) });
    await t.send(request());
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([480]);
    t.setDecide(proxyDecision([[`sip:b@${B};transport=sctp`, 'sip:c@unresolvable.invalid']]));
    await t.send(request());
    expect(t.transport.out()).toHaveLength(0);
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([480, 500]);
  });

  it('resolves host names with the resolver it is given', async () => {
    const t = setup({
      decide: proxyDecision([['sip:carol@uas.example:5080']]),
      resolve: async (h) => (h === 'uas.example' ? C : Promise.reject(new Error('NXDOMAIN'))),
    });
    await t.send(request());
    const [o] = t.transport.out('INVITE');
    expect(o?.to).toEqual({ transport: 'udp', address: C, port: 5080 });
    expect(o?.msg.uri).toBe('sip:carol@uas.example:5080');
    await t.answer(o?.msg as SipRequest, 200);
  });
});

describe('best response', () => {
  const resp = (status: number, headers: [string, string][] = []): SipResponse =>
    parse(
      makeResponse(request(), status, { toTag: `t${status}`, headers })
        .headers.map((h) => `${h.name}: ${h.value}`)
        .reduce((acc, l) => `${acc}${l}\r\n`, `SIP/2.0 ${status} X\r\n`)
        .concat('Content-Length: 0\r\n\r\n'),
    ) as SipResponse;
  const cases: [number[], number][] = [
    [[404, 600, 302], 600],
    [[404, 302], 302],
    [[500, 404, 407], 407],
    [[404, 415], 415],
    [[484, 420], 420],
    [[404, 486, 500], 404],
    [[502, 500], 500],
    [[503], 500],
    [[504, 503], 500],
    [[487], 487],
  ];
  for (const [codes, best] of cases) {
    it(`${codes.join(', ')} → ${best}`, () => {
      expect(bestResponse(codes.map((c) => resp(c)))?.status).toBe(best);
    });
  }
  it('no final at all → nothing (the fork answers 480)', () => {
    expect(bestResponse([])).toBeUndefined();
  });
  it('401 wins over 407 and carries both challenges', () => {
    const b = bestResponse([
      resp(407, [['Proxy-Authenticate', 'Digest realm="x"']]),
      resp(401, [['WWW-Authenticate', 'Digest realm="y"']]),
      resp(407, [['Proxy-Authenticate', 'Digest realm="z"']]),
    ]);
    expect(b?.status).toBe(401);
    expect(b?.headerLines('www-authenticate')).toEqual(['Digest realm="y"']);
    expect(b?.headerLines('proxy-authenticate')).toEqual(['Digest realm="x"', 'Digest realm="z"']);
  });
});

describe('Timer C and CANCEL', () => {
  it('Timer C restarts on 1xx; on expiry the branch is CANCELled and ends 408 "Timer C Timeout"', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`]]) });
    await t.send(request());
    const inv = t.transport.to(A)[0] as SipRequest;
    await t.answer(inv, 180);
    t.clock.advance(170_000);
    await t.answer(inv, 183);
    t.clock.advance(170_000); // 340 s after the INVITE, 170 s after the 183
    expect(t.transport.to(A, 'CANCEL')).toHaveLength(0);
    t.clock.advance(10_000);
    expect(t.transport.to(A, 'CANCEL')).toHaveLength(1);
    await t.answer(inv, 487);
    const final = t.transport.up().find((r) => r.status >= 200);
    expect(final?.status).toBe(408);
    expect(final?.reason).toBe('Timer C Timeout');
  });

  it('gives up on a branch that sends no final after the Timer C CANCEL', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`]]), timerC: 60_000 });
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 180);
    t.clock.advance(60_000);
    expect(t.transport.to(A, 'CANCEL')).toHaveLength(1);
    expect(t.transport.up().some((r) => r.status >= 200)).toBe(false);
    t.clock.advance(32_000);
    expect(t.transport.up().find((r) => r.status >= 200)?.reason).toBe('Timer C Timeout');
  });

  it('propagates an upstream CANCEL to every branch; the 487 comes from downstream', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`], [`sip:c@${C}`]]) });
    const inv = request();
    await t.send(inv);
    await t.answer(t.transport.to(A)[0] as SipRequest, 180);
    expect(t.proxy.stats()).toEqual({ forks: 1, branches: 2, dialogs: 0 });
    const cancel = withHeaders(
      request({ method: 'CANCEL', branch: inv.topVia?.params[0]?.[1] as string, callId: inv.callId }),
      ['Reason: Q.850;cause=16'],
    );
    cancel.setHeader('cseq', `${inv.cseq.seq} CANCEL`);
    await t.send(cancel);
    const up = t.transport.up();
    expect(up.find((r) => r.cseq.method === 'CANCEL')?.status).toBe(200);
    expect(up.some((r) => r.status === 487)).toBe(false); // not answered by the core
    expect(t.transport.to(A, 'CANCEL')[0]?.header('reason')).toBe('Q.850;cause=16');
    expect(t.transport.to(B, 'CANCEL')).toHaveLength(0);
    await t.answer(t.transport.to(B)[0] as SipRequest, 100);
    expect(t.transport.to(B, 'CANCEL')).toHaveLength(1);
    await t.answer(t.transport.to(A)[0] as SipRequest, 487);
    await t.answer(t.transport.to(B)[0] as SipRequest, 487);
    expect(t.transport.to(C)).toHaveLength(0); // no new branch after a CANCEL
    const finals = t.transport.up().filter((r) => r.cseq.method === 'INVITE' && r.status >= 200);
    expect(statuses(finals)).toEqual([487]);
  });
});

describe('branch events (BRANCH_FINAL)', () => {
  type Asked = { uri: string; status: number; pending: number };
  /** A hook that records what it is told and answers with `answer` (or waits for `release`). */
  function recorder(answer: (a: Asked, n: number) => BranchAnswer | Promise<BranchAnswer> = () => CONTINUE) {
    const asked: Asked[] = [];
    const hook = (b: BranchFinal): Promise<BranchAnswer> => {
      const a = { uri: b.uri, status: b.response.status, pending: b.pending };
      asked.push(a);
      return Promise.resolve(answer(a, asked.length));
    };
    return { asked, hook };
  }

  it('tells each 3xx-5xx final with the pending count; continue keeps the best-response rules', async () => {
    const r = recorder();
    const t = setup({
      decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`], [`sip:c@${C}`]], { onBranchFinal: r.hook }),
    });
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 486);
    await t.answer(t.transport.to(B)[0] as SipRequest, 404);
    expect(r.asked).toEqual([
      { uri: `sip:a@${A}`, status: 486, pending: 1 },
      { uri: `sip:b@${B}`, status: 404, pending: 0 },
    ]);
    expect(t.transport.to(C)).toHaveLength(1); // the next serial group after both answers
    await t.answer(t.transport.to(C)[0] as SipRequest, 200);
    expect(r.asked).toHaveLength(2); // a 2xx goes up at once: nothing to ask
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([200]);
  });

  it('fork: the new targets are launched in the fork with their own header edits', async () => {
    const r = recorder((a) =>
      a.uri === `sip:a@${A}`
        ? {
            kind: 'fork',
            targets: [[`sip:c@${C}`]],
            options: { headers: [{ op: 'add', name: 'X-Retry', value: '1' }] },
          }
        : CONTINUE,
    );
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`]], { onBranchFinal: r.hook }) });
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 480);
    const [ic] = t.transport.to(C);
    expect(ic?.header('x-retry')).toBe('1');
    expect(t.transport.up().some((x) => x.status >= 200)).toBe(false);
    await t.answer(ic as SipRequest, 486);
    // the new branch is reported too; the best of both goes up
    expect(r.asked.map((a) => a.status)).toEqual([480, 486]);
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([480]);
  });

  it('reply: ends the fork with the app reply and CANCELs the branches still pending', async () => {
    const r = recorder(() => ({ kind: 'reply', reply: { status: 404, reason: 'Gone Away' } }));
    const t = setup({
      decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`], [`sip:c@${C}`]], { onBranchFinal: r.hook }),
    });
    await t.send(request());
    await t.answer(t.transport.to(B)[0] as SipRequest, 180);
    await t.answer(t.transport.to(A)[0] as SipRequest, 503);
    const finals = t.transport.up().filter((x) => x.status >= 200);
    expect(finals.map((x) => [x.status, x.reason])).toEqual([[404, 'Gone Away']]);
    expect(t.transport.to(B, 'CANCEL')[0]?.header('reason')).toBe('SIP;cause=404;text="Gone Away"');
    await t.answer(t.transport.to(B)[0] as SipRequest, 487);
    expect(t.transport.to(C)).toHaveLength(0);
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([404]);
  });

  it('waits for the answer before the best response; a 2xx meanwhile makes a late fork moot', async () => {
    let release: (a: BranchAnswer) => void = () => {};
    const r = recorder(() => new Promise<BranchAnswer>((res) => (release = res)));
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`]], { onBranchFinal: r.hook }) });
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 486);
    expect(t.proxy.stats()).toEqual({ forks: 1, branches: 1, dialogs: 0 });
    await t.answer(t.transport.to(B)[0] as SipRequest, 200);
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([200]);
    expect(t.proxy.stats().forks).toBe(1); // still asking
    release({ kind: 'fork', targets: [[`sip:c@${C}`]], options: {} });
    await t.settle();
    expect(t.transport.to(C)).toHaveLength(0);
    expect(statuses(t.transport.up()).filter((s) => s >= 200)).toEqual([200]);
  });

  it('a failing hook counts as continue; Timer C and transport errors are reported too', async () => {
    const asked: number[] = [];
    const t = setup({
      decide: proxyDecision([[`sip:a@${A}`, `sip:b@${B}`]], {
        onBranchFinal: (b) => {
          asked.push(b.response.status);
          return Promise.reject(new Error('app gone'));
        },
      }),
      timerC: 60_000,
    });
    t.transport.unreachable.add(B);
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 180);
    t.clock.advance(60_000);
    await t.answer(t.transport.to(A)[0] as SipRequest, 487);
    await t.settle();
    expect(asked.sort()).toEqual([408, 503]);
    const final = t.transport.up().find((x) => x.status >= 200);
    expect([final?.status, final?.reason]).toEqual([408, 'Timer C Timeout']);
  });
});

describe('redirects and Path', () => {
  it('follows 3xx Contacts in the fork, each URI once', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`]], { followRedirects: true }) });
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 302, {
      headers: [['Contact', `<sip:a@${A}>, <sip:c@${C}>, <tel:+1234>`]],
    });
    expect(t.transport.to(A)).toHaveLength(1); // already tried
    const ic = t.transport.to(C);
    expect(ic).toHaveLength(1);
    expect(ic[0]?.uri).toBe(`sip:c@${C}`);
    await t.answer(ic[0] as SipRequest, 302, { headers: [['Contact', `<sip:a@${A}>`]] });
    const final = t.transport.up().find((r) => r.status >= 200);
    expect(final?.status).toBe(302); // the loop ends: nothing new to try
  });

  it('relays a 3xx without followRedirects; only sips Contacts for a sips R-URI', async () => {
    const t = setup({ decide: proxyDecision([[`sip:a@${A}`]]) });
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 302, { headers: [['Contact', `<sip:c@${C}>`]] });
    expect(t.transport.to(C)).toHaveLength(0);
    t.setDecide(proxyDecision([[`sip:a@${B}`]], { followRedirects: true }));
    await t.send(request({ uri: 'sips:bob@biloxi.com' }));
    await t.answer(t.transport.to(B)[0] as SipRequest, 302, { headers: [['Contact', `<sip:c@${C}>`]] });
    expect(t.transport.to(C)).toHaveLength(0);
    expect(statuses(t.transport.up().filter((r) => r.status >= 200))).toEqual([302, 302]);
  });

  it('REGISTER with path: 421 without Supported: path, else a Path header and no Record-Route', async () => {
    const t = setup({ decide: proxyDecision([[`sip:registrar@${A}`]], { path: true, recordRoute: true }) });
    await t.send(request({ method: 'REGISTER' }));
    const r421 = t.transport.up().find((r) => r.status === 421);
    expect(r421?.header('require')).toBe('path');
    expect(t.transport.out()).toHaveLength(0);
    await t.send(withHeaders(request({ method: 'REGISTER' }), ['Supported: path']));
    const [o] = t.transport.out('REGISTER');
    expect(o?.msg.headerValues('path')).toEqual(['<sip:192.0.2.1:5060;lr>']);
    expect(o?.msg.hasHeader('record-route')).toBe(false);
    await t.answer(o?.msg as SipRequest, 200);
  });
});

describe('outbound at the edge (RFC 5626 §5, NkSIP t21 proxy)', () => {
  const INST = '+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"';
  /** An outbound REGISTER as the UA (or, with `moreVias`, a proxy before us) sends it. */
  const obRegister = (
    moreVias: string[] = [],
    contact = `<sip:ua@192.0.2.10;transport=tcp>;${INST};reg-id=1`,
  ) =>
    withHeaders(request({ method: 'REGISTER', viaTransport: 'TCP', moreVias }), [
      'Supported: outbound, path',
    ]).setHeader('Contact', contact);

  it('as the first hop, names the flow in its Path with ob; further in, without ob; none without reg-id', async () => {
    const tcp: Source = { ...source('tcp', 7), port: 40123 };
    const flow = flowToken({ transport: 'tcp', address: '192.0.2.10', port: 40123 });
    const cases: [SipRequest, string][] = [
      [obRegister(), `<sip:${flow}@192.0.2.1:5060;lr;ob>`],
      [obRegister(['SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bKfar']), `<sip:${flow}@192.0.2.1:5060;lr>`],
      [obRegister([], '<sip:ua@192.0.2.10;transport=tcp>'), '<sip:192.0.2.1:5060;lr>'],
    ];
    for (const [req, path] of cases) {
      const t = setup({ decide: proxyDecision([[`sip:registrar@${A}`]], { path: true }) });
      await t.send(req, tcp);
      const [o] = t.transport.out('REGISTER');
      expect(o?.msg.headerValues('path')).toEqual([path]);
      await t.answer(o?.msg as SipRequest, 200);
    }
  });

  it('record-routes a dialog-forming request from an outbound UA (Contact ;ob) with its flow', async () => {
    const t = setup({ decide: proxyDecision([[`sip:carol@${A}`]], { recordRoute: true }) });
    const tcp: Source = { ...source('tcp', 8), port: 40124 };
    const req = withHeaders(request({ viaTransport: 'TCP' }), ['Supported: outbound']).setHeader(
      'Contact',
      '<sip:ua@192.0.2.10;transport=tcp;ob>',
    );
    await t.send(req, tcp);
    const [o] = t.transport.out('INVITE');
    const flow = flowToken({ transport: 'tcp', address: '192.0.2.10', port: 40124 });
    expect(o?.msg.headerValues('record-route')).toEqual([
      '<sip:192.0.2.1:5060;lr>',
      `<sip:${flow}@192.0.2.1:5060;transport=tcp;lr>`,
    ]);
    await t.answer(o?.msg as SipRequest, 486);
  });
});

describe('stateless proxy and stray responses', () => {
  it('forwards to the first target with a deterministic branch and relays the answer by Via', async () => {
    const t = setup({
      decide: () => ({ kind: 'proxy_stateless', targets: [[`sip:a@${A}`, `sip:b@${B}`]], options: {} }),
    });
    const msg = request({ method: 'MESSAGE', moreVias: ['SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bKfar'] });
    const copy = request({
      method: 'MESSAGE',
      branch: msg.topVia?.params[0]?.[1] as string,
      callId: msg.callId,
    });
    await t.send(msg);
    await t.send(copy); // a retransmission
    const out = t.transport.out('MESSAGE');
    expect(out.map((o) => o.to.address)).toEqual([A, A]);
    const b1 = out[0]?.msg.topVia?.params.find(([n]) => n === 'branch')?.[1];
    const b2 = out[1]?.msg.topVia?.params.find(([n]) => n === 'branch')?.[1];
    expect(b1).toMatch(/^z9hG4bKnks/);
    expect(b1).toBe(b2);
    expect(out[0]?.msg.vias).toHaveLength(3);
    expect(t.layer.stats().server).toBe(0);
    expect(t.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 0 });

    await t.answer(out[0]?.msg as SipRequest, 200);
    const sent = t.transport.sent.filter((s) => s.kind === 'response');
    expect(sent).toHaveLength(1);
    const s0 = sent[0];
    if (s0?.kind !== 'response') throw new Error('no response');
    expect(s0.msg.vias.map((v) => v.host)).toEqual(['192.0.2.10', '192.0.2.5']);
    expect(s0.to).toMatchObject({ transport: 'udp', address: '192.0.2.10', port: 5060 });
  });

  it('answers a stateless TCP caller on its connection', async () => {
    const t = setup({ decide: () => ({ kind: 'proxy_stateless', targets: [[`sip:a@${A}`]], options: {} }) });
    await t.send(request({ method: 'MESSAGE', viaTransport: 'TCP' }), source('tcp', 7));
    const [o] = t.transport.out('MESSAGE');
    expect(o?.msg.topVia?.params.find(([n]) => n === 'nkc')?.[1]).toBe('7');
    await t.answer(o?.msg as SipRequest, 202);
    const s0 = t.transport.sent.find((s) => s.kind === 'response');
    expect(s0?.to).toMatchObject({ transport: 'tcp', address: '192.0.2.10', port: 5060, connectionId: 7 });
    expect(s0?.msg.headerValues('via')).toHaveLength(1);
  });

  it('routes a stray response by received/rport of the next Via; drops one not ours', async () => {
    const t = setup();
    const mine = parse(
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnkpgone\r\n' +
        'Via: SIP/2.0/UDP host.example:5070;received=192.0.2.77;rport=6000;branch=z9hG4bKup\r\n' +
        'From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: s1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
    ) as SipResponse;
    await t.send(mine, { ...source(), address: A });
    const foreign = parse(
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKother\r\n' +
        'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKup\r\n' +
        'From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: s2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
    ) as SipResponse;
    await t.send(foreign, { ...source(), address: A });
    const sent = t.transport.sent.filter((s) => s.kind === 'response');
    expect(sent).toHaveLength(1);
    const s0 = sent[0];
    if (s0?.kind !== 'response') throw new Error('no response');
    expect(s0.msg.vias).toHaveLength(1);
    expect(s0.to).toMatchObject({ transport: 'udp', address: '192.0.2.77', port: 6000 });
  });

  it('forwards the ACK for a 2xx statelessly, our Route removed', async () => {
    const t = setup({ decide: proxyDecision([]) });
    const ack = withHeaders(request({ method: 'ACK', uri: `sip:bob@${C}:5090`, toTag: 'uas1' }), [
      'Route: <sip:192.0.2.1:5060;lr>',
    ]);
    await t.send(ack);
    const [o] = t.transport.out('ACK');
    expect(o?.to).toEqual({ transport: 'udp', address: C, port: 5090 });
    expect(o?.msg.hasHeader('route')).toBe(false);
    expect(o?.msg.maxForwards).toBe(69);
    expect(o?.msg.topVia?.params.find(([n]) => n === 'branch')?.[1]).toMatch(/^z9hG4bKnks/);
    expect(t.acks).toHaveLength(0);
  });
});

describe('strict router (NkSIP strict_proxy)', () => {
  const strict =
    (targets: string[][] = [], recordRoute = false) =>
    () => ({
      kind: 'proxy_stateless' as const,
      targets,
      options: { strict: true, recordRoute },
    });

  it('record-routes without lr; a request not routed to it goes to its target like a stateless proxy', async () => {
    const t = setup({ decide: strict([], true) });
    await t.send(withHeaders(request({ uri: `sip:carol@${C}:5090` }), ['Route: <sip:192.0.2.1:5060;lr>']));
    const [o] = t.transport.out('INVITE');
    expect(o?.to).toEqual({ transport: 'udp', address: C, port: 5090 });
    expect(o?.msg.uri).toBe(`sip:carol@${C}:5090`);
    expect(o?.msg.headerValues('record-route')).toEqual(['<sip:192.0.2.1:5060>']);
    expect(o?.msg.hasHeader('route')).toBe(false);
    expect(t.layer.stats().server).toBe(0);
  });

  it('a Request-URI naming it takes the top Route (RFC 2543) and goes there, the rest of the Routes untouched', async () => {
    const t = setup({ decide: strict([[`sip:ignored@${A}`]]) });
    // strict-routed here by a UA (§12.2.1.1): next a loose router, then the remote target
    await t.send(
      withHeaders(request({ method: 'BYE', uri: 'sip:192.0.2.1:5060', toTag: 'uas1' }), [
        `Route: <sip:${B}:5080;lr;method=BYE>`,
        `Route: <sip:carol@${C}:5090>`,
      ]),
    );
    const [o] = t.transport.out('BYE');
    expect(o?.to).toEqual({ transport: 'udp', address: B, port: 5080 });
    expect(o?.msg.uri).toBe(`sip:${B}:5080;lr`);
    expect(o?.msg.headerValues('route')).toEqual([`<sip:carol@${C}:5090>`]);
    expect(o?.msg.maxForwards).toBe(69);
    // and the ACK of a 2xx the same way
    await t.send(
      withHeaders(request({ method: 'ACK', uri: 'sip:192.0.2.1:5060', toTag: 'uas1' }), [
        `Route: <sip:carol@${C}:5090>`,
      ]),
    );
    const [a] = t.transport.out('ACK');
    expect(a?.to).toEqual({ transport: 'udp', address: C, port: 5090 });
    expect(a?.msg.uri).toBe(`sip:carol@${C}:5090`);
    expect(a?.msg.hasHeader('route')).toBe(false);
  });

  it('a loose proxy sends to it the way §16.6 step 6 says: its URI as Request-URI, the target last', async () => {
    const t = setup({ decide: proxyDecision([]) });
    // towards the strict router: its URI becomes the Request-URI, the target goes last
    await t.send(withHeaders(request({ uri: `sip:alice@${A}:5070` }), [`Route: <sip:${B}:5080>`]));
    const [o] = t.transport.out('INVITE');
    expect(o?.to.address).toBe(B);
    expect(o?.msg.uri).toBe(`sip:${B}:5080`);
    expect(o?.msg.headerValues('route')).toEqual([`<sip:alice@${A}:5070>`]);
  });

  it('a Route that is not a SIP URI gets 500', async () => {
    const t = setup({ decide: strict() });
    await t.send(
      withHeaders(request({ method: 'MESSAGE', uri: 'sip:192.0.2.1:5060' }), ['Route: <tel:+1234>']),
    );
    expect(t.transport.out('MESSAGE')).toEqual([]);
    expect(statuses(t.transport.up())).toEqual([500]);
  });
});
