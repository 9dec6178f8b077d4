// Proxy and registrar load benchmark (issue 5 item 6): nksip-server against Kamailio, side by
// side in one run, on 127.0.0.1.
//
//   make build && node bench/proxy-load.mjs [--quick] [--setups=a,b,...] [--cpu-prof]
//
// Work and setups (each with a fresh server, stopped by PID afterwards):
//   calls: sipp UAC (bench/uac-rr.xml: INVITE, 100, 180, 200, ACK, BYE, 200, following the
//   route set) → server → sipp UAS (bench/uas-rr.xml, copying Record-Route), 7 messages in and
//   7 out at the server per call:
//     kamailio        Kamailio, bench/kamailio-proxy.cfg: tm + rr, record_route, t_relay
//     nksip-app       nksip-server, record-routing stateful proxy whose route decision comes
//                     from a remote TypeScript app (bench/apps/proxy-app.mjs, BENCH_MODE=proxy):
//                     one gRPC round trip per INVITE, ACK and BYE
//     nksip-builtin   nksip-server with the built-in route (the PBX: registrar + proxy to the
//                     registered contacts, Record-Route) from BENCH_PBX_CONFIG (default
//                     bench/pbx.yaml); the UAS is registered first as BENCH_PBX_USER, and the
//                     sipp UAC as BENCH_PBX_CALLER with its fixed port as Contact, so its calls
//                     come from a registered contact (digest answered with the passwords of
//                     the config). Skipped when the server refuses the config (no PBX yet).
//   REGISTER (bench/register.xml, users from an injection file, a fresh Call-ID each):
//     kamailio-reg    Kamailio answering 200 statelessly (sl_send_reply)
//     nksip-app-reg   nksip-server, the remote app answering 200 from route statelessly
//                     (reply_stateless): one gRPC round trip per REGISTER
//     kamailio-save   Kamailio's registrar module, save("location") in memory
//     nksip-registrar nksip-server, the app's registrar plugin (in the server, no round trip;
//                     the app is connected and idle)
//
// For each setup: CPU per call (or REGISTER) at a fixed rate (server processes, plus the app's
// for nksip-app*, from /proc), then the highest rate with < 0.1 % failed calls (sipp's own
// count: an unexpected answer, a timeout, or cut off by the global timeout), calls started at
// ≥ 95 % of the rate and the last ones done within 0.5 s (bench/lib/scenario-load.mjs). Prints
// one table with the ratios and writes bench/results/proxy-load.json.
//
// Environment (seconds unless said): BENCH_STEP_S=10, BENCH_BUDGET_S=120 (search time per
// setup), BENCH_FIXED_S=10, BENCH_CALL_RATE=200 (/s, the fixed rate for calls),
// BENCH_REG_RATE=2000 (/s, for REGISTER), BENCH_CALL_START=200, BENCH_REG_START=2000 (/s, first
// step), BENCH_MAX_RATE=100000, BENCH_USERS=1000 (REGISTER users), BENCH_MAXBUF=4194304,
// BENCH_KAMAILIO_CHILDREN=2, BENCH_KAMAILIO_SHM=512 (MB), BENCH_PBX_CONFIG=bench/pbx.yaml,
// BENCH_PBX_DOMAIN=127.0.0.1, BENCH_PBX_USER=uas, BENCH_PBX_PASS=uas-secret,
// BENCH_PBX_CALLER=sipp, BENCH_PBX_CALLER_PASS=sipp-secret. --quick: 3 s steps, a 30 s budget,
// 3 s fixed. --cpu-prof: the Node processes run with --cpu-prof, profiles in
// bench/results/profiles/<setup>-<server|app>/ (node bench/profile-top.mjs FILE).
import dgram from 'node:dgram';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import {
  benchDir,
  benchTmp,
  cleanup,
  envNumber,
  fileExists,
  fmt,
  freePort,
  freeTcpPort,
  groupPids,
  installSignalHandlers,
  LAUNCHER,
  MAX_FAILED,
  MIN_ACHIEVED,
  profDir,
  profiledCmd,
  root,
  sleep,
  startChild,
  stopChild,
  waitReady,
} from './lib/load.mjs';
import { cpuPerCall, loadArgs, registerContact, searchMax, usersFile } from './lib/scenario-load.mjs';
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
const APP_CMD = ['node', 'bench/apps/proxy-app.mjs'];
const APP_MARKER = 'x-bench-app';

/** A setup that cannot run on this server (not a failure of the run). */
class Skip extends Error {}

const SETUPS = {
  kamailio: { work: 'calls', server: 'kamailio' },
  'nksip-app': { work: 'calls', server: 'nksip', app: 'proxy' },
  'nksip-builtin': { work: 'calls', server: 'nksip', pbx: true },
  'kamailio-reg': { work: 'register', server: 'kamailio' },
  'nksip-app-reg': { work: 'register', server: 'nksip', app: 'register-stateless' },
  'kamailio-save': { work: 'registrar', server: 'kamailio', save: true },
  'nksip-registrar': { work: 'registrar', server: 'nksip', app: 'registrar' },
};
const RATIOS = [
  ['nksip-app', 'kamailio', 'calls, remote route / Kamailio (aim ≥ 0.5)'],
  ['nksip-builtin', 'kamailio', 'calls, built-in route / Kamailio (aim ≥ 0.8)'],
  ['nksip-app-reg', 'kamailio-reg', 'stateless REGISTER / Kamailio (aim ≥ 0.5)'],
  ['nksip-registrar', 'kamailio-save', 'registrar REGISTER / Kamailio'],
];

const args = process.argv.slice(2);
for (const a of args) if (!/^--(quick|cpu-prof|setups=.*)$/.test(a)) throw new Error(`unknown argument ${a}`);
const quick = args.includes('--quick');
const cpuProf = args.includes('--cpu-prof');
const chosen = (
  args.find((a) => a.startsWith('--setups='))?.slice('--setups='.length) ?? Object.keys(SETUPS).join(',')
)
  .split(',')
  .filter(Boolean);
for (const s of chosen)
  if (!SETUPS[s]) throw new Error(`unknown setup ${s} (known: ${Object.keys(SETUPS).join(', ')})`);
const cfg = {
  stepS: envNumber(quick, 'BENCH_STEP_S', 10, 3),
  budgetS: envNumber(quick, 'BENCH_BUDGET_S', 120, 30),
  fixedS: envNumber(quick, 'BENCH_FIXED_S', 10, 3),
  callRate: envNumber(quick, 'BENCH_CALL_RATE', 200),
  regRate: envNumber(quick, 'BENCH_REG_RATE', 2000),
  callStart: envNumber(quick, 'BENCH_CALL_START', 200),
  regStart: envNumber(quick, 'BENCH_REG_START', 2000),
  maxRate: envNumber(quick, 'BENCH_MAX_RATE', 100000),
  users: envNumber(quick, 'BENCH_USERS', 1000),
  maxBuf: envNumber(quick, 'BENCH_MAXBUF', 4194304),
  kamailioChildren: envNumber(quick, 'BENCH_KAMAILIO_CHILDREN', 2),
  kamailioShmMb: envNumber(quick, 'BENCH_KAMAILIO_SHM', 512),
};
const pbx = {
  config: process.env.BENCH_PBX_CONFIG || join('bench', 'pbx.yaml'),
  domain: process.env.BENCH_PBX_DOMAIN || '127.0.0.1',
  user: process.env.BENCH_PBX_USER || 'uas',
  pass: process.env.BENCH_PBX_PASS || 'uas-secret',
  caller: process.env.BENCH_PBX_CALLER || 'sipp',
  callerPass: process.env.BENCH_PBX_CALLER_PASS || 'sipp-secret',
};

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
  console.log(
    `Proxy and registrar load over UDP on 127.0.0.1; ${os.cpus().length} cores shared by sipp, the servers ` +
      `and the app; steps of ${cfg.stepS} s, search budget ${cfg.budgetS} s per setup, CPU at ` +
      `${cfg.callRate} calls/s and ${cfg.regRate} REGISTER/s for ${cfg.fixedS} s`,
  );
  const results = {};
  for (const name of chosen) {
    try {
      results[name] = await benchSetup(name, SETUPS[name]);
    } catch (e) {
      if (!(e instanceof Skip)) throw e;
      console.log(`  skipped: ${e.message}`);
      results[name] = { skipped: e.message };
    }
  }
  const ratio = ratios(results);
  printTable(results, ratio);
  const out = {
    benchmark: 'proxy-load',
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? null,
    cpus: os.cpus().length,
    config: {
      ...cfg,
      maxFailed: MAX_FAILED,
      minAchieved: MIN_ACHIEVED,
      quick,
      pbx: { ...pbx, pass: undefined, callerPass: undefined },
    },
    commands: {
      nksip: SERVER_CMD.join(' '),
      app: `BENCH_MODE=<mode> BENCH_UAS_URI=sip:127.0.0.1:{uas} NKSIP_SERVER=127.0.0.1:{grpc} ${APP_CMD.join(' ')}`,
      kamailio: kamailioCmd('{port}', '{uas}', false).join(' '),
      uas: uasCmd('{uas}').join(' '),
      sipp: loadArgs('{port}', '{localport}', 'RATE', 'N', 'T', '{csv}', loadOf('calls', '{users}')).join(
        ' ',
      ),
    },
    results,
    ratio,
    limits:
      'sipp (UAC and UAS), the server and the app share the same cores on loopback: near the top the ' +
      'rate is bounded by all of them; CPU per call at a fixed rate is the steadier figure.',
    durationS: Math.round((Date.now() - started) / 1000),
  };
  console.log(`wrote ${relative(process.cwd(), writeResult('proxy-load', out))}`);
}

function loadOf(work, users) {
  if (work === 'calls') return { scenario: join(benchDir, 'uac-rr.xml'), args: ['-s', 'uas', '-d', '0'] };
  return { scenario: join(benchDir, 'register.xml'), args: ['-inf', users] };
}

function uasCmd(uasPort) {
  return [
    'sipp',
    ...['-sf', join(benchDir, 'uas-rr.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-t', 'u1'],
    ...['-buff_size', '4194304', '-nostdin'],
  ];
}

function kamailioCmd(port, uasPort, save) {
  const cmd = ['kamailio', '-f', join('bench', 'kamailio-proxy.cfg'), '-DD', '-E', '-M', '16'];
  cmd.push('-m', String(cfg.kamailioShmMb));
  cmd.push('-l', `udp:127.0.0.1:${port}`, '-Y', benchTmp(), '-P', join(benchTmp(), `kamailio-${port}.pid`));
  cmd.push('-A', `CHILDREN=${cfg.kamailioChildren}`, '-A', `UAS_URI="sip:127.0.0.1:${uasPort}"`);
  if (cfg.maxBuf > 0) cmd.push('-A', `MAXBUF=${cfg.maxBuf}`);
  if (save) cmd.push('-A', 'WITH_SAVE');
  return cmd;
}

/** Resolves with the first stdout line of `child` starting with `prefix`, or rejects on exit. */
function lineStarting(child, prefix, lines, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      const l = lines.find((x) => x.startsWith(prefix));
      if (l) {
        clearInterval(t);
        resolve(l);
      } else if (child.exited || Date.now() > deadline) {
        clearInterval(t);
        reject(new Error(`${child.name}: no "${prefix}" line: ${child.tail()}`));
      }
    }, 50);
    const deadline = Date.now() + timeoutMs;
  });
}

/** Any final answer to an OPTIONS addressed to the server itself: the built-in app is up. */
async function waitAnyFinal(watch, port, tries = 150) {
  const sock = dgram.createSocket('udp4');
  await new Promise((res) => sock.bind(0, '127.0.0.1', res));
  let got = false;
  sock.on('message', (b) => {
    if (/^SIP\/2\.0 [2-6]/.test(b.toString('latin1', 0, 12))) got = true;
  });
  try {
    const local = sock.address().port;
    for (let i = 0; i < tries && !got; i++) {
      const gone = watch.find((p) => p.exited);
      if (gone) throw new Error(`${gone.name} exited at start: ${gone.tail()}`);
      sock.send(
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-any-${Date.now()}-${i}\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=any\r\nTo: <sip:127.0.0.1:${port}>\r\n` +
          `Call-ID: any-${process.pid}-${i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        port,
        '127.0.0.1',
      );
      await sleep(100);
    }
    if (!got) throw new Error(`no answer to OPTIONS within ${tries / 10} s`);
  } finally {
    sock.close();
  }
}

async function benchSetup(name, s) {
  const port = await freePort();
  const uasPort = await freePort();
  const children = [];
  const start = (label, cmd, opts) => {
    const c = startChild(label, cmd, { cwd: root, ...opts });
    children.push(c);
    return c;
  };
  console.log(`\n== ${name} (${s.work}) on 127.0.0.1:${port}`);
  try {
    const watch = [];
    const groups = {};
    // the UAS in a group of its own too: the search waits for it to be idle between steps
    const quiet = {};
    if (s.work === 'calls') {
      const uas = start('sipp-uas', uasCmd(uasPort), { cwd: benchTmp(), detached: true });
      watch.push(uas);
      quiet.uas = uas.pid;
    }
    if (s.server === 'kamailio') {
      const k = start('kamailio', kamailioCmd(port, uasPort, Boolean(s.save)), { detached: true });
      watch.push(k);
      groups.server = k.pid;
      await waitReady(watch, port);
    } else {
      const grpc = await freeTcpPort();
      const cmd = SERVER_CMD.map((a) =>
        a.replaceAll('{port}', String(port)).replaceAll('{grpc}', String(grpc)),
      );
      if (s.pbx) cmd.push('--config', pbx.config);
      const srv = start('nksip-server', profiledCmd(cpuProf, cmd, name, 'server'), { detached: true });
      watch.push(srv);
      groups.server = srv.pid;
      if (s.pbx) {
        await sleep(1500);
        if (srv.exited)
          throw new Skip(
            `the server refused ${pbx.config} (no built-in PBX here?): ${srv.tail().slice(-300)}`,
          );
      }
      if (s.app) {
        const lines = [];
        const env = {
          ...process.env,
          BENCH_MODE: s.app,
          BENCH_UAS_URI: `sip:127.0.0.1:${uasPort}`,
          NKSIP_SERVER: `127.0.0.1:${grpc}`,
          NKSIP_APP: 'bench-proxy',
        };
        // the server must listen on gRPC before the app connects: wait for its SIP side first
        await waitAnyFinal(watch, port);
        const app = start('app', profiledCmd(cpuProf, APP_CMD, name, 'app'), {
          detached: true,
          env,
          onLine: (l) => lines.push(l),
        });
        watch.push(app);
        groups.app = app.pid;
        await lineStarting(app, 'started', lines);
        if (s.app === 'registrar') await waitAnyFinal(watch, port);
        else await waitReady(watch, port, { header: APP_MARKER });
      } else {
        await waitAnyFinal(watch, port);
      }
    }
    const users = s.work === 'calls' ? '' : usersFile(cfg.users);
    const load = loadOf(s.work, users);
    if (s.pbx) {
      // the callee and the caller (on the port sipp will use) registered first
      load.localPort = await freePort();
      load.args = ['-s', pbx.user, '-d', '0'];
      for (const [user, pass, contactPort] of [
        [pbx.user, pbx.pass, uasPort],
        [pbx.caller, pbx.callerPass, load.localPort],
      ]) {
        const aor = `sip:${user}@${pbx.domain}`;
        const status = await registerContact(port, {
          aor,
          contact: `sip:${user}@127.0.0.1:${contactPort}`,
          user,
          pass,
        });
        console.log(`  registered ${aor} → sip:127.0.0.1:${contactPort} (${status})`);
      }
    }
    const rate = s.work === 'calls' ? cfg.callRate : cfg.regRate;
    const fixed = await cpuPerCall(port, load, rate, cfg.fixedS, groups);
    const parts = Object.entries(fixed.cpu)
      .map(([k, v]) => `${k} ${fmt(v.usPerCall)}`)
      .join(' + ');
    const kinds = Object.entries(fixed.failures)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(
      `  CPU at ${rate}/s: ${fixed.ok}/${fixed.sent} ok${kinds ? ` [${kinds}]` : ''} → ` +
        `${fmt(fixed.usPerCall)} µs per ${unit(s.work)} (${parts}; sipp UAC ~${fmt(fixed.sippUsPerCall)}, ` +
        `the server ×${fmt(fixed.perSippUac)} of it); ` +
        `other processes used ${Math.round(fixed.othersCpuShare * 100)} % of the machine meanwhile`,
    );
    const search = await searchMax(
      port,
      load,
      {
        stepS: cfg.stepS,
        budgetS: cfg.budgetS,
        startRate: s.work === 'calls' ? cfg.callStart : cfg.regStart,
        maxRate: cfg.maxRate,
        quiet: { ...groups, ...quiet },
        cpu: groups,
      },
      watch,
    );
    return {
      work: s.work,
      port,
      processes: Object.fromEntries(Object.entries(groups).map(([k, pid]) => [k, groupPids(pid).length])),
      maxRate: search.maxRate,
      maxRateBracket: search.bracket,
      limitedBy: search.limitedBy,
      steps: search.steps,
      fixed,
    };
  } finally {
    for (const c of children.reverse()) await stopChild(c);
  }
}

function unit(work) {
  return work === 'calls' ? 'call' : 'REGISTER';
}

function ratios(results) {
  const r = (a, b) => (a && b ? Number((a / b).toFixed(2)) : null);
  return RATIOS.filter(([a, b]) => results[a]?.fixed && results[b]?.fixed).map(([a, b, what]) => ({
    of: `${a}/${b}`,
    what,
    maxRate: r(results[a].maxRate, results[b].maxRate),
    cpuPerUnit: r(results[a].fixed.usPerCall, results[b].fixed.usPerCall),
  }));
}

function printTable(results, ratio) {
  console.log('');
  console.log(
    `${'setup'.padEnd(17)}${'work'.padEnd(11)}${'max/s'.padStart(9)}${'CPU µs/unit'.padStart(13)}` +
      `${'  (server + app)'.padEnd(20)}${'@rate'.padStart(7)}${'sipp µs'.padStart(9)}  above the max`,
  );
  for (const [name, r] of Object.entries(results)) {
    if (r.skipped) {
      console.log(`${name.padEnd(17)}skipped: ${r.skipped}`);
      continue;
    }
    const max = r.maxRateBracket[1] === null ? `≥${fmt(r.maxRate)}` : fmt(r.maxRate);
    const split = `  (${fmt(r.fixed.cpu.server?.usPerCall)}${r.fixed.cpu.app ? ` + ${fmt(r.fixed.cpu.app.usPerCall)}` : ''})`;
    console.log(
      `${name.padEnd(17)}${r.work.padEnd(11)}${max.padStart(9)}${fmt(r.fixed.usPerCall).padStart(13)}` +
        `${split.padEnd(20)}${fmt(r.fixed.rate).padStart(7)}${fmt(r.fixed.sippUsPerCall).padStart(9)}  ${r.limitedBy}`,
    );
  }
  for (const q of ratio) {
    console.log(`${q.of}: max rate ×${fmt(q.maxRate)}, CPU per unit ×${fmt(q.cpuPerUnit)}  — ${q.what}`);
  }
  console.log(
    'max/s: highest step with < 0.1 % failed calls, calls started at ≥ 95 % of the rate and the last\n' +
      "ones done within 0.5 s ('≥': no step failed);\n" +
      "'above the max' says why the next step failed. CPU µs/unit: server (+ app) CPU per call or REGISTER\n" +
      'at the fixed rate, from /proc; a call is INVITE-100-180-200-ACK-BYE-200 through the proxy.',
  );
}
