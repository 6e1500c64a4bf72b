// SPDX-License-Identifier: Apache-2.0
//
// Structured JSON logs (pino). Runtime modules depend only on the small `Log` interface below, so
// tests can pass `silentLog` or a capturing fake and nothing imports pino except this file.
import { pino } from 'pino';

/** The logging surface runtime modules use (a subset of pino's). */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** A logger whose lines all carry `bindings`. */
  child(bindings: Record<string, unknown>): Log;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Defaults to `info`, or `$LOG_LEVEL` when set. */
  level?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Static fields on every line (e.g. `{ replica: podName }`). */
  base?: Record<string, unknown>;
  /** Where to write (defaults to stdout). */
  destination?: NodeJS.WritableStream;
}

/**
 * A pino JSON logger. Secrets never reach logs: kubeconfig material is redacted by path should a
 * caller log a config object by mistake.
 */
export function createLogger(opts: LoggerOptions = {}): Log {
  const level = opts.level ?? (process.env.LOG_LEVEL as LoggerOptions['level']) ?? 'info';
  const options = {
    level,
    base: { name: 'fleet-ilb', ...opts.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: {
      paths: ['*.token', '*.password', '*.keyData', '*.certData', '*.kubeconfig', '*.authorization', '*.Authorization'],
      censor: '[redacted]',
    },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything (tests, optional dependencies). */
export const silentLog: Log = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLog,
};
