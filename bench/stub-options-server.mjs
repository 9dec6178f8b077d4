// A stand-in SIP server for bench/options-load.mjs: answers every OPTIONS with 200 straight
// from the UDP socket, using the compiled message layer (parse, makeResponse, serialise) and
// nothing else — no transactions, no retransmission cache, no logging.
// --workers N: N cluster workers share the one UDP socket (Node 20 has no SO_REUSEPORT for
// UDP; the kernel hands each datagram to whichever worker reads first), to show what a
// second core brings when sipp shares the same cores.
// --mmsg: the same answers over bench/native-udp/mmsg.c instead of dgram (recvmmsg and
// sendmmsg, one call into JavaScript per batch of datagrams), compiled here with gcc against
// this node's headers: what Node's per-datagram receive and send path costs.
//
//   node bench/stub-options-server.mjs --listen sip:127.0.0.1:5060 [--workers N | --mmsg]
//
// Two uses: it lets the load script be tested before the real CLI exists, and as a server of
// its own (`--servers=stub`) it shows what Node's dgram plus our parser cost without the rest
// of the stack, i.e. the floor nksip-server's figures can approach.
import { execFileSync } from 'node:child_process';
import cluster from 'node:cluster';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { parseMessage } = await import('../dist/server/src/sip/parser.js');
const { serialize } = await import('../dist/server/src/sip/serializer.js');
const { makeResponse } = await import('../dist/server/src/sip/build.js');

const i = process.argv.indexOf('--listen');
const m = /^sip:([\d.]+):(\d+)$/.exec(process.argv[i + 1] ?? '');
if (i < 0 || !m) {
  console.error('usage: node bench/stub-options-server.mjs --listen sip:IP:PORT');
  process.exit(2);
}

const w = process.argv.indexOf('--workers');
const workers = w < 0 ? 1 : Number(process.argv[w + 1]);
if (!Number.isInteger(workers) || workers < 1) {
  console.error('--workers takes a whole number ≥ 1');
  process.exit(2);
}

if (process.argv.includes('--mmsg')) {
  if (workers > 1 || m[1] !== '127.0.0.1') {
    console.error('--mmsg serves 127.0.0.1 from one process: no --workers, no other address');
    process.exit(2);
  }
  serveMmsg();
} else if (workers > 1 && cluster.isPrimary) {
  for (let k = 0; k < workers; k++) cluster.fork();
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  serve();
}

/** The serialized answer to a datagram: 200 to OPTIONS, 405 to others; none to ACK or garbage. */
function answer(buf) {
  try {
    const { msg } = parseMessage(buf);
    if (msg.kind !== 'request' || msg.method === 'ACK') return undefined;
    return serialize(makeResponse(msg, msg.method === 'OPTIONS' ? 200 : 405));
  } catch {
    return undefined; // garbage is dropped, as a server would
  }
}

function serve() {
  // same hint as Kamailio's MAXBUF: bursts at high rates must not overflow the socket queue
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  sock.on('message', (buf, rinfo) => {
    const out = answer(buf);
    if (out) sock.send(out, rinfo.port, rinfo.address);
  });
  sock.bind(Number(m[2]), m[1]);
  const stop = () => sock.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function serveMmsg() {
  const here = dirname(fileURLToPath(import.meta.url));
  const tmp = mkdtempSync(join(os.tmpdir(), 'nksip-mmsg-'));
  const addon = join(tmp, 'mmsg.node');
  // N-API and libuv symbols resolve against the node binary that loads it
  const headers = join(dirname(process.execPath), '..', 'include', 'node');
  const source = join(here, 'native-udp', 'mmsg.c');
  try {
    execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-I', headers, '-o', addon, source], { stdio: 'pipe' });
  } catch (err) {
    console.error(`--mmsg: cannot build ${source} with gcc and node's headers in ${headers}: ${err.message}`);
    process.exit(2);
  }
  const native = createRequire(import.meta.url)(addon);
  rmSync(tmp, { recursive: true, force: true }); // loaded: the file is no longer needed
  const slot = 4096; // DGRAM in mmsg.c
  let rx;
  let meta;
  const io = native.open(Number(m[2]), (n) => {
    for (let k = 0; k < n; k++) {
      const len = meta[k * 3];
      // a copy, as dgram hands out: the arena is reused by the next batch
      const out = answer(Buffer.from(rx.subarray(k * slot, k * slot + len)));
      if (out) native.send(out, meta[k * 3 + 1], meta[k * 3 + 2] >>> 0);
    }
  });
  rx = Buffer.from(io.rx);
  meta = new Int32Array(io.meta);
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
