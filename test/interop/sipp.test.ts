// The running server driven by sipp over UDP and TCP on 127.0.0.1: OPTIONS, an INVITE declined
// by NkSIP's default (its ACK absorbed), the same with sipp losing packets so that both sides
// retransmit, and a CANCEL ending in 487.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../server/src/config.js';
import type { AppHandler } from '../../server/src/core/app.js';
import { PROCESS } from '../../server/src/core/decision.js';
import type { Reply } from '../../server/src/core/reply.js';
import { type Server, startServer } from '../../server/src/server.js';
import { type RunningServer, startCli } from '../support/server-process.js';
import { runSipp } from '../support/sipp.js';

describe('sipp against the nksip-server CLI', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startCli({ logLevel: 'warn', t1: 100, t4: 200 });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('OPTIONS over UDP: 50 pings, 50 answers', async () => {
    const r = await runSipp({
      scenario: 'options.xml',
      target: `127.0.0.1:${server.port('udp')}`,
      calls: 50,
      rate: 100,
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 50, 0]);
  });

  it('OPTIONS over TCP: 50 pings on one connection', async () => {
    const r = await runSipp({
      scenario: 'options.xml',
      target: `127.0.0.1:${server.port('tcp')}`,
      transport: 't1',
      calls: 50,
      rate: 100,
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 50, 0]);
  });

  it('INVITE → 100, 603; the ACK is absorbed (UDP and TCP)', async () => {
    for (const transport of ['u1', 't1'] as const) {
      const port = server.port(transport === 'u1' ? 'udp' : 'tcp');
      const r = await runSipp({
        scenario: 'invite-declined.xml',
        target: `127.0.0.1:${port}`,
        transport,
        calls: 20,
        rate: 50,
      });
      expect([transport, r.code, r.successful, r.failed], r.output).toEqual([transport, 0, 20, 0]);
    }
  });

  it('INVITE → 603 with sipp losing 10 % of packets: retransmissions on both sides, every call ends', async () => {
    const r = await runSipp({
      scenario: 'invite-declined.xml',
      target: `127.0.0.1:${server.port('udp')}`,
      calls: 40,
      rate: 40,
      timeoutSec: 40,
      extra: ['-lost', '10'],
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 40, 0]);
    expect(r.retransmissions).toBeGreaterThan(0);
  }, 60_000);
});

describe('sipp CANCEL against a server holding the INVITE', () => {
  let server: Server;
  beforeAll(async () => {
    // an app that takes its time over INVITEs, as a SipApp deciding slowly would
    const app: AppHandler = {
      route: () => PROCESS,
      method: (req) =>
        req.method === 'INVITE'
          ? new Promise<Reply>((resolve) => setTimeout(() => resolve({ status: 603 }), 5000).unref())
          : { status: 200 },
    };
    server = await startServer(
      { ...DEFAULTS, listen: ['sip:127.0.0.1:0'], grpc: false, t1: 100, t4: 200 },
      { app },
    );
  });
  afterAll(async () => {
    await server.stop(1000);
  });

  it('CANCEL → 200, INVITE → 487, ACK absorbed; no transaction left', async () => {
    const udp = server.listeners.find((l) => l.transport === 'udp')!;
    const r = await runSipp({
      scenario: 'invite-cancelled.xml',
      target: `127.0.0.1:${udp.port}`,
      calls: 10,
      rate: 20,
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 10, 0]);
    // Timer I (T4) and J (64*T1) end the transactions
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && server.transactions.stats().server > 0)
      await new Promise((res) => setTimeout(res, 100));
    expect(server.transactions.stats()).toEqual({ client: 0, server: 0 });
  });
});
