// Parser benchmark: messages per second for parse + serialise of one typical INVITE with SDP,
// nksip-server's message layer against the npm `sip` package (sip.js 0.0.6), in one run.
//
//   npm run build && node bench/parser-bench.mjs
//
// Environment: BENCH_ROUNDS (default 15), BENCH_ROUND_MS (default 300), BENCH_WARMUP_MS
// (default 1500), BENCH_QUICK=1 (3 rounds of 200 ms after 500 ms of warm-up).
//
// Fairness. Our parser is lazy: parseMessage() only frames the message (start line, header
// lines, Content-Length, body) and header values are parsed when first read. sip.js parses
// every header eagerly. So each of our iterations also reads what a router needs before it
// can do anything (top Via branch, Call-ID, CSeq, From tag, To tag), which makes us parse
// those header values; the rest stays unparsed, as it would in the server. Both sides start
// from the datagram's bytes (a Buffer) and end with bytes ready for socket.send(): sip.js
// takes the Buffer as its own UDP transport does (parse() calls toString('binary')) and its
// stringify() result is turned into a Buffer the way its transport does before sending.
import { createRequire } from 'node:module';
import os from 'node:os';
import { relative } from 'node:path';
import { writeResult } from './write-result.mjs';

const require = createRequire(import.meta.url);

let ours;
try {
  const parser = await import('../dist/server/src/sip/parser.js');
  const serializer = await import('../dist/server/src/sip/serializer.js');
  const headers = await import('../dist/server/src/sip/headers.js');
  ours = { parseMessage: parser.parseMessage, serialize: serializer.serialize, viaBranch: headers.viaBranch };
} catch (err) {
  console.error(`cannot load the compiled parser (run \`npm run build\` first): ${err.message}`);
  process.exit(2);
}
const sip = require('sip');

const quick = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 3 : 15));
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? (quick ? 200 : 300));
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? (quick ? 500 : 1500));

// A first INVITE as a phone behind two proxies sends it: two Vias, a Route to the next hop,
// Record-Route of the proxy it passed, the usual capability headers and an audio SDP offer.
const sdp = [
  'v=0',
  'o=alice 2890844526 2890844527 IN IP4 192.0.2.101',
  's=-',
  'c=IN IP4 192.0.2.101',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 9 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');
const head = [
  'INVITE sip:bob@biloxi.com SIP/2.0',
  'Via: SIP/2.0/UDP proxy.atlanta.com:5060;branch=z9hG4bK2d4790.1',
  'Via: SIP/2.0/UDP 192.0.2.101:5060;received=192.0.2.101;rport=5060;branch=z9hG4bK74bf9',
  'Max-Forwards: 69',
  'Route: <sip:proxy.biloxi.com;lr>',
  'Record-Route: <sip:proxy.atlanta.com;lr>',
  'From: "Alice" <sip:alice@atlanta.com>;tag=9fxced76sl',
  'To: "Bob" <sip:bob@biloxi.com>',
  'Call-ID: 3848276298220188511@atlanta.com',
  'CSeq: 31862 INVITE',
  'Contact: <sip:alice@192.0.2.101:5060;transport=udp>',
  'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE',
  'Supported: replaces, timer, 100rel',
  'User-Agent: Acme SoftPhone 4.2.1',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(sdp)}`,
  '',
  '',
].join('\r\n');
const wire = Buffer.from(head + sdp, 'latin1');

// Results are folded into `sink` so the JIT cannot drop work whose result is unused.
let sink = 0;

/** Our parse, plus the reads a router does first (they parse those header values). */
function oursParse(buf) {
  const { msg } = ours.parseMessage(buf);
  sink += (ours.viaBranch(msg.topVia) ?? '').length;
  sink += msg.callId.length + msg.cseq.seq + (msg.fromTag ?? '').length + (msg.toTag ?? '').length;
  return msg;
}

function sipParse(buf) {
  const m = sip.parse(buf);
  const h = m.headers;
  sink += (h.via[0].params.branch ?? '').length;
  sink +=
    h['call-id'].length + h.cseq.seq + (h.from.params.tag ?? '').length + (h.to.params.tag ?? '').length;
  return m;
}

const cases = [
  // framing alone, to show what the lazy parse defers (not part of the comparison)
  { name: 'nksip frame only', impl: 'nksip', run: (b) => ours.parseMessage(b).msg.headers.length },
  { name: 'nksip parse', impl: 'nksip', run: (b) => oursParse(b) },
  { name: 'nksip parse+serialise', impl: 'nksip', run: (b) => ours.serialize(oursParse(b)).length },
  { name: 'sip.js parse', impl: 'sip.js', run: (b) => sipParse(b) },
  {
    name: 'sip.js parse+serialise',
    impl: 'sip.js',
    run: (b) => Buffer.from(sip.stringify(sipParse(b)), 'binary').length,
  },
];

checkRoundTrips();

/** Runs `fn` for about `ms` milliseconds; returns messages per second. */
function measure(fn, ms) {
  const BATCH = 200; // reading the clock per message would cost as much as a parse
  const limit = BigInt(ms) * 1_000_000n;
  const t0 = process.hrtime.bigint();
  let n = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < BATCH; i++) fn(wire);
    n += BATCH;
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < limit);
  return (n * 1e9) / Number(elapsed);
}

for (const c of cases) measure(c.run, WARMUP_MS / cases.length);
// Rounds interleave the cases, so a slow moment of this shared machine hits all of them alike.
const samples = new Map(cases.map((c) => [c.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const c of cases) samples.get(c.name).push(measure(c.run, ROUND_MS));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const results = cases.map((c) => {
  const xs = samples.get(c.name);
  return {
    case: c.name,
    impl: c.impl,
    medianMsgsPerSec: Math.round(median(xs)),
    minMsgsPerSec: Math.round(Math.min(...xs)),
    maxMsgsPerSec: Math.round(Math.max(...xs)),
    usPerMsg: Number((1e6 / median(xs)).toFixed(3)),
  };
});
// The machine is shared and its speed drifts between rounds; the ratio of two cases inside
// one round is steadier than the ratio of their medians, so the ratio is the median of those.
const ratio = (a, b) => {
  const xs = samples.get(a).map((x, i) => x / samples.get(b)[i]);
  return Number(median(xs).toFixed(2));
};
const ratios = {
  parse: ratio('nksip parse', 'sip.js parse'),
  parseSerialise: ratio('nksip parse+serialise', 'sip.js parse+serialise'),
};

const fmt = (n) => n.toLocaleString('en-US');
console.log(`INVITE with SDP, ${wire.length} bytes; ${ROUNDS} rounds of ${ROUND_MS} ms, median`);
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'}`);
console.log('');
console.log(
  `${'case'.padEnd(24)}${'msgs/s'.padStart(12)}${'µs/msg'.padStart(9)}${'min–max msgs/s'.padStart(24)}`,
);
for (const r of results) {
  console.log(
    `${r.case.padEnd(24)}${fmt(r.medianMsgsPerSec).padStart(12)}${r.usPerMsg.toFixed(2).padStart(9)}` +
      `${`${fmt(r.minMsgsPerSec)}–${fmt(r.maxMsgsPerSec)}`.padStart(24)}`,
  );
}
console.log('');
console.log(
  `nksip / sip.js (median of per-round ratios): parse ×${ratios.parse}, parse+serialise ×${ratios.parseSerialise}`,
);
console.log('(nksip parse reads top Via branch, Call-ID, CSeq, From/To tags; sip.js parses every header;');
console.log(" 'nksip frame only' is our parse without those reads)");

const out = {
  benchmark: 'parser',
  date: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? null,
  cpus: os.cpus().length,
  messageBytes: wire.length,
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  warmupMs: WARMUP_MS,
  notes:
    'nksip parses lazily; each iteration reads top Via branch, Call-ID, CSeq, From tag and To tag. ' +
    'sip.js 0.0.6 parses every header eagerly. Both start from a Buffer and end with a Buffer.',
  results,
  ratios,
  sink: sink % 1000, // printed so the work cannot be optimised away
};
console.log(`wrote ${relative(process.cwd(), writeResult('parser', out))}`);

/** Both libraries must actually understand the message, or the race means nothing. */
function checkRoundTrips() {
  const mine = ours.serialize(oursParse(wire));
  if (!mine.equals(wire)) throw new Error('nksip round trip changed the message');
  const again = sip.parse(Buffer.from(sip.stringify(sipParse(wire)), 'binary'));
  const ok =
    again?.method === 'INVITE' &&
    again.headers.via.length === 2 &&
    again.headers['call-id'] === '3848276298220188511@atlanta.com' &&
    again.content === sdp;
  if (!ok) throw new Error('sip.js round trip lost part of the message');
}
