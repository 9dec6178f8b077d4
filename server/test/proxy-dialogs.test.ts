// The dialogs of a stateful record-routing proxy (NkSIP t10 dialog, t11 invite2 at the proxy):
// created by the 1xx/2xx it relays for a request it record-routed, moved by the in-dialog
// requests and ACKs through it in both directions, removed by BYE, a final error, a losing
// branch or the dialog timeout; the app that proxied the request hears each change.
import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest } from '../src/sip/message.js';
import { type ProxyHarness, proxyDecision, proxyHarness } from './support/proxy.js';
import { request as baseRequest } from './support/transaction.js';

let seq = 0;
function request(spec: Parameters<typeof baseRequest>[0] = {}): SipRequest {
  seq++;
  return baseRequest({ branch: `z9hG4bKd${seq}`, sentBy: '192.0.2.10:5060', ...spec });
}

const A = '192.0.2.31';
const B = '192.0.2.32';
const CALLER_TAG = '1928301774';

let live: ProxyHarness[] = [];
function setup(opts: Parameters<typeof proxyHarness>[0]): ProxyHarness {
  const h = proxyHarness(opts);
  live.push(h);
  return h;
}

afterEach(async () => {
  const all = live;
  live = [];
  for (const h of all) {
    await h.settle();
    expect(h.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 0 });
    expect(h.layer.stats()).toEqual({ client: 0, server: 0 });
  }
});

const events = (t: ProxyHarness) => t.dialogEvents.map((e) => e.event);

/** Record-routes out-of-dialog requests to `targets`; in-dialog ones go to their R-URI. */
function rr(targets: string[][]) {
  const initial = proxyDecision(targets, { recordRoute: true });
  const inDialog = proxyDecision([]);
  return (req: SipRequest) => (req.toTag === undefined ? initial(req) : inDialog(req));
}

describe('proxy dialogs', () => {
  it('INVITE/180/200/ACK, re-INVITE from the callee, BYE: the dialog at the proxy and its removal', async () => {
    const callId = 'pd-basic';
    const t = setup({ decide: rr([[`sip:bob@${A}`]]) });
    await t.send(request({ callId }));
    const [inv] = t.transport.to(A);
    await t.answer(inv as SipRequest, 180, {
      toTag: 'callee',
      headers: [['Contact', `<sip:bob@${A}:5060>`]],
    });
    expect(t.proxy.stats().dialogs).toBe(1);
    const [d] = t.proxy.dialogs.table.all();
    expect(d?.early).toBe(true);
    expect(d?.inviteStatus).toBe('proceeding_uac');
    // a UAS copies the Record-Route of the request into its 2xx
    const recordRoute = inv?.headerValues('record-route') ?? [];
    expect(recordRoute).toHaveLength(1);
    await t.answer(inv as SipRequest, 200, {
      toTag: 'callee',
      headers: [
        ['Contact', `<sip:bob@${A}:5060>`],
        ['Record-Route', recordRoute[0] as string],
      ],
    });
    expect(d?.early).toBe(false);
    expect(d?.inviteStatus).toBe('accepted_uac');
    // the route set as the caller sees it: our Record-Route from the 2xx
    expect(d?.rawRouteSet).toEqual(['<sip:192.0.2.1:5060;lr>']);
    expect(d?.remoteTarget).toMatchObject({ host: A });

    await t.send(request({ method: 'ACK', uri: `sip:bob@${A}`, callId, toTag: 'callee' }));
    expect(d?.inviteStatus).toBe('confirmed');
    expect(t.transport.to(A, 'ACK')).toHaveLength(1);

    // the callee re-INVITEs: the usage is theirs now, the caller's 2xx and ACK confirm it
    const reinv = request({
      uri: 'sip:alice@192.0.2.10',
      callId,
      fromTag: 'callee',
      toTag: CALLER_TAG,
      cseq: 1,
    });
    await t.send(reinv, {
      transport: 'udp',
      address: A,
      port: 5060,
      localAddress: '192.0.2.1',
      localPort: 5060,
    });
    const [fwd] = t.transport.out('INVITE').filter((o) => o.msg.toTag === CALLER_TAG);
    expect(d?.inviteStatus).toBe('proceeding_uas');
    await t.answer(fwd?.msg as SipRequest, 200, { toTag: CALLER_TAG });
    expect(d?.inviteStatus).toBe('accepted_uas');
    await t.send(
      request({
        method: 'ACK',
        uri: 'sip:alice@192.0.2.10',
        callId,
        fromTag: 'callee',
        toTag: CALLER_TAG,
        cseq: 1,
      }),
      { transport: 'udp', address: A, port: 5060, localAddress: '192.0.2.1', localPort: 5060 },
    );
    expect(d?.inviteStatus).toBe('confirmed');

    const bye = request({ method: 'BYE', uri: `sip:bob@${A}`, callId, toTag: 'callee', cseq: 314160 });
    await t.send(bye);
    expect(d?.inviteStatus).toBe('bye');
    const [fbye] = t.transport.to(A, 'BYE');
    await t.answer(fbye as SipRequest, 200, { toTag: 'callee' });
    expect(t.proxy.stats().dialogs).toBe(0);
    // the INVITE's 2xx retransmitted late (its ACK was lost): relayed, no dialog again
    await t.answer(inv as SipRequest, 200, { toTag: 'callee' });
    expect(
      t.transport.up().filter((r) => r.status === 200 && r.cseq.method === 'INVITE' && r.toTag === 'callee'),
    ).toHaveLength(2);
    expect(t.proxy.stats().dialogs).toBe(0);
    expect(events(t)).toEqual([
      'start',
      'invite_status:proceeding_uac',
      'invite_status:accepted_uac',
      'invite_status:confirmed',
      'invite_status:proceeding_uas',
      // the re-INVITE's Contact is the callee's new target
      'target_update',
      'invite_status:accepted_uas',
      'invite_status:confirmed',
      'invite_status:bye',
      'invite_status:stop:caller_bye',
      'stop',
    ]);
    expect(new Set(t.dialogEvents.map((e) => e.handle))).toEqual(new Set([d?.handle]));
  });

  it('keeps no dialog for a request it did not record-route, nor for a stateless one', async () => {
    const t = setup({ decide: proxyDecision([[`sip:bob@${A}`]]) });
    await t.send(request({ callId: 'pd-norr' }));
    await t.answer(t.transport.to(A)[0] as SipRequest, 200, { toTag: 'x' });
    expect(t.proxy.stats().dialogs).toBe(0);
    const s = setup({
      decide: () => ({
        kind: 'proxy_stateless',
        targets: [[`sip:bob@${A}`]],
        options: { recordRoute: true },
      }),
    });
    await s.send(request({ callId: 'pd-stateless' }));
    await s.answer(s.transport.to(A)[0] as SipRequest, 200, { toTag: 'y' });
    expect(s.proxy.stats().dialogs).toBe(0);
    expect(events(t)).toEqual([]);
    expect(events(s)).toEqual([]);
  });

  it('a final error after a 180 removes the early dialog (486: busy)', async () => {
    const t = setup({ decide: rr([[`sip:bob@${A}`]]) });
    await t.send(request({ callId: 'pd-busy' }));
    const [inv] = t.transport.to(A);
    await t.answer(inv as SipRequest, 180, { toTag: 'e1' });
    expect(t.proxy.stats().dialogs).toBe(1);
    await t.answer(inv as SipRequest, 486, { toTag: 'e1' });
    expect(t.proxy.stats().dialogs).toBe(0);
    expect(events(t)).toEqual(['start', 'invite_status:proceeding_uac', 'invite_status:stop:busy', 'stop']);
  });

  it('forked: the winner stays, the CANCELled loser and a branch that failed with another tag go', async () => {
    const t = setup({ decide: rr([[`sip:a@${A}`, `sip:b@${B}`]]) });
    await t.send(request({ callId: 'pd-fork' }));
    const ia = t.transport.to(A)[0] as SipRequest;
    const ib = t.transport.to(B)[0] as SipRequest;
    await t.answer(ia, 180, { toTag: 'ta' });
    await t.answer(ib, 180, { toTag: 'tb' });
    // a second early dialog on branch A (a fork further down), never answered
    await t.answer(ia, 183, { toTag: 'ta2' });
    expect(t.proxy.stats().dialogs).toBe(3);
    await t.answer(ib, 200, { toTag: 'tb' });
    expect(t.transport.to(A, 'CANCEL')).toHaveLength(1);
    // the 487 ends 'ta' by its tag, and 'ta2' with the branch
    await t.answer(ia, 487, { toTag: 'ta' });
    const left = t.proxy.dialogs.table.all();
    expect(left.map((d) => d.remoteTag)).toEqual(['tb']);
    expect(left[0]?.inviteStatus).toBe('accepted_uac');
    const stops = t.dialogEvents.filter((e) => e.event.startsWith('invite_status:stop')).map((e) => e.event);
    expect(stops).toEqual(['invite_status:stop:cancelled', 'invite_status:stop:cancelled']);
  });

  it('a BYE that times out downstream ends the dialog at the proxy (408)', async () => {
    const t = setup({ decide: rr([[`sip:bob@${A}`]]) });
    await t.send(request({ callId: 'pd-byelost' }));
    const [inv] = t.transport.to(A);
    await t.answer(inv as SipRequest, 200, { toTag: 'bl' });
    await t.send(request({ method: 'ACK', uri: `sip:bob@${A}`, callId: 'pd-byelost', toTag: 'bl' }));
    await t.send(
      request({ method: 'BYE', uri: `sip:bob@${A}`, callId: 'pd-byelost', toTag: 'bl', cseq: 314160 }),
    );
    expect(t.proxy.stats().dialogs).toBe(1);
    // no answer to the BYE: Timer F (64*T1)
    t.clock.advance(64 * 500 + 1);
    await t.settle();
    expect(t.transport.up().find((r) => r.cseq.method === 'BYE')?.status).toBe(408);
    expect(t.proxy.stats().dialogs).toBe(0);
    expect(events(t).slice(-2)).toEqual(['invite_status:stop:408', 'stop']);
  });

  it('the dialog timeout removes a dialog whose BYE never came through', async () => {
    const t = setup({ decide: rr([[`sip:bob@${A}`]]), dialogTimeoutMs: 10_000 });
    await t.send(request({ callId: 'pd-timeout' }));
    await t.answer(t.transport.to(A)[0] as SipRequest, 200, { toTag: 'tt' });
    expect(t.proxy.stats().dialogs).toBe(1);
    t.clock.advance(9_000);
    expect(t.proxy.stats().dialogs).toBe(1);
    t.clock.advance(3_000);
    expect(t.proxy.stats().dialogs).toBe(0);
    expect(events(t).slice(-2)).toEqual(['invite_status:stop:timeout', 'stop']);
  });
});
