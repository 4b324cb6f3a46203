// The daemon's logger: pino JSON lines on stdout (or a given stream, for tests), one line per
// decision with its reasons at info level.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/types.js';

export type { Logger } from 'pino';

/** Lines waiting for a slow reader beyond this are dropped rather than held in memory. */
const maxBufferedLogBytes = 16 * 1024 * 1024;

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  // Asynchronous stdout: a decision never waits for the write (about 0.3 ms a line on the path of
  // every create, measured), and a stalled journal cannot stall kubelet's calls. pino flushes
  // what is buffered when the process exits.
  return pino(
    { name: 'cri-rebalancer', level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 1, sync: false, maxLength: maxBufferedLogBytes }),
  );
}
