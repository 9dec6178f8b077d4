// Starts the real `nksip-server` (the built CLI) as a child process for cross-process tests
// and stops it by its PID. Listeners use port 0; the ports come from the start-up log line.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/server/src/cli.js');

export interface RunningServer {
  proc: ChildProcess;
  /** `udp:127.0.0.1:40000`-style listener names from the start-up line. */
  listeners: string[];
  port(transport: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss', host?: string): number;
  /** Every log line so far (JSON objects). */
  logs: Record<string, unknown>[];
  /** SIGTERM and wait for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** What the server holds now: SIGUSR2 makes it log a `stats` line; its `stats` object. */
export async function serverStats<T = Record<string, unknown>>(server: RunningServer): Promise<T> {
  const before = server.logs.length;
  server.proc.kill('SIGUSR2');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const line = server.logs.slice(before).find((l) => l.msg === 'stats');
    if (line) return line.stats as T;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no stats line after SIGUSR2');
}

/** Starts the CLI with a YAML/JSON config object (written to a temp file) and extra flags. */
export async function startCli(
  config: Record<string, unknown> = {},
  flags: string[] = [],
): Promise<RunningServer> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`make build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'nksip-test-'));
  const file = join(dir, 'config.json');
  // the ports are read from the info-level start-up line, so the level stays at info or below
  const logLevel = config.logLevel === 'debug' || config.logLevel === 'trace' ? config.logLevel : 'info';
  writeFileSync(
    file,
    JSON.stringify({ listen: ['sip:127.0.0.1:0'], grpc: '127.0.0.1:0', ...config, logLevel }),
  );
  const proc = spawn(process.execPath, [CLI, '--config', file, ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const listeners = await new Promise<string[]>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => reject(new Error(`server did not start in 10 s; stderr: ${stderr}`)),
      10_000,
    );
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          logs.push(obj);
          if (obj.msg === 'nksip-server started') {
            clearTimeout(timer);
            resolve(obj.listeners as string[]);
          }
        } catch {
          // not JSON: ignore
        }
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before starting: ${stderr}`));
    });
  });
  return {
    proc,
    listeners,
    logs,
    port(transport, host = '127.0.0.1') {
      const name = listeners.find((l) => l.startsWith(`${transport}:${host}:`));
      if (!name) throw new Error(`no ${transport} listener on ${host}: ${listeners.join(', ')}`);
      // `ws:127.0.0.1:8080/ws`: the port before any URL path
      return Number(/:(\d+)(?:\/.*)?$/.exec(name)?.[1]);
    },
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}
