// Digest authentication through the conformance app: NkSIP's t13 auth_test (digest, invite,
// dialog) and t02 auth, with two or three app instances on one server. App A takes over the
// server's listeners (its requests and its Contact use them); app B listens on its own port,
// app R on another with the registrar plugin. A raw UDP client drives each app with MESSAGEs
// (x-nk-uac...) and reads what the app reports in its answer.
//
//   A (confa): challenges realm `confa`, password 4321 for any user.
//   B (confb): challenges realm `confb`, password 1234; its own credentials (NkSIP
//              `sip_pass`): `jj` for any realm and `4321` for realm `confa`.
//   R (confr): registrar, challenges with 407 (realm: the From domain), password 1234.
//
// Where this differs from NkSIP: a request with a password only for another realm gets the
// challenge back as its final answer (there is nothing to answer it with), not a 403.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHa1 } from '../../server/src/auth/digest.js';
import type { RunningServer } from '../support/server-process.js';
import { headerOf, type WireMessage } from '../support/sip-wire.js';
import { freePort } from '../support/sipp.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children, describeMessage, SipClient } from './harness.js';

const languages = conformanceLanguages();

/** What an app reports about the request it sent. */
interface Outcome {
  status: string;
  cseq: number;
  dialog: string;
  raw: WireMessage | undefined;
}

const variants = [
  { name: 'UDP', config: {} },
  // NkSIP runs t13 again with a tiny sip_udp_max_size so every request goes over TCP
  { name: 'forced TCP', config: { udpMaxSize: 500 } },
];

describe.each(languages)('%s conformance app: digest authentication', (lang) => {
  describe.each(variants)('t13 ($name)', ({ config }) => {
    const children = new Children();
    let server: RunningServer;
    let b: RunningApp;
    let toA: SipClient;
    let toB: SipClient;
    let portB: number;
    let uriA: string;
    let uriB: string;

    beforeAll(async () => {
      server = await children.server(config);
      portB = await freePort();
      await children.app(lang, server, { name: 'confa', env: { NKSIP_PASS: '4321' } });
      b = await children.app(lang, server, {
        name: 'confb',
        listen: [`sip:127.0.0.1:${portB}`],
        env: { NKSIP_PASS: '1234', NKSIP_SIP_PASS: 'jj,confa/4321' },
      });
      toA = await SipClient.open(server.port('udp'));
      toB = await SipClient.open(portB);
      uriA = `sip:confa@127.0.0.1:${server.port('udp')}`;
      uriB = `sip:confb@127.0.0.1:${portB}`;
    });

    afterAll(async () => {
      await toA?.close();
      await toB?.close();
      await children.stopAll();
    });

    /** Asks the app behind `client` to send `method`; the app's report of its final answer. */
    async function uac(client: SipClient, method: string, target: string, headers: string[] = []) {
      const { res } = await client.request(
        {
          method: 'MESSAGE',
          headers: [`x-nk-uac: ${method} ${target}`, ...headers],
          body: 'go',
          contentType: 'text/plain',
        },
        8000,
      );
      expect(res?.status, describeMessage(res)).toBe(200);
      const out: Outcome = {
        status: headerOf(res!, 'x-nk-uac-status') ?? '',
        cseq: Number(headerOf(res!, 'x-nk-uac-cseq') ?? Number.NaN),
        dialog: headerOf(res!, 'x-nk-uac-dialog') ?? '',
        raw: res,
      };
      return out;
    }

    /** A dialog's authorised list as the app behind `client` sees it (`clear` empties it). */
    async function authList(client: SipClient, dialog: string, clear = false): Promise<string> {
      const { res } = await client.request(
        {
          method: 'MESSAGE',
          headers: [clear ? `x-nk-authclear: ${dialog}` : `x-nk-authlist: ${dialog}`],
          body: 'list',
          contentType: 'text/plain',
        },
        5000,
      );
      expect(res?.status, describeMessage(res)).toBe(200);
      return headerOf(res!, 'x-nk-authlist') ?? '';
    }

    const authB = (flags = '') => `x-nk-uac-header: x-nk-auth: confb${flags}`;
    const authA = 'x-nk-uac-header: x-nk-auth: confa';

    it('digest: 401 without a password, 200 with the right one, 403 with a wrong one', async () => {
      expect((await uac(toA, 'OPTIONS', uriB, [authB()])).status).toBe('401');
      expect((await uac(toA, 'OPTIONS', uriB, [authB(), 'x-nk-uac-pass: 1234'])).status).toBe('200');
      expect((await uac(toA, 'OPTIONS', uriB, [authB(), 'x-nk-uac-pass: 12345'])).status).toBe('403');
      // B checked the wrong one and said so: a false digest in its AuthList
      const seen = b.find('callback', { kind: 'authorize', method: 'OPTIONS' });
      expect(seen.some((e) => (e.digests as string[]).includes('user@confb:false'))).toBe(true);
      expect(seen.some((e) => (e.digests as string[]).includes('user@confb:true'))).toBe(true);
    });

    it('digest: realm-specific passwords, HA1, and a password for another realm only', async () => {
      expect((await uac(toA, 'OPTIONS', uriB, [authB(), 'x-nk-uac-pass: 1234;realm=confb'])).status).toBe(
        '200',
      );
      const ha1 = makeHa1('user', 'confb', '1234');
      expect((await uac(toA, 'OPTIONS', uriB, [authB(), `x-nk-uac-pass: ${ha1}`])).status).toBe('200');
      // nothing fits the challenge: it is the final answer (NkSIP: 403)
      expect((await uac(toA, 'OPTIONS', uriB, [authB(), 'x-nk-uac-pass: 1234;realm=other'])).status).toBe(
        '401',
      );
    });

    it("digest: the app's own passwords (sip_pass) after the request's, realm-specific first", async () => {
      // B → A: A challenges realm confa; B's config has 4321 for confa
      expect((await uac(toB, 'OPTIONS', uriA, [authA])).status).toBe('200');
      // a per-request password for any realm loses to the config's one for the realm
      expect((await uac(toB, 'OPTIONS', uriA, [authA, 'x-nk-uac-pass: kk'])).status).toBe('200');
      // a per-request password for the realm wins, and is wrong
      expect((await uac(toB, 'OPTIONS', uriA, [authA, 'x-nk-uac-pass: kk;realm=confa'])).status).toBe('403');
    });

    it('digest: a bound on tries (0: the challenge comes back)', async () => {
      const r = await uac(toA, 'OPTIONS', uriB, [authB(), 'x-nk-uac-pass: 1234', 'x-nk-uac-max-tries: 0']);
      expect(r.status).toBe('401');
    });

    it('invite: digest on INVITE, in-dialog OPTIONS and re-INVITE; CSeq keeps increasing; BYE', async () => {
      const first = await uac(toA, 'INVITE', uriB, [authB(';nodialog')]);
      expect(first.status).toBe('401');
      const acksBefore = b.find('callback', { kind: 'ack' }).length;
      const call = await uac(toA, 'INVITE', uriB, [
        authB(';nodialog'),
        'x-nk-uac-pass: 1234',
        'x-nk-uac-keep: 1',
      ]);
      expect(call.status).toBe('200');
      expect(call.dialog).not.toBe('');
      // the 2xx answers the retried INVITE: one CSeq above the challenged one
      const ack = await b.waitEvent(
        (e) => e.kind === 'ack' && b.find('callback', { kind: 'ack' }).length > acksBefore,
        3000,
      );
      expect(ack, 'B got no ACK').toBeDefined();
      const inDialog = (method: string, extra: string[] = []) =>
        uac(toA, method, '-', [`x-nk-uac-dialog: ${call.dialog}`, authB(';nodialog'), ...extra]);
      const o1 = await inDialog('OPTIONS');
      expect(o1.status).toBe('401');
      const o2 = await inDialog('OPTIONS', ['x-nk-uac-pass: 1234']);
      expect(o2.status).toBe('200');
      // the challenged OPTIONS used one CSeq, its retry the next
      expect(o2.cseq).toBe(o1.cseq + 2);
      expect((await inDialog('INVITE')).status).toBe('401');
      const re = await inDialog('INVITE', ['x-nk-uac-pass: 1234']);
      expect(re.status).toBe('200');
      expect(re.cseq).toBeGreaterThan(o2.cseq);
      const bye = await inDialog('BYE', ['x-nk-uac-pass: 1234']);
      expect(bye.status).toBe('200');
      expect(bye.cseq).toBeGreaterThan(re.cseq);
      expect(await b.waitEvent((e) => e.kind === 'bye', 3000)).toBeDefined();
    });

    it('dialog: authorised lists on both sides; cleared, the peer is challenged again', async () => {
      const acks = b.find('callback', { kind: 'ack' }).length;
      const call = await uac(toA, 'INVITE', uriB, [authB(), 'x-nk-uac-pass: 1234', 'x-nk-uac-keep: 1']);
      expect(call.status).toBe('200');
      const ack = await b.waitEvent(() => b.find('callback', { kind: 'ack' }).length > acks, 3000);
      const dialogB = String(ack?.dialog ?? b.find('callback', { kind: 'ack' }).at(-1)?.dialog ?? '');
      expect(dialogB).not.toBe('');
      // A: where its 2xx came from; B: where A's requests come from (the server's listener)
      expect(await authList(toA, call.dialog)).toMatch(new RegExp(`^(udp|tcp):127\\.0\\.0\\.1:${portB}$`));
      const listB = await authList(toB, dialogB);
      expect(listB).toMatch(/^(udp|tcp):127\.0\.0\.1:\d+$/);

      const inDialog = (extra: string[] = []) =>
        uac(toA, 'OPTIONS', '-', [`x-nk-uac-dialog: ${call.dialog}`, authB(), ...extra]);
      // authorised by the dialog: no challenge, no digest computed
      expect((await inDialog()).status).toBe('200');
      const last = b.find('callback', { kind: 'authorize', method: 'OPTIONS' }).at(-1);
      expect(last?.dialog).toBe(true);

      expect(await authList(toB, dialogB, true)).toBe(listB);
      expect(await authList(toB, dialogB)).toBe('');
      expect((await inDialog()).status).toBe('401');
      expect((await inDialog(['x-nk-uac-pass: 1234'])).status).toBe('200');
      // authorised again by that digest
      expect(await authList(toB, dialogB)).toBe(listB);
      expect((await inDialog()).status).toBe('200');

      const bye = await uac(toA, 'BYE', '-', [`x-nk-uac-dialog: ${call.dialog}`]);
      expect(bye.status).toBe('200');
      expect(await authList(toA, call.dialog)).toBe('unknown');
    });
  });

  describe('t02 auth: a registrar asking for proxy authentication', () => {
    const children = new Children();
    let server: RunningServer;
    let toA: SipClient;
    let uriR: string;

    beforeAll(async () => {
      server = await children.server();
      const portR = await freePort();
      await children.app(lang, server, { name: 'confa' });
      await children.app(lang, server, {
        name: 'confr',
        listen: [`sip:127.0.0.1:${portR}`],
        env: { NKSIP_PASS: '1234', NKSIP_PLUGINS: 'registrar' },
      });
      toA = await SipClient.open(server.port('udp'));
      uriR = `sip:127.0.0.1:${portR}`;
    });

    afterAll(async () => {
      await toA?.close();
      await children.stopAll();
    });

    async function uac(method: string, headers: string[]): Promise<string> {
      const { res } = await toA.request(
        {
          method: 'MESSAGE',
          headers: [`x-nk-uac: ${method} ${uriR}`, 'x-nk-uac-header: x-nk-auth: proxy', ...headers],
          body: 'go',
          contentType: 'text/plain',
        },
        8000,
      );
      expect(res?.status, describeMessage(res)).toBe(200);
      return headerOf(res!, 'x-nk-uac-status') ?? '';
    }

    it('407 without credentials and 200 with a password, for OPTIONS and REGISTER; then authorised by the registration', async () => {
      const contact = `x-nk-uac-header: Contact: <sip:user@127.0.0.1:${server.port('udp')}>`;
      expect(await uac('OPTIONS', [])).toBe('407');
      expect(await uac('OPTIONS', ['x-nk-uac-pass: 1234'])).toBe('200');
      expect(await uac('REGISTER', [contact])).toBe('407');
      expect(await uac('REGISTER', [contact, 'x-nk-uac-pass: 1234'])).toBe('200');
      // registered: the `register` token lets requests from that source through
      expect(await uac('OPTIONS', [])).toBe('200');
      // unregistered: challenged again
      expect(await uac('REGISTER', [contact, 'x-nk-uac-pass: 1234', 'x-nk-uac-header: Expires: 0'])).toBe(
        '200',
      );
      expect(await uac('OPTIONS', [])).toBe('407');
    });
  });
});
