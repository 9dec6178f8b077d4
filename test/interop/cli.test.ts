// The `nksip-server` command as a user meets it: help, version, mistakes (one line, exit 2),
// a port in use, and a clean exit on SIGTERM.
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, startCli } from '../support/server-process.js';

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('nksip-server command line', () => {
  it('--help and --version', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: nksip-server/);
    expect(help.stdout).toMatch(/--listen URI/);
    const version = run(['--version']);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect([version.code, version.stdout.trim()]).toEqual([0, `nksip-server ${pkg.version}`]);
  });

  it('a bad flag, URI, config key or level stops it with one clear line and exit code 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksip-cli-'));
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'listen: [sip:127.0.0.1:0]\nt1: fast\n');
    const cases: [string[], RegExp][] = [
      [['--frobnicate'], /frobnicate/],
      [['--listen', 'sip:not-an-ip:5060'], /bad listen URI sip:not-an-ip:5060/],
      [['--listen', 'sip:127.0.0.1:5060;transport=sctp'], /transport sctp/],
      [['--log-level', 'chatty'], /logLevel/],
      [['--config', cfg], /t1 must be an integer/],
      [['--config', join(dir, 'nope.yaml')], /cannot read config file/],
    ];
    for (const [args, msg] of cases) {
      const r = run(args);
      expect([args, r.code], r.stderr).toEqual([args, 2]);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.startsWith('nksip-server: ')).toBe(true);
    }
  });

  it('a port in use says so and exits 2', async () => {
    const sock = createSocket('udp4');
    const port = await new Promise<number>((resolve) =>
      sock.bind(0, '127.0.0.1', () => resolve(sock.address().port)),
    );
    try {
      const r = run(['--listen', `sip:127.0.0.1:${port};transport=udp`]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `nksip-server: cannot listen on udp 127.0.0.1:${port}: address already in use`,
      );
    } finally {
      sock.close();
    }
  });

  it('SIGUSR2 logs what the server holds (dialogs, transactions, listeners, memory)', async () => {
    const server = await startCli({ listen: ['sip:127.0.0.1:0'] });
    try {
      server.proc.kill('SIGUSR2');
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !server.logs.some((l) => l.msg === 'stats')) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const line = server.logs.find((l) => l.msg === 'stats') as
        | { stats?: Record<string, unknown> }
        | undefined;
      expect(line?.stats).toMatchObject({
        dialogs: { total: 0, early: 0, confirmed: 0 },
        transactions: { client: 0, server: 0 },
        uacPending: 0,
        listeners: 2,
        apps: [],
      });
      expect((line?.stats?.memory as { heapUsed?: number } | undefined)?.heapUsed).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });

  it('listens on IPv4 and IPv6 at once, and SIGTERM ends it with exit code 0', async () => {
    const server = await startCli({ listen: ['sip:127.0.0.1:0', 'sip:[::1]:0;transport=udp'] });
    expect(server.listeners.map((l) => l.replace(/:\d+$/, ''))).toEqual([
      'udp:127.0.0.1',
      'tcp:127.0.0.1',
      'udp:[::1]',
    ]);
    expect(await server.stop()).toBe(0);
    expect(server.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });
});
