// Dialogs and INVITE sessions between two conformance apps (NkSIP t09 invite: cancel, dialog,
// multiple_uac; t03 uac: info, message, bye_with_reason): `ua1` sends requests as a test
// drives it over stdin, `ua2` answers as the x-nk-* headers say; each has its own listener on
// the same server, so every request crosses the network stack and both sides keep a dialog.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../support/server-process.js';
import { freePort } from '../support/sipp.js';
import {
  type AppEvent,
  conformanceLanguages,
  type RunningApp,
  resultHeader,
  type UacResult,
} from './apps.js';
import { Children, SDP } from './harness.js';

const languages = conformanceLanguages();

const OFFER = { body: SDP, contentType: 'application/sdp' };

describe.each(languages)('%s conformance apps: dialogs and INVITE sessions', (lang) => {
  const children = new Children();
  let server: RunningServer;
  let ua1: RunningApp;
  let ua2: RunningApp;
  let px: RunningApp;
  let uri2: string;
  let p1: number;
  let pp: number;

  beforeAll(async () => {
    server = await children.server();
    const p2 = await freePort();
    [p1, pp] = [await freePort(), await freePort()];
    ua1 = await children.app(lang, server, { name: 'ua1', listen: [`sip:127.0.0.1:${p1}`] });
    ua2 = await children.app(lang, server, { name: 'ua2', listen: [`sip:127.0.0.1:${p2}`] });
    // a plain outbound proxy: every request is proxied to its Request-URI (x-nk-rr: Record-Route)
    px = await children.app(lang, server, {
      name: 'px',
      listen: [`sip:127.0.0.1:${pp}`],
      env: { NKSIP_ROUTE: 'forward' },
    });
    uri2 = `sip:ua2@127.0.0.1:${p2}`;
  });

  afterAll(async () => {
    await children.stopAll();
  });

  const op = (value: string, more: [string, string][] = []): { headers: [string, string][] } => ({
    headers: [['x-nk-op', value], ...more],
  });

  /** Dialog events an app printed for one dialog handle, as `status[:inviteStatus][:stopReason]`. */
  function dialogTrail(app: RunningApp, handle: string | undefined): string[] {
    return app
      .find('dialog', { dialog: handle })
      .map((e) =>
        [e.status, e.inviteStatus, e.stopReason].filter((v) => v !== '' && v !== undefined).join(':'),
      );
  }

  async function waitStop(app: RunningApp, handle: string | undefined): Promise<AppEvent | undefined> {
    return app.waitEvent((e) => e.ev === 'dialog' && e.dialog === handle && e.status === 'stop', 5000);
  }

  /** An answered and ACKed call from ua1 to ua2: ua1's dialog, ua2's dialog, the Call-ID. */
  async function call(): Promise<{ d1: string; d2: string; callId: string; invite: UacResult }> {
    const invite = await ua1.request('INVITE', uri2, { ...op('answer'), ...OFFER, auto2xxAck: true });
    expect(invite?.code, JSON.stringify(invite)).toBe(200);
    const d1 = invite?.dialog as string;
    const callId = invite?.callId as string;
    const ack = await ua2.waitEvent(
      (e) => e.ev === 'callback' && e.kind === 'ack' && e.callId === callId,
      5000,
    );
    expect(ack, 'ua2 saw the ACK').toBeDefined();
    return { d1, d2: ack?.dialog as string, callId, invite: invite as UacResult };
  }

  it('t09 cancel: busy without a dialog; 183 then 486 starts and stops an early dialog on both sides', async () => {
    const busy = await ua1.request('INVITE', uri2, { ...op('busy'), ...OFFER });
    expect(busy?.code).toBe(486);
    expect(busy?.dialog).toBe('');

    const id = ua1.send('INVITE', uri2, { ...op('prov-busy'), ...OFFER });
    const res = await ua1.result(id);
    expect(res?.code).toBe(486);
    const prov = ua1.provisionals(id).find((p) => p.code === 183);
    expect(prov?.dialog).toMatch(/^D_/);
    const d1 = prov?.dialog as string;
    await waitStop(ua1, d1);
    expect(dialogTrail(ua1, d1)).toEqual([
      'start',
      'inviteStatus:proceeding_uac',
      'inviteStatus:stop:busy',
      'stop',
    ]);
    const start2 = await ua2.waitEvent((e) => e.ev === 'dialog' && e.status === 'start', 5000);
    await waitStop(ua2, start2?.dialog as string);
    expect(dialogTrail(ua2, start2?.dialog as string)).toEqual([
      'start',
      'inviteStatus:proceeding_uas',
      'inviteStatus:stop:busy',
      'stop',
    ]);
  });

  it('t09 cancel: a manual CANCEL ends the INVITE with 487; sip_cancel is called and both dialogs stop as cancelled', async () => {
    const id = ua1.send('INVITE', uri2, { ...op('pending'), ...OFFER });
    await ua1.waitEvent((e) => e.ev === 'provisional' && e.id === id && e.code === 180, 5000);
    const cancel = await ua1.cancel(id);
    expect(cancel?.code).toBe(200);
    const res = await ua1.result(id);
    expect(res?.code).toBe(487);
    const callId = res?.callId;
    expect(
      await ua2.waitEvent((e) => e.ev === 'callback' && e.kind === 'cancel' && e.callId === callId, 5000),
    ).toBeDefined();
    const d1 = ua1.provisionals(id).find((p) => p.code === 180)?.dialog as string;
    await waitStop(ua1, d1);
    expect(dialogTrail(ua1, d1)).toContain('inviteStatus:stop:cancelled');
  });

  it('t09 cancel: `expires` cancels by itself; with no_auto_expire the UAS answers 487 when Expires passes', async () => {
    const auto = await ua1.request('INVITE', uri2, { ...op('pending'), ...OFFER, expires: 1 });
    expect(auto?.code).toBe(487);
    expect(
      await ua2.waitEvent(
        (e) => e.ev === 'callback' && e.kind === 'cancel' && e.callId === auto?.callId,
        5000,
      ),
      'the UAS saw a CANCEL',
    ).toBeDefined();

    const mark = ua2.events.length;
    const left = await ua1.request('INVITE', uri2, {
      ...op('pending'),
      ...OFFER,
      expires: 1,
      noAutoExpire: true,
    });
    expect(left?.code).toBe(487);
    // no CANCEL this time: the 487 came from the UAS core on its own
    expect(ua2.events.slice(mark).filter((e) => e.kind === 'cancel')).toEqual([]);
  });

  it('t09 dialog: both sides keep the dialog (targets, CSeqs, states); in-dialog CSeq rules; BYE stop reasons', async () => {
    const { d1, d2, callId } = await call();
    const info1 = await info(ua1, d1);
    expect(info1).toMatchObject({
      handle: d1,
      callId,
      role: 'uac',
      early: false,
      secure: false,
      inviteStatus: 'confirmed',
    });
    expect(info1.remoteTarget).toMatch(new RegExp(`@?127\\.0\\.0\\.1:${uri2.split(':').at(-1)}`));
    expect(info1.remoteSeq).toBeUndefined();
    const info2 = await info(ua2, d2);
    expect(info2).toMatchObject({
      handle: d2,
      callId,
      role: 'uas',
      inviteStatus: 'confirmed',
      remoteSeq: info1.localSeq,
    });
    expect(info2.localSeq).toBeUndefined();
    expect(info2.remoteTarget).toBe(info1.localTarget);
    expect(info2.localTarget).toBe(info1.remoteTarget);
    // the session both sides agreed on: what one sent is what the other received
    expect(info1.inviteLocalSdp).toBeTruthy();
    expect(info1.inviteLocalSdp).toEqual(info2.inviteRemoteSdp);
    expect(info1.inviteRemoteSdp).toEqual(info2.inviteLocalSdp);
    // both dialogs (UAC and UAS side) live in the server: get_all by Call-ID finds both
    const all = (await ask(ua1, { cmd: 'dialogs', callId }))?.infos as Info[];
    expect(all.map((d) => d.handle).sort()).toEqual([d1, d2].sort());

    // in-dialog requests: CSeq one above the last; a forced CSeq; one below → 500
    const infoReq = await ua1.request('INFO', { dialog: d1 });
    expect(infoReq?.code).toBe(200);
    expect(infoReq?.cseq).toBe((info1.localSeq as number) + 1);
    const high = (infoReq?.cseq as number) + 1000;
    const forced = await ua1.request('INFO', { dialog: d1 }, { cseq: high });
    expect(forced?.cseq).toBe(high);
    expect(forced?.code, JSON.stringify(forced)).toBe(200);
    const old = await ua1.request('INFO', { dialog: d1 }, { cseq: high - 1 });
    expect(old?.code).toBe(500);
    expect(old?.reason).toBe('Old CSeq in Dialog');
    // the local sequence keeps the highest sent
    const next = await ua1.request('OPTIONS', { dialog: d1 });
    expect(next?.cseq).toBe(high + 1);

    // a re-INVITE the other way round, from the callee
    const reinvite = await ua2.request(
      'INVITE',
      { dialog: d2 },
      { ...op('answer'), ...OFFER, auto2xxAck: true },
    );
    expect(reinvite?.code).toBe(200);
    expect(reinvite?.dialog).toBe(d2);

    // the caller hangs up: caller_bye on both sides, and both dialogs are gone
    const bye = await ua1.request('BYE', { dialog: d1 });
    expect(bye?.code).toBe(200);
    await waitStop(ua1, d1);
    await waitStop(ua2, d2);
    expect(dialogTrail(ua1, d1)).toContain('inviteStatus:stop:caller_bye');
    expect(dialogTrail(ua2, d2)).toContain('inviteStatus:stop:caller_bye');
    expect((await ask(ua1, { cmd: 'dialogs', callId }))?.infos).toEqual([]);

    // the callee hangs up: callee_bye
    const c2 = await call();
    expect((await ua2.request('BYE', { dialog: c2.d2 }))?.code).toBe(200);
    await waitStop(ua1, c2.d1);
    await waitStop(ua2, c2.d2);
    expect(dialogTrail(ua1, c2.d1)).toContain('inviteStatus:stop:callee_bye');
    expect(dialogTrail(ua2, c2.d2)).toContain('inviteStatus:stop:callee_bye');
  });

  it('t09 rr_contact: through a record-routing proxy the route set comes from Record-Route; a re-INVITE moves the target, not the route set; an OPTIONS Contact moves nothing; BYE routes', async () => {
    const proxyRoute = `<sip:127.0.0.1:${pp};lr>`;
    const invite = await ua1.request('INVITE', uri2, {
      headers: [
        ['x-nk-op', 'answer'],
        ['x-nk-rr', 'true'],
      ],
      ...OFFER,
      route: [proxyRoute],
      auto2xxAck: true,
    });
    expect(invite?.code, JSON.stringify(invite)).toBe(200);
    const d1 = invite?.dialog as string;
    const callId = invite?.callId as string;
    const ack = await ua2.waitEvent(
      (e) => e.ev === 'callback' && e.kind === 'ack' && e.callId === callId,
      5000,
    );
    const d2 = ack?.dialog as string;
    // the proxy's Record-Route is the route set on both sides (the UAC reverses the response's)
    const i1 = await info(ua1, d1);
    const i2 = await info(ua2, d2);
    expect(i1.routeSet).toHaveLength(1);
    expect(i1.routeSet[0]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${pp};lr`));
    expect(i2.routeSet).toEqual(i1.routeSet);

    // a re-INVITE with another Contact: a new remote target at the callee, the same route set
    const moved = `sip:ua1-moved@127.0.0.1:${p1}`;
    const re = await ua1.request(
      'INVITE',
      { dialog: d1 },
      { ...OFFER, contact: `<${moved}>`, auto2xxAck: true },
    );
    expect(re?.code).toBe(200);
    const after = await info(ua2, d2);
    expect(after.remoteTarget).toBe(moved);
    expect(after.routeSet).toEqual(i1.routeSet);
    await ua2.waitEvent((e) => e.ev === 'dialog' && e.dialog === d2 && e.status === 'targetUpdate', 3000);

    // an OPTIONS with a Contact is no target refresh
    const opt = await ua1.request('OPTIONS', { dialog: d1 }, { contact: `<sip:elsewhere@127.0.0.1:${p1}>` });
    expect(opt?.code).toBe(200);
    expect((await info(ua2, d2)).remoteTarget).toBe(moved);

    // the BYE goes through the proxy (it sees its route callback), from both sides' view
    const mark = px.events.length;
    expect((await ua1.request('BYE', { dialog: d1 }))?.code).toBe(200);
    expect(
      px.events.slice(mark).some((e) => e.kind === 'route' && e.method === 'BYE' && e.callId === callId),
      'the BYE went through the proxy',
    ).toBe(true);
    await waitStop(ua2, d2);
  });

  it('t09 multiple_uac: accepted_uac before the ACK, and request_pending for a second INVITE meanwhile', async () => {
    const first = await ua1.request('INVITE', uri2, { ...op('answer'), ...OFFER });
    expect(first?.code).toBe(200);
    const d1 = first?.dialog as string;
    expect((await info(ua1, d1)).inviteStatus).toBe('accepted_uac');
    const second = await ua1.request('INVITE', { dialog: d1 }, OFFER);
    expect(second?.error).toBe('requestPending');
    expect((await ua1.request('ACK', { dialog: d1 }))?.code).toBe(200);
    expect((await info(ua1, d1)).inviteStatus).toBe('confirmed');
    expect((await ua1.request('BYE', { dialog: d1 }))?.code).toBe(200);
  });

  it('t03 info: INFO in a dialog; once the remote dialog is stopped, INFO gets 481, which ends ours (BYE → unknown_dialog)', async () => {
    const { d1, d2 } = await call();
    expect((await ua1.request('INFO', { dialog: d1 }))?.code).toBe(200);
    expect((await ask(ua2, { cmd: 'stop-dialog', dialog: d2 }))?.stopped).toBe(d2);
    await waitStop(ua2, d2);
    expect(dialogTrail(ua2, d2)).toContain('inviteStatus:stop:forced');
    expect((await ua1.request('INFO', { dialog: d1 }))?.code).toBe(481);
    await waitStop(ua1, d1);
    const bye = await ua1.request('BYE', { dialog: d1 });
    expect(bye?.error).toBe('unknownDialog');
  });

  it('t03 message: MESSAGE with expires carries Expires, a Date, its content type and body', async () => {
    const res = await ua1.request('MESSAGE', uri2, {
      ...op('reply-request'),
      expires: 10,
      contentType: 'text/plain',
      body: 'hi there',
    });
    expect(res?.code).toBe(200);
    const seen = res?.body ?? '';
    expect(seen).toMatch(/^MESSAGE sip:ua2@/);
    expect(seen).toMatch(/\r\nexpires: 10\r\n/i);
    const date = /\r\ndate: ([^\r]+)\r\n/i.exec(seen)?.[1];
    expect(date).toBeDefined();
    expect(Math.abs(Date.parse(date as string) - Date.now())).toBeLessThan(60_000);
    expect(seen).toMatch(/\r\ncontent-type: text\/plain\r\n/i);
    expect(seen.endsWith('\r\n\r\nhi there')).toBe(true);
  });

  it('t03 bye_with_reason: the BYE carries the Reason given', async () => {
    const { d1 } = await call();
    const bye = await ua1.request(
      'BYE',
      { dialog: d1 },
      { ...op('reply-request'), reason: 'Q.850;cause=16;text="normal call clearing"' },
    );
    expect(bye?.code).toBe(200);
    expect(bye?.body).toMatch(/\r\nreason: Q\.850;cause=16;text="normal call clearing"\r\n/i);
    expect(resultHeader(bye, 'x-nk-id')).toBe('ua2');
  });

  /** The dialog as the app's server keeps it (NkSIP get_meta); fails the test when unknown. */
  async function info(app: RunningApp, handle: string): Promise<Info> {
    const got = (await ask(app, { cmd: 'dialog', dialog: handle }))?.info as Info | null | undefined;
    if (!got) throw new Error(`${app.name}: no dialog ${handle}`);
    return got;
  }

  /** A dialog command (`dialog`, `dialogs`, `stop-dialog`) and its result. */
  function ask(app: RunningApp, cmd: Record<string, unknown>): Promise<UacResult | undefined> {
    return app.result(app.command(cmd));
  }
});

type Info = {
  handle: string;
  inviteLocalSdp?: unknown;
  inviteRemoteSdp?: unknown;
  routeSet: string[];
  callId: string;
  role: string;
  localSeq?: number;
  remoteSeq?: number;
  localTarget: string;
  remoteTarget: string;
  inviteStatus?: string;
};
