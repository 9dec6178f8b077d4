// OPTIONS load benchmark: nksip-server against Kamailio, side by side in one run, on 127.0.0.1.
//
//   npm run build && node bench/options-load.mjs [--quick] [--servers=kamailio,nksip]
//
// For each server it measures
//   - CPU per request: sipp sends OPTIONS at a fixed rate (default 2,000/s for 10 s); the
//     server's utime+stime (all processes of the process group we started, from /proc) before
//     and after, divided by the OPTIONS answered with 200;
//   - the highest rate it sustains: sipp runs one step per rate (default 10 s each), doubling
//     the rate while a step passes, then bisecting between the last pass and the first fail.
//     A step passes when < 0.1 % of the OPTIONS got no 200 within 2 s and sipp achieved at
//     least 95 % of the asked rate. The search stops after a time budget per server.
// It prints one table and writes bench/results/options.json.
//
// Servers: `kamailio` (bench/kamailio-options.cfg, stateless sl_send_reply), `nksip` (the
// real CLI, NKSIP_CMD below); optional `kamailio-tm` (the same config with -A WITH_TM: the 200
// sent from a tm server transaction, stateful as nksip-server is) and `stub`
// (bench/stub-options-server.mjs: our parser on a bare UDP socket, to test this script
// without the CLI and as a floor for nksip).
//
// Environment (seconds unless said): BENCH_STEP_S=10, BENCH_BUDGET_S=180 (search time per
// server), BENCH_FIXED_RATE=2000 (/s), BENCH_FIXED_S=10, BENCH_START_RATE=2000 (/s),
// BENCH_MAX_RATE=100000 (/s), BENCH_MAXBUF=4194304 (UDP receive buffer hint, bytes; 0 = none),
// BENCH_KAMAILIO_CHILDREN=2, BENCH_KAMAILIO_SHM=512 (MB; kamailio-tm keeps every transaction
// for Timer J, 32 s, and 512 MB holds about 82,000 of them). --quick sets 3 s steps, a 40 s budget and a 3 s fixed run.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeResult } from './write-result.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

// The nksip-server command line; {port} is replaced by the port the script picked.
const NKSIP_CMD = [
  'node',
  'dist/server/src/cli.js',
  '--listen',
  'sip:127.0.0.1:{port}',
  '--log-level',
  'warn',
];
const STUB_CMD = ['node', 'bench/stub-options-server.mjs', '--listen', 'sip:127.0.0.1:{port}'];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const serversArg = args.find((a) => a.startsWith('--servers='))?.slice('--servers='.length);
const env = (name, dflt, quickDflt = dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return quick ? quickDflt : dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, got ${v}`);
  return n;
};
const cfg = {
  stepS: env('BENCH_STEP_S', 10, 3),
  budgetS: env('BENCH_BUDGET_S', 180, 40),
  fixedRate: env('BENCH_FIXED_RATE', 2000),
  fixedS: env('BENCH_FIXED_S', 10, 3),
  startRate: env('BENCH_START_RATE', 2000),
  maxRate: env('BENCH_MAX_RATE', 100000),
  maxBuf: env('BENCH_MAXBUF', 4194304),
  kamailioChildren: env('BENCH_KAMAILIO_CHILDREN', 2),
  kamailioShmMb: env('BENCH_KAMAILIO_SHM', 512),
};
const servers = (serversArg ?? 'kamailio,nksip').split(',').filter(Boolean);
for (const s of servers) {
  if (!['kamailio', 'kamailio-tm', 'nksip', 'stub'].includes(s)) throw new Error(`unknown server ${s}`);
}

// A step passes with fewer failures than this share, and at least this share of the rate.
const MAX_FAILED = 0.001;
const MIN_ACHIEVED = 0.95;
// Bisecting stops when the bracket is this tight (relative), or 100/s.
const PRECISION = 0.05;
const SCENARIO = join(here, 'options.xml');
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

const tmp = mkdtempSync(join(os.tmpdir(), 'nksip-bench-'));
/** Every child we started and have not seen exit, by PID. */
const live = new Map();

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${sig}: stopping children`);
    stopAll().finally(() => {
      rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

try {
  await main();
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

async function main() {
  const started = Date.now();
  console.log(
    `OPTIONS over UDP on 127.0.0.1; ${os.cpus().length} cores shared by sipp and the server; ` +
      `steps of ${cfg.stepS} s, search budget ${cfg.budgetS} s per server, ` +
      `CPU at ${cfg.fixedRate}/s for ${cfg.fixedS} s`,
  );
  const results = {};
  for (const name of servers) results[name] = await benchServer(name);

  printTable(results);
  const out = {
    benchmark: 'options-load',
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? null,
    cpus: os.cpus().length,
    config: { ...cfg, maxFailed: MAX_FAILED, minAchieved: MIN_ACHIEVED, quick },
    commands: {
      kamailio: kamailioCmd('{port}', false).join(' '),
      nksip: NKSIP_CMD.join(' '),
      sipp: sippArgs('{port}', '{localport}', 'RATE', 'N', 'T', '{csv}').join(' '),
    },
    results,
    ratios: ratios(results),
    limits:
      'sipp and the server share the same cores on loopback: near the top the rate is bounded by ' +
      'sipp and the kernel as much as by the server; CPU µs/request at a fixed rate is the steadier figure.',
    durationS: Math.round((Date.now() - started) / 1000),
  };
  console.log(`wrote ${relative(process.cwd(), writeResult('options', out))}`);
}

async function benchServer(name) {
  const port = await freePort();
  console.log(`\n== ${name} on 127.0.0.1:${port}`);
  const server = startServer(name, port);
  try {
    await waitReady(server, port);
    // The first seconds of a Node process run unoptimised code; let the JIT settle first.
    await runSipp(port, cfg.fixedRate, Math.max(1, Math.round(cfg.fixedRate * Math.min(2, cfg.fixedS))));
    await sleep(500);

    const before = groupCpuTicks(server.pid);
    const fixed = await runSipp(port, cfg.fixedRate, Math.round(cfg.fixedRate * cfg.fixedS));
    await sleep(200); // answers already sent; let the server finish its bookkeeping of the last
    const ticks = groupCpuTicks(server.pid) - before;
    const usPerRequest = fixed.successful > 0 ? (ticks / CLK_TCK / fixed.successful) * 1e6 : null;
    console.log(
      `  CPU at ${cfg.fixedRate}/s: ${fixed.successful} answered, ${ticks / CLK_TCK} s CPU → ` +
        `${usPerRequest?.toFixed(1)} µs/request (sipp ~${fixed.sippUsPerCall?.toFixed(1)} µs/request)`,
    );

    const search = await searchMaxRate(server, port);
    return {
      port,
      command: server.command,
      processes: groupPids(server.pid).length,
      maxRate: search.maxRate,
      maxRateBracket: search.bracket,
      limitedBy: search.limitedBy,
      steps: search.steps,
      fixed: {
        rate: cfg.fixedRate,
        durationS: cfg.fixedS,
        sent: fixed.count,
        answered: fixed.successful,
        failed: fixed.failed,
        cpuSeconds: ticks / CLK_TCK,
        usPerRequest: usPerRequest === null ? null : round1(usPerRequest),
        sippUsPerRequest: fixed.sippUsPerCall === null ? null : round1(fixed.sippUsPerCall),
      },
    };
  } finally {
    await stopChild(server);
  }
}

/** Doubles the rate while steps pass, then bisects; bounded by cfg.budgetS. */
async function searchMaxRate(server, port) {
  const t0 = Date.now();
  const steps = [];
  let lo = 0; // highest rate that passed
  let hi = Number.POSITIVE_INFINITY; // lowest rate that failed
  let rate = cfg.startRate;
  const stepCost = cfg.stepS + 3; // start-up, the drain of the last answers, the pause between steps
  while ((Date.now() - t0) / 1000 + stepCost <= cfg.budgetS) {
    if (server.exited) throw new Error(`${server.name} exited during the search: ${server.tail()}`);
    const r = await runSipp(port, rate, Math.round(rate * cfg.stepS));
    const lost = r.failed / r.count >= MAX_FAILED;
    const pass = !lost && r.achieved >= MIN_ACHIEVED * rate;
    steps.push({
      rate,
      pass,
      // a step fails either because answers were lost or late (the server, or a socket queue
      // overflowing), or because sipp could not send at the asked rate (sipp and the server
      // compete for the same cores, so a busy server slows sipp down too)
      failedBy: pass ? null : lost ? 'unanswered' : 'rate not reached',
      sent: r.count,
      answered: r.successful,
      failed: r.failed,
      achievedPerSec: Math.round(r.achieved),
      retransmissions: r.retransmissions,
      rcvbufErrors: r.rcvbufErrors,
    });
    console.log(
      `  ${String(rate).padStart(6)}/s: ${pass ? 'pass' : 'FAIL'}  answered ${r.successful}/${r.count}, ` +
        `achieved ${Math.round(r.achieved)}/s, ${r.retransmissions} retransmissions, ` +
        `${r.rcvbufErrors} datagrams dropped by full sockets` +
        `${pass ? '' : ` (${steps.at(-1).failedBy})`}`,
    );
    if (pass) lo = rate;
    else hi = rate;
    let next;
    if (hi === Number.POSITIVE_INFINITY) next = rate * 2;
    else if (lo === 0) next = Math.floor(rate / 2);
    else next = Math.round((lo + hi) / 2 / 100) * 100;
    if (next > cfg.maxRate || next < 100) break;
    if (hi !== Number.POSITIVE_INFINITY && lo > 0 && (hi - lo <= lo * PRECISION || hi - lo <= 100)) break;
    if (next === lo || next === hi) break;
    rate = next;
    await sleep(1000); // let queues and retransmission timers of the last step drain
  }
  const firstFail = steps.find((st) => st.rate === hi);
  return {
    maxRate: lo,
    bracket: [lo, hi === Number.POSITIVE_INFINITY ? null : hi],
    limitedBy: firstFail?.failedBy ?? 'search stopped (budget or BENCH_MAX_RATE)',
    steps,
  };
}

function kamailioCmd(port, withTm) {
  const cmd = ['kamailio', '-f', join('bench', 'kamailio-options.cfg'), '-DD', '-E', '-M', '16'];
  cmd.push('-m', String(cfg.kamailioShmMb));
  cmd.push('-l', `udp:127.0.0.1:${port}`, '-Y', tmp, '-P', join(tmp, 'kamailio.pid'));
  cmd.push('-A', `CHILDREN=${cfg.kamailioChildren}`);
  if (cfg.maxBuf > 0) cmd.push('-A', `MAXBUF=${cfg.maxBuf}`);
  if (withTm) cmd.push('-A', 'WITH_TM');
  return cmd;
}

function startServer(name, port) {
  const template = name.startsWith('kamailio')
    ? kamailioCmd('{port}', name === 'kamailio-tm')
    : name === 'nksip'
      ? NKSIP_CMD
      : STUB_CMD;
  const cmd = template.map((a) => a.replaceAll('{port}', String(port)));
  if (name === 'nksip' && !safeExists(join(root, 'dist/server/src/cli.js'))) {
    throw new Error('dist/server/src/cli.js is missing: run `npm run build` first');
  }
  // Its own process group, so every process it forks (Kamailio's children) can be found
  // from /proc and stopped through the PID we hold.
  const child = startChild(name, cmd, { cwd: root, detached: true });
  child.command = cmd.join(' ');
  return child;
}

/** Sends OPTIONS until a 200 comes back; the server is then ready for load. */
async function waitReady(server, port) {
  const sock = dgram.createSocket('udp4');
  await new Promise((res) => sock.bind(0, '127.0.0.1', res));
  const local = sock.address().port;
  let got200 = false;
  sock.on('message', (b) => {
    if (b.toString('latin1', 0, 12) === 'SIP/2.0 200 ') got200 = true;
  });
  try {
    for (let i = 0; i < 150 && !got200; i++) {
      if (server.exited) throw new Error(`${server.name} exited at start: ${server.tail()}`);
      const msg =
        `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-ready-${i}\r\n` +
        'Max-Forwards: 70\r\n' +
        `From: <sip:bench@127.0.0.1:${local}>;tag=ready\r\n` +
        `To: <sip:ping@127.0.0.1:${port}>\r\n` +
        `Call-ID: ready-${process.pid}-${i}\r\n` +
        'CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
      sock.send(msg, port, '127.0.0.1');
      await sleep(100);
    }
    if (!got200) throw new Error(`${server.name} did not answer OPTIONS within 15 s: ${server.tail()}`);
  } finally {
    sock.close();
  }
}

function sippArgs(port, localPort, rate, count, timeoutS, csv) {
  return [
    `127.0.0.1:${port}`,
    ...['-sf', SCENARIO, '-t', 'u1', '-i', '127.0.0.1', '-p', String(localPort)],
    ...['-r', String(rate), '-m', String(count), '-timeout', `${timeoutS}s`],
    // at most ~1 s worth of unanswered OPTIONS in flight: a server that falls behind makes sipp
    // slow down, which shows as a missed rate instead of an ever-growing backlog
    ...['-l', String(Math.max(200, Number(rate) || 0))],
    ...['-buff_size', '4194304', '-nostdin', '-trace_stat', '-stf', csv, '-fd', '1'],
  ];
}

/**
 * One bounded sipp run (count OPTIONS, at most count/rate + 10 s). Counts come from the last
 * line of sipp's statistics file, written when it exits.
 */
async function runSipp(port, rate, count) {
  const localPort = await freePort();
  const drops0 = udpRcvbufErrors();
  const csv = join(tmp, `sipp-${localPort}-${Date.now()}.csv`);
  const timeoutS = Math.ceil(count / rate) + 10;
  const sipp = startChild('sipp', ['sipp', ...sippArgs(port, localPort, rate, count, timeoutS, csv)], {
    cwd: tmp,
  });
  // sipp's own CPU, sampled while it runs (it is gone once it has exited): rough, but it shows
  // how much of the shared cores the load generator takes
  let sippTicks = 0;
  const sampler = setInterval(() => {
    sippTicks = Math.max(sippTicks, cpuTicks(sipp.pid));
  }, 200);
  const code = await sipp.done;
  clearInterval(sampler);
  let stats;
  try {
    stats = lastStats(readFileSync(csv, 'latin1'));
  } catch {
    throw new Error(`sipp (exit ${code}) left no statistics: ${sipp.tail()}`);
  }
  const successful = stats['SuccessfulCall(C)'];
  const rcvbufErrors = udpRcvbufErrors() - drops0;
  const elapsed = stats.CurrentTime - stats.StartTime;
  return {
    count,
    successful,
    // OPTIONS that never got their 200: failed calls and calls cut off by the global timeout
    failed: count - successful,
    achieved: elapsed > 0 ? successful / elapsed : 0,
    retransmissions: stats['Retransmissions(C)'],
    rcvbufErrors,
    sippUsPerCall: successful > 0 && sippTicks > 0 ? (sippTicks / CLK_TCK / successful) * 1e6 : null,
  };
}

/**
 * Datagrams the kernel dropped because a socket's receive queue was full, machine-wide
 * (/proc/net/snmp Udp RcvbufErrors): tells "the server never saw it" from "answered too late".
 * Other programs' sockets count too, but on loopback during a step they are mostly ours.
 */
function udpRcvbufErrors() {
  const udp = readFileSync('/proc/net/snmp', 'latin1')
    .split('\n')
    .filter((l) => l.startsWith('Udp: '));
  const names = (udp[0] ?? '').split(' ');
  const values = (udp[1] ?? '').split(' ');
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

/** The last row of a sipp -trace_stat file as numbers; times as epoch seconds. */
function lastStats(text) {
  const lines = text.trim().split('\n');
  if (lines.length < 2) throw new Error('no statistics row');
  const names = lines[0].split(';');
  const values = lines[lines.length - 1].split(';');
  const out = {};
  names.forEach((n, i) => {
    const v = (values[i] ?? '').trim();
    // time columns read "2026-11-27<TAB>07:33:09.578625<TAB>1795764789.578625"
    out[n] = Number(/\S+$/.exec(v)?.[0] ?? Number.NaN);
  });
  return out;
}

/** The PIDs of a process group, from /proc. */
function groupPids(pgid) {
  const pids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(Number(d));
    if (st && Number(st[2]) === pgid) pids.push(Number(d));
  }
  return pids;
}

/** utime+stime of every process in a group, in clock ticks. */
function groupCpuTicks(pgid) {
  return groupPids(pgid).reduce((sum, pid) => sum + cpuTicks(pid), 0);
}

function cpuTicks(pid) {
  const st = readStat(pid);
  return st ? Number(st[11]) + Number(st[12]) : 0;
}

/** Fields of /proc/<pid>/stat after the command name: [0] is state (field 3), [2] pgrp. */
function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // exited meanwhile
  }
}

function startChild(name, cmd, opts) {
  // once stopping, nothing new may start: it would outlive the stopAll() already under way
  if (stopping) throw new Error('stopping');
  const child = spawn(cmd[0], cmd.slice(1), { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d) => {
    tail = (tail + d.toString('latin1')).slice(-3000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const handle = {
    name,
    pid: child.pid,
    group: Boolean(opts.detached),
    exited: false,
    tail: () => tail.trim(),
    done: new Promise((res) => {
      child.on('error', (err) => {
        keep(String(err));
        handle.exited = true;
        live.delete(child.pid);
        res(-1);
      });
      child.on('exit', (code, signal) => {
        handle.exited = true;
        live.delete(child.pid);
        res(code ?? signal);
      });
    }),
  };
  if (child.pid !== undefined) live.set(child.pid, handle);
  return handle;
}

/**
 * SIGTERM by PID (to its whole group when it has one), SIGKILL after 10 s: nksip-server lets
 * live transactions finish for up to 5 s (its shutdown timeout) before it exits.
 */
async function stopChild(h) {
  if (h.exited || h.pid === undefined) return;
  const target = h.group ? -h.pid : h.pid;
  const signal = (sig) => {
    try {
      process.kill(target, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const killed = await Promise.race([h.done.then(() => true), sleep(10000).then(() => false)]);
  if (!killed) {
    signal('SIGKILL');
    await h.done;
  }
  // a group leader can exit before its children (Kamailio's main process): wait for the rest
  if (h.group) {
    for (let i = 0; i < 50 && groupPids(h.pid).length > 0; i++) await sleep(100);
    if (groupPids(h.pid).length > 0) signal('SIGKILL');
  }
}

async function stopAll() {
  await Promise.all([...live.values()].map(stopChild));
}

/** A UDP port free on 127.0.0.1 right now (the kernel picks it; we release it at once). */
async function freePort() {
  const s = dgram.createSocket('udp4');
  await new Promise((res) => s.bind(0, '127.0.0.1', res));
  const { port } = s.address();
  await new Promise((res) => s.close(res));
  return port;
}

/** Ours over theirs, for every pair of an nksip-side and a Kamailio-side server in the run. */
function ratios(results) {
  const r = (a, b) => (a && b ? Number((a / b).toFixed(2)) : null);
  const out = [];
  for (const ours of ['nksip', 'stub']) {
    for (const theirs of ['kamailio', 'kamailio-tm']) {
      const a = results[ours];
      const b = results[theirs];
      if (!a || !b) continue;
      out.push({
        of: `${ours}/${theirs}`,
        maxRate: r(a.maxRate, b.maxRate),
        usPerRequest: r(a.fixed.usPerRequest, b.fixed.usPerRequest),
      });
    }
  }
  return out;
}

function printTable(results) {
  const fmt = (n) => (n === null || n === undefined ? '—' : n.toLocaleString('en-US'));
  const atRate = `CPU µs/req @${cfg.fixedRate}/s`;
  console.log('');
  console.log(
    `${'server'.padEnd(13)}${'max OPTIONS/s'.padStart(15)}${atRate.padStart(24)}${'sipp µs/req'.padStart(13)}` +
      `${'procs'.padStart(7)}  above the max`,
  );
  for (const [name, r] of Object.entries(results)) {
    const max = r.maxRateBracket[1] === null ? `≥${fmt(r.maxRate)}` : fmt(r.maxRate);
    console.log(
      `${name.padEnd(13)}${max.padStart(15)}${fmt(r.fixed.usPerRequest).padStart(24)}` +
        `${fmt(r.fixed.sippUsPerRequest).padStart(13)}${String(r.processes).padStart(7)}  ${r.limitedBy}`,
    );
  }
  for (const q of ratios(results)) {
    console.log(`${q.of}: max rate ×${fmt(q.maxRate)}, CPU per request ×${fmt(q.usPerRequest)}`);
  }
  console.log(
    "max OPTIONS/s: highest step rate with < 0.1 % unanswered and ≥ 95 % of the rate reached; 'above the max'\n" +
      "says why the next step failed: 'unanswered' = answers lost or late, 'rate not reached' = sipp\n" +
      'could not send faster on the cores it shares with the server (≥: no step failed).',
  );
}

function safeExists(p) {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms) {
  return new Promise((res) => setTimeout(res, ms));
}

function round1(n) {
  return Math.round(n * 10) / 10;
}
