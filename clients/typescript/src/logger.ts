// The SDK's logging hook: silent unless the app gives a logger.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives the SDK's log lines. `fields` holds structured context (ids, codes). */
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export const silentLogger: Logger = () => undefined;
