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

/**
 * The CLI with T1 `t1` and a TypeScript conformance app named `callee` on it, for the tests of
 * one describe block; `drained` waits (bounded) until the server holds nothing.
 */
function calleeServer(t1: number, drainMs: number) {
  const ctx = {
    server: undefined as unknown as RunningServer,
    app: undefined as unknown as RunningApp,
    target: '',
  };
  beforeAll(async () => {
    ctx.server = await startCli({ logLevel: 'warn', t1, t4: 2 * t1 });
    ctx.app = await startApp('typescript', { server: grpcAddress(ctx.server), name: 'callee' });
    ctx.target = `127.0.0.1:${ctx.server.port('udp')}`;
  });
  afterAll(async () => {
    await ctx.app?.kill('SIGKILL');
    await ctx.server?.stop();
  });
  const drained = async (): Promise<Stats> => {
    const stats = () => serverStats<Stats>(ctx.server);
    const deadline = Date.now() + drainMs;
    let s = await stats();
    while (
      Date.now() < deadline &&
      (s.dialogs.total > 0 || s.transactions.client + s.transactions.server > 0 || s.uacPending > 0)
    ) {
      await new Promise((r) => setTimeout(r, 250));
      s = await stats();
    }
    return s;
  };
  return { ctx, drained };
}

const empty = { dialogs: { total: 0 }, transactions: { client: 0, server: 0 }, uacPending: 0 };

describe('calls between a TypeScript SipApp and sipp', () => {
  // T1 50 ms: finished transactions go within 64*T1 = 3.2 s
  const { ctx, drained } = calleeServer(50, 20_000);

  it('sipp calls the app, which asks for digest authentication: 401, the INVITE again with credentials, 200, ACK, BYE', async () => {
    const mark = ctx.app.events.length;
    const r = await runSipp({
      scenario: 'app-caller-auth.xml',
      target: ctx.target,
      calls: 3,
      rate: 10,
      timeoutSec: 20,
      extra: ['-s', 'callee', '-au', 'sipp', '-ap', '1234', '-auth_uri', `callee@${ctx.target}`],
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 3, 0]);
    // the app checked a credential that was right, once per call, and saw each call end
    const seen = ctx.app.events.slice(mark);
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
    const id = ctx.app.send('INVITE', `sip:sipp@127.0.0.1:${port}`, {
      body: SDP,
      contentType: 'application/sdp',
      auto2xxAck: true,
    });
    const res = await ctx.app.result(id);
    expect(res?.code, JSON.stringify(res)).toBe(200);
    expect(ctx.app.provisionals(id).map((p) => p.code)).toContain(180);
    expect(res?.body).toMatch(/^v=0/);
    const bye = await ctx.app.request('BYE', { dialog: res?.dialog as string });
    expect(bye?.code).toBe(200);
    const u = await uas;
    expect([u.code, u.successful, u.failed], u.output).toEqual([0, 1, 0]);
    expect(await drained()).toMatchObject(empty);
  }, 60_000);
});

// With loss sipp retransmits on its own T1 (500 ms) for up to 32 s: the server's T1 must be as
// long, or a late BYE copy outlives the BYE's transaction (64*T1) and gets 481.
describe('sipp calling a TypeScript SipApp while losing packets', () => {
  const { ctx, drained } = calleeServer(500, 45_000);

  it('sipp calls the app losing 10 % of packets (-lost 10): retransmissions, and every call ends', async () => {
    const r = await runSipp({
      scenario: 'uac-rr.xml',
      target: ctx.target,
      calls: 20,
      rate: 20,
      timeoutSec: 40,
      extra: ['-s', 'callee', '-lost', '10', '-d', '100'],
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 20, 0]);
    expect(r.retransmissions).toBeGreaterThan(0);
    expect(await drained()).toMatchObject(empty);
  }, 120_000);
});
