// sipp over TLS (-t l1) against the built CLI with the built-in PBX: a REGISTER with digest
// and a call between two sipp UAs through the server, every hop TLS (the server connects to
// the callee's TLS port and checks its certificate against the configured CA). Also the
// server's side of a failed check: a callee presenting a certificate the server does not
// trust makes the call fail with 503 and the reason in the log, and leaves no connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import { type RunningServer, startCli } from '../support/server-process.js';
import { freePort, runSipp } from '../support/sipp.js';

describe('sipp over TLS through the PBX', () => {
  let certs: TestCerts;
  let server: RunningServer;
  let target: string;

  beforeAll(async () => {
    certs = makeTestCerts();
    server = await startCli({
      listen: ['sip:127.0.0.1:0', 'sips:127.0.0.1:0'],
      logLevel: 'warn',
      t1: 100,
      tls: { cert: certs.good.certFile, key: certs.good.keyFile, ca: certs.good.certFile },
      pbx: { domains: ['127.0.0.1'], realm: 'nksip', users: { alice: '1234', bob: '5678' } },
    });
    target = `127.0.0.1:${server.port('tls')}`;
  });

  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    certs.remove();
  });

  const tlsOf = (cert: TestCerts['good']) => ['-tls_cert', cert.certFile, '-tls_key', cert.keyFile];

  const register = (user: string, password: string, contactPort: number, cert = certs.good) =>
    runSipp({
      scenario: 'tls-register.xml',
      target,
      transport: 'l1',
      calls: 1,
      timeoutSec: 10,
      extra: [
        ...tlsOf(cert),
        '-key',
        'user',
        user,
        '-key',
        'contact_port',
        String(contactPort),
        '-au',
        user,
        '-ap',
        password,
      ],
    });

  const call = (calleePort: number, cert = certs.good) => {
    const callee = runSipp({
      scenario: 'tls-callee.xml',
      port: calleePort,
      transport: 'l1',
      calls: 1,
      timeoutSec: 10,
      extra: tlsOf(cert),
    });
    return { callee };
  };

  const caller = () =>
    runSipp({
      scenario: 'tls-caller.xml',
      target,
      transport: 'l1',
      calls: 1,
      timeoutSec: 10,
      extra: [
        ...tlsOf(certs.good),
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

  it('REGISTER over TLS, then a call caller → PBX → callee with every hop over TLS', async () => {
    const calleePort = await freePort();
    const reg = await register('bob', '5678', calleePort);
    expect([reg.code, reg.successful], reg.output).toEqual([0, 1]);
    const { callee } = call(calleePort);
    await new Promise((r) => setTimeout(r, 300));
    const c = await caller();
    const e = await callee;
    expect([c.code, c.successful], c.output).toEqual([0, 1]);
    expect([e.code, e.successful], e.output).toEqual([0, 1]);
  });

  it('a callee whose certificate the server does not trust: the call fails with 503, the log says why', async () => {
    const calleePort = await freePort();
    const reg = await register('bob', '5678', calleePort, certs.other);
    expect(reg.code, reg.output).toBe(0);
    const { callee } = call(calleePort, certs.other);
    await new Promise((r) => setTimeout(r, 300));
    const c = await caller();
    expect(c.successful, c.output).toBe(0);
    expect(c.output).toMatch(/503/);
    const e = await callee;
    expect(e.successful).toBe(0);
    expect(
      server.logs.some(
        (l) => l.msg === 'tls connect failed' && /certificate verification failed/.test(String(l.err)),
      ),
    ).toBe(true);
  });
});
