#!/usr/bin/env node
import { configFromArgs, HELP, version } from './args.js';
// `nksip-server`: flags and config file in, a running server out; exit 2 with one line on
// stderr for anything the user must fix.
import { type Config, ConfigError } from './config.js';
import { makeLogger } from './log.js';
import { type Server, StartError, startServer } from './server.js';

function fail(message: string): never {
  process.stderr.write(`nksip-server: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let config: ReturnType<typeof configFromArgs>;
  try {
    config = configFromArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  if (config === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (config === 'version') {
    process.stdout.write(`nksip-server ${version()}\n`);
    return;
  }
  const logger = makeLogger(config.logLevel, config.logPretty);
  let server: Server;
  try {
    server = await startServer(config, { logger });
  } catch (e) {
    if (e instanceof StartError || e instanceof ConfigError) fail(e.message);
    throw e;
  }
  if (config.pbx) process.stdout.write(pbxHowTo(config, server));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: no new requests, letting live transactions finish');
    server.stop(config.shutdownTimeout).then(
      () => {
        logger.info('stopped');
        logger.flush();
        process.exit(0);
      },
      (e: unknown) => {
        logger.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // operators and benchmarks: what the server holds now, after a full GC when node runs with
  // --expose-gc (memory per dialog is only readable without the garbage)
  process.on('SIGUSR2', () => {
    (globalThis as { gc?: () => void }).gc?.();
    logger.info({ stats: server.stats() }, 'stats');
  });
}

/** How to point a softphone at the built-in PBX. */
function pbxHowTo(config: Config, server: Server): string {
  const pbx = config.pbx as NonNullable<Config['pbx']>;
  const where = server.listeners
    .map(
      (l) => `${l.transport.toUpperCase()} ${l.address}:${l.port}${l.path && l.path !== '/' ? l.path : ''}`,
    )
    .join(', ');
  const first = server.listeners[0];
  // the transports sharing the first listener's port (UDP and TCP of one URI)
  const transports = server.listeners
    .filter((l) => first && l.port === first.port && l.address === first.address)
    .map((l) => l.transport.toUpperCase())
    .join(' or ');
  const tls = server.listeners.find((l) => l.transport === 'tls');
  const wss = server.listeners.filter((l) => l.transport === 'ws' || l.transport === 'wss');
  const domain = pbx.domains[0] ?? '127.0.0.1';
  const users = Object.keys(pbx.users);
  return [
    '',
    `Built-in PBX listening on ${where}; domains ${pbx.domains.join(', ')}; realm ${pbx.realm ?? domain}.`,
    'To register a softphone:',
    `  SIP server / proxy  ${first ? `${first.address}:${first.port}` : domain} (${transports})`,
    ...(tls && tls !== first ? [`  over TLS            ${tls.address}:${tls.port}`] : []),
    ...(wss.length > 0
      ? [
          `  browsers (JsSIP…)   ${wss.map((l) => `${l.transport}://${l.address}:${l.port}${l.path ?? '/'}`).join(' or ')}`,
        ]
      : []),
    `  domain              one of ${pbx.domains.join(', ')} (call with the same one)`,
    `  user / auth user    ${users.length > 0 ? users.join(' or ') : '(none configured: add pbx.users)'}`,
    '  password            the one in pbx.users of the config file',
    `Then call another registered user, e.g. sip:${users[1] ?? users[0] ?? 'user'}@${domain}.`,
    '',
  ].join('\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`nksip-server: unexpected error: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
