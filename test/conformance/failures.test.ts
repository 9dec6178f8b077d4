// Failure cases that need a real app process: the app killed (SIGKILL) while it holds an
// INVITE, with and without a second instance; an invalid decision; a callback never answered;
// the app process restarted. Each test gets its own server and apps, all stopped afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { headerOf } from '../support/sip-wire.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, nkIds, SDP, type Sent, SipClient } from './harness.js';

const languages = conformanceLanguages();

describe.each(languages)('%s conformance app: failures', (lang) => {
  const children = new Children();
  const clients: SipClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await children.stopAll();
  });

  async function setup(
    instances = 1,
  ): Promise<{ server: RunningServer; apps: RunningApp[]; client: SipClient }> {
    const server = await children.server();
    const apps: RunningApp[] = [];
    for (let i = 0; i < instances; i++) apps.push(await children.app(lang, server, { name: 'conff' }));
    const client = await SipClient.open(server.port('udp'));
    clients.push(client);
    return { server, apps, client };
  }

  /** The instance whose INVITE callback saw `sent`, once one did. */
  async function holder(apps: RunningApp[], sent: Sent): Promise<RunningApp | undefined> {
    const seen = (a: RunningApp) => a.find('callback', { kind: 'invite', callId: sent.callId }).length > 0;
    for (let t = 0; t < 200 && !apps.some(seen); t++) await new Promise((r) => setTimeout(r, 10));
    return apps.find(seen);
  }

  it('app killed while holding an INVITE (180 sent): the second instance takes it over and answers the call', async () => {
    const { apps, client } = await setup(2);
    const sent = await client.send({
      method: 'INVITE',
      headers: ['x-nk-op: answer', 'x-nk-prov: true', 'x-nk-sleep: 1200'],
      body: SDP,
    });
    const ringing = await client.peer.waitFor(
      (m) => m.status === 180 && headerOf(m, 'call-id') === sent.callId,
      2000,
      sent.from,
    );
    expect(ringing, 'no 180 from the first instance').toBeDefined();
    const first = await holder(apps, sent);
    expect(first).toBeDefined();
    const second = apps.find((a) => a !== first)!;
    await first!.kill('SIGKILL');
    const killedAt = Date.now();

    const res = await client.final(sent, 'INVITE', 4000);
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(res!.body.toString('latin1')).toBe(SDP);
    expect(Date.now() - killedAt).toBeLessThan(4000);
    // the survivor got the INVITE's callback and answered it
    expect(second.find('callback', { kind: 'invite', callId: sent.callId })).toHaveLength(1);
    await client.ack(sent, res!);
    // the call goes on with the survivor: BYE answered by it
    const bye = await client.bye(sent, res!, ['x-nk-id: bye']);
    const byeRes = await client.final(bye, 'BYE', 3000);
    expect(byeRes?.status, describeMessage(byeRes)).toBe(200);
    expect(nkIds(byeRes)).toEqual(['bye', 'conff']);
    expect(second.find('callback', { kind: 'bye', callId: sent.callId })).toHaveLength(1);
  });

  it('app killed during an INVITE callback (x-nk-sleep): the second instance answers', async () => {
    const { apps, client } = await setup(2);
    const sent = await client.send({ method: 'INVITE', headers: ['x-nk-op: busy', 'x-nk-sleep: 1000'] });
    const first = await holder(apps, sent);
    expect(first).toBeDefined();
    const second = apps.find((a) => a !== first)!;
    await first!.kill('SIGKILL');
    const res = await client.final(sent, 'INVITE', 4000);
    expect(res?.status, describeMessage(res)).toBe(486);
    expect(nkIds(res)).toEqual(['conff']);
    expect(second.find('callback', { kind: 'invite', callId: sent.callId })).toHaveLength(1);
    await client.ack(sent, res!);
  });

  it.each([
    ['holding the INVITE after a 180 (x-nk-prov)', ['x-nk-prov: true', 'x-nk-sleep: 5000']],
    ['inside the INVITE callback (x-nk-sleep)', ['x-nk-sleep: 5000']],
  ])(
    'app killed %s with no other instance: the default (603) answers at once, then the server serves on',
    async (_what, headers) => {
      const { apps, client } = await setup(1);
      const sent = await client.send({ method: 'INVITE', headers: ['x-nk-op: ok', ...headers] });
      expect(await holder(apps, sent)).toBeDefined();
      await apps[0]!.kill('SIGKILL');
      const killedAt = Date.now();
      const res = await client.final(sent, 'INVITE', 3000);
      expect(res?.status, describeMessage(res)).toBe(603);
      expect(Date.now() - killedAt).toBeLessThan(2000);
      expect(nkIds(res)).toEqual([]);
      await client.ack(sent, res!);
      // nothing hangs: the built-in app serves the listeners again
      const { res: opt } = await client.request({ method: 'OPTIONS' }, 2000);
      expect(opt?.status, describeMessage(opt)).toBe(200);
      expect(nkIds(opt)).toEqual([]);
    },
  );

  it.each([
    ['reply-invalid', 'a method callback', 'INVITE'],
    ['reply-invalid', 'a method callback', 'OPTIONS'],
    ['route-invalid', 'the route callback', 'OPTIONS'],
  ])(
    'x-nk-op %s (an invalid answer from %s, %s): 500 "Invalid Service Reply", the app is told and serves on',
    async (op, _where, method) => {
      const { apps, client } = await setup(1);
      const app = apps[0]!;
      const { sent, res } = await client.request({ method, headers: [`x-nk-op: ${op}`] });
      expect(res?.status, describeMessage(res)).toBe(500);
      expect(res?.reason).toBe('Invalid Service Reply');
      if (method === 'INVITE') await client.ack(sent, res!);
      expect(
        await app.waitEvent((e) => e.ev === 'error' && /invalid.?answer/i.test(String(e.code)), 2000),
        `no INVALID_ANSWER error reported to the app: ${JSON.stringify(app.events.slice(-5))}`,
      ).toBeDefined();
      const { res: again } = await client.request({ method: 'OPTIONS' });
      expect(again?.status, describeMessage(again)).toBe(200);
      expect(nkIds(again)).toEqual(['conff']);
      expect(app.alive).toBe(true);
    },
  );

  it('a callback never answered (x-nk-op ignore): the default answers at the deadline and the app is told', async () => {
    const { apps, client } = await setup(1);
    const app = apps[0]!;
    const t0 = Date.now();
    // the server's default deadline is 5 s (contract.md); OPTIONS' default answer is 200
    const { res } = await client.request({ method: 'OPTIONS', headers: ['x-nk-op: ignore'] }, 8000);
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(nkIds(res)).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4500);
    const expired = await app.waitEvent((e) => e.ev === 'expired', 2000);
    expect(expired, JSON.stringify(app.events.slice(-5))).toBeDefined();
    expect(String(expired?.handledBy)).toMatch(/default/);
    expect(expired?.code).toBe(200);
  }, 15_000);

  it('the app process restarted: the built-in app answers while it is gone, the new process rejoins and serves', async () => {
    const { server, apps, client } = await setup(1);
    const before = await client.request({ method: 'OPTIONS' });
    expect(nkIds(before.res)).toEqual(['conff']);

    await apps[0]!.kill('SIGKILL');
    // the stream break is seen at once: the server's own default answers (no x-nk-id)
    let gone: string[] = ['conff'];
    for (let i = 0; i < 50 && gone.length > 0; i++) {
      const { res } = await client.request({ method: 'OPTIONS' }, 1000);
      expect(res?.status, describeMessage(res)).toBe(200);
      gone = nkIds(res);
      if (gone.length > 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(gone).toEqual([]);

    const restarted = await children.app(lang, server, { name: 'conff' });
    expect(restarted.pid).not.toBe(apps[0]!.pid);
    const { sent, res } = await client.request({ method: 'OPTIONS', headers: ['x-nk-op: busy'] });
    expect(res?.status, describeMessage(res)).toBe(486);
    expect(nkIds(res)).toEqual(['conff']);
    expect(restarted.find('callback', { kind: 'options', callId: sent.callId })).toHaveLength(1);
    // a full INVITE answered by the new process
    const inv = await client.request({ method: 'INVITE', headers: ['x-nk-op: answer'], body: SDP });
    expect(inv.res?.status).toBe(200);
    await client.ack(inv.sent, inv.res!);
    const bye = await client.bye(inv.sent, inv.res!);
    expect((await client.final(bye, 'BYE', 3000))?.status).toBe(200);
  });

  it('a clean stop (SIGTERM) leaves no call behind: the built-in app answers, a new process serves', async () => {
    const { server, apps, client } = await setup(1);
    await apps[0]!.stop();
    expect(apps[0]!.alive).toBe(false);
    const { res } = await client.request({ method: 'OPTIONS' }, 2000);
    expect(res?.status, describeMessage(res)).toBe(200);
    expect(nkIds(res)).toEqual([]);
    const again = await children.app(lang, server, { name: 'conff' });
    const { res: res2 } = await client.request({ method: 'OPTIONS' });
    expect(nkIds(res2)).toEqual(['conff']);
    expect(again.alive).toBe(true);
  });
});
