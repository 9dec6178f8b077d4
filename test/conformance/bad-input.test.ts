// Bad input against one running server (issue 4, "Done when"): a request in an unknown
// dialog (481), an out-of-order CSeq (500), a wrong password (403, once: no loop, on the
// server's side and on the side of an app sending with it), a PRACK for an unknown RSeq (481)
// and a malformed SDP (488). Then what the server holds — `stats` logged on SIGUSR2: dialogs,
// transactions, UAC requests pending — must come back to zero: none of them leaks.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, serverStats } from '../support/server-process.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, cseqMethod, describeMessage, SDP, type Sent, SipClient } from './harness.js';

const languages = conformanceLanguages();

interface Stats {
  dialogs: { total: number; early: number; confirmed: number };
  transactions: { client: number; server: number };
  uacPending: number;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe.each(languages)('%s conformance app: bad input leaks nothing', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let app: RunningApp;
  let client: SipClient;

  beforeAll(async () => {
    // a short T1 so that finished transactions go within a few seconds (64*T1)
    server = await children.server({ t1: 50, t4: 100 });
    app = await children.app(lang, server, { name: 'bad' });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  const stats = () => serverStats<Stats>(server);

  /** The next response to `sent`'s INVITE with `status`. */
  const inviteResponse = (sent: Sent, status: number) =>
    client.peer.waitFor(
      (m) => m.status === status && headerOf(m, 'call-id') === sent.callId && cseqMethod(m) === 'INVITE',
      4000,
      sent.from,
    );

  /** An in-dialog request of the dialog `res` (a 1xx/2xx to `invite`) created, and its final. */
  async function inDialog(
    invite: Sent,
    res: WireMessage,
    method: string,
    cseq: number,
    headers: string[] = [],
  ) {
    const contact = /<([^>]+)>/.exec(headerOf(res, 'contact') ?? '')?.[1];
    return client.request({
      method,
      ruri: contact ?? invite.ruri,
      callId: invite.callId,
      cseq,
      fromTag: invite.fromTag,
      to: headerOf(res, 'to'),
      headers,
    });
  }

  it('481, 500, 403 (no loop), 481 for an unknown RSeq and 488; then no dialog, transaction or UAC request is left', async () => {
    // a request in a dialog nobody knows
    const unknown = await client.request({
      method: 'INFO',
      to: `<${client.defaultRuri()}>;tag=nobody-knows-this`,
    });
    expect(unknown.res?.status, describeMessage(unknown.res)).toBe(481);

    // a call, then an INFO with a CSeq below the INVITE's: 500; the call goes on and ends
    const invite = await client.send({ method: 'INVITE', cseq: 10, headers: ['x-nk-op: answer'], body: SDP });
    const answered = await client.final(invite, 'INVITE', 4000);
    expect(answered?.status, describeMessage(answered)).toBe(200);
    await client.ack(invite, answered as WireMessage);
    const live = await stats();
    expect(live.dialogs.confirmed, 'the call is counted').toBeGreaterThanOrEqual(1);
    const old = await inDialog(invite, answered as WireMessage, 'INFO', 9);
    expect(old.res?.status, describeMessage(old.res)).toBe(500);
    expect(old.res?.reason).toBe('Old CSeq in Dialog');
    const bye = await inDialog(invite, answered as WireMessage, 'BYE', 11);
    expect(bye.res?.status, describeMessage(bye.res)).toBe(200);

    // a wrong password at the server: challenged, then 403, and nothing more
    const first = await client.request({ method: 'OPTIONS', headers: ['x-nk-auth: bad'] });
    expect(first.res?.status, describeMessage(first.res)).toBe(401);
    const challenge = headerOf(first.res as WireMessage, 'www-authenticate') ?? '';
    const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1] ?? '';
    const ruri = first.sent.ruri;
    const ha1 = md5(`tester:bad:wrong-password`);
    const response = md5(`${ha1}:${nonce}:00000001:c0ffee:auth:${md5(`OPTIONS:${ruri}`)}`);
    const wrong = await client.request({
      method: 'OPTIONS',
      callId: first.sent.callId,
      fromTag: first.sent.fromTag,
      cseq: 2,
      headers: [
        'x-nk-auth: bad',
        `Authorization: Digest username="tester", realm="bad", nonce="${nonce}", uri="${ruri}", ` +
          `response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"`,
      ],
    });
    expect(wrong.res?.status, describeMessage(wrong.res)).toBe(403);
    expect(client.responses(wrong.sent).filter((m) => (m.status ?? 0) >= 200)).toHaveLength(2);

    // the app sending with a wrong password (to itself, through the server): the challenge is
    // answered once, the 403 is the final answer
    const mark = app.events.length;
    const uac = await client.request(
      {
        method: 'MESSAGE',
        headers: [
          `x-nk-uac: OPTIONS ${client.defaultRuri('bad')}`,
          'x-nk-uac-header: x-nk-auth: bad',
          'x-nk-uac-pass: wrong-password',
        ],
      },
      8000,
    );
    expect(headerOf(uac.res as WireMessage, 'x-nk-uac-status'), describeMessage(uac.res)).toBe('403');
    const checked = app.events
      .slice(mark)
      .filter((e) => e.kind === 'authorize' && (e.digests as string[]).some((d) => d.endsWith(':false')));
    expect(checked.length, 'the wrong credential was checked').toBeGreaterThanOrEqual(1);
    expect(new Set(checked.map((e) => e.callId)).size, 'one request, one retry').toBe(1);

    // a PRACK for a reliable 1xx nobody sent (the app waits for the PRACK of its 180)
    const rel = await client.send({
      method: 'INVITE',
      cseq: 20,
      headers: ['x-nk-op: rel-prov-prov-busy', 'Require: 100rel'],
      body: SDP,
    });
    const ringing = await inviteResponse(rel, 180);
    expect(ringing, 'a reliable 180').toBeDefined();
    const rseq = Number(headerOf(ringing as WireMessage, 'rseq'));
    const badPrack = await inDialog(rel, ringing as WireMessage, 'PRACK', 21, [
      `RAck: ${rseq + 5} 20 INVITE`,
    ]);
    expect(badPrack.res?.status, describeMessage(badPrack.res)).toBe(481);
    const goodPrack = await inDialog(rel, ringing as WireMessage, 'PRACK', 22, [`RAck: ${rseq} 20 INVITE`]);
    expect(goodPrack.res?.status, describeMessage(goodPrack.res)).toBe(200);
    const progress = await inviteResponse(rel, 183);
    expect(progress, 'a reliable 183').toBeDefined();
    await inDialog(rel, progress as WireMessage, 'PRACK', 23, [`RAck: ${rseq + 1} 20 INVITE`]);
    const busy = await client.final(rel, 'INVITE', 4000);
    expect(busy?.status, describeMessage(busy)).toBe(486);
    await client.ack(rel, busy as WireMessage);

    // an INVITE whose body says it is SDP and is not
    const garbage = await client.request({ method: 'INVITE', body: 'this is not\r\nan SDP\r\n' });
    expect(garbage.res?.status, describeMessage(garbage.res)).toBe(488);
    await client.ack(garbage.sent, garbage.res as WireMessage);

    // no loop: a moment later nothing else was answered to the wrong credential
    const answers = client.responses(wrong.sent).length;

    // everything is gone within a bound (the longest: Timer J/L, 64*T1 = 3.2 s)
    const deadline = Date.now() + 15_000;
    let now = await stats();
    while (
      Date.now() < deadline &&
      (now.dialogs.total > 0 || now.transactions.client + now.transactions.server > 0 || now.uacPending > 0)
    ) {
      await new Promise((r) => setTimeout(r, 250));
      now = await stats();
    }
    expect(now).toMatchObject({
      dialogs: { total: 0, early: 0, confirmed: 0 },
      transactions: { client: 0, server: 0 },
      uacPending: 0,
    });
    expect(client.responses(wrong.sent)).toHaveLength(answers);
  }, 60_000);
});
