import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromArgs } from '../src/args.js';
import { type Config, ConfigError, DEFAULTS, parseListen } from '../src/config.js';

describe('listen URIs', () => {
  it('a URI without transport means UDP and TCP on one port', () => {
    expect(parseListen('sip:127.0.0.1:5070').map((s) => [s.transport, s.address, s.port])).toEqual([
      ['udp', '127.0.0.1', 5070],
      ['tcp', '127.0.0.1', 5070],
    ]);
  });
  it('transport=tcp, all, all6, IPv6 and the default port', () => {
    expect(parseListen('sip:all;transport=tcp')).toMatchObject([
      { transport: 'tcp', address: '0.0.0.0', port: 5060 },
    ]);
    expect(parseListen('sip:all6:5080;transport=udp')).toMatchObject([
      { transport: 'udp', address: '::', port: 5080 },
    ]);
    expect(parseListen('sip:[::1]:5070')[0]).toMatchObject({ address: '::1', port: 5070 });
  });
  it('sips: is TLS on 5061; ws and wss take a URL path (`/` when none)', () => {
    expect(parseListen('sips:127.0.0.1')).toMatchObject([
      { transport: 'tls', address: '127.0.0.1', port: 5061 },
    ]);
    expect(parseListen('sip:127.0.0.1:5071;transport=tls')).toMatchObject([{ transport: 'tls', port: 5071 }]);
    expect(parseListen('sip:127.0.0.1:8080/ws;transport=ws')).toMatchObject([
      { transport: 'ws', address: '127.0.0.1', port: 8080, path: '/ws' },
    ]);
    expect(parseListen('<sip:all:8443;transport=wss>')).toMatchObject([
      { transport: 'wss', address: '0.0.0.0', port: 8443, path: '/' },
    ]);
    expect(parseListen('sip:127.0.0.1:5060')[0]).not.toHaveProperty('path');
  });
  it('tls settings: cert and key required, unknown keys refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksip-cfg-'));
    const yaml = join(dir, 't.yaml');
    writeFileSync(yaml, 'tls:\n  cert: /x/c.pem\n  key: /x/k.pem\n  verify: false\n');
    expect((configFromArgs(['--config', yaml]) as Config).tls).toEqual({
      cert: '/x/c.pem',
      key: '/x/k.pem',
      verify: false,
    });
    writeFileSync(yaml, 'tls:\n  cert: /x/c.pem\n');
    expect(() => configFromArgs(['--config', yaml])).toThrow(/tls.key/);
    writeFileSync(yaml, 'tls:\n  cert: /x/c.pem\n  key: /x/k.pem\n  pass: x\n');
    expect(() => configFromArgs(['--config', yaml])).toThrow(/unknown key "pass"/);
  });
  it('refuses what it cannot open, naming the URI', () => {
    for (const bad of [
      'http://x',
      'sip:example.com',
      'sip:127.0.0.1:99999',
      'sip:127.0.0.1;transport=sctp',
      'sips:all;transport=udp',
      'sip:127.0.0.1:5060/ws',
    ]) {
      expect(() => parseListen(bad)).toThrow(ConfigError);
    }
    expect(() => parseListen('sip:127.0.0.1;transport=sctp')).toThrow(/sctp/);
  });
});

describe('command line and config file', () => {
  it('defaults', () => {
    expect(configFromArgs([])).toEqual(DEFAULTS);
  });
  it('flags override the file, which overrides defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksip-cfg-'));
    const yaml = join(dir, 'c.yaml');
    writeFileSync(yaml, 'listen:\n  - sip:127.0.0.1:5090\nt1: 100\nlogLevel: debug\n');
    const c = configFromArgs(['--config', yaml, '--log-level', 'warn', '--no-100']);
    expect(c).toMatchObject({ listen: ['sip:127.0.0.1:5090'], t1: 100, logLevel: 'warn', no100: true });
    const json = join(dir, 'c.json');
    writeFileSync(json, JSON.stringify({ listen: ['sip:127.0.0.1:5091'], t2: 2000 }));
    expect(
      configFromArgs(['--config', json, '--listen', 'sip:127.0.0.1:6000', '--listen', 'sip:[::1]:6000']),
    ).toMatchObject({
      listen: ['sip:127.0.0.1:6000', 'sip:[::1]:6000'],
      t2: 2000,
    });
  });
  it('bad flags, values and keys are ConfigErrors with a clear message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksip-cfg-'));
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'listne: sip:all\n');
    const cases: [string[], RegExp][] = [
      [['--bogus'], /bogus/],
      [['--log-level', 'loud'], /logLevel/],
      [['--listen', 'sip:nowhere'], /listen URI/],
      [['--config', f], /unknown key "listne"/],
      [['--config', join(dir, 'missing.yaml')], /cannot read/],
    ];
    for (const [args, msg] of cases) {
      expect(() => configFromArgs(args)).toThrow(msg);
    }
    writeFileSync(f, 't1: 5\n');
    expect(() => configFromArgs(['--config', f])).toThrow(/t1 must be an integer from 10 to 2500/);
    writeFileSync(f, 'dialogTimeout: 0\n');
    expect(() => configFromArgs(['--config', f])).toThrow(/dialogTimeout must be an integer from 1 to 86400/);
    writeFileSync(f, 'dialogTimeout: 60\n');
    expect(configFromArgs(['--config', f])).toMatchObject({ dialogTimeout: 60 });
    expect(DEFAULTS.dialogTimeout).toBe(1800);
  });
  it('dnsServers: IPs with optional ports (IPv6 in brackets to carry one), dnsCacheTtl, keepAliveInterval', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksip-cfg-'));
    const f = join(dir, 'dns.json');
    const servers = ['192.0.2.53', '192.0.2.54:5353', '[2001:db8::53]:53', '2001:db8::54'];
    writeFileSync(f, JSON.stringify({ dnsServers: servers, dnsCacheTtl: 60, keepAliveInterval: 30 }));
    expect(configFromArgs(['--config', f])).toMatchObject({
      dnsServers: servers,
      dnsCacheTtl: 60,
      keepAliveInterval: 30,
    });
    expect([DEFAULTS.dnsServers, DEFAULTS.dnsCacheTtl, DEFAULTS.keepAliveInterval]).toEqual([
      undefined,
      300,
      0,
    ]);
    for (const bad of ['dns.example.com', '192.0.2.1:53:1', '[nope]:53', '2001:db8::1:53x']) {
      writeFileSync(f, JSON.stringify({ dnsServers: [bad] }));
      expect(() => configFromArgs(['--config', f])).toThrow(/dnsServers\[0\]: not an IP address/);
    }
  });
  it("appMaxPending and appOverloadDelay: the apps' overload guard, in range", () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksip-cfg-'));
    const f = join(dir, 'overload.yaml');
    writeFileSync(f, 'appMaxPending: 5000\nappOverloadDelay: 0\n');
    expect(configFromArgs(['--config', f])).toMatchObject({ appMaxPending: 5000, appOverloadDelay: 0 });
    expect([DEFAULTS.appMaxPending, DEFAULTS.appOverloadDelay]).toEqual([1000, 250]);
    writeFileSync(f, 'appMaxPending: 0\n');
    expect(() => configFromArgs(['--config', f])).toThrow(
      /appMaxPending must be an integer from 1 to 1000000/,
    );
    writeFileSync(f, 'appOverloadDelay: -1\n');
    expect(() => configFromArgs(['--config', f])).toThrow(
      /appOverloadDelay must be an integer from 0 to 60000/,
    );
  });
});
