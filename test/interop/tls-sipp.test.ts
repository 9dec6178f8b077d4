// sipp over TLS (-t l1) against the built CLI with the built-in PBX listening on TLS only: a
// REGISTER with digest and a call between two sipp UAs through the server, every hop TLS with
// the certificates checked both ways (sipp trusts the server's certificate through -tls_ca and
// presents its own; the server checks the callee's against its CA when it connects to the
// callee's TLS contact). Then the failed checks: a callee presenting a certificate the server
// does not trust makes the call fail (503 to the caller), the reason in the log; a sipp that
// does not trust the server's certificate gets nothing through.
// Debian bookworm's sipp has no TLS, so this runs trixie's (wolfSSL) that
// scripts/install-sipp-tls.sh puts in .tools/ with its own libraries and a shim without which
// that sipp never writes on a TLS socket (the script says why); `make test-deps` runs it, env
// SIPP_TLS names another TLS sipp.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCert, type TestCerts } from '../support/certs.js';
import { type RunningServer, startCli } from '../support/server-process.js';
import { until } from '../support/sip-peers.js';
import { freePort, runSipp, SIPP_TLS_BIN } from '../support/sipp.js';

/** The TLS sipp's version line, or why there is none. */
function tlsSippVersion(): string {
  const r = spawnSync(SIPP_TLS_BIN, ['-v'], { encoding: 'utf8' });
  if (r.error) return `cannot run ${SIPP_TLS_BIN}: ${r.error.message}`;
  return `${r.stdout}`.split('\n').find((l) => /SIPp v/.test(l)) ?? `${SIPP_TLS_BIN} -v printed no version`;
}

describe('sipp -t l1 through the PBX, the server on TLS only', () => {
  let certs: TestCerts;
  let server: RunningServer;
  let tlsPort: number;

  beforeAll(async () => {
    const version = tlsSippVersion();
    if (!/SIPp v\S*-TLS/.test(version)) {
      throw new Error(`no sipp with TLS (${version}): run scripts/install-sipp-tls.sh`);
    }
    certs = makeTestCerts();
    server = await startCli({
      listen: ['sips:127.0.0.1:0'],
      logLevel: 'warn',
      t1: 100,
      tls: { cert: certs.good.certFile, key: certs.good.keyFile, ca: certs.good.certFile },
      pbx: { domains: ['127.0.0.1'], realm: 'nksip', users: { alice: '1234', bob: '5678', carol: '9012' } },
    });
    tlsPort = server.port('tls');
  });

  afterAll(async () => {
    // nothing to stop when beforeAll found no TLS sipp
    if (server !== undefined) expect(await server.stop()).toBe(0);
    certs?.remove();
  });

  /** A sipp UA presenting `own` and trusting `trusted` (the server's certificate unless told). */
  async function ua(own: TestCert, trusted: TestCert = certs.good) {
    return {
      port: await freePort(),
      tls: ['-tls_cert', own.certFile, '-tls_key', own.keyFile, '-tls_ca', trusted.certFile],
    };
  }

  type Ua = Awaited<ReturnType<typeof ua>>;

  const register = (u: Ua, user: string, password: string) =>
    runSipp({
      bin: SIPP_TLS_BIN,
      scenario: 'tls-register.xml',
      target: `127.0.0.1:${tlsPort}`,
      port: u.port,
      transport: 'l1',
      calls: 1,
      timeoutSec: 10,
      extra: [...u.tls, '-key', 'user', user, '-au', user, '-ap', password],
    });

  const answer = (u: Ua) =>
    runSipp({
      bin: SIPP_TLS_BIN,
      scenario: 'tls-callee.xml',
      port: u.port,
      transport: 'l1',
      calls: 1,
      timeoutSec: 10,
      extra: u.tls,
    });

  const call = (u: Ua, callee: string) =>
    runSipp({
      bin: SIPP_TLS_BIN,
      scenario: 'tls-caller.xml',
      target: `127.0.0.1:${tlsPort}`,
      port: u.port,
      transport: 'l1',
      calls: 1,
      timeoutSec: 10,
      extra: [
        ...u.tls,
        '-key',
        'user',
        'alice',
        '-key',
        'callee',
        callee,
        '-au',
        'alice',
        '-ap',
        '1234',
        '-auth_uri',
        `${callee}@127.0.0.1`,
      ],
    });

  it('REGISTER over TLS, then a call caller → PBX → callee with every hop over TLS', async () => {
    const bob = await ua(certs.good);
    const reg = await register(bob, 'bob', '5678');
    expect([reg.code, reg.successful], reg.output).toEqual([0, 1]);
    const callee = answer(bob);
    await new Promise((r) => setTimeout(r, 300));
    const c = await call(await ua(certs.good), 'bob');
    const e = await callee;
    expect([c.code, c.successful], c.output).toEqual([0, 1]);
    expect([e.code, e.successful], e.output).toEqual([0, 1]);
  });

  it('a callee whose certificate the server does not trust: the call fails, the log says why', async () => {
    // carol: her only contact is this one (bob's from the test above is still registered)
    const carol = await ua(certs.other);
    const reg = await register(carol, 'carol', '9012');
    expect([reg.code, reg.successful], reg.output).toEqual([0, 1]);
    const callee = answer(carol);
    await new Promise((r) => setTimeout(r, 300));
    const c = await call(await ua(certs.good), 'carol');
    // sipp aborts the call on the 503 (its counters are all the output keeps)
    expect([c.successful, c.failed], c.output).toEqual([0, 1]);
    expect((await callee).successful).toBe(0);
    expect(
      server.logs.some(
        (l) => l.msg === 'tls connect failed' && /certificate verification failed/.test(String(l.err)),
      ),
    ).toBe(true);
  });

  it("a sipp that does not trust the server's certificate: its REGISTER never gets through", async () => {
    const before = server.logs.length;
    const reg = await register(await ua(certs.good, certs.other), 'alice', '1234');
    expect([reg.code === 0, reg.successful], reg.output).toEqual([false, 0]);
    // sipp's alert on our certificate ends the handshake (the line may trail sipp's exit)
    const refused = () =>
      server.logs
        .slice(before)
        .some((l) => l.msg === 'tls handshake failed' && /alert bad certificate/.test(String(l.err)));
    expect(await until(refused, 5000), JSON.stringify(server.logs.slice(before))).toBe(true);
  });
});
