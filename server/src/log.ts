// pino JSON lines by default; `--pretty` (or `logPretty`) for people reading a terminal.
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger };

export function makeLogger(level: LogLevel, prettyOutput: boolean): Logger {
  const opts = { level, base: { name: 'nksip' } };
  if (!prettyOutput) return pino(opts);
  return pino(opts, pretty({ colorize: process.stdout.isTTY, sync: true }));
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
