/**
 * pino JSON logs on stdout: one object a line, ready for any log pipeline. Pretty output (pino-pretty, a dev
 * dependency absent from the production image) only when asked for or when NODE_ENV=development.
 *
 * Lines are written synchronously. pino's default, an asynchronous write per line, sent each of the controller's
 * "GNP written" lines (one per write, a few milliseconds apart) through libuv's thread pool: 32-52 against 19-26
 * microseconds of CPU per line, spaced 1 ms apart (bench/). A line logged just before the process exits is never
 * lost either. The cost: if whatever reads stdout stopped reading, the controller would wait with it; container
 * runtimes read their containers' stdout all the time.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Validates a `--log-level` value; the error names the flag and the accepted values. */
export function parseLogLevel(value: string, flag = '--log-level'): LogLevel {
  const level = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new Error(`${flag}: "${value}" is not a log level; use one of ${LOG_LEVELS.join(', ')}`);
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Human-readable output; default: NODE_ENV === 'development'. */
  pretty?: boolean;
  /** Where JSON lines go (default stdout); tests pass a stream to read what was logged. */
  destination?: DestinationStream;
  /** Fields on every line (for example the pod name). */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const pinoOptions = {
    level: options.level ?? 'info',
    base: { ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Logged errors keep their Kubernetes fields (status, reason) through pino's error serializer.
    serializers: { err: pino.stdSerializers.err },
  };
  const json = () => pino(pinoOptions, options.destination ?? pino.destination({ dest: 1, sync: true }));
  const pretty = options.pretty ?? process.env.NODE_ENV === 'development';
  if (pretty && !options.destination) {
    try {
      return pino(pinoOptions, pino.transport({ target: 'pino-pretty', options: { colorize: true } }));
    } catch (err) {
      const logger = json();
      logger.warn({ err }, 'pretty logs requested but pino-pretty is not installed; logging JSON');
      return logger;
    }
  }
  return json();
}

/** A logger that drops everything: the default for library code whose caller passed none. */
export const silentLogger: Logger = pino({ level: 'silent' });
