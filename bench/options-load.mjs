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
// without the CLI and as a floor for nksip) and `stub2` (the same on two cluster workers
// sharing the socket: what a second Node process brings while sipp shares the cores) and
// `stub-mmsg` (the stub on recvmmsg/sendmmsg through bench/native-udp/mmsg.c, built with gcc:
// what Node's per-datagram dgram path costs against batched system calls).
//
// Environment (seconds unless said): BENCH_STEP_S=10, BENCH_BUDGET_S=180 (search time per
// server), BENCH_FIXED_RATE=2000 (/s), BENCH_FIXED_S=10, BENCH_START_RATE=2000 (/s),
// BENCH_MAX_RATE=100000 (/s), BENCH_MAXBUF=4194304 (UDP receive buffer hint, bytes; 0 = none),
// BENCH_KAMAILIO_CHILDREN=2, BENCH_KAMAILIO_SHM=512 (MB; kamailio-tm keeps every transaction
// for Timer J, 32 s, and 512 MB holds about 82,000 of them). --quick sets 3 s steps, a 40 s budget and a 3 s fixed run.
// The sipp runs, the search, the CPU measurement and process handling are in bench/lib/load.mjs
// (shared with bench/app-options.mjs).
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import {
  benchTmp,
  cleanup,
  envNumber,
  fileExists,
  fmt,
  freePort,
  groupPids,
  installSignalHandlers,
  LAUNCHER,
  loadConfig,
  MAX_FAILED,
  MIN_ACHIEVED,
  measureCpu,
  root,
  searchMaxRate,
  sippArgs,
  startChild,
  stopChild,
  waitReady,
} from './lib/load.mjs';
import { writeResult } from './write-result.mjs';

// The nksip-server command line; {port} is replaced by the port the script picked.
const NKSIP_CMD = [LAUNCHER, '--listen', 'sip:127.0.0.1:{port}', '--log-level', 'warn'];
const STUB_CMD = ['node', 'bench/stub-options-server.mjs', '--listen', 'sip:127.0.0.1:{port}'];
const STUB_CMDS = {
  stub: STUB_CMD,
  stub2: [...STUB_CMD, '--workers', '2'],
  'stub-mmsg': [...STUB_CMD, '--mmsg'],
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const serversArg = args.find((a) => a.startsWith('--servers='))?.slice('--servers='.length);
const cfg = {
  ...loadConfig(quick),
  maxBuf: envNumber(quick, 'BENCH_MAXBUF', 4194304),
  kamailioChildren: envNumber(quick, 'BENCH_KAMAILIO_CHILDREN', 2),
  kamailioShmMb: envNumber(quick, 'BENCH_KAMAILIO_SHM', 512),
};
// --base=DIR: another checkout's built server (DIR/dist) as server `nksip-base`, for A/B runs
const baseDir = args.find((a) => a.startsWith('--base='))?.slice('--base='.length);
const servers = (serversArg ?? (baseDir ? 'nksip-base,nksip' : 'kamailio,nksip')).split(',').filter(Boolean);
for (const s of servers) {
  if (!['kamailio', 'kamailio-tm', 'nksip', 'nksip-base', ...Object.keys(STUB_CMDS)].includes(s))
    throw new Error(`unknown server ${s}`);
  if (s === 'nksip-base' && !baseDir) throw new Error('server nksip-base needs --base=DIR');
}

installSignalHandlers();
try {
  await main();
} finally {
  await cleanup();
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
      ...(baseDir ? { nksipBase: `cd ${resolve(baseDir)} && ${NKSIP_CMD.join(' ')}` } : {}),
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
    const m = await measureCpu(cfg, port, { server: server.pid });
    const { cpuSeconds, usPerRequest } = m.cpu.server;
    console.log(
      `  CPU at ${cfg.fixedRate}/s: ${m.answered} answered, ${cpuSeconds} s CPU → ` +
        `${usPerRequest?.toFixed(1)} µs/request (sipp ~${m.sippUsPerRequest?.toFixed(1)} µs/request)`,
    );

    const search = await searchMaxRate(cfg, port, server);
    return {
      port,
      command: server.command,
      processes: groupPids(server.pid).length,
      maxRate: search.maxRate,
      maxRateBracket: search.bracket,
      limitedBy: search.limitedBy,
      steps: search.steps,
      fixed: {
        rate: m.rate,
        durationS: m.durationS,
        sent: m.sent,
        answered: m.answered,
        failed: m.failed,
        cpuSeconds,
        usPerRequest,
        sippUsPerRequest: m.sippUsPerRequest,
      },
    };
  } finally {
    await stopChild(server);
  }
}

function kamailioCmd(port, withTm) {
  const cmd = ['kamailio', '-f', join('bench', 'kamailio-options.cfg'), '-DD', '-E', '-M', '16'];
  cmd.push('-m', String(cfg.kamailioShmMb));
  cmd.push('-l', `udp:127.0.0.1:${port}`, '-Y', benchTmp(), '-P', join(benchTmp(), 'kamailio.pid'));
  cmd.push('-A', `CHILDREN=${cfg.kamailioChildren}`);
  if (cfg.maxBuf > 0) cmd.push('-A', `MAXBUF=${cfg.maxBuf}`);
  if (withTm) cmd.push('-A', 'WITH_TM');
  return cmd;
}

function startServer(name, port) {
  const template = name.startsWith('kamailio')
    ? kamailioCmd('{port}', name === 'kamailio-tm')
    : name.startsWith('nksip')
      ? NKSIP_CMD
      : STUB_CMDS[name];
  const cmd = template.map((a) => a.replaceAll('{port}', String(port)));
  const cwd = name === 'nksip-base' ? resolve(baseDir) : root;
  if (name.startsWith('nksip') && !fileExists(join(cwd, 'dist/server/src/cli.js'))) {
    throw new Error(`${cwd}/dist/server/src/cli.js is missing: run \`npm run build\` there first`);
  }
  if (name.startsWith('nksip') && !fileExists(join(cwd, LAUNCHER))) {
    throw new Error(
      `${cwd} has no bin/nksip-server (it predates the launcher): compare with a later checkout`,
    );
  }
  // Its own process group, so every process it forks (Kamailio's children) can be found
  // from /proc and stopped through the PID we hold.
  return startChild(name, cmd, { cwd, detached: true });
}

/** Ours over theirs, for every pair of an nksip-side and a Kamailio-side server in the run. */
function ratios(results) {
  const r = (a, b) => (a && b ? Number((a / b).toFixed(2)) : null);
  const out = [];
  for (const ours of ['nksip', ...Object.keys(STUB_CMDS)]) {
    for (const theirs of ['kamailio', 'kamailio-tm', 'nksip-base']) {
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
