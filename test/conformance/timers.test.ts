// NkSIP t20 (timers), basic part: session timers (RFC 4028) with the conformance app running
// the timers plugin (se 2 s, min_se 2 s) and a raw UDP peer on the other side: 422 with
// Min-SE and the app's automatic retry, the refresher roles (uac and uas), the invite_refresh
// reminder, refreshes by UPDATE restarting the timers, and the BYE when nobody refreshes.
// Session intervals are seconds, so each case takes two or three.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, SDP, type Sent, SipClient } from './harness.js';

const languages = conformanceLanguages();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(languages)('%s conformance app: session timers (t20)', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;

  beforeAll(async () => {
    server = await children.server();
    app = await children.app(lang, server, { name: 'timers', timers: { se: 2, minSe: 2 } });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  /** Our answer to a request the app sent us (To tag added when it has none). */
  async function answer(
    req: WireMessage,
    status: number,
    headers: string[] = [],
    body?: string,
  ): Promise<void> {
    const to = headerOf(req, 'to') ?? '';
    const lines = [
      `SIP/2.0 ${status} Answer`,
      ...req.headers.filter(([n]) => n === 'via').map(([, v]) => `Via: ${v}`),
      `From: ${headerOf(req, 'from')}`,
      `To: ${/;\s*tag=/i.test(to) ? to : `${to};tag=peer-${Date.now()}`}`,
      `Call-ID: ${headerOf(req, 'call-id')}`,
      `CSeq: ${headerOf(req, 'cseq')}`,
      `Contact: <sip:tester@127.0.0.1:${client.peer.port}>`,
      ...headers,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body ?? '')}`,
    ];
    await client.peer.send(Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`), server.port('udp'));
  }

  const fromApp = (method: string, from: number, pred: (m: WireMessage) => boolean = () => true, ms = 5000) =>
    client.peer.waitFor((m) => m.method === method && pred(m), ms, from);

  const inDialogTo = (invite: Sent, ok: WireMessage) => ({
    ruri: /<([^>]+)>/.exec(headerOf(ok, 'contact') ?? '')?.[1],
    callId: invite.callId,
    fromTag: invite.fromTag,
    to: headerOf(ok, 'to'),
  });

  it('422 with Min-SE: the app asks again with it; as refresher it is reminded, then hangs up', async () => {
    const mark = client.messages.length;
    const from = app.events.length;
    const msg = await client.send({
      method: 'MESSAGE',
      headers: [`x-nk-uac: INVITE sip:tester@127.0.0.1:${client.peer.port}`, 'x-nk-uac-keep: 1'],
    });
    const first = await fromApp('INVITE', mark);
    expect(first, 'the app’s INVITE').toBeDefined();
    expect(headerOf(first!, 'session-expires')).toBe('2');
    expect(headerOf(first!, 'min-se')).toBe('2');
    expect(headerOf(first!, 'supported')).toMatch(/\btimer\b/);
    await answer(first!, 422, ['Min-SE: 3']);
    const second = await fromApp(
      'INVITE',
      mark,
      (m) => m !== first && headerOf(m, 'session-expires') === '3',
    );
    expect(second, 'the INVITE again').toBeDefined();
    expect(headerOf(second!, 'min-se')).toBe('3');
    expect(Number(headerOf(second!, 'cseq')?.split(' ')[0])).toBe(
      Number(headerOf(first!, 'cseq')?.split(' ')[0]) + 1,
    );
    expect(headerOf(second!, 'call-id')).toBe(headerOf(first!, 'call-id'));
    await answer(second!, 200, ['Session-Expires: 3;refresher=uac', 'Require: timer'], SDP);
    const res = await client.final(msg, 'MESSAGE', 4000);
    expect(headerOf(res!, 'x-nk-uac-status'), describeMessage(res)).toBe('200');
    // the refresher's reminder at SE/2, with its SDP
    const reminder = await app.waitEvent(
      (e) => e.ev === 'dialog' && e.status === 'inviteRefresh',
      4000,
      from,
    );
    expect(reminder, 'invite_refresh').toBeDefined();
    expect(reminder?.via).toBe('callback');
    // nobody refreshed: the app ends the session at SE
    const bye = await fromApp('BYE', mark, (m) => headerOf(m, 'call-id') === headerOf(first!, 'call-id'));
    expect(bye, 'BYE on expiry').toBeDefined();
    expect(headerOf(bye!, 'reason')).toMatch(/Session Timer Expired/);
    await answer(bye!, 200);
  });

  it('an interval below the app’s Min-SE gets 422; the uas refresher is reminded and hangs up', async () => {
    const low = await client.request({
      method: 'INVITE',
      headers: ['x-nk-op: answer', 'Session-Expires: 1', 'Supported: timer'],
      body: SDP,
    });
    expect(low.res?.status, describeMessage(low.res)).toBe(422);
    expect(headerOf(low.res!, 'min-se')).toBe('2');
    await client.ack(low.sent, low.res!);
    const from = app.events.length;
    const mark = client.messages.length;
    const { sent, res } = await client.request({
      method: 'INVITE',
      headers: ['x-nk-op: answer', 'Session-Expires: 2;refresher=uas', 'Supported: timer'],
      body: SDP,
    });
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(headerOf(res!, 'session-expires')).toBe('2;refresher=uas');
    expect(headerOf(res!, 'require')).toMatch(/\btimer\b/);
    await client.ack(sent, res!);
    const reminder = await app.waitEvent(
      (e) => e.ev === 'dialog' && e.status === 'inviteRefresh',
      4000,
      from,
    );
    expect(reminder, 'invite_refresh to the uas refresher').toBeDefined();
    expect(reminder?.refreshSdp).toBe('1');
    const bye = await fromApp('BYE', mark, (m) => headerOf(m, 'call-id') === sent.callId);
    expect(bye, 'BYE on expiry').toBeDefined();
    await answer(bye!, 200);
  });

  it('we refresh by UPDATE: each refresh restarts the app’s timer; the BYE comes only after the last', async () => {
    const mark = client.messages.length;
    const { sent, res } = await client.request({
      method: 'INVITE',
      headers: ['x-nk-op: answer', 'Session-Expires: 2', 'Supported: timer'],
      body: SDP,
    });
    expect(res?.status, describeMessage(res)).toBe(200);
    // we support timers and left the role open: we refresh
    expect(headerOf(res!, 'session-expires')).toBe('2;refresher=uac');
    await client.ack(sent, res!);
    let lastAnswered = 0;
    for (let i = 1; i <= 2; i++) {
      await sleep(800);
      const u = await client.request({
        method: 'UPDATE',
        ...inDialogTo(sent, res!),
        cseq: sent.cseq + i,
        headers: ['Session-Expires: 2;refresher=uac', 'Supported: timer'],
      });
      expect(u.res?.status, describeMessage(u.res)).toBe(200);
      expect(headerOf(u.res!, 'session-expires')).toBe('2;refresher=uac');
      lastAnswered = client.messages.indexOf(u.res!);
    }
    const bye = await fromApp('BYE', mark, (m) => headerOf(m, 'call-id') === sent.callId);
    expect(bye, 'BYE on expiry').toBeDefined();
    // without the refreshes it would have come 1.33 s after the 200, before the second UPDATE
    expect(client.messages.indexOf(bye!)).toBeGreaterThan(lastAnswered);
    await answer(bye!, 200);
  });
});
