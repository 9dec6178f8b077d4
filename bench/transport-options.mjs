// OPTIONS per second over UDP, TLS and WS against one nksip-server, in one run, on 127.0.0.1.
//
//   npm run build && node bench/transport-options.mjs [--quick]
//
// The server (the real CLI) listens on UDP, TLS (the self-signed certificate of
// scripts/make-test-cert.sh, made in a temporary directory) and WS, and answers OPTIONS itself
// (no app). One load client per transport, all the same code in this process (sipp cannot do
// WebSocket, and Debian's sipp has no TLS): it keeps BENCH_WINDOW requests outstanding on one
// socket / connection and sends a new OPTIONS for each 200, for BENCH_STEP_S seconds, after a
// warm-up. Per transport it reports the 200s per second and the server's CPU time per request
// (utime+stime of its process, from /proc). UDP requests unanswered after 2 s count as lost
// and are replaced. Transports run one after the other, on the same server.
//
// Environment: BENCH_STEP_S=10 (seconds per transport; --quick 3), BENCH_WINDOW=64,
// BENCH_WARMUP_S=2 (--quick 1).
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import {
  benchTmp,
  CLK_TCK,
  cleanup,
  cpuTicks,
  envNumber,
  fmt,
  freePort,
  freeTcpPort,
  installSignalHandlers,
  LAUNCHER,
  root,
  sleep,
  startChild,
  stopChild,
  waitReady,
} from './lib/load.mjs';
import { writeResult } from './write-result.mjs';

const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const STEP_S = envNumber(quick, 'BENCH_STEP_S', 10, 3);
const WINDOW = envNumber(quick, 'BENCH_WINDOW', 64);
const WARMUP_S = envNumber(quick, 'BENCH_WARMUP_S', 2, 1);

installSignalHandlers();

/** One OPTIONS; `via` is the sent-protocol of the lane. */
function options(via, host, n) {
  const branch = `z9hG4bK-b${process.pid}-${n}`;
  return (
    `OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/${via} ${host};branch=${branch}\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=t${n}\r\nTo: <sip:ping@127.0.0.1>\r\n` +
    `Call-ID: bench-${process.pid}-${n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`
  );
}

/** Splits a byte stream into SIP messages (header block plus Content-Length body). */
function streamFramer(onMessage) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < total) return;
      onMessage(head);
      buf = buf.subarray(total);
    }
  };
}

/**
 * Runs one lane for `seconds`: `send(text)` puts a request on the wire, `onReply` is given a
 * function to call per response head. Returns the 200s counted and the UDP losses.
 */
async function lane(via, host, send, onReply, seconds, lossy) {
  let n = 0;
  let ok = 0;
  let lost = 0;
  let running = true;
  const pending = new Map();
  const fire = () => {
    if (!running) return;
    n++;
    pending.set(`z9hG4bK-b${process.pid}-${n}`, Date.now());
    send(options(via, host, n));
  };
  onReply((head) => {
    const branch = /branch=([^;\r\s,]+)/.exec(head)?.[1];
    if (!branch || !pending.delete(branch)) return;
    if (head.startsWith('SIP/2.0 200 ')) ok++;
    fire();
  });
  const sweep = lossy
    ? setInterval(() => {
        const old = Date.now() - 2000;
        for (const [b, t] of pending) {
          if (t > old) continue;
          pending.delete(b);
          lost++;
          fire();
        }
      }, 250)
    : undefined;
  for (let i = 0; i < WINDOW; i++) fire();
  await sleep(seconds * 1000);
  running = false;
  clearInterval(sweep);
  return { ok, lost };
}

/** Opens the client side of a transport: `send` and `onReply` for `lane`, and `close`. */
async function open(transport, ports) {
  if (transport === 'udp') {
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const host = `127.0.0.1:${sock.address().port}`;
    let handler = () => {};
    sock.on('message', (b) => handler(b.toString('latin1', 0, Math.min(b.length, 600))));
    return {
      via: 'UDP',
      host,
      send: (t) => sock.send(t, ports.udp, '127.0.0.1'),
      onReply: (h) => {
        handler = h;
      },
      close: () => new Promise((r) => sock.close(r)),
    };
  }
  if (transport === 'tls') {
    const sock = tls.connect({ host: '127.0.0.1', port: ports.tls, rejectUnauthorized: false });
    await new Promise((r, j) => sock.once('secureConnect', r).once('error', j));
    sock.setNoDelay(true);
    let handler = () => {};
    sock.on(
      'data',
      streamFramer((h) => handler(h)),
    );
    return {
      via: 'TLS',
      host: `127.0.0.1:${sock.localPort}`,
      send: (t) => sock.write(t),
      onReply: (h) => {
        handler = h;
      },
      close: () => new Promise((r) => sock.end(r)),
    };
  }
  const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/`, ['sip'], { perMessageDeflate: false });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  let handler = () => {};
  ws.on('message', (d) => handler(d.toString('latin1')));
  return {
    via: 'WS',
    host: 'bench.invalid',
    send: (t) => ws.send(t),
    onReply: (h) => {
      handler = h;
    },
    close: () => {
      ws.close();
      return new Promise((r) => ws.once('close', r));
    },
  };
}

async function main() {
  const dir = benchTmp();
  execFileSync(join(root, 'scripts/make-test-cert.sh'), [dir], { stdio: 'ignore' });
  const ports = { udp: await freePort(), tls: await freeTcpPort(), ws: await freeTcpPort() };
  const config = join(dir, 'transports.json');
  writeFileSync(
    config,
    JSON.stringify({
      listen: [
        `sip:127.0.0.1:${ports.udp};transport=udp`,
        `sips:127.0.0.1:${ports.tls}`,
        `sip:127.0.0.1:${ports.ws};transport=ws`,
      ],
      tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
      logLevel: 'warn',
      grpc: 'off',
    }),
  );
  const server = startChild('nksip', [LAUNCHER, '--config', config], { cwd: root });
  const rows = [];
  try {
    await waitReady(server, ports.udp);
    console.log(
      `nksip-server ${quick ? '(quick) ' : ''}OPTIONS over UDP, TLS, WS: ${STEP_S} s each, window ${WINDOW}`,
    );
    for (const transport of ['udp', 'tls', 'ws']) {
      const c = await open(transport, ports);
      await lane(c.via, c.host, c.send, c.onReply, WARMUP_S, transport === 'udp');
      const before = cpuTicks(server.pid);
      const r = await lane(c.via, c.host, c.send, c.onReply, STEP_S, transport === 'udp');
      const cpu = (cpuTicks(server.pid) - before) / CLK_TCK;
      await c.close();
      const row = {
        transport,
        optionsPerSecond: Math.round(r.ok / STEP_S),
        serverCpuUsPerRequest: r.ok > 0 ? Math.round((cpu / r.ok) * 1e6) : null,
        lost: r.lost,
      };
      rows.push(row);
      console.log(
        `  ${transport.padEnd(4)} ${fmt(row.optionsPerSecond).padStart(8)} OPTIONS/s   server CPU ${row.serverCpuUsPerRequest ?? '-'} µs/request${r.lost ? `   lost ${r.lost}` : ''}`,
      );
    }
  } finally {
    await stopChild(server);
    await cleanup();
  }
  const udp = rows.find((r) => r.transport === 'udp')?.optionsPerSecond ?? 0;
  for (const r of rows) r.vsUdp = udp > 0 ? Math.round((r.optionsPerSecond / udp) * 100) / 100 : null;
  const file = writeResult('transports', {
    date: new Date().toISOString(),
    quick,
    stepSeconds: STEP_S,
    window: WINDOW,
    node: process.version,
    results: rows,
  });
  console.log(`written to ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
