// NkSIP t12 (update) and the session part of t09 rr_contact: UPDATE (RFC 3311) in an early
// dialog after a reliable 1xx, changing the SDP and the target (session and target_update
// callbacks at the app); UPDATE while an offer is pending (request_pending for the app as
// caller, 491 for the raw caller); a refresh (re-INVITE with the stored SDP, version
// incremented, put on hold).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, SDP, type Sent, SipClient } from './harness.js';

const languages = conformanceLanguages();

const sdpV = (v: number, port = 40000) =>
  SDP.replace('o=tester 1 1', `o=tester 1 ${v}`).replace('m=audio 40000', `m=audio ${port}`);
const version = (b: Buffer | undefined) => /^o=\S+ \S+ (\d+)/m.exec(b?.toString('latin1') ?? '')?.[1];

describe.each(languages)('%s conformance app: UPDATE and session refresh (t12)', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;

  beforeAll(async () => {
    server = await children.server();
    app = await children.app(lang, server, { name: 'update' });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  /** The final response to the request with this Call-ID and CSeq, after index `from`. */
  const finalOf = (callId: string, cseq: number, method: string, from: number, ms = 4000) =>
    client.peer.waitFor(
      (m) =>
        m.status !== undefined &&
        m.status >= 200 &&
        headerOf(m, 'call-id') === callId &&
        (headerOf(m, 'cseq') ?? '').trim() === `${cseq} ${method}`,
      ms,
      from,
    );

  /** A request in the dialog of `invite` whose answer (1xx or 2xx) was `r`. */
  async function inDialog(
    invite: Sent,
    r: WireMessage,
    method: string,
    cseq: number,
    o: { headers?: string[]; body?: string } = {},
  ): Promise<{ sent: Sent; res: WireMessage | undefined }> {
    const target = /<([^>]+)>/.exec(headerOf(r, 'contact') ?? '')?.[1];
    const sent = await client.send({
      method,
      ruri: target ?? invite.ruri,
      callId: invite.callId,
      cseq,
      fromTag: invite.fromTag,
      to: headerOf(r, 'to'),
      headers: o.headers ?? [],
      ...(o.body ? { body: o.body } : {}),
    });
    return { sent, res: await finalOf(invite.callId, cseq, method, sent.from) };
  }

  /** Our answer to a request the app sent us. */
  async function answer(req: WireMessage, status: number, body?: string): Promise<void> {
    const to = headerOf(req, 'to') ?? '';
    const lines = [
      `SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Other'}`,
      ...req.headers.filter(([n]) => n === 'via').map(([, v]) => `Via: ${v}`),
      `From: ${headerOf(req, 'from')}`,
      `To: ${to}`,
      `Call-ID: ${headerOf(req, 'call-id')}`,
      `CSeq: ${headerOf(req, 'cseq')}`,
      `Contact: <sip:tester@127.0.0.1:${client.peer.port}>`,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body ?? '')}`,
    ];
    await client.peer.send(Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`), server.port('udp'));
  }

  const requestFromApp = (method: string, callId: string, from: number) =>
    client.peer.waitFor((m) => m.method === method && headerOf(m, 'call-id') === callId, 4000, from);

  /** A confirmed call: INVITE with SDP v1 answered by the app (echo), ACKed. */
  async function call(): Promise<{ invite: Sent; ok: WireMessage }> {
    const { sent, res } = await client.request({ method: 'INVITE', headers: ['x-nk-op: answer'], body: SDP });
    expect(res?.status, describeMessage(res)).toBe(200);
    await client.ack(sent, res!);
    return { invite: sent, ok: res! };
  }

  async function hangUp(invite: Sent, ok: WireMessage, cseq: number): Promise<void> {
    const { res } = await inDialog(invite, ok, 'BYE', cseq);
    expect(res?.status, describeMessage(res)).toBe(200);
  }

  it('basic: UPDATE in the early dialog after a reliable 183 changes the SDP and the target', async () => {
    const from = app.events.length;
    const invite = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: rel-answer', 'x-nk-sleep: 1000', 'Require: 100rel'],
      body: sdpV(1),
    });
    const progress = await client.peer.waitFor(
      (m) => m.status === 183 && headerOf(m, 'call-id') === invite.callId,
      4000,
      invite.from,
    );
    expect(headerOf(progress!, 'rseq')).toBeDefined();
    const answer1 = version(progress!.body);
    await inDialog(invite, progress!, 'PRACK', invite.cseq + 1, {
      headers: [`RAck: ${headerOf(progress!, 'rseq')} ${invite.cseq} INVITE`],
    });
    const start = await app.waitEvent((e) => e.ev === 'session' && e.kind === 'start', 3000, from);
    expect(start).toMatchObject({ local: answer1, remote: '1' });
    // still early: the 200 waits a second; a new offer by UPDATE from another socket of
    // ours, whose Contact is the new target
    const other = await SipClient.open(server.port('udp'));
    let upd: WireMessage | undefined;
    try {
      const sent = await other.send({
        method: 'UPDATE',
        ruri: /<([^>]+)>/.exec(headerOf(progress!, 'contact') ?? '')?.[1],
        callId: invite.callId,
        cseq: invite.cseq + 2,
        fromTag: invite.fromTag,
        to: headerOf(progress!, 'to'),
        headers: ['x-nk-op: answer'],
        body: sdpV(2, 40010),
      });
      upd = await other.final(sent, 'UPDATE', 4000);
    } finally {
      await other.close();
    }
    expect(upd?.status, describeMessage(upd)).toBe(200);
    expect(version(upd?.body)).toBe('2');
    const update = await app.waitEvent((e) => e.ev === 'session' && e.kind === 'update', 3000, from);
    expect(update).toMatchObject({ local: '2', remote: '2', dialog: start?.dialog });
    expect(
      await app.waitEvent((e) => e.ev === 'dialog' && e.status === 'targetUpdate', 3000, from),
    ).toBeDefined();
    const ok = await finalOf(invite.callId, invite.cseq, 'INVITE', invite.from);
    expect(ok?.status).toBe(200);
    await client.ack(invite, ok!);
    await hangUp(invite, ok!, invite.cseq + 3);
    expect(await app.waitEvent((e) => e.ev === 'session' && e.kind === 'stop', 3000, from)).toBeDefined();
  });

  it('pending: the app UPDATEs while its offer is unanswered → request_pending; our UPDATE then → 491', async () => {
    const { invite, ok } = await call();
    const mark = client.messages.length;
    // the app offers by UPDATE; we hold our answer
    const m1 = await client.send({
      method: 'MESSAGE',
      ruri: /<([^>]+)>/.exec(headerOf(ok, 'contact') ?? '')?.[1],
      callId: invite.callId,
      cseq: invite.cseq + 1,
      fromTag: invite.fromTag,
      to: headerOf(ok, 'to'),
      headers: ['x-nk-uac: UPDATE dialog'],
    });
    const update = await requestFromApp('UPDATE', invite.callId, mark);
    expect(update, 'the app’s UPDATE').toBeDefined();
    expect(headerOf(update!, 'content-type')).toMatch(/application\/sdp/);
    // a second offer from the app is refused before it leaves
    const second = await inDialog(invite, ok, 'MESSAGE', invite.cseq + 2, {
      headers: ['x-nk-uac: UPDATE dialog'],
    });
    expect(second.res?.status).toBe(200);
    expect(headerOf(second.res!, 'x-nk-uac-status')).toBe('error');
    expect(headerOf(second.res!, 'x-nk-uac-error')).toBe('requestPending');
    // our own offer crosses the app's: 491 (RFC 3311 §5.2)
    const ours = await inDialog(invite, ok, 'UPDATE', invite.cseq + 3, { body: sdpV(5) });
    expect(ours.res?.status, describeMessage(ours.res)).toBe(491);
    // now we answer the app's UPDATE: its MESSAGE reports the 200
    await answer(update!, 200, sdpV(6));
    const first = await finalOf(invite.callId, m1.cseq, 'MESSAGE', m1.from);
    expect(headerOf(first!, 'x-nk-uac-status')).toBe('200');
    const upd = await app.waitEvent(
      (e) => e.ev === 'session' && e.kind === 'update' && e.via === 'callback' && e.remote === '6',
      3000,
    );
    expect(upd).toBeDefined();
    await hangUp(invite, ok, invite.cseq + 4);
  });

  it('refresh: a re-INVITE with the stored SDP, version incremented, on hold (sendonly)', async () => {
    const { invite, ok } = await call();
    const local = version(ok.body) as string;
    const mark = client.messages.length;
    const msg = await client.send({
      method: 'MESSAGE',
      ruri: /<([^>]+)>/.exec(headerOf(ok, 'contact') ?? '')?.[1],
      callId: invite.callId,
      cseq: invite.cseq + 1,
      fromTag: invite.fromTag,
      to: headerOf(ok, 'to'),
      headers: ['x-nk-uac: REFRESH dialog', 'x-nk-uac-refresh: hold'],
    });
    const reinvite = await requestFromApp('INVITE', invite.callId, mark);
    expect(reinvite, 'the re-INVITE').toBeDefined();
    const body = reinvite!.body.toString('latin1');
    expect(version(reinvite!.body)).toBe(String(Number(local) + 1));
    expect(body).toContain('a=sendonly');
    expect(body).not.toContain('a=sendrecv');
    // same session otherwise: the m= line kept
    expect(body).toContain('m=audio 40000 RTP/AVP 0');
    await answer(reinvite!, 200, sdpV(3).replace('a=rtpmap', 'a=recvonly\r\na=rtpmap'));
    const res = await finalOf(invite.callId, msg.cseq, 'MESSAGE', msg.from);
    expect(headerOf(res!, 'x-nk-uac-status')).toBe('200');
    // the app ACKed our 200
    expect(
      await client.peer.waitFor(
        (m) => m.method === 'ACK' && headerOf(m, 'call-id') === invite.callId,
        3000,
        mark,
      ),
    ).toBeDefined();
    await hangUp(invite, ok, invite.cseq + 2);
  });
});
