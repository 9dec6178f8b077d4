// Bench SipApp for calls: answers every INVITE with 180 Ringing then 200 with an SDP answer,
// and leaves BYE (200) and ACK to the server's defaults, so a call costs the app one INVITE
// callback. It names no listen URI: it serves the server's own listeners. Used by
// bench/call-load.mjs; needs the built SDK (`make build`).
//
//   NKSIP_SERVER=127.0.0.1:50051 node bench/apps/call-app.mjs
//
// Environment: NKSIP_SERVER (gRPC address, default 127.0.0.1:50051), NKSIP_APP (app name,
// default bench-calls). OPTIONS get a 200 with `x-bench-app: 1` so the benchmark can tell
// when the app serves. SIGUSR2 prints `stats {"invites":N,"expired":N,"errors":N}`.
import { answer, ok, ringing, SipApp } from '../../clients/typescript/dist/index.js';
import { serveBenchApp } from './serve.mjs';

const stats = { invites: 0, expired: 0, errors: 0 };
const SDP =
  'v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
const ring = ringing();
const final = answer(SDP, { contentType: 'application/sdp' });
const pong = ok({ headers: { 'x-bench-app': '1' } });

const app = await SipApp.start(
  {
    app: process.env.NKSIP_APP || 'bench-calls',
    server: process.env.NKSIP_SERVER || undefined,
    reconnect: false,
  },
  {
    invite: (req) => {
      stats.invites++;
      req.reply(ring);
      return final;
    },
    options: () => pong,
  },
);

serveBenchApp(app, stats);
