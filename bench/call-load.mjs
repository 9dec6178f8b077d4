// Full call cycles per second (INVITE-100-180-200-ACK-BYE-200) between sipp and a TypeScript
// SipApp answering the INVITEs through nksip-server, and the memory each live dialog costs.
//
//   make build && node bench/call-load.mjs [--quick]
//
// One nksip-server (node --expose-gc, SIP on 127.0.0.1 UDP) and bench/apps/call-app.mjs joined
// over gRPC (it implements `invite`: 180 then 200 with SDP; BYE and ACK are the server's).
//   1. CPU per call at a fixed rate (server and app, from /proc), after a warm-up;
//   2. the highest call rate with < 0.1 % failed calls (sipp's built-in `uac` scenario, calls
//      hung up at once), the same search as the OPTIONS benchmarks (bench/lib/load.mjs);
//   3. memory per live dialog: N calls held open (sipp `-d`), the server's heap after a full
//      GC (its SIGUSR2 stats line) minus the heap before, divided by N; RSS likewise.
// Prints a table and writes bench/results/call-load.json.
//
// Environment: BENCH_FIXED_RATE=300 (calls/s), BENCH_FIXED_S=10, BENCH_START_RATE=200,
// BENCH_STEP_S=10, BENCH_BUDGET_S=150, BENCH_LIVE_CALLS=5000 (held calls for the memory
// figure). --quick: 3 s steps, a 35 s budget, 2,000 held calls.
import os from 'node:os';
import { join, relative } from 'node:path';
import {
  benchTmp,
  cleanup,
  envNumber,
  fileExists,
  fmt,
  freePort,
  freeTcpPort,
  installSignalHandlers,
  loadConfig,
  MAX_FAILED,
  MIN_ACHIEVED,
  measureCpu,
  root,
  searchMaxRate,
  sippArgs,
  sleep,
  startChild,
  stopChild,
  waitReady,
} from './lib/load.mjs';
import { writeResult } from './write-result.mjs';

const SERVER_CMD = [
  'node',
  '--expose-gc',
  'dist/server/src/cli.js',
  '--listen',
  'sip:127.0.0.1:{port}',
  '--grpc',
  '127.0.0.1:{grpc}',
  '--log-level',
  'info',
];
const APP_CMD = ['node', 'bench/apps/call-app.mjs'];
const APP_MARKER = 'x-bench-app';
const SIPP_CALLS = { scenario: ['-sn', 'uac'] };

const args = process.argv.slice(2);
for (const a of args) if (a !== '--quick') throw new Error(`unknown argument ${a}`);
const quick = args.includes('--quick');
const cfg = loadConfig(quick, { budgetS: 150, quickBudgetS: 35 });
cfg.fixedRate = envNumber(quick, 'BENCH_FIXED_RATE', 300);
cfg.startRate = envNumber(quick, 'BENCH_START_RATE', 200);
const liveCalls = envNumber(quick, 'BENCH_LIVE_CALLS', 5000, 2000);

installSignalHandlers();
try {
  await main();
} finally {
  await cleanup();
}

async function main() {
  for (const f of ['dist/server/src/cli.js', 'clients/typescript/dist/index.js']) {
    if (!fileExists(join(root, f))) throw new Error(`${f} is missing: run \`make build\` first`);
  }
  const started = Date.now();
  const port = await freePort();
  const grpc = await freeTcpPort();
  const fill = (s) => s.replaceAll('{port}', String(port)).replaceAll('{grpc}', String(grpc));
  console.log(
    `calls over UDP on 127.0.0.1:${port}; ${os.cpus().length} cores shared by sipp, the server and the app; ` +
      `CPU at ${cfg.fixedRate} calls/s for ${cfg.fixedS} s; search steps of ${cfg.stepS} s within ${cfg.budgetS} s; ` +
      `${liveCalls} held calls for memory`,
  );
  let statsWaiters = [];
  const server = startChild('nksip-server', SERVER_CMD.map(fill), {
    cwd: root,
    detached: true,
    onLine: (line) => {
      if (!line.includes('"msg":"stats"')) return;
      const s = JSON.parse(line).stats;
      const w = statsWaiters;
      statsWaiters = [];
      for (const res of w) res(s);
    },
  });
  const serverStats = async () => {
    const got = new Promise((res) => statsWaiters.push(res));
    process.kill(server.pid, 'SIGUSR2');
    const s = await Promise.race([got, sleep(5000).then(() => null)]);
    if (!s) throw new Error(`the server did not log its stats: ${server.tail()}`);
    return s;
  };
  const env = { ...process.env, NKSIP_SERVER: `127.0.0.1:${grpc}`, NKSIP_APP: 'bench-calls' };
  let app;
  try {
    await waitReady(server, port);
    app = startChild('call-app', APP_CMD, { cwd: root, detached: true, env });
    await waitReady([server, app], port, { header: APP_MARKER });
    const watch = [server, app];

    const fixed = await measureCpu(cfg, port, { server: server.pid, app: app.pid }, SIPP_CALLS);
    const total = fixed.cpu.server.cpuSeconds + fixed.cpu.app.cpuSeconds;
    fixed.cpu.total = {
      cpuSeconds: Math.round(total * 100) / 100,
      usPerRequest: fixed.answered > 0 ? Math.round((total / fixed.answered) * 1e7) / 10 : null,
    };
    console.log(
      `  CPU at ${cfg.fixedRate} calls/s: ${fixed.answered}/${fixed.sent} calls completed; µs/call ` +
        `server ${fmt(fixed.cpu.server.usPerRequest)}, app ${fmt(fixed.cpu.app.usPerRequest)}, ` +
        `total ${fmt(fixed.cpu.total.usPerRequest)} (sipp ~${fmt(fixed.sippUsPerRequest)})`,
    );

    const search = await searchMaxRate(cfg, port, watch, undefined, SIPP_CALLS);
    await sleep(2000); // the last calls' transactions and dialogs drain

    const memory = await heldCalls(port, serverStats, watch);
    console.log(
      `  ${memory.established} held calls: heap +${fmt(memory.heapBytesPerDialog)} B/dialog, ` +
        `RSS +${fmt(memory.rssBytesPerDialog)} B/dialog`,
    );

    const out = {
      benchmark: 'call-load',
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? null,
      cpus: os.cpus().length,
      config: { ...cfg, liveCalls, maxFailed: MAX_FAILED, minAchieved: MIN_ACHIEVED, quick },
      commands: {
        server: server.command,
        app: `NKSIP_SERVER=127.0.0.1:${grpc} NKSIP_APP=bench-calls ${APP_CMD.join(' ')}`,
        sipp: sippArgs('{port}', '{localport}', 'RATE', 'N', 'T', '{csv}', SIPP_CALLS).join(' '),
      },
      maxCallsPerSec: search.maxRate,
      maxRateBracket: search.bracket,
      limitedBy: search.limitedBy,
      steps: search.steps,
      fixed,
      memory,
      durationS: Math.round((Date.now() - started) / 1000),
    };
    printTable(out);
    console.log(`wrote ${relative(process.cwd(), writeResult('call-load', out))}`);
  } finally {
    if (app) await stopChild(app);
    await stopChild(server);
  }
}

/**
 * N calls held open by sipp (`-d`): the server's heap (after a GC) and RSS before and once
 * every call is established, per dialog. The held calls are dropped by stopping sipp.
 */
async function heldCalls(port, serverStats, watch) {
  // the baseline without the search's leftovers: its last transactions live 64*T1 (Timer J)
  let before = await serverStats();
  for (let i = 0; i < 60 && before.transactions.server + before.transactions.client > 0; i++) {
    await sleep(1000);
    before = await serverStats();
  }
  // calls sipp abandoned when a step above the max failed (ACKed, never hung up) keep their
  // dialogs until the dialog timeout, as they should: they are the baseline, not counted
  const base = before.dialogs.confirmed;
  if (before.dialogs.total > 0) console.log(`${before.dialogs.total} dialogs left by the search: baseline`);
  const localPort = await freePort();
  const rate = Math.min(500, cfg.fixedRate);
  const csv = join(benchTmp(), `sipp-held-${localPort}.csv`);
  const sippCmd = [
    'sipp',
    ...sippArgs(port, localPort, rate, liveCalls, 3600, csv, {
      scenario: ['-sn', 'uac'],
      extra: ['-d', '3600000'],
      limit: liveCalls + 10,
    }),
  ];
  const sipp = startChild('sipp-held', sippCmd, { cwd: benchTmp(), detached: true });
  try {
    const deadline = Date.now() + (liveCalls / rate) * 1000 + 30_000;
    let now = before;
    while (Date.now() < deadline) {
      await sleep(1000);
      const gone = [...watch, sipp].find((p) => p.exited);
      if (gone) throw new Error(`${gone.name} exited during the memory run: ${gone.tail()}`);
      now = await serverStats();
      if (now.dialogs.confirmed - base >= liveCalls) break;
    }
    await sleep(2000); // retransmissions and transactions of the set-up are over (Timer K, L)
    now = await serverStats();
    const n = now.dialogs.confirmed - base;
    return {
      held: liveCalls,
      established: n,
      heapBefore: before.memory.heapUsed,
      heapAfter: now.memory.heapUsed,
      heapBytesPerDialog: n > 0 ? Math.round((now.memory.heapUsed - before.memory.heapUsed) / n) : null,
      rssBytesPerDialog: n > 0 ? Math.round((now.memory.rss - before.memory.rss) / n) : null,
      transactionsLeft: now.transactions,
      sipp: sippCmd.join(' '),
    };
  } finally {
    await stopChild(sipp);
  }
}

function printTable(out) {
  const f = out.fixed;
  const max = out.maxRateBracket[1] === null ? `≥${fmt(out.maxCallsPerSec)}` : fmt(out.maxCallsPerSec);
  console.log('');
  console.log(
    `${'max calls/s'.padEnd(14)}${'CPU µs/call @'.padStart(14)}${String(f.rate).padEnd(4)}  server     app   total   sipp`,
  );
  console.log(
    `${max.padEnd(14)}${''.padStart(18)}  ${fmt(f.cpu.server.usPerRequest).padStart(6)}  ${fmt(f.cpu.app.usPerRequest).padStart(6)}` +
      `  ${fmt(f.cpu.total.usPerRequest).padStart(6)}  ${fmt(f.sippUsPerRequest).padStart(5)}`,
  );
  console.log(
    `memory per live dialog (${out.memory.established} held calls): heap ${fmt(out.memory.heapBytesPerDialog)} B, ` +
      `RSS ${fmt(out.memory.rssBytesPerDialog)} B; above the max: ${out.limitedBy}`,
  );
}
