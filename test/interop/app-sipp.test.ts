// Calls between a TypeScript SipApp (the conformance app, a real process on the gRPC stream)
// and sipp, both ways, through the nksip-server CLI: sipp calling the app, which asks for
// digest authentication (sipp answers the 401 with its [authentication]); the app calling a
// sipp UAS (INVITE, 180, 200 with SDP, ACK, BYE); and sipp calling the app while losing 10 %
// of the packets it receives and sends (-lost 10), so both sides retransmit. After each, what
// the server holds (SIGUSR2 `stats`) returns to zero: no dialog, transaction or UAC request
// is left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../conformance/apps.js';
import { grpcAddress, SDP } from '../conformance/harness.js';
import { type RunningServer, serverStats, startCli } from '../support/server-process.js';
import { freePort, runSipp } from '../support/sipp.js';

interface Stats {
  dialogs: { total: number };
  transactions: { client: number; server: number };
  uacPending: number;
}

describe('calls between a TypeScript SipApp and sipp', () => {
  let server: RunningServer;
  let app: RunningApp;
  let target: string;

  beforeAll(async () => {
    // T1 50 ms: finished transactions go within 64*T1 = 3.2 s
    server = await startCli({ logLevel: 'warn', t1: 50, t4: 100 });
    app = await startApp('typescript', { server: grpcAddress(server), name: 'callee' });
    target = `127.0.0.1:${server.port('udp')}`;
  });

  afterAll(async () => {
    await app?.kill('SIGKILL');
    await server?.stop();
  });

  const stats = () => serverStats<Stats>(server);

  /** Waits (bounded) until the server holds nothing; returns what it holds then. */
  async function drained(): Promise<Stats> {
    const deadline = Date.now() + 20_000;
    let s = await stats();
    while (
      Date.now() < deadline &&
      (s.dialogs.total > 0 || s.transactions.client + s.transactions.server > 0 || s.uacPending > 0)
    ) {
      await new Promise((r) => setTimeout(r, 250));
      s = await stats();
    }
    return s;
  }

  const empty = { dialogs: { total: 0 }, transactions: { client: 0, server: 0 }, uacPending: 0 };

  it('sipp calls the app, which asks for digest authentication: 401, the INVITE again with credentials, 200, ACK, BYE', async () => {
    const mark = app.events.length;
    const r = await runSipp({
      scenario: 'app-caller-auth.xml',
      target,
      calls: 3,
      rate: 10,
      timeoutSec: 20,
      extra: ['-s', 'callee', '-au', 'sipp', '-ap', '1234', '-auth_uri', `callee@${target}`],
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 3, 0]);
    // the app checked a credential that was right, once per call, and saw each call end
    const seen = app.events.slice(mark);
    const checked = seen.filter(
      (e) =>
        e.kind === 'authorize' &&
        e.method === 'INVITE' &&
        (e.digests as string[]).some((d) => d.endsWith(':true')),
    );
    expect(new Set(checked.map((e) => e.callId)).size).toBe(3);
    expect(seen.filter((e) => e.ev === 'callback' && e.kind === 'bye')).toHaveLength(3);
    expect(await drained()).toMatchObject(empty);
  }, 60_000);

  it('the app calls a sipp UAS: INVITE with SDP, 180, 200, the app ACKs, then hangs up', async () => {
    const port = await freePort();
    const uas = runSipp({ scenario: 'uas-rr.xml', port, calls: 1, timeoutSec: 15 });
    await new Promise((r) => setTimeout(r, 300));
    const id = app.send('INVITE', `sip:sipp@127.0.0.1:${port}`, {
      body: SDP,
      contentType: 'application/sdp',
      auto2xxAck: true,
    });
    const res = await app.result(id);
    expect(res?.code, JSON.stringify(res)).toBe(200);
    expect(app.provisionals(id).map((p) => p.code)).toContain(180);
    expect(res?.body).toMatch(/^v=0/);
    const bye = await app.request('BYE', { dialog: res?.dialog as string });
    expect(bye?.code).toBe(200);
    const u = await uas;
    expect([u.code, u.successful, u.failed], u.output).toEqual([0, 1, 0]);
    expect(await drained()).toMatchObject(empty);
  }, 60_000);

  it('sipp calls the app losing 10 % of packets (-lost 10): retransmissions, and every call ends', async () => {
    const r = await runSipp({
      scenario: 'uac-rr.xml',
      target,
      calls: 20,
      rate: 20,
      timeoutSec: 40,
      extra: ['-s', 'callee', '-lost', '10', '-d', '100'],
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 20, 0]);
    expect(r.retransmissions).toBeGreaterThan(0);
    expect(await drained()).toMatchObject(empty);
  }, 90_000);
});
