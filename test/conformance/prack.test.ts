// NkSIP t17 (prack): reliable provisional responses from the conformance app (RFC 3262) to a
// raw UDP caller: 100rel in Supported, normal 1xx without Require, reliable ones with
// consecutive RSeq PRACKed with their RAck, a second reliable 1xx while one waits for its
// PRACK refused (pending_prack), an unknown RSeq answered 481, and offer/answer inside
// reliable 1xx and PRACK (the app as caller too, with a PRACK body) with the session
// callbacks on both sides.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, cseqMethod, describeMessage, SDP, type Sent, SipClient } from './harness.js';

const languages = conformanceLanguages();

describe.each(languages)('%s conformance app: 100rel and PRACK (t17)', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;

  beforeAll(async () => {
    server = await children.server();
    app = await children.app(lang, server, { name: 'prack' });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  /** The next response to `sent` with `status`, after message index `from`. */
  const response = (sent: Sent, status: number, from = sent.from) =>
    client.peer.waitFor(
      (m) => m.status === status && headerOf(m, 'call-id') === sent.callId && cseqMethod(m) === 'INVITE',
      4000,
      from,
    );

  /** PRACK for the reliable 1xx `r` of `invite` with RAck (or the RAck given). */
  async function prack(invite: Sent, r: WireMessage, cseq: number, o: { rack?: string; body?: string } = {}) {
    const contact = /<([^>]+)>/.exec(headerOf(r, 'contact') ?? '')?.[1];
    const rack = o.rack ?? `${headerOf(r, 'rseq')} ${invite.cseq} INVITE`;
    const sent = await client.send({
      method: 'PRACK',
      ruri: contact ?? invite.ruri,
      callId: invite.callId,
      cseq,
      fromTag: invite.fromTag,
      to: headerOf(r, 'to'),
      headers: [`RAck: ${rack}`],
      ...(o.body ? { body: o.body } : {}),
    });
    // this PRACK's own answer: same Call-ID and CSeq number
    const res = await client.peer.waitFor(
      (m) =>
        m.status !== undefined &&
        m.status >= 200 &&
        headerOf(m, 'call-id') === invite.callId &&
        (headerOf(m, 'cseq') ?? '').trim() === `${cseq} PRACK`,
      3000,
      sent.from,
    );
    return { sent, res };
  }

  const version = (b: Buffer | undefined) => /^o=\S+ \S+ (\d+)/m.exec(b?.toString('latin1') ?? '')?.[1];

  it('basic: 100rel in Supported; without Require the 183 is a normal one', async () => {
    const invite = await client.send({ method: 'INVITE', headers: ['x-nk-op: prov-busy'], body: SDP });
    const p = await response(invite, 183);
    expect(p, 'a 183').toBeDefined();
    expect(headerOf(p!, 'rseq')).toBeUndefined();
    expect(headerOf(p!, 'require') ?? '').not.toMatch(/100rel/);
    const busy = await client.final(invite, 'INVITE', 4000);
    expect(busy?.status, describeMessage(busy)).toBe(486);
    expect(headerOf(busy!, 'supported')).toMatch(/\b100rel\b/);
    expect(headerOf(busy!, 'allow')).toMatch(/\bPRACK\b/);
    await client.ack(invite, busy!);
  });

  it('basic: with Require: 100rel the 180 and 183 are reliable, consecutive RSeq, PRACKed with RAck', async () => {
    const invite = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: rel-prov-prov-busy', 'Require: 100rel'],
      body: SDP,
    });
    const ringing = await response(invite, 180);
    expect(ringing, 'a 180').toBeDefined();
    expect(headerOf(ringing!, 'require')).toMatch(/\b100rel\b/);
    const rseq = Number(headerOf(ringing!, 'rseq'));
    expect(rseq).toBeGreaterThan(0);
    const p1 = await prack(invite, ringing!, invite.cseq + 1);
    expect(p1.res?.status, describeMessage(p1.res)).toBe(200);
    const progress = await response(invite, 183);
    expect(progress, 'a 183 once the 180 is PRACKed').toBeDefined();
    expect(Number(headerOf(progress!, 'rseq'))).toBe(rseq + 1);
    const p2 = await prack(invite, progress!, invite.cseq + 2);
    expect(p2.res?.status, describeMessage(p2.res)).toBe(200);
    const busy = await client.final(invite, 'INVITE', 4000);
    expect(busy?.status, describeMessage(busy)).toBe(486);
    await client.ack(invite, busy!);
    expect(app.find('callback', { kind: 'prack', callId: invite.callId })).toHaveLength(2);
  });

  it('pending: a second reliable 1xx while the first waits for its PRACK gives pending_prack', async () => {
    const invite = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: rel-prov-pending', 'Require: 100rel'],
      body: SDP,
    });
    const ringing = await response(invite, 180);
    expect(ringing, 'a 180').toBeDefined();
    const err = await app.waitEvent((e) => e.ev === 'error' && /pending_prack/.test(String(e.message)), 4000);
    expect(err, 'the app told pending_prack').toBeDefined();
    // its own error code, in the SDK's casing (pendingPrack, PENDING_PRACK, pending_prack)
    expect(String(err?.code).replace(/_/g, '').toLowerCase()).toBe('pendingprack');
    const p = await prack(invite, ringing!, invite.cseq + 1);
    expect(p.res?.status).toBe(200);
    const busy = await client.final(invite, 'INVITE', 4000);
    expect(busy?.status, describeMessage(busy)).toBe(486);
    await client.ack(invite, busy!);
    // the refused 183 never went out
    expect(client.responses(invite, 'INVITE').filter((m) => m.status === 183)).toHaveLength(0);
  });

  it('a PRACK with an unknown RSeq gets 481; the right one goes on', async () => {
    const invite = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: rel-prov-prov-busy', 'Require: 100rel'],
      body: SDP,
    });
    const ringing = await response(invite, 180);
    const rseq = Number(headerOf(ringing!, 'rseq'));
    const bad = await prack(invite, ringing!, invite.cseq + 1, { rack: `${rseq + 7} ${invite.cseq} INVITE` });
    expect(bad.res?.status, describeMessage(bad.res)).toBe(481);
    const good = await prack(invite, ringing!, invite.cseq + 2);
    expect(good.res?.status).toBe(200);
    const progress = await response(invite, 183);
    await prack(invite, progress!, invite.cseq + 3);
    const busy = await client.final(invite, 'INVITE', 4000);
    expect(busy?.status).toBe(486);
    await client.ack(invite, busy!);
  });

  it('media: offer in the INVITE, answer in the reliable 183; session start and stop', async () => {
    const invite = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: rel-answer', 'Require: 100rel'],
      body: SDP,
    });
    const progress = await response(invite, 183);
    expect(headerOf(progress!, 'content-type')).toMatch(/application\/sdp/);
    const answerVersion = version(progress!.body);
    expect(answerVersion).toBeDefined();
    await prack(invite, progress!, invite.cseq + 1);
    const ok = await client.final(invite, 'INVITE', 4000);
    expect(ok?.status, describeMessage(ok)).toBe(200);
    await client.ack(invite, ok!);
    const start = await app.waitEvent((e) => e.ev === 'session' && e.kind === 'start', 3000);
    const dialog = start?.dialog;
    expect(start).toMatchObject({ local: answerVersion, remote: '1', via: 'callback' });
    const bye = await client.bye({ ...invite, cseq: invite.cseq + 1 }, ok!);
    expect((await client.final(bye, 'BYE', 3000))?.status).toBe(200);
    const stop = await app.waitEvent(
      (e) => e.ev === 'session' && e.kind === 'stop' && e.dialog === dialog,
      3000,
    );
    expect(stop).toBeDefined();
  });

  it('media: offer in the reliable 183, answer in the PRACK', async () => {
    const invite = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: rel-offer', 'Require: 100rel'],
    });
    const progress = await response(invite, 183);
    const offerVersion = version(progress!.body);
    expect(offerVersion).toBeDefined();
    const answer = SDP.replace('o=tester 1 1', 'o=tester 1 7');
    const p = await prack(invite, progress!, invite.cseq + 1, { body: answer });
    expect(p.res?.status).toBe(200);
    const ok = await client.final(invite, 'INVITE', 4000);
    expect(ok?.status).toBe(200);
    await client.ack(invite, ok!);
    const from = app.events.length;
    const start = await app.waitEvent(
      (e) => e.ev === 'session' && e.kind === 'start' && e.remote === '7',
      3000,
    );
    expect(start).toMatchObject({ local: offerVersion, remote: '7' });
    const bye = await client.bye({ ...invite, cseq: invite.cseq + 1 }, ok!);
    expect((await client.final(bye, 'BYE', 3000))?.status).toBe(200);
    expect(await app.waitEvent((e) => e.ev === 'session' && e.kind === 'stop', 3000, from)).toBeDefined();
  });

  it('media: the app as caller answers the offer of a reliable 183 in its PRACK (prack body)', async () => {
    const from = app.events.length;
    const target = `sip:prack@127.0.0.1:${server.port('udp')}`;
    const { res } = await client.request(
      {
        method: 'MESSAGE',
        headers: [
          `x-nk-uac: INVITE ${target}`,
          'x-nk-uac-header: x-nk-op: rel-offer',
          'x-nk-uac-no-sdp: 1',
          'x-nk-uac-prack-body: 1',
        ],
      },
      8000,
    );
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(headerOf(res!, 'x-nk-uac-status')).toBe('200');
    // both sides of the call are this app: each side's dialog saw its session start then stop
    const sessions = () => app.events.slice(from).filter((e) => e.ev === 'session');
    await app.waitEvent(() => sessions().filter((e) => e.kind === 'stop').length === 2, 4000, from);
    const dialogs = [...new Set(sessions().map((e) => e.dialog as string))];
    expect(dialogs).toHaveLength(2);
    const of = (d: string | undefined) => sessions().filter((e) => e.dialog === d);
    expect(of(dialogs[0]).map((e) => e.kind)).toEqual(['start', 'stop']);
    expect(of(dialogs[1]).map((e) => e.kind)).toEqual(['start', 'stop']);
    const [a, b] = [of(dialogs[0])[0], of(dialogs[1])[0]];
    // what one side sent is what the other received
    expect(a?.local).toBe(b?.remote);
    expect(a?.remote).toBe(b?.local);
  });
});
