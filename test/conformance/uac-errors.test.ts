// NkSIP t03 uac (uac_test): what a request the app sends can come back as besides a
// response — the error returns that make sense over the contract (invalid Request-URI, From,
// To, Route, Contact, a CSeq out of range, service_unavailable when the next hop cannot be
// reached, unknown_dialog) — and what comes back while it runs: the Call-ID, every provisional
// streamed before the final, and the dialog handle in the 180 already.
//
// service_not_started and too_many_calls are in call-limits.test.ts; NkSIP's sync/async modes
// are the SDK's own (UacCall).
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { freePort } from '../support/sipp.js';
import { conformanceLanguages, type RunningApp } from './apps.js';
import { Children } from './harness.js';

const languages = conformanceLanguages();

/** A TCP port nobody listens on (bound once to get it, then closed). */
async function closedTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** An error kind in any SDK's casing (invalidUri, INVALID_URI, invalid_uri) → `invaliduri`. */
const kind = (k: unknown) => String(k).replace(/_/g, '').toLowerCase();

describe.each(languages)('%s conformance apps: t03 uac', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let ua1: RunningApp;
  let ua2: RunningApp;
  let uri2: string;

  beforeAll(async () => {
    server = await children.server();
    ua1 = await children.app(lang, server, { name: 'ua1' });
    const p2 = await freePort();
    ua2 = await children.app(lang, server, { name: 'ua2', listen: [`sip:127.0.0.1:${p2}`] });
    uri2 = `sip:ua2@127.0.0.1:${p2}`;
  });

  afterAll(async () => {
    await children.stopAll();
  });

  it('error returns: invalid URI, From, To, Route, Contact, CSeq; unknown dialog', async () => {
    const cases: [string, string | { dialog: string }, Record<string, unknown>, string][] = [
      ['OPTIONS', 'not a uri', {}, 'invaliduri'],
      ['OPTIONS', 'sip:', {}, 'invaliduri'],
      ['OPTIONS', uri2, { from: '<sip:a@b' }, 'invalidfrom'],
      ['OPTIONS', uri2, { to: 'sip:a@b>;;' }, 'invalidto'],
      ['OPTIONS', uri2, { route: ['<sip:route@host'] }, 'invalidroute'],
      ['OPTIONS', uri2, { contact: '<sip:c@d' }, 'invalidcontact'],
      ['OPTIONS', uri2, { cseq: 2 ** 31 }, 'invalidoption'],
      ['OPTIONS', uri2, { cseq: 0 }, 'invalidoption'],
      ['BYE', { dialog: 'D_nobody-has-this-one' }, {}, 'unknowndialog'],
      ['INFO', { dialog: 'D_nobody-has-this-one' }, {}, 'unknowndialog'],
    ];
    for (const [method, target, opts, want] of cases) {
      const r = await ua1.request(method, target, opts);
      expect([method, target, opts, kind(r?.error)], JSON.stringify(r)).toEqual([method, target, opts, want]);
      expect(r?.code).toBeUndefined();
    }
    // nothing was sent for any of them: ua2 saw no request
    expect(ua2.find('callback', { kind: 'options' })).toEqual([]);
  });

  it('service_unavailable when the next hop cannot be reached (TCP connection refused)', async () => {
    const port = await closedTcpPort();
    const r = await ua1.request('OPTIONS', `sip:nobody@127.0.0.1:${port};transport=tcp`);
    expect(kind(r?.error), JSON.stringify(r)).toBe('serviceunavailable');
    const invite = await ua1.request('INVITE', `sip:nobody@127.0.0.1:${port};transport=tcp`);
    expect(kind(invite?.error), JSON.stringify(invite)).toBe('serviceunavailable');
  });

  it('provisionals are streamed before the final, the 180 carries the dialog handle, the result the Call-ID', async () => {
    const id = ua1.send('INVITE', uri2, {
      headers: [
        ['x-nk-op', 'ok'],
        ['x-nk-prov', 'true'],
        ['x-nk-sleep', '300'],
      ],
      auto2xxAck: true,
    });
    const res = await ua1.result(id);
    expect(res?.code).toBe(200);
    const provs = ua1.provisionals(id);
    expect(provs.map((p) => p.code)).toContain(180);
    const ringing = provs.find((p) => p.code === 180);
    expect(ringing?.dialog).toMatch(/^D_/);
    expect(ringing?.dialog).toBe(res?.dialog);
    expect(ringing?.callId).toBe(res?.callId);
    expect(res?.callId).toMatch(/\S/);
    // every provisional came before the final
    const at = (e: unknown) => ua1.events.indexOf(e as never);
    const final = ua1.events.find((e) => e.ev === 'result' && e.id === id);
    for (const p of provs) expect(at(p)).toBeLessThan(at(final));
    expect((await ua1.request('BYE', { dialog: res?.dialog as string }))?.code).toBe(200);
  });
});
