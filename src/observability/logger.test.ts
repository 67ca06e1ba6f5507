import { pino } from 'pino';
import { createLogger, parseLogLevel } from './logger.js';

describe('createLogger', () => {
  it('writes JSON lines to stdout synchronously, so no line waits in a buffer or a thread-pool queue', () => {
    const logger = createLogger({ pretty: false });
    const stream = (logger as unknown as Record<symbol, { fd?: number; sync?: boolean }>)[
      pino.symbols.streamSym
    ];
    expect(stream?.fd).toBe(1);
    expect(stream?.sync).toBe(true);
  });

  it('logs at the level asked for', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: { write: (line: string) => lines.push(line) },
    });
    logger.info('not this');
    logger.warn({ key: 'a/b' }, 'this');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 40, key: 'a/b', msg: 'this' }),
    ]);
  });

  it('names the flag and the accepted values for a level it does not know', () => {
    expect(parseLogLevel(' Debug ')).toBe('debug');
    expect(() => parseLogLevel('verbose')).toThrow(
      '--log-level: "verbose" is not a log level; use one of fatal, error, warn, info, debug, trace, silent',
    );
  });
});
