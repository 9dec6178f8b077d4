// Command-line flags of `nksip-server`, turned into a checked Config.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, ConfigError, DEFAULTS, mergeConfig, readConfigFile } from './config.js';

export const HELP = `Usage: nksip-server [options]

SIP application server: transports, transactions and NkSIP's default UAS answers.

Options:
  --listen URI         listen on a SIP URI; repeatable.
                       sip:HOST[:PORT][/PATH][;transport=udp|tcp|tls|ws|wss] or sips:HOST[:PORT]
                       HOST is an IP, [IPv6], all (every IPv4 interface) or all6.
                       Without ;transport, UDP and TCP share the port (sips: is TLS);
                       /PATH is for ws and wss; TLS needs the tls key. Default: sip:all:5060
  --config FILE        JSON or YAML file with any of the keys below (flags win)
  --log-level LEVEL    fatal, error, warn, info (default), debug, trace or silent
  --pretty             human-readable logs instead of JSON lines
  --local-host HOST    host for Via and Contact when listening on all interfaces
  --no-100             do not send 100 Trying for INVITE automatically
  --grpc HOST:PORT     where SipApps connect (gRPC); port 0 picks one; off disables it.
                       Default: 127.0.0.1:50051
  -h, --help           show this help
  -V, --version        show the version

Config file keys: listen (list), logLevel, logPretty, localHost, t1, t2, t4 (ms),
transTimeout (s), dialogTimeout (s), timerC (s), no100, udpMaxSize, tcpIdleTimeout (s),
shutdownTimeout (ms), allow, supported, grpc, grpcTls ({cert, key, ca}), grpcToken,
tls ({cert, key, ca, verify}: TLS and WSS), wsMaxMessage (bytes),
nonceTimeout (s), maxCalls, pbx ({domains, users, realm, registrar, recordRoute}: the built-in PBX),
dnsServers (list), dnsCacheTtl (s), keepAliveInterval (s).
See docs/configuration.md.
`;

export function version(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'nksip-server') return pkg.version ?? '0.0.0';
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

export function configFromArgs(argv: string[]): Config | 'help' | 'version' {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string', multiple: true },
        config: { type: 'string' },
        'log-level': { type: 'string' },
        pretty: { type: 'boolean' },
        'local-host': { type: 'string' },
        'no-100': { type: 'boolean' },
        grpc: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (e) {
    throw new ConfigError(`${(e as Error).message.split('\n')[0]} (see --help)`);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.version) return 'version';
  let config = DEFAULTS;
  if (typeof v.config === 'string') config = mergeConfig(config, readConfigFile(v.config), v.config);
  const flags: Record<string, unknown> = {};
  if (v.listen) flags.listen = v.listen;
  if (v['log-level'] !== undefined) flags.logLevel = v['log-level'];
  if (v.pretty) flags.logPretty = true;
  if (v['local-host'] !== undefined) flags.localHost = v['local-host'];
  if (v['no-100']) flags.no100 = true;
  if (v.grpc !== undefined) flags.grpc = v.grpc;
  return mergeConfig(config, flags, 'flag');
}
