// Runs sipp (Debian's sip-tester, or SIPP_TLS_BIN) against a server on loopback, bounded in calls (-m) and
// time (-timeout, and a kill if sipp itself hangs), and reads its final counters.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SCENARIOS = join(import.meta.dirname, '../interop/scenarios');

/**
 * A sipp built with TLS, for `-t l1` (Debian bookworm's is not): env SIPP_TLS, else the one
 * scripts/install-sipp-tls.sh puts in .tools/ (`make test-deps` runs it).
 */
export const SIPP_TLS_BIN = process.env.SIPP_TLS ?? join(import.meta.dirname, '../../.tools/bin/sipp-tls');

export interface SippResult {
  code: number | null;
  successful: number;
  failed: number;
  retransmissions: number;
  output: string;
}

/** A port free for both UDP and TCP on 127.0.0.1 (sipp binds both for -t t1). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const tcp = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, '127.0.0.1', () => resolve((tcp.address() as { port: number }).port));
    });
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => tcp.close(() => r()));
    if (ok) {
      await new Promise<void>((r) => udp.close(() => r()));
      return port;
    }
  }
  throw new Error('no free port');
}

export interface SippOptions {
  scenario: string;
  /** The sipp to run; `sipp` from PATH when absent (see SIPP_TLS_BIN for one with TLS). */
  bin?: string;
  /** `host:port` to send to; absent for a scenario that starts by receiving (a UAS). */
  target?: string;
  /** Local port; a free one when absent. */
  port?: number;
  /** `l1`: TLS, presenting -tls_cert/-tls_key from `extra` (sipp's defaults are files in its cwd). */
  transport?: 'u1' | 't1' | 'l1';
  calls: number;
  rate?: number;
  timeoutSec?: number;
  extra?: string[];
}

export async function runSipp(o: SippOptions): Promise<SippResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nksip-sipp-'));
  const stats = join(dir, 'stats.csv');
  const port = o.port ?? (await freePort());
  const timeout = o.timeoutSec ?? 30;
  const args = [
    ...(o.target !== undefined ? [o.target] : []),
    '-sf',
    join(SCENARIOS, o.scenario),
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-t',
    o.transport ?? 'u1',
    '-m',
    String(o.calls),
    '-r',
    String(o.rate ?? 10),
    '-timeout',
    `${timeout}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_stat',
    '-stf',
    stats,
    ...(o.extra ?? []),
  ];
  const proc = spawn(o.bin ?? 'sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const killer = setTimeout(() => proc.kill('SIGKILL'), (timeout + 10) * 1000);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(killer);
  const counters = lastStats(stats);
  return {
    code,
    successful: counters['SuccessfulCall(C)'] ?? 0,
    failed: counters['FailedCall(C)'] ?? 0,
    retransmissions: counters['Retransmissions(C)'] ?? 0,
    output: output.slice(-3000),
  };
}

function lastStats(file: string): Record<string, number> {
  let rows: string[][];
  try {
    rows = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(';'));
  } catch {
    return {};
  }
  const head = rows[0] ?? [];
  const last = rows[rows.length - 1] ?? [];
  const out: Record<string, number> = {};
  head.forEach((h, i) => {
    out[h] = Number(last[i]);
  });
  return out;
}
