// The proxy and the registrar against real SIP tools on 127.0.0.1: sipp UAC → nksip-server
// (record-routing stateful proxy) → sipp UAS, with and without packet loss; Kamailio in front
// of nksip-server for calls; and bad input — REGISTER floods with garbage Contacts, a Contact
// list of 1,000 entries, expires out of range, forks to unreachable targets and to 100 targets
// — each with a clear answer and nothing left behind (forks, branches, transactions, bindings).
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../server/src/config.js';
import type { AppHandler } from '../../server/src/core/app.js';
import { PROCESS, type RouteDecision } from '../../server/src/core/decision.js';
import { MemoryStore, Registrar } from '../../server/src/registrar/index.js';
import { type Server, startServer } from '../../server/src/server.js';
import type { SipResponse } from '../../server/src/sip/message.js';
import { parseMessage } from '../../server/src/sip/parser.js';
import { freePort, runSipp, SCENARIOS } from '../support/sipp.js';

const ROOT = join(import.meta.dirname, '../..');

/** A sipp UAS following Record-Route (uas-rr.xml), until stopped by its PID. */
async function sippUas(): Promise<{ port: number; proc: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nksip-uas-'));
  const proc = spawn(
    'sipp',
    ['-sf', join(SCENARIOS, 'uas-rr.xml'), '-i', '127.0.0.1', '-p', String(port), '-t', 'u1', '-nostdin'],
    { cwd: dir, stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 200));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  return { port, proc, stop };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** A raw UDP peer sending one request at a time and collecting responses by Call-ID. */
class Peer {
  readonly responses: SipResponse[] = [];
  port = 0;
  private constructor(private readonly sock: Socket) {
    sock.on('message', (b) => {
      try {
        const { msg } = parseMessage(b);
        if (msg.kind === 'response') this.responses.push(msg);
      } catch {
        // not for us
      }
    });
  }
  static async open(): Promise<Peer> {
    const p = new Peer(createSocket('udp4'));
    await new Promise<void>((r) => p.sock.bind(0, '127.0.0.1', () => r()));
    p.port = p.sock.address().port;
    return p;
  }
  send(port: number, method: string, ruri: string, callId: string, lines: string[] = [], cseq = 1): void {
    const text = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};rport;branch=z9hG4bK-${callId}-${cseq}`,
      'Max-Forwards: 70',
      `From: <sip:peer@127.0.0.1>;tag=${callId}`,
      `To: <${ruri.replace(/:\d+$/, '')}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      ...lines,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }
  raw(text: string, port: number): void {
    this.sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }
  async final(callId: string, ms = 10_000): Promise<SipResponse | undefined> {
    const find = () => this.responses.find((r) => r.status >= 200 && r.callId === callId);
    await until(() => find() !== undefined, ms);
    return find();
  }
  close(): void {
    this.sock.close();
  }
}

describe('the proxy and the registrar with sipp, Kamailio and bad input', () => {
  let server: Server;
  let sipPort: number;
  let uas: Awaited<ReturnType<typeof sippUas>>;
  let peer: Peer;
  const registrar = new Registrar({ store: new MemoryStore() });
  /** Targets for the next INVITE whose R-URI user is `fork` (set by a test). */
  let forkTargets: string[][] = [];

  // NkSIP's test proxy in-process: REGISTER to the registrar, `fork` to the test's targets,
  // anything else record-routed to the UAS, in-dialog requests along their Route
  const app: AppHandler = {
    route: (req): RouteDecision => {
      if (req.method === 'REGISTER') return PROCESS;
      if (req.toTag !== undefined) return { kind: 'proxy', targets: [], options: {} };
      if (
        req.method === 'INVITE' &&
        req.ruri.scheme === 'sip' &&
        (req.ruri as { user?: string }).user === 'fork'
      )
        return { kind: 'proxy', targets: forkTargets, options: { recordRoute: true } };
      return { kind: 'proxy', targets: [[`sip:127.0.0.1:${uas.port}`]], options: { recordRoute: true } };
    },
    method: (req, source) => (req.method === 'REGISTER' ? registrar.register(req, source) : { status: 405 }),
  };

  beforeAll(async () => {
    uas = await sippUas();
    server = await startServer(
      { ...DEFAULTS, listen: ['sip:127.0.0.1:0'], grpc: false, t1: 100, t4: 200, logLevel: 'silent' },
      { app },
    );
    sipPort = server.listeners.find((l) => l.transport === 'udp')?.port as number;
    peer = await Peer.open();
  });

  afterAll(async () => {
    peer?.close();
    await uas?.stop();
    await server?.stop(1000);
  });

  /** Nothing left once the timers have run: no fork, no branch, no proxy dialog, no transaction. */
  async function nothingLeft(ms = 15_000, on: Server = server): Promise<void> {
    const idle = () =>
      on.proxy.stats().forks === 0 &&
      on.proxy.stats().branches === 0 &&
      on.proxy.stats().dialogs === 0 &&
      on.transactions.stats().client === 0 &&
      on.transactions.stats().server === 0;
    await until(idle, ms);
    expect(on.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 0 });
    expect(on.transactions.stats()).toEqual({ client: 0, server: 0 });
  }

  it('sipp UAC → nksip-server → sipp UAS with Record-Route: 40 calls, ACK and BYE through the proxy', async () => {
    const r = await runSipp({
      scenario: 'uac-rr.xml',
      target: `127.0.0.1:${sipPort}`,
      calls: 40,
      rate: 40,
      timeoutSec: 30,
      extra: ['-s', 'callee'],
    });
    expect([r.code, r.successful, r.failed], r.output).toEqual([0, 40, 0]);
    await nothingLeft();
  }, 60_000);

  it('the same with sipp losing 10 % of its packets: retransmissions, every call completes', async () => {
    // sipp retransmits on its own T1 (500 ms) for up to 32 s: a proxy with a shorter T1 would
    // forget a BYE's transaction (64*T1) before sipp's last copy of that BYE arrives
    const lossy = await startServer(
      { ...DEFAULTS, listen: ['sip:127.0.0.1:0'], grpc: false, t1: 500, t4: 5000, logLevel: 'silent' },
      { app },
    );
    try {
      const r = await runSipp({
        scenario: 'uac-rr.xml',
        target: `127.0.0.1:${lossy.listeners.find((l) => l.transport === 'udp')?.port}`,
        calls: 30,
        rate: 30,
        timeoutSec: 50,
        extra: ['-s', 'callee', '-lost', '10'],
      });
      expect([r.code, r.successful, r.failed], r.output).toEqual([0, 30, 0]);
      expect(r.retransmissions).toBeGreaterThan(0);
      await nothingLeft(45_000, lossy);
    } finally {
      await lossy.stop(1000);
    }
  }, 150_000);

  it('Kamailio in front of nksip-server: sipp → Kamailio (tm, record_route) → nksip-server → sipp UAS', async () => {
    const kport = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'nksip-kam-'));
    const kam = spawn(
      'kamailio',
      [
        ...['-f', join(ROOT, 'bench/kamailio-proxy.cfg'), '-DD', '-E', '-m', '64', '-M', '8'],
        ...['-l', `udp:127.0.0.1:${kport}`, '-Y', dir, '-P', join(dir, 'k.pid')],
        ...['-A', 'CHILDREN=1', '-A', `UAS_URI="sip:127.0.0.1:${sipPort}"`],
      ],
      { stdio: 'ignore', detached: true },
    );
    try {
      await new Promise((r) => setTimeout(r, 800));
      const r = await runSipp({
        scenario: 'uac-rr.xml',
        target: `127.0.0.1:${kport}`,
        calls: 5,
        rate: 10,
        timeoutSec: 20,
        extra: ['-s', 'callee'],
      });
      expect([r.code, r.successful, r.failed], r.output).toEqual([0, 5, 0]);
    } finally {
      // its own process group: every Kamailio process goes, by the PID we hold
      if (kam.pid !== undefined) {
        try {
          process.kill(-kam.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await nothingLeft();
  }, 60_000);

  it('REGISTER flood with garbage Contacts: 300 × 400, nothing stored, the server still answers', async () => {
    const garbage = [
      '<sip:>',
      '<sip:a@b:99999>',
      '<<<>>>',
      '"x" <sip:a@[::1>',
      '<sip:a@b>;q=high',
      '<http://example.com/>',
    ];
    for (let i = 0; i < 300; i++) {
      const g = garbage[i % garbage.length] as string;
      peer.send(sipPort, 'REGISTER', `sip:127.0.0.1:${sipPort}`, `garbage-${i}`, [`Contact: ${g}`]);
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => peer.responses.filter((r) => r.callId.startsWith('garbage-')).length >= 300, 10_000);
    const statuses = new Set(
      peer.responses.filter((r) => r.callId.startsWith('garbage-')).map((r) => r.status),
    );
    expect([...statuses]).toEqual([400]);
    expect((registrar.store as MemoryStore).size).toBe(0);
    peer.send(sipPort, 'REGISTER', `sip:127.0.0.1:${sipPort}`, 'after-flood', [
      `Contact: <sip:ok@127.0.0.1:${peer.port}>`,
    ]);
    expect((await peer.final('after-flood'))?.status).toBe(200);
    expect(await registrar.find('sip:127.0.0.1')).toHaveLength(1);
    await registrar.clear();
    expect((registrar.store as MemoryStore).size).toBe(0);
    await nothingLeft();
  }, 30_000);

  it('a Contact list of 1,000 entries: 403 "Too Many Contacts", nothing stored', async () => {
    const contacts = Array.from({ length: 1000 }, (_, i) => `<sip:u${i}@127.0.0.1:${10000 + i}>`).join(',');
    peer.send(sipPort, 'REGISTER', `sip:127.0.0.1:${sipPort}`, 'thousand', [`Contact: ${contacts}`]);
    const r = await peer.final('thousand');
    expect([r?.status, r?.reason]).toEqual([403, 'Too Many Contacts']);
    expect((registrar.store as MemoryStore).size).toBe(0);
  });

  it('expires out of range: above the maximum clamped, below the minimum 423, malformed as 3600 (§20.19)', async () => {
    const c = `Contact: <sip:range@127.0.0.1:${peer.port}>`;
    peer.send(sipPort, 'REGISTER', `sip:127.0.0.1:${sipPort}`, 'exp-big', [c, 'Expires: 99999999999']);
    peer.send(sipPort, 'REGISTER', `sip:127.0.0.1:${sipPort}`, 'exp-small', [c, 'Expires: 1']);
    peer.send(sipPort, 'REGISTER', `sip:127.0.0.1:${sipPort}`, 'exp-nan', [c, 'Expires: soon']);
    const big = await peer.final('exp-big');
    expect([big?.status, big?.header('contact')]).toEqual([
      200,
      `<sip:range@127.0.0.1:${peer.port}>;expires=86400`,
    ]);
    const small = await peer.final('exp-small');
    expect([small?.status, small?.header('min-expires')]).toEqual([423, '60']);
    const nan = await peer.final('exp-nan');
    expect([nan?.status, nan?.header('contact')]).toEqual([
      200,
      `<sip:range@127.0.0.1:${peer.port}>;expires=3600`,
    ]);
    await registrar.clear();
  });

  it('a fork to unreachable targets ends in one clear final response (408 for silence), nothing left', async () => {
    const dead = await Promise.all([freePort(), freePort(), freePort()]);
    forkTargets = [
      dead.map((p) => `sip:dead@127.0.0.1:${p}`),
      [`sip:dead@127.0.0.1:${dead[0]};transport=tcp`],
    ];
    peer.send(sipPort, 'INVITE', `sip:fork@127.0.0.1:${sipPort}`, 'unreachable', [
      `Contact: <sip:peer@127.0.0.1:${peer.port}>`,
    ]);
    const r = await peer.final('unreachable', 20_000);
    // UDP silence ends each branch with Timer B (408); the TCP group fails to connect (503);
    // 4xx beats 5xx in the best response
    expect(r?.status).toBe(408);
    peer.send(sipPort, 'ACK', `sip:fork@127.0.0.1:${sipPort}`, 'unreachable');
    await nothingLeft();
  }, 40_000);

  it('a fork to 100 targets, one of them the UAS: its 200 goes up, the other 99 end by themselves', async () => {
    const dead = await freePort();
    forkTargets = [
      [
        ...Array.from({ length: 99 }, (_, i) => `sip:t${i}@127.0.0.1:${dead}`),
        `sip:callee@127.0.0.1:${uas.port}`,
      ],
    ];
    peer.send(sipPort, 'INVITE', `sip:fork@127.0.0.1:${sipPort}`, 'hundred', [
      `Contact: <sip:peer@127.0.0.1:${peer.port}>`,
    ]);
    const r = await peer.final('hundred', 10_000);
    expect(r?.status).toBe(200);
    expect(server.proxy.stats().forks).toBeLessThanOrEqual(1);
    // the UAS waits for its ACK and BYE (it follows the route set through us)
    const rr = r?.headerValues('record-route') ?? [];
    const contact = /<([^>]+)>/.exec(r?.header('contact') ?? '')?.[1] as string;
    const to = r?.header('to') as string;
    const inDialog = (method: string, cseq: number) =>
      [
        `${method} ${contact} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};rport;branch=z9hG4bK-hundred-${method}`,
        'Max-Forwards: 70',
        `From: <sip:peer@127.0.0.1>;tag=hundred`,
        `To: ${to}`,
        'Call-ID: hundred',
        `CSeq: ${cseq} ${method}`,
        ...rr.map((v) => `Route: ${v}`),
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
    peer.raw(inDialog('ACK', 1), sipPort);
    peer.raw(inDialog('BYE', 2), sipPort);
    await until(() => peer.responses.some((x) => x.callId === 'hundred' && x.cseq.method === 'BYE'), 5000);
    expect(peer.responses.find((x) => x.callId === 'hundred' && x.cseq.method === 'BYE')?.status).toBe(200);
    await nothingLeft();
  }, 40_000);

  it('an unusable target set (nothing parses) gets 480', async () => {
    forkTargets = [['not a uri', '']];
    peer.send(sipPort, 'INVITE', `sip:fork@127.0.0.1:${sipPort}`, 'empty-set', [
      `Contact: <sip:peer@127.0.0.1:${peer.port}>`,
    ]);
    expect((await peer.final('empty-set'))?.status).toBe(480);
    peer.send(sipPort, 'ACK', `sip:fork@127.0.0.1:${sipPort}`, 'empty-set');
    await nothingLeft();
  });
});
