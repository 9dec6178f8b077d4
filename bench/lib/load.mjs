// Shared by the OPTIONS load benchmarks (bench/options-load.mjs, bench/app-options.mjs): child
// processes started and stopped by PID, CPU time from /proc, bounded sipp runs of
// bench/options.xml, the search for the highest sustained rate and the CPU per request at a
// fixed rate. See bench/README.md for the method.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const root = join(benchDir, '..');

// A step passes with fewer failures than this share, and at least this share of the rate.
export const MAX_FAILED = 0.001;
export const MIN_ACHIEVED = 0.95;
// Bisecting stops when the bracket is this tight (relative), or 100/s.
export const PRECISION = 0.05;
export const SCENARIO = join(benchDir, 'options.xml');
export const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** A number from the environment, or the default (the quick one under --quick). */
export function envNumber(quick, name, dflt, quickDflt = dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return quick ? quickDflt : dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, got ${v}`);
  return n;
}

/** The settings every load benchmark shares (seconds and requests per second). */
export function loadConfig(quick, { budgetS = 180, quickBudgetS = 40 } = {}) {
  return {
    stepS: envNumber(quick, 'BENCH_STEP_S', 10, 3),
    budgetS: envNumber(quick, 'BENCH_BUDGET_S', budgetS, quickBudgetS),
    fixedRate: envNumber(quick, 'BENCH_FIXED_RATE', 2000),
    fixedS: envNumber(quick, 'BENCH_FIXED_S', 10, 3),
    startRate: envNumber(quick, 'BENCH_START_RATE', 2000),
    maxRate: envNumber(quick, 'BENCH_MAX_RATE', 100000),
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** Every child we started and have not seen exit, by PID. */
const live = new Map();
let stopping = false;
let tmpDir;

/** A temporary directory for this run (sipp's statistics files), removed by cleanup(). */
export function benchTmp() {
  tmpDir ??= mkdtempSync(join(os.tmpdir(), 'nksip-bench-'));
  return tmpDir;
}

/** Stops every child and removes the temporary directory. */
export async function cleanup() {
  await stopAll();
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}

/**
 * On SIGINT/SIGTERM, or when our stdout is closed (`| head`: EPIPE would otherwise kill us and
 * leave the children running): stop every child by PID, clean up, exit 130.
 */
export function installSignalHandlers() {
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    if (why !== 'EPIPE') console.error(`\n${why}: stopping children`);
    cleanup().finally(() => process.exit(130));
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop(sig));
  process.stdout.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
    stop('EPIPE');
  });
}

/**
 * Spawns cmd; opts.detached puts it in its own process group (so every process it forks can be
 * found from /proc and stopped through the PID we hold); opts.onLine gets each stdout line.
 */
export function startChild(name, cmd, opts = {}) {
  // once stopping, nothing new may start: it would outlive the stopAll() already under way
  if (stopping) throw new Error('stopping');
  const { onLine, ...spawnOpts } = opts;
  const child = spawn(cmd[0], cmd.slice(1), { ...spawnOpts, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let partial = '';
  const keep = (d) => {
    tail = (tail + d.toString('latin1')).slice(-3000);
  };
  child.stdout.on('data', (d) => {
    keep(d);
    if (!onLine) return;
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  });
  child.stderr.on('data', keep);
  const handle = {
    name,
    pid: child.pid,
    group: Boolean(spawnOpts.detached),
    exited: false,
    command: cmd.join(' '),
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
export async function stopChild(h) {
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

export async function stopAll() {
  await Promise.all([...live.values()].map(stopChild));
}

// ---------------------------------------------------------------------------------------------
// /proc

/** The PIDs of a process group, from /proc. */
export function groupPids(pgid) {
  const pids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(Number(d));
    if (st && Number(st[2]) === pgid) pids.push(Number(d));
  }
  return pids;
}

/** utime+stime of every process in a group, in clock ticks. */
export function groupCpuTicks(pgid) {
  return groupPids(pgid).reduce((sum, pid) => sum + cpuTicks(pid), 0);
}

export function cpuTicks(pid) {
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

/**
 * Datagrams the kernel dropped because a socket's receive queue was full, machine-wide
 * (/proc/net/snmp Udp RcvbufErrors): tells "the server never saw it" from "answered too late".
 * Other programs' sockets count too, but on loopback during a step they are mostly ours.
 */
export function udpRcvbufErrors() {
  const udp = readFileSync('/proc/net/snmp', 'latin1')
    .split('\n')
    .filter((l) => l.startsWith('Udp: '));
  const names = (udp[0] ?? '').split(' ');
  const values = (udp[1] ?? '').split(' ');
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Ports and readiness

/** A UDP port free on 127.0.0.1 right now (the kernel picks it; we release it at once). */
export async function freePort() {
  const s = dgram.createSocket('udp4');
  await new Promise((res) => s.bind(0, '127.0.0.1', res));
  const { port } = s.address();
  await new Promise((res) => s.close(res));
  return port;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freeTcpPort() {
  const s = net.createServer();
  await new Promise((res, rej) => s.once('error', rej).listen(0, '127.0.0.1', res));
  const { port } = s.address();
  await new Promise((res) => s.close(res));
  return port;
}

/**
 * Sends OPTIONS until a 200 comes back (carrying `header`, when given: a marker the answering
 * app adds); the server is then ready for load. `watch`: processes whose exit is an error.
 */
export async function waitReady(watch, port, { header, tries = 150 } = {}) {
  const procs = [watch].flat();
  const sock = dgram.createSocket('udp4');
  await new Promise((res) => sock.bind(0, '127.0.0.1', res));
  const local = sock.address().port;
  const marker = header ? `\r\n${header.toLowerCase()}:` : null;
  let got200 = false;
  sock.on('message', (b) => {
    if (b.toString('latin1', 0, 12) !== 'SIP/2.0 200 ') return;
    if (marker && !b.toString('latin1').toLowerCase().includes(marker)) return;
    got200 = true;
  });
  try {
    for (let i = 0; i < tries && !got200; i++) {
      const gone = procs.find((p) => p.exited);
      if (gone) throw new Error(`${gone.name} exited at start: ${gone.tail()}`);
      const msg =
        `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-ready-${process.pid}-${Date.now()}-${i}\r\n` +
        'Max-Forwards: 70\r\n' +
        `From: <sip:bench@127.0.0.1:${local}>;tag=ready\r\n` +
        `To: <sip:ping@127.0.0.1:${port}>\r\n` +
        `Call-ID: ready-${process.pid}-${Date.now()}-${i}\r\n` +
        'CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
      sock.send(msg, port, '127.0.0.1');
      await sleep(100);
    }
    if (!got200) {
      const what = header ? `a 200 with ${header}` : 'a 200';
      throw new Error(
        `no ${what} to OPTIONS within ${tries / 10} s: ${procs.map((p) => `${p.name}: ${p.tail()}`).join('; ')}`,
      );
    }
  } finally {
    sock.close();
  }
}

// ---------------------------------------------------------------------------------------------
// sipp

/**
 * sipp's arguments. `scenario`: how sipp gets its scenario (default `-sf bench/options.xml`;
 * `['-sn', 'uac']` for a built-in one); `limit`: calls in flight (default about 1 s worth);
 * `extra`: more arguments.
 */
export function sippArgs(
  port,
  localPort,
  rate,
  count,
  timeoutS,
  csv,
  { scenario = ['-sf', SCENARIO], extra = [], limit } = {},
) {
  return [
    `127.0.0.1:${port}`,
    ...[...scenario, '-t', 'u1', '-i', '127.0.0.1', '-p', String(localPort)],
    ...extra,
    ...['-r', String(rate), '-m', String(count), '-timeout', `${timeoutS}s`],
    // at most ~1 s worth of unanswered OPTIONS in flight: a server that falls behind makes sipp
    // slow down, which shows as a missed rate instead of an ever-growing backlog
    ...['-l', String(limit ?? Math.max(200, Number(rate) || 0))],
    ...['-buff_size', '4194304', '-nostdin', '-trace_stat', '-stf', csv, '-fd', '1'],
  ];
}

/**
 * One bounded sipp run (count OPTIONS, at most count/rate + 10 s). Counts come from the last
 * line of sipp's statistics file, written when it exits.
 */
export async function runSipp(port, rate, count, sipp = {}) {
  const tmp = benchTmp();
  const localPort = await freePort();
  const drops0 = udpRcvbufErrors();
  const csv = join(tmp, `sipp-${localPort}-${Date.now()}.csv`);
  const timeoutS = Math.ceil(count / rate) + 10;
  const proc = startChild('sipp', ['sipp', ...sippArgs(port, localPort, rate, count, timeoutS, csv, sipp)], {
    cwd: tmp,
  });
  // sipp's own CPU, sampled while it runs (it is gone once it has exited): rough, but it shows
  // how much of the shared cores the load generator takes
  let sippTicks = 0;
  const sampler = setInterval(() => {
    sippTicks = Math.max(sippTicks, cpuTicks(proc.pid));
  }, 200);
  const code = await proc.done;
  clearInterval(sampler);
  let stats;
  try {
    stats = lastStats(readFileSync(csv, 'latin1'));
  } catch {
    throw new Error(`sipp (exit ${code}) left no statistics: ${proc.tail()}`);
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

/** The last row of a sipp -trace_stat file as numbers; times as epoch seconds. */
export function lastStats(text) {
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

// ---------------------------------------------------------------------------------------------
// Measurements

/**
 * CPU per request at cfg.fixedRate: a warm-up of min(2 s, fixedS) at the same rate (the first
 * seconds of a Node process run unoptimised code), then cfg.fixedS seconds measured. `groups`
 * maps a label to the PID of a process group we started; each group's utime+stime is read
 * before and after and divided by the OPTIONS answered with 200.
 */
export async function measureCpu(cfg, port, groups, sipp = {}) {
  await runSipp(port, cfg.fixedRate, Math.max(1, Math.round(cfg.fixedRate * Math.min(2, cfg.fixedS))), sipp);
  await sleep(500);
  const before = Object.fromEntries(Object.entries(groups).map(([k, pid]) => [k, groupCpuTicks(pid)]));
  const fixed = await runSipp(port, cfg.fixedRate, Math.round(cfg.fixedRate * cfg.fixedS), sipp);
  await sleep(200); // answers already sent; let the processes finish their bookkeeping of the last
  const cpu = {};
  for (const [k, pid] of Object.entries(groups)) {
    const seconds = (groupCpuTicks(pid) - before[k]) / CLK_TCK;
    cpu[k] = {
      cpuSeconds: seconds,
      usPerRequest: fixed.successful > 0 ? round1((seconds / fixed.successful) * 1e6) : null,
    };
  }
  return {
    rate: cfg.fixedRate,
    durationS: cfg.fixedS,
    sent: fixed.count,
    answered: fixed.successful,
    failed: fixed.failed,
    cpu,
    sippUsPerRequest: fixed.sippUsPerCall === null ? null : round1(fixed.sippUsPerCall),
  };
}

/**
 * The highest rate passed: doubles the rate from cfg.startRate while steps pass, then bisects
 * between the last pass and the first fail; bounded by cfg.budgetS and cfg.maxRate. `watch`:
 * processes that must stay up. `afterStep` (optional, async) returns extra fields for a step's
 * record and its printed line ({ fields, note }).
 */
export async function searchMaxRate(cfg, port, watch, afterStep, sipp = {}) {
  const procs = [watch].flat();
  const t0 = Date.now();
  const steps = [];
  let lo = 0; // highest rate that passed
  let hi = Number.POSITIVE_INFINITY; // lowest rate that failed
  let rate = cfg.startRate;
  const stepCost = cfg.stepS + 3; // start-up, the drain of the last answers, the pause between steps
  while ((Date.now() - t0) / 1000 + stepCost <= cfg.budgetS) {
    const gone = procs.find((p) => p.exited);
    if (gone) throw new Error(`${gone.name} exited during the search: ${gone.tail()}`);
    const r = await runSipp(port, rate, Math.round(rate * cfg.stepS), sipp);
    const extra = afterStep ? await afterStep(r) : undefined;
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
      ...extra?.fields,
    });
    console.log(
      `  ${String(rate).padStart(6)}/s: ${pass ? 'pass' : 'FAIL'}  answered ${r.successful}/${r.count}, ` +
        `achieved ${Math.round(r.achieved)}/s, ${r.retransmissions} retransmissions, ` +
        `${r.rcvbufErrors} datagrams dropped by full sockets` +
        `${extra?.note ? `, ${extra.note}` : ''}${pass ? '' : ` (${steps.at(-1).failedBy})`}`,
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

// ---------------------------------------------------------------------------------------------
// Small things

/** Where `--cpu-prof` runs put their profiles: bench/results/profiles/<setup>-<proc>/. */
export const profDir = join(benchDir, 'results', 'profiles');

/**
 * A node command, or bin/nksip-server's, with --cpu-prof into profDir/<setup>-<proc>/ when
 * `on`, else `cmd` as is. The launcher takes node's flags from NKSIP_NODE_FLAGS, its own
 * default (read from it) plus the profiler's; `env` execs the command, so the PID stays.
 */
export function profiledCmd(on, cmd, setup, proc) {
  if (!on) return cmd;
  const prof = ['--cpu-prof', `--cpu-prof-dir=${join(profDir, `${setup}-${proc}`)}`];
  if (cmd[0] !== LAUNCHER) return [cmd[0], ...prof, ...cmd.slice(1)];
  const dflt = /\$\{NKSIP_NODE_FLAGS-([^}]*)\}/.exec(readFileSync(join(root, LAUNCHER), 'utf8'))?.[1] ?? '';
  return ['env', `NKSIP_NODE_FLAGS=${[dflt, ...prof].join(' ').trim()}`, ...cmd];
}

/** The server's launcher (node with the flags the server runs with), relative to a checkout. */
export const LAUNCHER = 'bin/nksip-server';

export function fileExists(p) {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms) {
  return new Promise((res) => setTimeout(res, ms));
}

export function round1(n) {
  return Math.round(n * 10) / 10;
}

/** 1,234 or — */
export function fmt(n) {
  return n === null || n === undefined ? '—' : n.toLocaleString('en-US');
}
