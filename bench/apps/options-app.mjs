// Bench SipApp: implements only the `options` callback and answers 200, so every OPTIONS the
// server receives makes one gRPC round trip to this process. It names no listen URI, so while
// it is connected it serves the server's own listeners (--listen). Used by
// bench/app-options.mjs; needs the built SDK (`make build`).
//
//   NKSIP_SERVER=127.0.0.1:50051 node bench/apps/options-app.mjs
//
// Environment: NKSIP_SERVER (gRPC address, default 127.0.0.1:50051), NKSIP_APP (app name,
// default bench-options), NKSIP_TOKEN (when the server requires one).
//
// Its 200s carry `x-bench-app: 1`, so the benchmark can tell them from the server's default.
// Prints `started` once the server has answered Started; on SIGUSR2 prints
// `stats {"options":N,"expired":N,"errors":N}` (callbacks answered, callbacks the server
// answered for it after their deadline, callback and stream errors); SIGTERM/SIGINT stop it.
import { ok, SipApp } from '../../clients/typescript/dist/index.js';
import { serveBenchApp } from './serve.mjs';

const stats = { options: 0, expired: 0, errors: 0 };
// one Reply object for every answer: the app's own work per request is as small as it can be
const reply = ok({ headers: { 'x-bench-app': '1' } });

const app = await SipApp.start(
  {
    app: process.env.NKSIP_APP || 'bench-options',
    server: process.env.NKSIP_SERVER || undefined,
    token: process.env.NKSIP_TOKEN || undefined,
    reconnect: false,
  },
  {
    options: () => {
      stats.options++;
      return reply;
    },
  },
);

serveBenchApp(app, stats);
