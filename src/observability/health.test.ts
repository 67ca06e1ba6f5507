import { Counter } from 'prom-client';
import { HealthServer, parseBindAddress } from './health.js';
import { createLogger, parseLogLevel } from './logger.js';
import { Registry, counter } from './metrics.js';

async function get(
  base: string,
  path: string,
): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(base + path);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

describe('HealthServer', () => {
  let server: HealthServer;
  let base: string;
  let registry: Registry;
  let synced = false;

  beforeAll(async () => {
    registry = new Registry();
    counter(registry, { name: 'demo_total', help: 'demo', labelNames: ['x'] as const }).inc({ x: 'y' });
    server = new HealthServer({
      address: { host: '127.0.0.1', port: 0 },
      registry,
      probes: true,
      checkTimeoutMs: 100,
    });
    server.addReadinessCheck('informers-synced', () => (synced ? true : 'caches not synced: profiles'));
    server.addReadinessCheck('leader-reconciled', () => true);
    const address = await server.listen();
    base = `http://127.0.0.1:${address.port}`;
  });

  afterAll(() => server.close());

  it('answers /healthz while the process runs', async () => {
    expect(await get(base, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('fails /readyz naming the failing check and its reason, then passes once it does', async () => {
    synced = false;
    const failing = await get(base, '/readyz');
    expect(failing.status).toBe(500);
    expect(failing.body).toBe('[-]informers-synced failed: caches not synced: profiles\n1 check(s) failed\n');
    synced = true;
    expect(await get(base, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get(base, '/readyz?verbose')).body).toBe(
      '[+]informers-synced ok\n[+]leader-reconciled ok\nok\n',
    );
  });

  it('serves the registry in the Prometheus text format on /metrics', async () => {
    const res = await get(base, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    expect(res.body).toContain('demo_total{x="y"} 1');
  });

  it('answers only for its role: a metrics server has no probes, a probe server no metrics', async () => {
    const metricsOnly = new HealthServer({ address: { host: '127.0.0.1', port: 0 }, registry });
    const probesOnly = new HealthServer({ address: { host: '127.0.0.1', port: 0 }, probes: true });
    const at = async (s: HealthServer) => `http://127.0.0.1:${(await s.listen()).port}`;
    try {
      const metricsBase = await at(metricsOnly);
      const probesBase = await at(probesOnly);
      expect((await get(metricsBase, '/metrics')).status).toBe(200);
      for (const path of ['/healthz', '/livez', '/readyz'])
        expect([path, (await get(metricsBase, path)).status]).toEqual([path, 404]);
      expect((await get(probesBase, '/healthz')).status).toBe(200);
      expect((await get(probesBase, '/readyz')).status).toBe(200);
      expect((await get(probesBase, '/metrics')).status).toBe(404);
    } finally {
      await metricsOnly.close();
      await probesOnly.close();
    }
  });

  it('treats a check that throws or hangs as failing', async () => {
    const other = new HealthServer({
      address: { host: '127.0.0.1', port: 0 },
      probes: true,
      checkTimeoutMs: 20,
    });
    other.addReadinessCheck('throws', () => {
      throw new Error('lease store unreachable');
    });
    other.addReadinessCheck('hangs', () => new Promise(() => undefined));
    const { port } = await other.listen();
    const res = await get(`http://127.0.0.1:${port}`, '/readyz');
    expect(res.status).toBe(500);
    expect(res.body).toContain('[-]throws failed: lease store unreachable');
    expect(res.body).toContain('[-]hangs failed: no answer within 20ms');
    expect((await get(`http://127.0.0.1:${port}`, '/nope')).status).toBe(404);
    await other.close();
  });

  it('refuses duplicate check names', () => {
    expect(() => server.addReadinessCheck('informers-synced', () => true)).toThrow(/already registered/);
  });
});

describe('parseBindAddress', () => {
  it.each([
    [':8081', { host: '0.0.0.0', port: 8081 }],
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['[::1]:9090', { host: '::1', port: 9090 }],
    ['0', undefined],
  ])('%s', (text, expected) => {
    expect(parseBindAddress(text)).toEqual(expected);
  });

  it.each(['8081', 'localhost', ':99999', 'a:b', ''])('rejects %j naming the flag', (text) => {
    expect(() => parseBindAddress(text, '--metrics-bind-address')).toThrow(/^--metrics-bind-address: /);
  });
});

describe('logging', () => {
  it('validates --log-level', () => {
    expect(parseLogLevel('DEBUG')).toBe('debug');
    expect(() => parseLogLevel('verbose')).toThrow(
      '--log-level: "verbose" is not a log level; use one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  it('writes one JSON object a line with an ISO time and the level threshold applied', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    logger.debug('hidden');
    logger.child({ controller: 'profiles' }).info({ key: 'a' }, 'reconciled');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 30, controller: 'profiles', key: 'a', msg: 'reconciled' });
    expect(String(entry.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});

describe('metrics helpers', () => {
  it('return the metric already registered under a name instead of failing on the second registration', () => {
    const registry = new Registry();
    const first = counter(registry, { name: 'x_total', help: 'x' });
    const second = counter(registry, { name: 'x_total', help: 'x' });
    expect(second).toBe(first);
    expect(first).toBeInstanceOf(Counter);
  });
});
