// The daemon's logger: pino JSON lines on stdout (or a given stream, for tests), one line per
// decision with its reasons at info level.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/types.js';

export type { Logger } from 'pino';

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  // Synchronous stdout: the "ready" line is out before anyone waits for it, and nothing is lost at exit.
  return pino({ name: 'cri-rebalancer', level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination({ fd: 1, sync: true }));
}
