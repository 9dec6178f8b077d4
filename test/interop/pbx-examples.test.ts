// The PBX example of each language (examples/*/pbx*), started with the command its SDK doc
// gives, against sipp and a raw UDP client through the nksip-server CLI: sipp REGISTERs with
// digest (401, then 200; a wrong password 403), a call between two sipp UAs through it (407
// on the INVITE, then the call with Record-Route and the callee's BYE), no open relay, OPTIONS
// to the PBX itself without a challenge, 404 / 480, and NkPBX's 200 and 201 extensions.
// The languages come from PBX_APPS (a built one only; CONFORMANCE_LANGS narrows the list).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHa1 } from '../../server/src/auth/digest.js';
import { ROOT } from '../conformance/apps.js';
import { grpcAddress, SipClient } from '../conformance/harness.js';
import { type RunningServer, startCli } from '../support/server-process.js';
import { UdpPeer } from '../support/sip-peers.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { freePort, runSipp } from '../support/sipp.js';

interface PbxApp {
  command: string;
  args: string[];
  /** Files that must exist (built) for the language to run. */
  requires: string[];
}

/** One row per language; the flags after `args` are the same for every one. */
const PBX_APPS: Record<string, PbxApp> = {
  typescript: {
    command: process.execPath,
    args: [join(ROOT, 'examples/typescript/dist/pbx.js')],
    requires: [join(ROOT, 'examples/typescript/dist/pbx.js')],
  },
  python: {
    command: join(ROOT, 'clients/python/.venv/bin/python'),
    args: [join(ROOT, 'examples/python/pbx.py')],
    requires: [join(ROOT, 'clients/python/.venv/bin/python')],
  },
  go: {
    command: join(ROOT, 'examples/go/bin/pbx'),
    args: [],
    requires: [join(ROOT, 'examples/go/bin/pbx')],
  },
  java: {
    command: 'java',
    args: [
      '-XX:TieredStopAtLevel=1',
      '-Xshare:auto',
      '-jar',
      join(ROOT, 'examples/java/pbx/target/nksip-pbx.jar'),
    ],
    requires: [join(ROOT, 'examples/java/pbx/target/nksip-pbx.jar')],
  },
};

const wanted = (process.env.CONFORMANCE_LANGS ?? '').split(',').filter(Boolean);
const languages = Object.keys(PBX_APPS).filter(
  (l) => (wanted.length === 0 || wanted.includes(l)) && PBX_APPS[l]!.requires.every((f) => existsSync(f)),
);

const REALM = 'nksip';

/** The example as a child process: resolves once it printed its `pbx ready` line. */
async function startPbx(
  lang: string,
  flags: string[],
): Promise<{ proc: ChildProcess; output: () => string }> {
  const spec = PBX_APPS[lang]!;
  const proc = spawn(spec.command, [...spec.args, ...flags], {
    cwd: ROOT,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 15_000);
    const check = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
      if (/pbx ready/.test(output)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    proc.stdout?.on('data', check);
    proc.stderr?.on('data', check);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!(await ready)) {
    proc.kill('SIGKILL');
    throw new Error(`the ${lang} PBX example did not start: ${output}`);
  }
  return { proc, output: () => output };
}

/** A response to a request a UdpPeer received (the peer plays a registered phone). */
function responseTo(req: WireMessage, status: number, reason: string, tag: string): Buffer {
  const copy = (name: string) => req.headers.filter(([n]) => n === name).map(([, v]) => `${name}: ${v}`);
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...copy('via'),
    ...copy('from'),
    `to: ${headerOf(req, 'to')};tag=${tag}`,
    ...copy('call-id'),
    ...copy('cseq'),
    'content-length: 0',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** A server and the example on it, for the tests of one `describe` (started in its beforeAll). */
interface Running {
  server: RunningServer;
  pbx: { proc: ChildProcess; output: () => string };
  client: SipClient;
  /** The server's UDP `127.0.0.1:port`. */
  target: string;
}

function running(lang: string): Running {
  const env = {} as Running;
  beforeAll(async () => {
    env.server = await startCli({ logLevel: 'warn', t1: 100, t4: 200 });
    env.target = `127.0.0.1:${env.server.port('udp')}`;
    // bob's password stored as its HA1, in a users file; alice and carol on the command line
    const usersFile = join(mkdtempSync(join(tmpdir(), 'nksip-pbx-')), 'users.json');
    writeFileSync(usersFile, JSON.stringify({ bob: makeHa1('bob', REALM, '5678') }));
    env.pbx = await startPbx(lang, [
      ...['--server', grpcAddress(env.server), '--domain', 'nksip'],
      ...['--user', 'alice:1234', '--user', 'carol:c4r0l', '--users', usersFile],
    ]);
    env.client = await SipClient.open(env.server.port('udp'));
  }, 30_000);

  afterAll(async () => {
    await env.client?.close();
    const { proc } = env.pbx ?? {};
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }
    expect(await env.server?.stop()).toBe(0);
  });
  return env;
}

/** sipp REGISTERs `user` (401, then again with its password) with a Contact on `contactPort`. */
const register = (env: Running, user: string, password: string, contactPort: number) =>
  runSipp({
    scenario: 'pbx-register.xml',
    target: env.target,
    calls: 1,
    timeoutSec: 10,
    extra: ['-key', 'user', user, '-key', 'contact_port', String(contactPort), '-au', user, '-ap', password],
  });

/** A request from the raw client as alice; with `auth`, its 407 answered with alice's credentials. */
const ask = (env: Running, method: string, ruri: string, auth = false): Promise<WireMessage | undefined> =>
  env.client.requestAs(method, ruri, 'alice', auth ? '1234' : undefined);

describe.each(languages)('the %s PBX example', (lang) => {
  describe('registrar, calls and policy', () => {
    const env = running(lang);

    it('sipp REGISTER with digest: 401 then 200, plain and HA1-stored passwords; a wrong password fails', async () => {
      const a = await register(env, 'alice', '1234', await freePort());
      expect([a.code, a.successful, a.failed], a.output).toEqual([0, 1, 0]);
      const b = await register(env, 'bob', '5678', await freePort());
      expect([b.code, b.successful, b.failed], b.output).toEqual([0, 1, 0]);
      const bad = await register(env, 'carol', 'nope', await freePort());
      expect(bad.successful, bad.output).toBe(0);
      expect(bad.output).toMatch(/403/);
    });

    it('a call between two sipp UAs through the PBX: 407 on the INVITE, then the registered callee answers and hangs up (Record-Route)', async () => {
      const calleePort = await freePort();
      const reg = await register(env, 'bob', '5678', calleePort);
      expect(reg.code, reg.output).toBe(0);
      const callee = runSipp({ scenario: 'pbx-callee.xml', port: calleePort, calls: 1, timeoutSec: 10 });
      await new Promise((r) => setTimeout(r, 300));
      const caller = await runSipp({
        scenario: 'pbx-caller.xml',
        target: env.target,
        calls: 1,
        timeoutSec: 10,
        extra: [
          ...['-key', 'user', 'alice', '-key', 'callee', 'bob', '-au', 'alice', '-ap', '1234'],
          // sipp's digest-uri is the remote address unless told: the PBX wants the Request-URI
          ...['-auth_uri', 'bob@127.0.0.1'],
        ],
      });
      const c = await callee;
      expect([caller.code, caller.successful], caller.output).toEqual([0, 1]);
      expect([c.code, c.successful], c.output).toEqual([0, 1]);
    });

    it('no open relay: a request for another domain gets 403 and goes nowhere', async () => {
      for (const method of ['OPTIONS', 'INVITE', 'MESSAGE', 'REGISTER']) {
        const res = await ask(env, method, 'sip:victim@example.com');
        expect([method, res?.status]).toEqual([method, 403]);
      }
    });

    it('OPTIONS to the PBX itself: 200 without a challenge; to a user: 407 for the PBX realm', async () => {
      const self = await ask(env, 'OPTIONS', `sip:${env.target}`);
      expect(self?.status).toBe(200);
      expect(headerOf(self!, 'allow')).toMatch(/REGISTER/);
      const user = await ask(env, 'OPTIONS', 'sip:carol@nksip');
      expect(user?.status).toBe(407);
      expect(headerOf(user!, 'proxy-authenticate')).toMatch(/realm="nksip"/);
    });

    it('authenticated: 404 for an unknown user, 480 for a known one with nothing registered', async () => {
      expect((await ask(env, 'OPTIONS', 'sip:nobody@127.0.0.1', true))?.status).toBe(404);
      expect((await ask(env, 'OPTIONS', 'sip:carol@127.0.0.1', true))?.status).toBe(480);
    });
  });

  describe('NkPBX extensions (a PBX of their own: no phone registered before)', () => {
    const env = running(lang);

    it('200 rings every registered phone but the caller in parallel (Record-Route); 201 in pairs, without', async () => {
      const phones = { alice: await UdpPeer.open(), bob: await UdpPeer.open(), carol: await UdpPeer.open() };
      try {
        for (const [user, password] of [
          ['alice', '1234'],
          ['bob', '5678'],
          ['carol', 'c4r0l'],
        ] as const) {
          const r = await register(env, user, password, phones[user].port);
          expect([user, r.successful], r.output).toEqual([user, 1]);
        }
        // bob answers 200, carol 486: the caller gets the 200 (a retransmission of an earlier
        // round's MESSAGE is not this round's)
        const done = new Set<string | undefined>();
        const answer = (name: 'bob' | 'carol', status: number, reason: string) =>
          phones[name]
            .waitFor((m) => m.method === 'MESSAGE' && !done.has(headerOf(m, 'call-id')), 5000)
            .then(async (m) => {
              if (m) await phones[name].send(responseTo(m, status, reason, name), env.server.port('udp'));
              return m;
            });
        for (const ext of ['200', '201']) {
          const seen = phones.alice.messages.length;
          const [bobGot, carolGot, res] = await Promise.all([
            answer('bob', 200, 'OK'),
            answer('carol', 486, 'Busy Here'),
            ask(env, 'MESSAGE', `sip:${ext}@127.0.0.1`, true),
          ]);
          expect([ext, res?.status]).toEqual([ext, 200]);
          expect(bobGot?.startLine).toMatch(/^MESSAGE sip:bob@127\.0\.0\.1:\d+ /);
          expect(carolGot?.startLine).toMatch(/^MESSAGE sip:carol@127\.0\.0\.1:\d+ /);
          expect(headerOf(bobGot!, 'record-route') !== undefined).toBe(ext === '200');
          // the caller's own phone is left out
          expect(phones.alice.messages.slice(seen).filter((m) => m.method === 'MESSAGE')).toEqual([]);
          done.add(headerOf(bobGot!, 'call-id'));
        }
      } finally {
        await Promise.all(Object.values(phones).map((p) => p.close()));
      }
    });
  });
});
