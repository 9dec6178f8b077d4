// OPTIONS answered by remote SipApps against the same load answered by nksip-server's
// built-in default, in one run, on 127.0.0.1.
//
//   make build && node bench/app-options.mjs [--quick] [--langs | --setups=in-server,remote-app,...] [--cpu-prof]
//
// Setups, each with a fresh nksip-server (SERVER_CMD below):
//   - in-server: no app connected; the built-in default app answers OPTIONS (200) in the
//     server's process;
//   - remote-app: bench/apps/options-app.mjs (the built SDK, clients/typescript/dist) joins
//     over gRPC, implementing only the `options` callback; it names no listen URI, so it takes
//     over the server's listener and every OPTIONS makes a gRPC round trip to it;
//   - typescript, python, go: that language's conformance app (examples/<lang>/conformance*),
//     as test/conformance runs it. It implements every callback, so each OPTIONS makes three
//     round trips (authorize, route, options), and it prints a JSON line for route and options.
// The default is in-server and remote-app; --langs runs in-server, remote-app and the
// conformance app of every language that is built (a language is one row of APPS).
// All are driven by the same sipp scenario (bench/options.xml), the same search for the
// highest rate with < 0.1 % unanswered and the same CPU-per-request measurement at a fixed
// rate as bench/options-load.mjs (the shared code is bench/lib/load.mjs). CPU is read from
// /proc for the server and the app separately. It prints one table with the ratios
// app/in-server and writes bench/results/app-options.json.
//
// Environment (seconds unless said): BENCH_STEP_S=10, BENCH_BUDGET_S=150 (search time per
// setup), BENCH_FIXED_RATE=2000 (/s), BENCH_FIXED_S=10, BENCH_START_RATE=2000 (/s),
// BENCH_MAX_RATE=100000 (/s). --quick: 3 s steps, a 35 s budget, a 3 s fixed run.
// --cpu-prof: run the Node processes with --cpu-prof, profiles in bench/results/profiles/
// (read them with `node bench/profile-top.mjs FILE`).
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import {
  cleanup,
  fileExists,
  fmt,
  freePort,
  freeTcpPort,
  installSignalHandlers,
  LAUNCHER,
  loadConfig,
  MAX_FAILED,
  MIN_ACHIEVED,
  measureCpu,
  profDir,
  profiledCmd,
  root,
  searchMaxRate,
  sippArgs,
  sleep,
  startChild,
  stopChild,
  waitReady,
} from './lib/load.mjs';
import { writeResult } from './write-result.mjs';

// {port} and {grpc} are replaced by the ports the script picked.
const SERVER_CMD = [
  LAUNCHER,
  '--listen',
  'sip:127.0.0.1:{port}',
  '--grpc',
  '127.0.0.1:{grpc}',
  '--log-level',
  'warn',
];
// The remote apps, one row each: the command ({grpc} filled in), its environment, the header
// its 200s carry (to tell them from the server's default) and how it counts what it answered:
// `sigusr2` (prints `stats {...}` on SIGUSR2, bench/apps/serve.mjs) or `lines` (the conformance
// apps' JSON event lines: one `callback` of kind options per OPTIONS, one `expired` per
// callback the server answered for it).
const APPS = {
  'remote-app': {
    cmd: ['node', 'bench/apps/options-app.mjs'],
    marker: 'x-bench-app',
    counts: 'sigusr2',
    requires: ['clients/typescript/dist/index.js'],
  },
  typescript: {
    cmd: ['node', 'examples/typescript/dist/conformance.js'],
    marker: 'x-nk-id',
    counts: 'lines',
    requires: ['examples/typescript/dist/conformance.js', 'clients/typescript/dist/index.js'],
  },
  python: {
    cmd: ['clients/python/.venv/bin/python', 'examples/python/conformance.py'],
    marker: 'x-nk-id',
    counts: 'lines',
    requires: ['clients/python/.venv/bin/python'],
    build: 'scripts/install-python-deps.sh',
  },
  go: {
    cmd: ['examples/go/bin/conformance'],
    marker: 'x-nk-id',
    counts: 'lines',
    requires: ['examples/go/bin/conformance'],
    build: 'scripts/install-go-deps.sh',
  },
  java: {
    cmd: ['java', '-jar', 'examples/java/conformance/target/nksip-conformance.jar'],
    marker: 'x-nk-id',
    counts: 'lines',
    requires: ['examples/java/conformance/target/nksip-conformance.jar'],
    build: 'scripts/install-java-deps.sh',
  },
};
const LANGS = ['typescript', 'python', 'go', 'java'];
const SETUPS = ['in-server', ...Object.keys(APPS)];

const args = process.argv.slice(2);
for (const a of args) {
  if (!/^--(quick|cpu-prof|langs|setups=.*)$/.test(a)) throw new Error(`unknown argument ${a}`);
}
const quick = args.includes('--quick');
const cpuProf = args.includes('--cpu-prof');
const built = (name) => APPS[name].requires.every((f) => fileExists(join(root, f)));
const skipped = args.includes('--langs') ? LANGS.filter((l) => !(l in APPS) || !built(l)) : [];
const setups = (
  args.find((a) => a.startsWith('--setups='))?.slice('--setups='.length) ??
  (args.includes('--langs')
    ? ['in-server', 'remote-app', ...LANGS.filter((l) => !skipped.includes(l))].join(',')
    : 'in-server,remote-app')
)
  .split(',')
  .filter(Boolean);
for (const s of setups) {
  if (!SETUPS.includes(s)) throw new Error(`unknown setup ${s}`);
  if (s in APPS && !built(s))
    throw new Error(`${s}: ${APPS[s].requires.join(', ')} missing (${APPS[s].build ?? 'make build'})`);
}
const cfg = loadConfig(quick, { budgetS: 150, quickBudgetS: 35 });
// the CPU per request is only comparable at a rate every setup answers in full: the
// conformance apps of some languages answer fewer than 2,000/s here
if (args.includes('--langs') && !process.env.BENCH_FIXED_RATE) cfg.fixedRate = 500;

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
  if (cpuProf) {
    rmSync(profDir, { recursive: true, force: true });
    mkdirSync(profDir, { recursive: true });
  }
  const started = Date.now();
  if (skipped.length > 0) console.log(`not built, left out: ${skipped.join(', ')}`);
  console.log(
    `OPTIONS over UDP on 127.0.0.1; ${os.cpus().length} cores shared by sipp, the server and the app; ` +
      `steps of ${cfg.stepS} s, search budget ${cfg.budgetS} s per setup, ` +
      `CPU at ${cfg.fixedRate}/s for ${cfg.fixedS} s${cpuProf ? '; --cpu-prof on' : ''}`,
  );
  const results = {};
  for (const name of setups) results[name] = await benchSetup(name);

  const ratio = ratios(results);
  printTable(results, ratio);
  const out = {
    benchmark: 'app-options',
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? null,
    cpus: os.cpus().length,
    config: { ...cfg, maxFailed: MAX_FAILED, minAchieved: MIN_ACHIEVED, quick, cpuProf },
    commands: {
      server: SERVER_CMD.join(' '),
      apps: Object.fromEntries(setups.filter((s) => s in APPS).map((s) => [s, APPS[s].cmd.join(' ')])),
      sipp: sippArgs('{port}', '{localport}', 'RATE', 'N', 'T', '{csv}').join(' '),
    },
    results,
    ratio,
    limits:
      'sipp, the server and the app share 2 cores on loopback. in-server: one Node event loop (the ' +
      'server) and sipp; with an app: the server and the app each need CPU per request, so near the ' +
      'top the three processes compete for the 2 cores. The conformance apps (typescript, python, go) ' +
      'answer three callbacks per OPTIONS (authorize, route, options) and print a line for route and for options. ' +
      'CPU µs/request at a fixed rate is the steadier figure.',
    durationS: Math.round((Date.now() - started) / 1000),
  };
  console.log(`wrote ${relative(process.cwd(), writeResult('app-options', out))}`);
  if (cpuProf)
    console.log(`profiles in ${relative(process.cwd(), profDir)}/ (node bench/profile-top.mjs FILE)`);
}

async function benchSetup(name) {
  const spec = APPS[name];
  const withApp = spec !== undefined;
  const port = await freePort();
  const grpc = await freeTcpPort();
  const fill = (s) => s.replaceAll('{port}', String(port)).replaceAll('{grpc}', String(grpc));
  console.log(`\n== ${name}: SIP on 127.0.0.1:${port} (UDP), gRPC on 127.0.0.1:${grpc}`);
  const server = startChild('nksip-server', profiledCmd(cpuProf, SERVER_CMD.map(fill), name, 'server'), {
    cwd: root,
    detached: true,
  });
  let app;
  try {
    await waitReady(server, port);
    let stats;
    if (withApp) {
      app = startApp(spec, fill, name);
      // the server answers with its default until the app has joined: wait for the app's marker
      await waitReady([server, app], port, { header: spec.marker });
      stats = await app.stats();
      console.log(`  app joined (pid ${app.pid})`);
    }
    const groups = withApp ? { server: server.pid, app: app.pid } : { server: server.pid };
    const watch = withApp ? [server, app] : [server];

    const m = await measureCpu(cfg, port, groups);
    const total = Object.values(m.cpu).reduce((s, c) => s + c.cpuSeconds, 0);
    m.cpu.total = {
      cpuSeconds: Math.round(total * 100) / 100,
      usPerRequest: m.answered > 0 ? Math.round((total / m.answered) * 1e7) / 10 : null,
    };
    console.log(
      `  CPU at ${cfg.fixedRate}/s: ${m.answered}/${m.sent} answered; µs/request ` +
        Object.entries(m.cpu)
          .map(([k, c]) => `${k} ${c.usPerRequest?.toFixed(1)}`)
          .join(', ') +
        ` (sipp ~${m.sippUsPerRequest?.toFixed(1)})`,
    );
    let afterStep;
    if (withApp) {
      const s = await app.stats();
      m.appAnswered = s.options - stats.options; // the warm-up run and the measured one
      m.appExpired = s.expired - stats.expired;
      stats = s;
      afterStep = async () => {
        const now = await app.stats();
        const d = { appAnswered: now.options - stats.options, appExpired: now.expired - stats.expired };
        stats = now;
        return { fields: d, note: `app answered ${d.appAnswered}, ${d.appExpired} expired` };
      };
    }

    const search = await searchMaxRate(cfg, port, watch, afterStep);
    if (withApp) {
      // the figures are the app's only if it was still the one answering at the end
      await waitReady(watch, port, { header: spec.marker, tries: 20 });
    }
    return {
      port,
      grpcPort: grpc,
      commands: { server: server.command, ...(withApp ? { app: app.command } : {}) },
      maxRate: search.maxRate,
      maxRateBracket: search.bracket,
      limitedBy: search.limitedBy,
      steps: search.steps,
      fixed: m,
      appTotals: withApp ? stats : undefined,
    };
  } finally {
    if (app) await stopChild(app);
    await stopChild(server);
  }
}

/** A remote app in its own process group; stats() gives its counters { options, expired }. */
function startApp(spec, fill, setup) {
  const env = { ...process.env, NKSIP_SERVER: fill('127.0.0.1:{grpc}'), NKSIP_APP: `bench-${setup}` };
  let waiting = [];
  const counted = { options: 0, expired: 0 };
  const onLine =
    spec.counts === 'sigusr2'
      ? (line) => {
          if (!line.startsWith('stats ')) return;
          const s = JSON.parse(line.slice('stats '.length));
          const w = waiting;
          waiting = [];
          for (const res of w) res(s);
        }
      : (line) => {
          // cheap tests first: at the top rates this runs tens of thousands of times a second
          if (!line.includes('options') && !line.includes('expired')) return;
          const e = JSON.parse(line);
          if (e.ev === 'callback' && e.kind === 'options') counted.options++;
          else if (e.ev === 'expired') counted.expired++;
        };
  const app = startChild(setup, profiledCmd(cpuProf, spec.cmd, setup, 'app'), {
    cwd: root,
    detached: true,
    env,
    onLine,
  });
  app.command = `NKSIP_SERVER=${env.NKSIP_SERVER} NKSIP_APP=${env.NKSIP_APP} ${app.command}`;
  app.stats = async () => {
    if (spec.counts !== 'sigusr2') return { ...counted };
    const got = new Promise((res) => waiting.push(res));
    process.kill(app.pid, 'SIGUSR2');
    const s = await Promise.race([got, sleep(3000).then(() => null)]);
    if (!s) throw new Error(`the app did not report its counters: ${app.tail()}`);
    return s;
  };
  return app;
}

/** Each app over in-server: max rate (aim for remote-app ≥ 0.5) and CPU per request. */
function ratios(results) {
  const b = results['in-server'];
  if (!b) return null;
  const r = (x, y) => (x && y ? Number((x / y).toFixed(2)) : null);
  const out = {};
  for (const [name, a] of Object.entries(results)) {
    if (name === 'in-server') continue;
    out[name] = {
      of: `${name}/in-server`,
      maxRate: r(a.maxRate, b.maxRate),
      // a max rate with no failing step above it is only a lower bound
      maxRateBound: a.maxRateBracket[1] === null || b.maxRateBracket[1] === null,
      usPerRequestTotal: r(a.fixed.cpu.total.usPerRequest, b.fixed.cpu.total.usPerRequest),
      usPerRequestServer: r(a.fixed.cpu.server.usPerRequest, b.fixed.cpu.server.usPerRequest),
    };
  }
  return out;
}

function printTable(results, ratio) {
  console.log('');
  const head =
    `${'setup'.padEnd(12)}${'max OPTIONS/s'.padStart(15)}` +
    `${'server'.padStart(9)}${'app'.padStart(9)}${'total'.padStart(9)}${'sipp'.padStart(8)}  above the max`;
  console.log(`${' '.repeat(27)}CPU µs/req @${cfg.fixedRate}/s`);
  console.log(head);
  for (const [name, r] of Object.entries(results)) {
    const max = r.maxRateBracket[1] === null ? `≥${fmt(r.maxRate)}` : fmt(r.maxRate);
    const c = r.fixed.cpu;
    // `*`: the fixed rate was more than it answers, so its CPU per request is not comparable
    const over = r.fixed.answered < r.fixed.sent * (1 - MAX_FAILED) ? '*' : ' ';
    console.log(
      `${name.padEnd(12)}${max.padStart(15)}${fmt(c.server.usPerRequest).padStart(9)}` +
        `${fmt(c.app?.usPerRequest).padStart(9)}${fmt(c.total.usPerRequest).padStart(9)}${over}` +
        `${fmt(r.fixed.sippUsPerRequest).padStart(7)}  ${r.limitedBy}`,
    );
  }
  for (const x of Object.values(ratio ?? {})) {
    console.log(
      `${x.of}: max rate ×${fmt(x.maxRate)}${x.maxRateBound ? ' (a bound: no step failed)' : ''}` +
        `${x.of.startsWith('remote-app/') ? ' (aim ≥ 0.5)' : ''}, CPU per request ×${fmt(x.usPerRequestTotal)} total, ` +
        `×${fmt(x.usPerRequestServer)} server alone`,
    );
  }
  console.log(
    "max OPTIONS/s: highest step rate with < 0.1 % unanswered and ≥ 95 % of the rate reached; 'above the max'\n" +
      "says why the next step failed: 'unanswered' = answers lost or late, 'rate not reached' = sipp\n" +
      'could not send faster on the cores it shares with the server and the app (≥: no step failed).\n' +
      `*: fewer than 99.9 % answered at ${cfg.fixedRate}/s, so its CPU per request is not comparable (BENCH_FIXED_RATE).`,
  );
}
