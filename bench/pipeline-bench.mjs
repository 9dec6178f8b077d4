// The server's own cost per OPTIONS, without sockets: datagram bytes in, through the
// transport's receive path, the transaction layer, the UAS core, the apps registry and the
// built-in default reply (the CLI's composition, `startServer`, without gRPC), to the
// serialized 200 handed to the (stubbed) UDP send. CPU µs per request of
// this process, so the kernel, sipp and the other load on the machine stay out of the
// figure: the steadiest number for A/B runs of hot-path changes.
//
//   npm run build && node bench/pipeline-bench.mjs [--base=DIR] [--requests=N] [--rounds=R] [--app]
//
// --base=DIR runs the same against another checkout's build (DIR/dist) in alternating
// rounds, each in a fresh child process. Every request is new (fresh branch, Call-ID and From
// tag), so completed transactions pile up as under load; T1 is 20 ms (Timer J 1.28 s) so the
// run reaches the steady state of records being made and swept within seconds.
// It reaches into the transport's private members (its UDP listener's send, onDatagram):
// only a bench may.
//
// --app: the same requests answered by a remote TypeScript app (bench/apps/options-app.mjs,
// started as a child process of this one's build) over the gRPC service: the server's CPU per
// request with the round trip, without sockets for SIP; the app's CPU per request is printed
// beside it. At most 200 requests are outstanding, so the stream carries batches as under load.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { abRounds } from './lib/ab-rounds.mjs';

const withApp = process.argv.includes('--app');

await abRounds(import.meta.url, 'request', child, {
  count: 'requests',
  dflt: withApp ? 50000 : 200000,
  extra: withApp ? ['--app'] : [],
});

async function child(dir, n) {
  const load = (p) => import(pathToFileURL(join(dir, 'dist/server/src', p)).href);
  const { startServer } = await load('server.js');
  const { DEFAULTS } = await load('config.js');
  // the CLI's composition (registry, built-in app, dialogs, proxy); gRPC only for --app
  const config = {
    ...DEFAULTS,
    listen: ['sip:127.0.0.1:0'],
    grpc: withApp ? '127.0.0.1:0' : false,
    t1: 20,
    logLevel: 'warn',
  };
  const server = await startServer(config);
  const app = withApp ? await startApp(dir, server) : undefined;
  const transport = server.transport;
  const layer = server.transactions;
  const listener = transport.listeners.find((l) => l.transport === 'udp');
  let sends = 0;
  // the run waits for the app's answers on this, not in a loop of its own: a busy wait would
  // count its own CPU and garbage as the server's
  let waiting;
  listener.send = () => {
    sends++;
    if (waiting && sends >= waiting.until) {
      waiting.resolve();
      waiting = undefined;
    }
    return Promise.resolve();
  };
  const rinfo = { address: '127.0.0.1', port: 5061, family: 'IPv4', size: 0 };
  // sipp's OPTIONS (bench/options.xml); NUM is replaced by a fresh number per request
  const text =
    'OPTIONS sip:service@127.0.0.1:5060 SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-NUM-1-0\r\n' +
    'From: sipp <sip:sipp@127.0.0.1:5061>;tag=NUMSIPpTag001\r\n' +
    'To: sut <sip:service@127.0.0.1:5060>\r\n' +
    'Call-ID: NUM-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContact: sip:sipp@127.0.0.1:5061\r\n' +
    'Max-Forwards: 70\r\nSubject: Performance Test\r\nContent-Length: 0\r\n\r\n';
  const template = Buffer.from(text.replaceAll('NUM', '00000000'), 'latin1');
  const at = [];
  for (let o = text.indexOf('NUM'), shift = 0; o >= 0; o = text.indexOf('NUM', o + 1), shift += 5)
    at.push(o + shift);
  let k = 0;
  const run = async (count) => {
    for (let i = 0; i < count; i += 200) {
      const answered = sends + 200;
      for (let j = 0; j < 200; j++) {
        // a backing store of its own per datagram, as Node's UDP receive makes them
        const b = Buffer.from(new ArrayBuffer(template.length));
        template.copy(b);
        const id = String(10000000 + (k++ % 90000000));
        for (const p of at) b.write(id, p, 'latin1');
        transport.onDatagram(b, rinfo, listener);
      }
      await new Promise((r) => setImmediate(r)); // timers (Timer J sweeps) get their turn
      // the app's answers come back over the stream
      if (app && sends < answered) await new Promise((resolve) => (waiting = { until: answered, resolve }));
    }
  };
  await run(n / 4); // warm-up: optimised code, records in steady state
  if (layer.stats().server < 1000 || sends < n / 4)
    throw new Error('the requests were not answered as new transactions');
  const c0 = process.cpuUsage();
  const a0 = app ? app.cpu() : 0;
  await run(n);
  const c = process.cpuUsage(c0);
  const appUs = app ? ((app.cpu() - a0) * 1e6) / app.hz / n : 0;
  app?.proc.kill('SIGKILL');
  if (process.env.DEBUG)
    console.error('live', layer.stats(), 'heap', process.memoryUsage().heapUsed, 'sends', sends);
  if (process.env.SNAP) (await import('node:v8')).writeHeapSnapshot(process.env.SNAP);
  process.stdout.write(`${((c.user + c.system) / n).toFixed(3)}${app ? ` ${appUs.toFixed(3)}` : ''}\n`);
  process.exit(0);
}

/** bench/apps/options-app.mjs of `dir`'s build, joined to `server`; its CPU in clock ticks. */
async function startApp(dir, server) {
  const grpcAddr = server.grpcAddress;
  const proc = spawn(process.execPath, [join(dir, 'bench/apps/options-app.mjs')], {
    env: { ...process.env, NKSIP_SERVER: grpcAddr, NKSIP_APP: 'bench-options' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('started')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`the app exited (${code}) before joining`)));
  });
  const cpu = () => {
    // utime + stime, fields 14 and 15 of /proc/PID/stat (after the command name in parentheses)
    const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return { proc, cpu, hz };
}
