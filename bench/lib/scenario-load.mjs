// Load runs of any sipp scenario (calls through a proxy, REGISTERs), for bench/proxy-load.mjs:
// the same method as bench/lib/load.mjs (bounded sipp runs, statistics from sipp's -trace_stat
// file, the doubling-then-bisecting search for the highest rate with < 0.1 % failed, CPU from
// /proc at a fixed rate), with the scenario, its extra arguments and the unit (call or
// REGISTER) as parameters. Process handling and /proc come from load.mjs.
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
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
    ...['-buff_size', '4194304', '-nostdin', '-trace_stat', '-stf', csv, '-fd', '1'],
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
  const code = await sipp.done;
  clearInterval(sampler);
  let stats;
  try {
    stats = lastStats(readFileSync(csv, 'latin1'));
  } catch {
    throw new Error(`sipp (exit ${code}) left no statistics: ${sipp.tail()}`);
  }
  const successful = stats['SuccessfulCall(C)'];
  const elapsed = stats.CurrentTime - stats.StartTime;
  return {
    count,
    successful,
    // calls that failed (an unexpected answer, a timeout) or were cut off by the global timeout
    failed: count - successful,
    achieved: elapsed > 0 ? successful / elapsed : 0,
    retransmissions: stats['Retransmissions(C)'],
    rcvbufErrors: udpRcvbufErrors() - drops0,
    sippUsPerCall: successful > 0 && sippTicks > 0 ? (sippTicks / CLK_TCK / successful) * 1e6 : null,
  };
}

/**
 * CPU per call at `rate` for `seconds` (after a warm-up of min(2 s, seconds) at the same rate):
 * utime+stime of each process group in `groups` (label → PID) ÷ successful calls.
 */
export async function cpuPerCall(port, load, rate, seconds, groups) {
  await runLoad(port, rate, Math.max(1, Math.round(rate * Math.min(2, seconds))), load);
  await sleep(500);
  const before = Object.fromEntries(Object.entries(groups).map(([k, pid]) => [k, groupCpuTicks(pid)]));
  const r = await runLoad(port, rate, Math.round(rate * seconds), load);
  await sleep(300);
  const cpu = {};
  let total = 0;
  for (const [k, pid] of Object.entries(groups)) {
    const s = (groupCpuTicks(pid) - before[k]) / CLK_TCK;
    total += s;
    cpu[k] = { cpuSeconds: s, usPerCall: r.successful > 0 ? round1((s / r.successful) * 1e6) : null };
  }
  return {
    rate,
    durationS: seconds,
    sent: r.count,
    ok: r.successful,
    failed: r.failed,
    cpu,
    usPerCall: r.successful > 0 ? round1((total / r.successful) * 1e6) : null,
    sippUsPerCall: r.sippUsPerCall === null ? null : round1(r.sippUsPerCall),
  };
}

/**
 * The highest rate that passes (< 0.1 % failed, ≥ 95 % of the rate reached): doubles from
 * `startRate` while steps pass, then bisects between the last pass and the first fail, within
 * `budgetS` seconds and `maxRate`. `watch`: processes that must stay up.
 */
export async function searchMax(port, load, { stepS, budgetS, startRate, maxRate }, watch) {
  const t0 = Date.now();
  const steps = [];
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  let rate = startRate;
  while ((Date.now() - t0) / 1000 + stepS + 3 <= budgetS) {
    const gone = watch.find((p) => p.exited);
    if (gone) throw new Error(`${gone.name} exited during the search: ${gone.tail()}`);
    const r = await runLoad(port, rate, Math.round(rate * stepS), load);
    const lost = r.failed / r.count >= MAX_FAILED;
    const pass = !lost && r.achieved >= MIN_ACHIEVED * rate;
    steps.push({
      rate,
      pass,
      failedBy: pass ? null : lost ? 'failed calls' : 'rate not reached',
      sent: r.count,
      ok: r.successful,
      failed: r.failed,
      achievedPerSec: Math.round(r.achieved),
      retransmissions: r.retransmissions,
      rcvbufErrors: r.rcvbufErrors,
    });
    console.log(
      `  ${String(rate).padStart(6)}/s: ${pass ? 'pass' : 'FAIL'}  ok ${r.successful}/${r.count}, ` +
        `achieved ${Math.round(r.achieved)}/s, ${r.retransmissions} retransmissions, ` +
        `${r.rcvbufErrors} datagrams dropped by full sockets${pass ? '' : ` (${steps.at(-1).failedBy})`}`,
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
    await sleep(1500); // let queues, retransmissions and the UAS's timewait of the last step drain
  }
  return {
    maxRate: lo,
    bracket: [lo, hi === Number.POSITIVE_INFINITY ? null : hi],
    limitedBy: steps.find((s) => s.rate === hi)?.failedBy ?? 'search stopped (budget or max rate)',
    steps,
  };
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
