// Compile-time checks of the SDK's typing (run by types.test.ts through `tsc --noEmit`).
// Each `@ts-expect-error` line must fail to compile; tsc reports an unused one as an error.
import {
  Authorize,
  Branch,
  busy,
  noreply,
  ok,
  process,
  proxy,
  type Reply,
  reply,
  ringing,
  type SipApp,
  type SipAppCallbacks,
} from '../src/index.js';

export const good: SipAppCallbacks = {
  route: (req) => (req.ruri.user === 'proxy' ? proxy(['sip:a@h', ['sip:b@h', 'sip:c@h']]) : process()),
  invite: async (req) => {
    req.reply(ringing());
    return noreply();
  },
  options: () => ok({ headers: { 'x-a': 'b' } }),
  bye: () => ({ code: 200, reason: 'Bye' }),
  message: () => ({ named: 'accepted' }),
  authorize: (auth) => (auth.digests.some((d) => d.ok) ? Authorize.ok() : Authorize.authenticate('realm')),
  getUserPass: (user) => (user === 'anonymous' ? true : 'secret'),
  dialogUpdate: (u) => {
    u.status satisfies string;
  },
  branchFinal: (b) => (b.response.code === 486 ? Branch.reply(busy()) : Branch.continue()),
  cancel: (invite, cancel) => {
    invite.method satisfies string;
    cancel.callId satisfies string;
  },
};

export class ClassApp implements SipAppCallbacks {
  invite() {
    return busy();
  }
}

export const bad1: SipAppCallbacks = {
  // @ts-expect-error a route decision is not an answer to invite
  invite: () => process(),
};

export const bad2: SipAppCallbacks = {
  // @ts-expect-error a reply is not a route decision
  route: () => ok(),
};

export const bad3: SipAppCallbacks = {
  // @ts-expect-error authorize answers with Authorize.*, not a reply
  authorize: () => busy(),
};

export const bad4: SipAppCallbacks = {
  // @ts-expect-error noreply is for method callbacks only
  route: () => noreply(),
};

export const bad5: SipAppCallbacks = {
  // @ts-expect-error a misspelt callback name
  invte: () => ok(),
};

export const bad6: SipAppCallbacks = {
  // @ts-expect-error getUserPass answers a password or a boolean
  getUserPass: () => 42,
};

export const bad7: SipAppCallbacks = {
  // @ts-expect-error branchFinal wants a Branch.* decision
  branchFinal: () => reply(busy()),
};

// @ts-expect-error a reply gives a code or a name, not both
export const bad8: Reply = { code: 486, named: 'busy' };

// @ts-expect-error an unknown named reply
export const bad9: Reply = { named: 'bussy' };

// @ts-expect-error a reply needs a code or a name
export const bad10: Reply = { reason: 'x' };

export async function uac(app: SipApp): Promise<void> {
  const res = await app.options('sip:x@127.0.0.1');
  res.code satisfies number;
  const call = app.invite('sip:x@127.0.0.1', { body: 'v=0', onProvisional: (p) => p.code });
  for await (const p of call) p.reason satisfies string;
  const fin = await call;
  await app.bye(fin.dialogHandle);
  // @ts-expect-error bye takes a dialog handle, not options first
  app.bye({ reason: 'x' });
  // @ts-expect-error an unknown UAC option
  app.message('sip:x@h', { boddy: 'x' });
  app.on('callbackExpired', (e) => e.handledBy satisfies string);
  // @ts-expect-error an unknown event
  app.on('no-such-event', () => undefined);
}
