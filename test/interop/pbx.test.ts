// The built-in PBX (config `pbx`) against sipp and a raw UDP client on 127.0.0.1: REGISTER
// with digest (plain and HA1 passwords), a call between two sipp UAs through it (one
// registered, the other challenged on its INVITE), no open relay, OPTIONS to the server
// itself answered without a challenge, 404 / 480 for users with nothing registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHa1 } from '../../server/src/auth/digest.js';
import { SipClient } from '../conformance/harness.js';
import { type RunningServer, startCli } from '../support/server-process.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { freePort, runSipp } from '../support/sipp.js';

const REALM = 'nksip';

describe('the built-in PBX', () => {
  let server: RunningServer;
  let client: SipClient;
  let target: string;

  beforeAll(async () => {
    server = await startCli({
      logLevel: 'warn',
      t1: 100,
      t4: 200,
      pbx: {
        domains: ['127.0.0.1', 'nksip'],
        realm: REALM,
        users: { alice: '1234', bob: makeHa1('bob', REALM, '5678'), carol: 'c4r0l' },
      },
    });
    target = `127.0.0.1:${server.port('udp')}`;
    client = await SipClient.open(server.port('udp'));
  });

  afterAll(async () => {
    await client?.close();
    expect(await server.stop()).toBe(0);
  });

  const register = (user: string, password: string, contactPort: number) =>
    runSipp({
      scenario: 'pbx-register.xml',
      target,
      calls: 1,
      timeoutSec: 10,
      extra: [
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

  it('sipp REGISTER with digest: 401 then 200, plain and HA1-stored passwords; a wrong password fails', async () => {
    const a = await register('alice', '1234', await freePort());
    expect([a.code, a.successful, a.failed], a.output).toEqual([0, 1, 0]);
    const b = await register('bob', '5678', await freePort());
    expect([b.code, b.successful, b.failed], b.output).toEqual([0, 1, 0]);
    const bad = await register('carol', 'nope', await freePort());
    expect(bad.successful, bad.output).toBe(0);
    expect(bad.output).toMatch(/403/);
  });

  it('a call between two sipp UAs through the PBX: the caller authenticates its INVITE, the registered callee answers and hangs up (Record-Route)', async () => {
    const calleePort = await freePort();
    const reg = await register('bob', '5678', calleePort);
    expect(reg.code, reg.output).toBe(0);
    const callee = runSipp({ scenario: 'pbx-callee.xml', port: calleePort, calls: 1, timeoutSec: 10 });
    await new Promise((r) => setTimeout(r, 300));
    const caller = await runSipp({
      scenario: 'pbx-caller.xml',
      target,
      calls: 1,
      timeoutSec: 10,
      extra: [
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
        // sipp's digest-uri is the remote address unless told: the PBX wants the Request-URI
        '-auth_uri',
        'bob@127.0.0.1',
      ],
    });
    const c = await callee;
    expect([caller.code, caller.successful], caller.output).toEqual([0, 1]);
    expect([c.code, c.successful], c.output).toEqual([0, 1]);
  });

  /** A request from alice; with `auth`, a 407 answered once with her credentials. */
  const ask = (method: string, ruri: string, auth = false): Promise<WireMessage | undefined> =>
    client.requestAs(method, ruri, 'alice', auth ? '1234' : undefined);

  it('no open relay: a request for another domain gets 403 and goes nowhere', async () => {
    for (const method of ['OPTIONS', 'INVITE', 'MESSAGE', 'REGISTER']) {
      const res = await ask(method, 'sip:victim@example.com');
      expect([method, res?.status]).toEqual([method, 403]);
    }
  });

  it('OPTIONS to the server itself: 200 without a challenge; to a user: 407', async () => {
    const self = await ask('OPTIONS', `sip:${target}`);
    expect(self?.status).toBe(200);
    expect(headerOf(self!, 'allow')).toMatch(/REGISTER/);
    const user = await ask('OPTIONS', 'sip:carol@127.0.0.1');
    expect(user?.status).toBe(407);
    expect(headerOf(user!, 'proxy-authenticate')).toMatch(/realm="nksip"/);
  });

  it('authenticated: 404 for an unknown user, 480 for a known one with nothing registered', async () => {
    expect((await ask('OPTIONS', 'sip:nobody@127.0.0.1', true))?.status).toBe(404);
    expect((await ask('OPTIONS', 'sip:carol@127.0.0.1', true))?.status).toBe(480);
  });
});
