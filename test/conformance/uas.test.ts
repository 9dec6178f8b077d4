// The UAS side as NkSIP's t04 uas and t09 multiple_uas check it, with a raw UDP client talking
// to the conformance app: loop detection (482), Require and Proxy-Require (420), an invalid
// callback answer (500), and overlapping re-INVITEs in one dialog (500 "Processing Previous
// INVITE" with Retry-After, then the first one answered as usual).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf } from '../support/sip-wire.js';
import { conformanceLanguages } from './apps.js';
import { Children, describeMessage, SDP, SipClient } from './harness.js';

const languages = conformanceLanguages();

describe.each(languages)('%s conformance app: UAS checks (NkSIP t04 uas, t09 multiple_uas)', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let client: SipClient;

  beforeAll(async () => {
    server = await children.server();
    await children.app(lang, server, { name: 'confuas' });
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    await children.stopAll();
  });

  it('loop: the same Call-ID, From tag and CSeq on a new branch gets 482; the first is answered', async () => {
    const first = await client.send({ method: 'OPTIONS', headers: ['x-nk-op: ok', 'x-nk-sleep: 300'] });
    const again = await client.send({
      method: 'OPTIONS',
      callId: first.callId,
      fromTag: first.fromTag,
      cseq: first.cseq,
      headers: ['x-nk-op: ok'],
    });
    const loop = await client.peer.waitFor(
      (m) => m.status === 482 && (headerOf(m, 'via') ?? '').includes(again.branch),
      3000,
    );
    expect(loop?.reason).toBe('Loop Detected');
    const ok = await client.peer.waitFor(
      (m) => m.status === 200 && (headerOf(m, 'via') ?? '').includes(first.branch),
      3000,
    );
    expect(ok, describeMessage(ok)).toBeDefined();
  });

  it('Require of an unsupported extension gets 420 with Unsupported; a supported one passes', async () => {
    const { res } = await client.request({ method: 'OPTIONS', headers: ['Require: foo, path'] });
    expect(res?.status).toBe(420);
    expect(headerOf(res!, 'unsupported')).toBe('foo');
    const { res: passes } = await client.request({ method: 'OPTIONS', headers: ['Require: path'] });
    expect(passes?.status).toBe(200);
  });

  it('Proxy-Require at a UAS is ignored (RFC 3261 §8.2.2.3): the request is answered', async () => {
    const { res } = await client.request({ method: 'OPTIONS', headers: ['Proxy-Require: foo'] });
    expect(res?.status).toBe(200);
  });

  it('an invalid callback answer gets 500 "Invalid Service Reply"', async () => {
    const { res } = await client.request({ method: 'OPTIONS', headers: ['x-nk-op: reply-invalid'] });
    expect(res?.status).toBe(500);
    expect(res?.reason).toBe('Invalid Service Reply');
  });

  it('multiple_uas: a re-INVITE while the previous one is unanswered gets 500 with Retry-After', async () => {
    const { sent: invite, res } = await client.request({
      method: 'INVITE',
      headers: ['x-nk-op: answer'],
      body: SDP,
    });
    expect(res?.status).toBe(200);
    await client.ack(invite, res!);
    const to = headerOf(res!, 'to');
    const contact = /<([^>]+)>/.exec(headerOf(res!, 'contact') ?? '')?.[1] as string;
    const base = { ruri: contact, callId: invite.callId, fromTag: invite.fromTag, to };
    // the first re-INVITE is answered slowly; the second overlaps it
    const slow = await client.send({
      method: 'INVITE',
      ...base,
      cseq: invite.cseq + 1,
      headers: ['x-nk-op: answer', 'x-nk-sleep: 800'],
      body: SDP,
    });
    const { res: overlap } = await client.request({
      method: 'INVITE',
      ...base,
      cseq: invite.cseq + 2,
      headers: ['x-nk-op: answer'],
      body: SDP,
    });
    expect(overlap?.status).toBe(500);
    expect(overlap?.reason).toBe('Processing Previous INVITE');
    const retry = Number(headerOf(overlap!, 'retry-after'));
    expect(retry).toBeGreaterThanOrEqual(0);
    expect(retry).toBeLessThanOrEqual(10);
    await client.ack({ ...slow, cseq: invite.cseq + 2, branch: '' }, overlap!);
    const slowRes = await client.final(slow, 'INVITE', 3000);
    expect(slowRes?.status).toBe(200);
    await client.ack(slow, slowRes!);
    const bye = await client.send({ method: 'BYE', ...base, cseq: invite.cseq + 3 });
    expect((await client.final(bye, 'BYE', 3000))?.status).toBe(200);
  });
});
