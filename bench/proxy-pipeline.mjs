// The server's own CPU per call through the built-in PBX's record-routing proxy, without
// sockets: the seven messages of a call of bench/uac-rr.xml and uas-rr.xml (INVITE, 100, 180,
// 200, ACK, BYE, 200) handed to the UDP listener's receive path as datagrams from a caller
// and a callee, through the transport, transaction layer, proxy and dialog tracking, to the
// serialized datagrams handed to the (stubbed) UDP send. CPU µs per call of this process,
// the harness that plays caller and callee included (the same in every build): the steady
// figure for A/B runs of proxy changes, as bench/pipeline-bench.mjs is for OPTIONS.
//
//   npm run build && node bench/proxy-pipeline.mjs [--base=DIR] [--calls=N] [--rounds=R]
//
// --base=DIR runs the same against another checkout's build (DIR/dist) in alternating
// rounds, each in a fresh child process. Calls go in lockstep batches of 100 (each step of
// every call, then the event loop's turn), as datagrams come in bursts under load; every
// call is new (Call-ID, tags, branches) and T1 is 20 ms, so ended transactions and dialogs
// are swept within the run. BENCH_T1=500 (RFC 3261's) keeps them for the whole run: with
// DEBUG=1 and node's --expose-gc, the server's stats and its heap after a full GC then say
// what it holds per call; SNAP=FILE writes a heap snapshot at the end. It reaches into the
// transport's private members (its UDP listener's send, onDatagram): only a bench may.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { abRounds } from './lib/ab-rounds.mjs';

const BATCH = 100;
const PBX = { domains: ['127.0.0.1'], realm: 'bench', users: { uas: 'uas-secret', sipp: 'sipp-secret' } };
const UAC = { address: '127.0.0.1', port: 5061, family: 'IPv4', size: 0 };
const UAS = { address: '127.0.0.1', port: 5070, family: 'IPv4', size: 0 };
const SDP =
  'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

await abRounds(import.meta.url, 'call', child, { count: 'calls', dflt: 20000 });

async function child(dir, n) {
  const load = (p) => import(pathToFileURL(join(dir, 'dist/server/src', p)).href);
  const { startServer } = await load('server.js');
  const { DEFAULTS } = await load('config.js');
  const server = await startServer({
    ...DEFAULTS,
    listen: ['sip:127.0.0.1:0'],
    grpc: false,
    t1: Number(process.env.BENCH_T1 ?? 20),
    logLevel: 'warn',
    pbx: PBX,
  });
  const transport = server.transport;
  const listener = transport.listeners.find((l) => l.transport === 'udp');
  const port = listener.port;
  let sent = [];
  listener.send = (data, toPort) => {
    sent.push({ text: data.toString('latin1'), port: toPort });
    return Promise.resolve();
  };
  const feed = (text, from) => transport.onDatagram(Buffer.from(text, 'latin1'), from, listener);
  const turn = () => new Promise((r) => setImmediate(r));
  const take = () => {
    const out = sent;
    sent = [];
    return out;
  };

  await register(feed, turn, take, port, 'uas', UAS);
  await register(feed, turn, take, port, 'sipp', UAC);

  let k = 0;
  const run = async (count) => {
    for (let i = 0; i < count; i += BATCH) {
      const calls = [];
      for (let j = 0; j < BATCH; j++) calls.push(newCall(k++, port));
      const byId = new Map(calls.map((c) => [c.callId, c]));
      const step = async (send, want) => {
        for (const c of calls) send(c);
        await turn();
        const got = take();
        for (const m of got) {
          const c = byId.get(callIdOf(m.text));
          if (c && m.port === want.port && want.match(m.text)) want.keep(c, m.text);
        }
        const missing = calls.filter((c) => !want.seen(c));
        if (missing.length > 0)
          throw new Error(
            `${missing.length} calls missing ${want.name}; sent: ${got[0]?.text.slice(0, 300)}`,
          );
      };
      // INVITE in; 100 back to the caller and the INVITE out to the callee
      await step((c) => feed(c.invite, UAC), {
        name: 'forwarded INVITE',
        port: UAS.port,
        match: (t) => t.startsWith('INVITE '),
        keep: (c, t) => (c.fwdInvite = t),
        seen: (c) => c.fwdInvite !== undefined,
      });
      await step((c) => feed(response(c.fwdInvite, '180 Ringing', c.uasTag, ''), UAS), {
        name: '180',
        port: UAC.port,
        match: (t) => t.startsWith('SIP/2.0 180'),
        keep: (c) => (c.got180 = true),
        seen: (c) => c.got180 === true,
      });
      await step((c) => feed(response(c.fwdInvite, '200 OK', c.uasTag, SDP), UAS), {
        name: '200 to the INVITE',
        port: UAC.port,
        match: (t) => t.startsWith('SIP/2.0 200'),
        keep: (c, t) => (c.routes = recordRoutes(t)),
        seen: (c) => c.routes !== undefined,
      });
      await step((c) => feed(inDialog(c, 'ACK', 1), UAC), {
        name: 'forwarded ACK',
        port: UAS.port,
        match: (t) => t.startsWith('ACK '),
        keep: (c) => (c.acked = true),
        seen: (c) => c.acked === true,
      });
      await step((c) => feed(inDialog(c, 'BYE', 2), UAC), {
        name: 'forwarded BYE',
        port: UAS.port,
        match: (t) => t.startsWith('BYE '),
        keep: (c, t) => (c.fwdBye = t),
        seen: (c) => c.fwdBye !== undefined,
      });
      await step((c) => feed(response(c.fwdBye, '200 OK', undefined, ''), UAS), {
        name: '200 to the BYE',
        port: UAC.port,
        match: (t) => t.startsWith('SIP/2.0 200') && t.includes('CSeq: 2 BYE'),
        keep: (c) => (c.done = true),
        seen: (c) => c.done === true,
      });
    }
  };
  await run(n / 4); // warm-up: optimised code, records and dialogs in steady state
  const c0 = process.cpuUsage();
  await run(n);
  const c = process.cpuUsage(c0);
  if (process.env.DEBUG) {
    globalThis.gc?.(); // with --expose-gc: the heap figure is what the server holds
    console.error('stats', server.stats());
  }
  if (process.env.SNAP) (await import('node:v8')).writeHeapSnapshot(process.env.SNAP);
  process.stdout.write(`${((c.user + c.system) / n).toFixed(3)}\n`);
  process.exit(0);
}

function newCall(k, port) {
  const id = String(10000000 + k);
  const callId = `${id}-1@127.0.0.1`;
  const uacTag = `${id}SIPpTag001`;
  const invite =
    `INVITE sip:uas@127.0.0.1:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${UAC.port};branch=z9hG4bK-${id}-1-0\r\n` +
    `From: sipp <sip:sipp@127.0.0.1:${UAC.port}>;tag=${uacTag}\r\n` +
    `To: uas <sip:uas@127.0.0.1:${port}>\r\n` +
    `Call-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: sip:sipp@127.0.0.1:${UAC.port}\r\n` +
    `Max-Forwards: 70\r\nSubject: Performance Test\r\nContent-Type: application/sdp\r\n` +
    `Content-Length: ${SDP.length}\r\n\r\n${SDP}`;
  return { id, callId, uacTag, uasTag: `${id}uasTag`, port, invite };
}

/** The callee's response to a forwarded request: its Vias, Record-Routes and dialog headers. */
function response(req, status, toTag, body) {
  const lines = req.slice(0, req.indexOf('\r\n\r\n')).split('\r\n');
  const keep = lines.filter((l) => /^(Via|Record-Route|From|Call-ID|CSeq):/i.test(l));
  const to = lines.find((l) => l.startsWith('To:'));
  const head = [
    `SIP/2.0 ${status}`,
    ...keep,
    toTag && !to.includes(';tag=') ? `${to};tag=${toTag}` : to,
    `Contact: <sip:uas@127.0.0.1:${UAS.port}>`,
  ];
  if (body) head.push('Content-Type: application/sdp');
  head.push(`Content-Length: ${body.length}`);
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

/** ACK or BYE from the caller along the route set of the 200 (RFC 3261 §12.2.1.1). */
function inDialog(c, method, seq) {
  return (
    `${method} sip:uas@127.0.0.1:${UAS.port} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${UAC.port};branch=z9hG4bK-${c.id}-${seq}-${method}\r\n` +
    `From: sipp <sip:sipp@127.0.0.1:${UAC.port}>;tag=${c.uacTag}\r\n` +
    `To: uas <sip:uas@127.0.0.1:${c.port}>;tag=${c.uasTag}\r\n` +
    `Call-ID: ${c.callId}\r\nCSeq: ${seq} ${method}\r\n` +
    `Route: ${c.routes.join(', ')}\r\n` +
    `Contact: sip:sipp@127.0.0.1:${UAC.port}\r\nMax-Forwards: 70\r\nSubject: Performance Test\r\n` +
    'Content-Length: 0\r\n\r\n'
  );
}

function callIdOf(text) {
  const at = text.indexOf('\r\nCall-ID: ');
  return text.slice(at + 11, text.indexOf('\r\n', at + 11));
}

function recordRoutes(text) {
  const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
  return head
    .filter((l) => /^Record-Route:/i.test(l))
    .flatMap((l) =>
      l
        .slice(l.indexOf(':') + 1)
        .trim()
        .split(/\s*,\s*/),
    );
}

/** Registers `user` at `from` with the PBX, answering its digest challenge. */
async function register(feed, turn, take, port, user, from) {
  const send = (seq, auth) =>
    feed(
      `REGISTER sip:127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${from.port};branch=z9hG4bK-reg-${user}-${seq}\r\n` +
        `From: <sip:${user}@127.0.0.1>;tag=reg-${user}\r\nTo: <sip:${user}@127.0.0.1>\r\n` +
        `Call-ID: reg-${user}\r\nCSeq: ${seq} REGISTER\r\n` +
        `Contact: <sip:${user}@127.0.0.1:${from.port}>;expires=3600\r\n` +
        `${auth ? `Authorization: ${auth}\r\n` : ''}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
      from,
    );
  send(1);
  await turn();
  const challenge = take().find((m) => m.text.startsWith('SIP/2.0 401'))?.text;
  if (!challenge) throw new Error(`no 401 to the REGISTER of ${user}`);
  const nonce = /nonce="([^"]*)"/.exec(challenge)[1];
  const opaque = /opaque="([^"]*)"/.exec(challenge)?.[1];
  const uri = `sip:127.0.0.1:${port}`;
  const md5 = (s) => createHash('md5').update(s).digest('hex');
  const ha1 = md5(`${user}:${PBX.realm}:${PBX.users[user]}`);
  const cnonce = 'bench';
  const nc = '00000001';
  const digest = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
  send(
    2,
    `Digest username="${user}", realm="${PBX.realm}", nonce="${nonce}", uri="${uri}", ` +
      `response="${digest}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"` +
      `${opaque ? `, opaque="${opaque}"` : ''}`,
  );
  await turn();
  const ok = take().find((m) => m.text.startsWith('SIP/2.0 '));
  if (!ok?.text.startsWith('SIP/2.0 200')) throw new Error(`REGISTER of ${user}: ${ok?.text.slice(0, 200)}`);
}
