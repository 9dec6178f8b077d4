// Bench SipApp for bench/proxy-load.mjs: the route decisions of a record-routing proxy (or of
// a REGISTER answer), taken in this process, so every request the server receives makes one
// gRPC round trip here. It names no listen URI: while connected it serves the server's own
// listeners. Needs the built SDK (`make build`).
//
//   BENCH_MODE=proxy BENCH_UAS_URI=sip:127.0.0.1:5070 NKSIP_SERVER=127.0.0.1:50051 \
//     node bench/apps/proxy-app.mjs
//
// BENCH_MODE:
//   proxy               (default) a new INVITE is proxied statefully to BENCH_UAS_URI with
//                       Record-Route; an in-dialog request (To tag: ACK, BYE) is proxied along
//                       its Route (empty URI set: the Request-URI after loose routing)
//   register-stateless  every REGISTER is answered 200 from route, without a transaction
//   registrar           no callback at all, the registrar plugin on: REGISTER is processed by
//                       the app's registrar inside the server (no round trip)
// OPTIONS to user `ping` gets 200 with `x-bench-app: 1` (the script's readiness probe).
// Prints `started` once joined; on SIGUSR2 and at exit `stats {...}` (route callbacks,
// callbacks the server answered after their deadline, errors).
import { ok, Route, SipApp } from '../../clients/typescript/dist/index.js';
import { serveBenchApp } from './serve.mjs';

const mode = process.env.BENCH_MODE || 'proxy';
if (!['proxy', 'register-stateless', 'registrar'].includes(mode))
  throw new Error(`unknown BENCH_MODE ${mode}`);
const uas = process.env.BENCH_UAS_URI || 'sip:127.0.0.1:5070';
const stats = { route: 0, expired: 0, errors: 0 };
// decisions made once: the app's own work per request is as small as it can be
const pong = Route.replyStateless(ok({ headers: { 'x-bench-app': '1' } }));
const registered = Route.replyStateless(ok());
const toUas = Route.proxy([uas], { recordRoute: true });
const inDialog = Route.proxy();
const unexpected = Route.reply({ code: 403, reason: 'Not In This Benchmark' });

const callbacks =
  mode === 'registrar'
    ? {}
    : {
        route: (req) => {
          stats.route++;
          if (req.method === 'OPTIONS' && req.ruri.user === 'ping') return pong;
          if (mode === 'register-stateless') return req.method === 'REGISTER' ? registered : unexpected;
          if (req.to.tag) return inDialog;
          return req.method === 'INVITE' ? toUas : unexpected;
        },
      };

const app = await SipApp.start(
  {
    app: process.env.NKSIP_APP || 'bench-proxy',
    server: process.env.NKSIP_SERVER || undefined,
    token: process.env.NKSIP_TOKEN || undefined,
    plugins: mode === 'registrar' ? ['registrar'] : [],
    reconnect: false,
  },
  callbacks,
);

serveBenchApp(app, stats, { mode });
