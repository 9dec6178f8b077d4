// sipp over TLS against the built CLI with the built-in PBX: a REGISTER with digest and a
// call between two sipp UAs through the server, every hop of the server TLS (it connects to
// the callee's TLS contact and checks its certificate against the configured CA). Also the
// server's side of a failed check: a callee presenting a certificate the server does not
// trust makes the call fail (503 to the caller), the reason in the log.
// sipp speaks TLS itself (-t l1) when built with OpenSSL; Debian's sip-tester is not, so then
// each sipp speaks TCP (-t t1) through a TLS relay in this test: a TCP port whose connections
// go on over TLS to the server, and a TLS port (its Contact) piped to sipp's TCP port.
import { spawnSync } from 'node:child_process';
import { createServer as createTcpServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCert, type TestCerts } from '../support/certs.js';
import { type RunningServer, startCli } from '../support/server-process.js';
import { freePort, runSipp } from '../support/sipp.js';

/** Whether this sipp was built with TLS (its version line names it); `sipp -v` exits 99. */
function sippHasTls(): boolean {
  const r = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  const line = `${r.stdout}`.split('\n').find((l) => /SIPp v/.test(l)) ?? '';
  return /TLS/.test(line);
}

const SIPP_TLS = sippHasTls();

/** Pipes two sockets both ways; either end closing closes the other. */
function pipe(a: Socket, b: Socket): void {
  a.pipe(b).on('error', () => {});
  b.pipe(a).on('error', () => {});
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    x.on('error', () => y.destroy());
    x.on('close', () => y.destroy());
  }
}

/** A sipp UA's TLS face when sipp has no TLS: outbound TCP→TLS, inbound TLS→TCP. */
class TlsRelay {
  readonly sockets = new Set<Socket>();
  private constructor(
    private readonly servers: Server[],
    /** Where sipp sends (its -t t1 target). */
    readonly outPort: number,
    /** What its Contact names. */
    readonly inPort: number,
  ) {}

  static async open(
    sippPort: number,
    serverTlsPort: number,
    cert: TestCert,
    trust: TestCert,
  ): Promise<TlsRelay> {
    const track = (relay: () => TlsRelay | undefined, s: Socket) => {
      relay()?.sockets.add(s);
      s.on('close', () => relay()?.sockets.delete(s));
    };
    let self: TlsRelay | undefined;
    const out = createTcpServer((plain) => {
      track(() => self, plain);
      const secure = tlsConnect({
        host: '127.0.0.1',
        port: serverTlsPort,
        ca: trust.cert,
        cert: cert.cert,
        key: cert.key,
      });
      track(() => self, secure);
      pipe(plain, secure);
    });
    const inbound = createTlsServer({ cert: cert.cert, key: cert.key }, (secure) => {
      track(() => self, secure);
      const plain = tcpConnect({ host: '127.0.0.1', port: sippPort });
      track(() => self, plain);
      pipe(secure, plain);
    });
    inbound.on('tlsClientError', () => {});
    const listen = (srv: Server) =>
      new Promise<number>((r) =>
        srv.listen(0, '127.0.0.1', () => r((srv.address() as { port: number }).port)),
      );
    self = new TlsRelay([out, inbound], await listen(out), await listen(inbound));
    return self;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((srv) => new Promise((r) => srv.close(r))));
  }
}

describe(`sipp over TLS through the PBX (${SIPP_TLS ? 'sipp -t l1' : 'sipp -t t1 behind a TLS relay'})`, () => {
  let certs: TestCerts;
  let server: RunningServer;
  let tlsPort: number;
  const relays: TlsRelay[] = [];

  beforeAll(async () => {
    certs = makeTestCerts();
    server = await startCli({
      listen: ['sip:127.0.0.1:0', 'sips:127.0.0.1:0'],
      logLevel: 'warn',
      t1: 100,
      tls: { cert: certs.good.certFile, key: certs.good.keyFile, ca: certs.good.certFile },
      pbx: { domains: ['127.0.0.1'], realm: 'nksip', users: { alice: '1234', bob: '5678' } },
    });
    tlsPort = server.port('tls');
  });

  afterAll(async () => {
    await Promise.all(relays.map((r) => r.close()));
    expect(await server.stop()).toBe(0);
    certs.remove();
  });

  /** A sipp UA: its port, where it sends, what its Contact names, its transport flags. */
  async function ua(cert: TestCert) {
    const port = await freePort();
    if (SIPP_TLS) {
      return {
        port,
        target: `127.0.0.1:${tlsPort}`,
        contactPort: port,
        flags: { transport: 'l1' as const, tls: ['-tls_cert', cert.certFile, '-tls_key', cert.keyFile] },
      };
    }
    const relay = await TlsRelay.open(port, tlsPort, cert, certs.good);
    relays.push(relay);
    return {
      port,
      target: `127.0.0.1:${relay.outPort}`,
      contactPort: relay.inPort,
      flags: { transport: 't1' as const, tls: [] },
    };
  }

  type Ua = Awaited<ReturnType<typeof ua>>;

  const register = (u: Ua, user: string, password: string) =>
    runSipp({
      scenario: 'tls-register.xml',
      target: u.target,
      transport: u.flags.transport,
      calls: 1,
      timeoutSec: 10,
      extra: [
        ...u.flags.tls,
        '-key',
        'user',
        user,
        '-key',
        'contact_port',
        String(u.contactPort),
        '-au',
        user,
        '-ap',
        password,
      ],
    });

  const answer = (u: Ua) =>
    runSipp({
      scenario: 'tls-callee.xml',
      port: u.port,
      transport: u.flags.transport,
      calls: 1,
      timeoutSec: 10,
      extra: [...u.flags.tls, '-key', 'contact_port', String(u.contactPort)],
    });

  const call = (u: Ua) =>
    runSipp({
      scenario: 'tls-caller.xml',
      target: u.target,
      port: u.port,
      transport: u.flags.transport,
      calls: 1,
      timeoutSec: 10,
      extra: [
        ...u.flags.tls,
        '-key',
        'contact_port',
        String(u.contactPort),
        '-key',
        'user',
        'alice',
        '-key',
        'callee',
        'bob',
        '-au',
        'alice',
        '-ap',
        '1234',
        '-auth_uri',
        'bob@127.0.0.1',
      ],
    });

  it('REGISTER over TLS, then a call caller → PBX → callee with every hop of the server over TLS', async () => {
    const bob = await ua(certs.good);
    const reg = await register(bob, 'bob', '5678');
    expect([reg.code, reg.successful], reg.output).toEqual([0, 1]);
    const callee = answer(bob);
    await new Promise((r) => setTimeout(r, 300));
    const c = await call(await ua(certs.good));
    const e = await callee;
    expect([c.code, c.successful], c.output).toEqual([0, 1]);
    expect([e.code, e.successful], e.output).toEqual([0, 1]);
  });

  it('a callee whose certificate the server does not trust: the call fails, the log says why', async () => {
    const bob = await ua(certs.other);
    const reg = await register(bob, 'bob', '5678');
    expect(reg.code, reg.output).toBe(0);
    const callee = answer(bob);
    await new Promise((r) => setTimeout(r, 300));
    const c = await call(await ua(certs.good));
    // sipp aborts the call on the 503 (its counters are all the output keeps)
    expect([c.successful, c.failed], c.output).toEqual([0, 1]);
    expect((await callee).successful).toBe(0);
    expect(
      server.logs.some(
        (l) => l.msg === 'tls connect failed' && /certificate verification failed/.test(String(l.err)),
      ),
    ).toBe(true);
  });
});
