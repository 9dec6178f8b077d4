// hello: the smallest useful SipApp. It answers OPTIONS, answers INVITE with an SDP answer
// (180 Ringing first), accepts BYE and logs dialog and session events.
//
//   node examples/typescript/dist/hello.js
//
// Environment: NKSIP_SERVER (gRPC address, default 127.0.0.1:50051), NKSIP_APP (app name,
// default hello), NKSIP_LISTEN (comma-separated listen URIs; empty: the server's own
// listeners), NKSIP_TOKEN (when the server requires one).
import { answer, noreply, ok, ringing, SipApp, type SipRequest } from '@nksip/sipapp';

const log = (msg: string, data?: unknown): void => {
  process.stdout.write(
    `${new Date().toISOString()} ${msg}${data === undefined ? '' : ` ${JSON.stringify(data)}`}\n`,
  );
};

// A minimal SDP answer: one audio stream, PCMU, on a port we pretend to own.
function sdpAnswer(req: SipRequest): string {
  const ip = req.transport.localIp || '127.0.0.1';
  const id = Date.now();
  return [
    'v=0',
    `o=hello ${id} ${id} IN IP4 ${ip}`,
    's=hello',
    `c=IN IP4 ${ip}`,
    't=0 0',
    'm=audio 40000 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

const app = await SipApp.start(
  {
    app: process.env.NKSIP_APP ?? 'hello',
    server: process.env.NKSIP_SERVER,
    listen: process.env.NKSIP_LISTEN?.split(',').filter(Boolean),
    token: process.env.NKSIP_TOKEN,
  },
  {
    // Answer OPTIONS ourselves (the server's default would also do) with a marker header.
    options: () => ok({ headers: { 'x-hello': 'world' } }),

    // Ring first, answer half a second later: return noreply() now and reply through the
    // request's handle.
    invite: (req) => {
      log('INVITE', { from: req.from.uri.raw, to: req.to.uri.raw, callId: req.callId });
      req.reply(ringing());
      setTimeout(() => req.reply(answer(sdpAnswer(req))), 500);
      return noreply();
    },

    bye: (req) => {
      log('BYE', { callId: req.callId });
      return ok();
    },

    // Notifications: no answer needed, the SDK acknowledges them.
    dialogUpdate: (u) =>
      log('dialog', { dialog: u.dialogHandle, status: u.status, detail: u.inviteStatus || u.stopReason }),
    sessionUpdate: (u) => log('session', { dialog: u.dialogHandle, kind: u.kind }),
  },
);

log('started', app.startedInfo);
app.on('disconnected', () => log('disconnected; reconnecting'));
app.on('started', (info) => info.reconnected && log('rejoined', info));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.stop().then(() => process.exit(0));
  });
}
