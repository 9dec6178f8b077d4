// Load runs of any sipp scenario (calls through a proxy, REGISTERs), for bench/proxy-load.mjs:
// the same method as bench/lib/load.mjs (bounded sipp runs, statistics from sipp's -trace_stat
// file, the doubling-then-bisecting search for the highest rate with < 0.1 % failed, CPU from
// /proc at a fixed rate), with the scenario, its extra arguments and the unit (call or
// REGISTER) as parameters. Process handling and /proc come from load.mjs.
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  benchTmp,
  CLK_TCK,
  cpuTicks,
  freePort,
  groupCpuTicks,
  lastStats,
  MAX_FAILED,
  MIN_ACHIEVED,
  PRECISION,
  round1,
  sleep,
  startChild,
  stopChild,
  udpRcvbufErrors,
} from './load.mjs';

/**
 * A load: what sipp runs against `port`. `scenario` is a file; `args` are extra sipp
 * arguments (`-s service`, `-inf users.csv`...); `localPort` fixes sipp's port (default: a
 * free one per run).
 */
export function loadArgs(port, localPort, rate, count, timeoutS, csv, { scenario, args = [] }) {
  return [
    `127.0.0.1:${port}`,
    ...['-sf', scenario, '-t', 'u1', '-i', '127.0.0.1', '-p', String(localPort)],
    ...['-r', String(rate), '-m', String(count), '-timeout', `${timeoutS}s`],
    // at most ~1 s worth of unfinished calls in flight: a server that falls behind makes sipp
    // slow down, which shows as a missed rate instead of an ever-growing backlog
    ...['-l', String(Math.max(200, Number(rate) || 0))],
    // statistics every 200 ms: when the last call was created is known to that precision
    ...['-buff_size', '4194304', '-nostdin', '-trace_stat', '-stf', csv, '-fd', '200ms'],
    ...args,
  ];
}

/** One bounded sipp run of `load` (count calls, at most count/rate + 10 s). */
export async function runLoad(port, rate, count, load) {
  const tmp = benchTmp();
  // a fixed local port when the server must know the caller (a registered contact)
  const localPort = load.localPort ?? (await freePort());
  const drops0 = udpRcvbufErrors();
  const csv = join(tmp, `sipp-${localPort}-${Date.now()}.csv`);
  const timeoutS = Math.ceil(count / rate) + 10;
  const cmd = ['sipp', ...loadArgs(port, localPort, rate, count, timeoutS, csv, load)];
  const sipp = startChild('sipp', cmd, { cwd: tmp });
  let sippTicks = 0;
  const sampler = setInterval(() => {
    sippTicks = Math.max(sippTicks, cpuTicks(sipp.pid));
  }, 200);
  // sipp's -timeout does not end it while a call still waits for a message that never comes
  // (a lost one that nothing retransmits): stopped here, its unfinished calls count as failed
  let overran = false;
  const watchdog = setTimeout(
    () => {
      overran = true;
      stopChild(sipp);
    },
    (timeoutS + 15) * 1000,
  );
  const code = await sipp.done;
  clearInterval(sampler);
  clearTimeout(watchdog);
  let stats;
  let text;
  try {
    text = readFileSync(csv, 'latin1');
    stats = lastStats(text);
  } catch {
    throw new Error(`sipp (exit ${code}) left no statistics: ${sipp.tail()}`);
  }
  const successful = stats['SuccessfulCall(C)'];
  const created = creation(text, count);
  return {
    count,
    successful,
    // calls that failed (an unexpected answer, a timeout) or were cut off by the global timeout
    failed: count - successful,
    failures: overran ? { ...failureKinds(stats), stoppedAfterTimeout: 1 } : failureKinds(stats),
    // the rate sipp could start calls at (it holds new calls back once a second's worth are
    // unfinished, -l): not successful calls over the whole run, whose last seconds are only
    // the tail of the last calls (one retransmitted call at the end would halve a 3 s step)
    achieved: created.seconds > 0 ? created.calls / created.seconds : 0,
    tailS: Math.max(0, Math.round((stats.CurrentTime - stats.StartTime - created.seconds) * 10) / 10),
    retransmissions: stats['Retransmissions(C)'],
    rcvbufErrors: udpRcvbufErrors() - drops0,
    sippUsPerCall: successful > 0 && sippTicks > 0 ? (sippTicks / CLK_TCK / successful) * 1e6 : null,
  };
}

/**
 * Why sipp failed calls, from its statistics (`FailedUnexpectedMessage` 3, ...): the
 * cumulated `Failed*(C)` counters that are not zero, and the messages of calls already over
 * (`DeadCallMsgs`), which an aborted call leaves behind.
 */
function failureKinds(stats) {
  const out = {};
  for (const [name, v] of Object.entries(stats)) {
    const m = /^(Failed\w+|DeadCallMsgs)\(C\)$/.exec(name);
    if (m && m[1] !== 'FailedCall' && v > 0) out[m[1]] = v;
  }
  return out;
}

/**
 * When sipp had created its `count` calls (or as many as it did), from the statistics rows:
 * seconds since its start, interpolated within the 200 ms row that saw the last one created.
 */
function creation(text, count) {
  const lines = text.trim().split('\n');
  let prev = { t: 0, c: 0 };
  let start;
  for (const line of lines.slice(1)) {
    const row = lastStats(`${lines[0]}\n${line}`);
    start ??= row.StartTime;
    const cur = { t: row.CurrentTime - start, c: row.TotalCallCreated };
    if (cur.c >= count) {
      const t = cur.c > prev.c ? prev.t + ((count - prev.c) / (cur.c - prev.c)) * (cur.t - prev.t) : cur.t;
      return { calls: count, seconds: t };
    }
    prev = cur;
  }
  return { calls: prev.c, seconds: prev.t };
}

/** Busy clock ticks of the whole machine (every CPU), from /proc/stat. */
function machineBusyTicks() {
  const f = readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: all but idle and iowait
  return f.slice(0, 8).reduce((a, b, i) => (i === 3 || i === 4 ? a : a + b), 0);
}

/**
 * CPU per call at `rate` for `seconds` (after a warm-up of min(2 s, seconds) at the same rate):
 * utime+stime of each process group in `groups` (label → PID) ÷ successful calls.
 */
export async function cpuPerCall(port, load, rate, seconds, groups) {
  await runLoad(port, rate, Math.max(1, Math.round(rate * Math.min(2, seconds))), load);
  await sleep(500);
  const before = Object.fromEntries(Object.entries(groups).map(([k, pid]) => [k, groupCpuTicks(pid)]));
  const busy0 = machineBusyTicks();
  const t0 = Date.now();
  const r = await runLoad(port, rate, Math.round(rate * seconds), load);
  await sleep(300);
  const cpu = {};
  let total = 0;
  for (const [k, pid] of Object.entries(groups)) {
    const s = (groupCpuTicks(pid) - before[k]) / CLK_TCK;
    total += s;
    cpu[k] = { cpuSeconds: s, usPerCall: r.successful > 0 ? round1((s / r.successful) * 1e6) : null };
  }
  // what the rest of the machine used meanwhile (other sessions; sipp too): a busy machine
  // makes every process slower per unit of work, so the figure says how far to trust the run
  const sippS = r.sippUsPerCall === null ? 0 : (r.sippUsPerCall * r.successful) / 1e6;
  const others = (machineBusyTicks() - busy0) / CLK_TCK - total - sippS;
  const othersShare = Math.max(0, others / (((Date.now() - t0) / 1000) * os.cpus().length));
  const usPerCall = r.successful > 0 ? round1((total / r.successful) * 1e6) : null;
  return {
    othersCpuShare: Number(othersShare.toFixed(2)),
    // the sipp UAC does the same work in every run: the server's CPU in units of it moves with
    // the server, not with how fast the machine is that minute
    perSippUac:
      usPerCall !== null && r.sippUsPerCall ? Number((usPerCall / r.sippUsPerCall).toFixed(2)) : null,
    failures: r.failures,
    rate,
    durationS: seconds,
    sent: r.count,
    ok: r.successful,
    failed: r.failed,
    cpu,
    usPerCall,
    sippUsPerCall: r.sippUsPerCall === null ? null : round1(r.sippUsPerCall),
  };
}

/**
 * A step also fails when its last calls end more than this after the last one started: the
 * server lagged (a call waiting as long is retransmitted by sipp, T1 500 ms). The rate sipp
 * starts calls at cannot show a lag shorter than its -l allowance (a second's worth of calls).
 */
export const MAX_TAIL_S = 0.5;

/**
 * Waits until the process groups in `groups` (label → PID) are idle (at most one clock tick
 * each per 300 ms), at least `minMs`, at most `maxMs`; the milliseconds waited. After a step
 * that overloaded the server, its retransmissions and timers (Kamailio's tm, the sipp UAS)
 * go on for seconds: the next step must not start on top of them.
 */
export async function drain(groups, minMs = 1500, maxMs = 15000) {
  const t0 = Date.now();
  await sleep(minMs);
  for (;;) {
    const before = Object.values(groups).map((pid) => groupCpuTicks(pid));
    await sleep(300);
    const idle = Object.values(groups).every((pid, i) => groupCpuTicks(pid) - before[i] <= 1);
    if (idle || Date.now() - t0 >= maxMs) return Date.now() - t0;
  }
}

/**
 * The highest rate that passes (< 0.1 % failed, calls started at ≥ 95 % of the rate, the last
 * ones done within MAX_TAIL_S): doubles from
 * `startRate` while steps pass, then bisects between the last pass and the first fail, within
 * `budgetS` seconds and `maxRate`. `watch`: processes that must stay up; `quiet`: process
 * groups (label → PID: the server, the UAS) that must be idle before each step; `cpu`: the
 * groups whose CPU per successful call each step reports (the server's, at that rate).
 */
export async function searchMax(
  port,
  load,
  { stepS, budgetS, startRate, maxRate, quiet = {}, cpu = {} },
  watch,
) {
  const t0 = Date.now();
  const steps = [];
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  let rate = startRate;
  while ((Date.now() - t0) / 1000 + stepS + 3 <= budgetS) {
    const gone = watch.find((p) => p.exited);
    if (gone) throw new Error(`${gone.name} exited during the search: ${gone.tail()}`);
    const before = Object.values(cpu).reduce((sum, pid) => sum + groupCpuTicks(pid), 0);
    const r = await runLoad(port, rate, Math.round(rate * stepS), load);
    const ticks = Object.values(cpu).reduce((sum, pid) => sum + groupCpuTicks(pid), 0) - before;
    const cpuUs = r.successful > 0 ? round1((ticks / CLK_TCK / r.successful) * 1e6) : null;
    const lost = r.failed / r.count >= MAX_FAILED;
    const slow = r.achieved < MIN_ACHIEVED * rate;
    const lagging = r.tailS > MAX_TAIL_S;
    const pass = !lost && !slow && !lagging;
    steps.push({
      rate,
      pass,
      failedBy: pass ? null : lost ? 'failed calls' : slow ? 'rate not reached' : 'calls lagging',
      sent: r.count,
      ok: r.successful,
      failed: r.failed,
      achievedPerSec: Math.round(r.achieved),
      tailS: r.tailS,
      cpuUsPerCall: cpuUs,
      retransmissions: r.retransmissions,
      rcvbufErrors: r.rcvbufErrors,
      failures: r.failures,
    });
    const kinds = Object.entries(r.failures)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(
      `  ${String(rate).padStart(6)}/s: ${pass ? 'pass' : 'FAIL'}  ok ${r.successful}/${r.count}, ` +
        `started at ${Math.round(r.achieved)}/s (last calls done ${r.tailS} s later), ` +
        `${r.retransmissions} retransmissions, ${cpuUs === null ? '' : `${fmtUs(cpuUs)} µs CPU per call, `}` +
        `${r.rcvbufErrors} datagrams dropped by full sockets${kinds ? ` [${kinds}]` : ''}` +
        `${pass ? '' : ` (${steps.at(-1).failedBy})`}`,
    );
    if (pass) lo = rate;
    else hi = rate;
    let next;
    if (hi === Number.POSITIVE_INFINITY) next = rate * 2;
    else if (lo === 0) next = Math.floor(rate / 2);
    else next = Math.round((lo + hi) / 2 / 50) * 50;
    if (next > maxRate || next < 50) break;
    if (hi !== Number.POSITIVE_INFINITY && lo > 0 && (hi - lo <= lo * PRECISION || hi - lo <= 50)) break;
    if (next === lo || next === hi) break;
    rate = next;
    // let queues, retransmissions and timers of the last step drain
    steps.at(-1).drainMs = await drain(quiet);
  }
  return {
    maxRate: lo,
    bracket: [lo, hi === Number.POSITIVE_INFINITY ? null : hi],
    limitedBy: steps.find((s) => s.rate === hi)?.failedBy ?? 'search stopped (budget or max rate)',
    steps,
  };
}

function fmtUs(n) {
  return Math.round(n).toLocaleString('en-US');
}

/** A sipp injection file of `n` users `user0..`, for register.xml (`-inf FILE`). */
export function usersFile(n) {
  const f = join(benchTmp(), `users-${n}.csv`);
  const lines = ['SEQUENTIAL'];
  for (let i = 0; i < n; i++) lines.push(`user${i};`);
  writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}

/**
 * Sends REGISTER for `aor` with `contact` until a 2xx comes back, answering one digest
 * challenge with `user`/`pass` (MD5, qop=auth as RFC 2617). For setups whose route comes from
 * a registrar: the UAS is registered before the calls.
 */
export async function registerContact(port, { aor, contact, user, pass, expires = 3600 }) {
  const { createHash } = await import('node:crypto');
  const md5 = (s) => createHash('md5').update(s).digest('hex');
  const sock = dgram.createSocket('udp4');
  await new Promise((res) => sock.bind(0, '127.0.0.1', res));
  const local = sock.address().port;
  const callId = `bench-reg-${process.pid}-${Date.now()}`;
  let last;
  sock.on('message', (b) => {
    last = b.toString('latin1');
  });
  try {
    let auth = '';
    for (let cseq = 1; cseq <= 4; cseq++) {
      last = undefined;
      const ruri = `sip:${new URL(aor.replace(/^sips?:/, 'http://')).hostname}:${port}`;
      sock.send(
        `REGISTER ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-breg-${Date.now()}-${cseq}\r\n` +
          `Max-Forwards: 70\r\nFrom: <${aor}>;tag=breg\r\nTo: <${aor}>\r\nCall-ID: ${callId}\r\nCSeq: ${cseq} REGISTER\r\n` +
          `Contact: <${contact}>\r\nExpires: ${expires}\r\n${auth}Content-Length: 0\r\n\r\n`,
        port,
        '127.0.0.1',
      );
      for (let i = 0; i < 30 && (last === undefined || /^SIP\/2\.0 1/.test(last)); i++) await sleep(100);
      const status = Number(/^SIP\/2\.0 (\d{3})/.exec(last ?? '')?.[1] ?? 0);
      if (status >= 200 && status < 300) return status;
      const challenge = /^(WWW|Proxy)-Authenticate:\s*Digest (.*)$/im.exec(last ?? '');
      if (!challenge || pass === undefined) throw new Error(`REGISTER ${aor}: ${status || 'no answer'}`);
      const p = Object.fromEntries(
        [...challenge[2].matchAll(/(\w+)=("([^"]*)"|[^,\s]+)/g)].map((m) => [
          m[1].toLowerCase(),
          m[3] ?? m[2],
        ]),
      );
      const ha1 = md5(`${user}:${p.realm}:${pass}`);
      const ha2 = md5(`REGISTER:${ruri}`);
      const cnonce = md5(String(Math.random())).slice(0, 8);
      const nc = '00000001';
      const qop = p.qop ? 'auth' : undefined;
      const response = qop
        ? md5(`${ha1}:${p.nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
        : md5(`${ha1}:${p.nonce}:${ha2}`);
      const name = challenge[1].toLowerCase() === 'www' ? 'Authorization' : 'Proxy-Authorization';
      auth =
        `${name}: Digest username="${user}", realm="${p.realm}", nonce="${p.nonce}", uri="${ruri}", ` +
        `response="${response}", algorithm=MD5${qop ? `, qop=${qop}, nc=${nc}, cnonce="${cnonce}"` : ''}` +
        `${p.opaque ? `, opaque="${p.opaque}"` : ''}\r\n`;
    }
    throw new Error(`REGISTER ${aor}: still challenged`);
  } finally {
    sock.close();
  }
}
