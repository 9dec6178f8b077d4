// Session timers at a stateful proxy whose app runs the timers plugin (RFC 4028 §8, NkSIP
// t20 proxy): Session-Expires inserted or lowered, Min-SE raised, 422 below the proxy's
// Min-SE, and a 2xx from a UAS without timer support given Session-Expires with
// refresher=uac and Require: timer when the caller supports timers.
import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest } from '../src/sip/message.js';
import { type ProxyHarness, proxyDecision, proxyHarness } from './support/proxy.js';
import { request as baseRequest } from './support/transaction.js';

let seq = 0;
function request(headers: string[] = [], method = 'INVITE'): SipRequest {
  seq++;
  return baseRequest({
    method,
    branch: `z9hG4bKt${seq}`,
    callId: `pt-${seq}`,
    sentBy: '192.0.2.10:5060',
    headers,
  });
}

const A = '192.0.2.31';
const TIMERS = { se: 1000, minSe: 200 };

let live: ProxyHarness[] = [];
function setup(timers = TIMERS): ProxyHarness {
  const h = proxyHarness({ decide: proxyDecision([[`sip:bob@${A}`]]), timers });
  live.push(h);
  return h;
}

afterEach(async () => {
  const all = live;
  live = [];
  for (const h of all) {
    await h.settle();
    expect(h.proxy.stats()).toEqual({ forks: 0, branches: 0, dialogs: 0 });
    expect(h.layer.stats()).toEqual({ client: 0, server: 0 });
  }
});

describe('session timers at the proxy', () => {
  it('inserts Session-Expires and Min-SE when the INVITE has none', async () => {
    const t = setup();
    await t.send(request());
    const [fwd] = t.transport.to(A);
    expect(fwd?.header('session-expires')).toBe('1000');
    expect(fwd?.header('min-se')).toBe('200');
    await t.answer(fwd as SipRequest, 486);
  });

  it('lowers a longer Session-Expires (keeping the refresher) and raises a lower Min-SE', async () => {
    const t = setup();
    await t.send(request(['Session-Expires: 5000;refresher=uas', 'Min-SE: 100']));
    const [fwd] = t.transport.to(A);
    expect(fwd?.header('session-expires')).toBe('1000;refresher=uas');
    expect(fwd?.header('min-se')).toBe('200');
    await t.answer(fwd as SipRequest, 486);
  });

  it('leaves a shorter Session-Expires and a higher Min-SE as they are', async () => {
    const t = setup();
    await t.send(request(['Session-Expires: 400', 'Min-SE: 300']));
    const [fwd] = t.transport.to(A);
    expect([fwd?.header('session-expires'), fwd?.header('min-se')]).toEqual(['400', '300']);
    await t.answer(fwd as SipRequest, 486);
  });

  it('answers 422 with its Min-SE below it, and forwards nothing', async () => {
    const t = setup();
    await t.send(request(['Session-Expires: 150']));
    const [r] = t.transport.up().filter((x) => x.status >= 200);
    expect([r?.status, r?.reason, r?.header('min-se')]).toEqual([422, 'Session Interval Too Small', '200']);
    expect(t.transport.to(A)).toHaveLength(0);
  });

  it('gives a 2xx without timers Session-Expires;refresher=uac and Require: timer when the caller supports them', async () => {
    const t = setup();
    await t.send(request(['Supported: timer']));
    await t.answer(t.transport.to(A)[0] as SipRequest, 200);
    const ok = t.transport.up().find((x) => x.status === 200);
    expect(ok?.header('session-expires')).toBe('1000;refresher=uac');
    expect(ok?.headerValues('require')).toContain('timer');
  });

  it('leaves the 2xx alone when the caller does not support timers, or the UAS answered with its own', async () => {
    const t = setup();
    await t.send(request());
    await t.answer(t.transport.to(A)[0] as SipRequest, 200);
    const ok = t.transport.up().find((x) => x.status === 200);
    expect(ok?.hasHeader('session-expires')).toBe(false);
    expect(ok?.hasHeader('require')).toBe(false);

    const u = setup();
    await u.send(request(['Supported: timer']));
    await u.answer(u.transport.to(A)[0] as SipRequest, 200, {
      headers: [['Session-Expires', '1000;refresher=uas']],
    });
    const ok2 = u.transport.up().find((x) => x.status === 200);
    expect(ok2?.headerValues('session-expires')).toEqual(['1000;refresher=uas']);
    expect(ok2?.hasHeader('require')).toBe(false);
  });

  it('does nothing without the timers plugin, nor for other methods', async () => {
    const t = proxyHarness({ decide: proxyDecision([[`sip:bob@${A}`]]) });
    live.push(t);
    await t.send(request(['Session-Expires: 10']));
    const [fwd] = t.transport.to(A);
    expect([fwd?.header('session-expires'), fwd?.hasHeader('min-se')]).toEqual(['10', false]);
    await t.answer(fwd as SipRequest, 486);
    const o = setup();
    await o.send(request([], 'OPTIONS'));
    const [opt] = o.transport.to(A, 'OPTIONS');
    expect(opt?.hasHeader('session-expires')).toBe(false);
    await o.answer(opt as SipRequest, 200);
  });
});
