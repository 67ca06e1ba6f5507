/**
 * The probe and scrape endpoints, like controller-runtime's: `/metrics` (Prometheus text), `/healthz` (ok
 * while the process serves HTTP at all: a blocked event loop fails the probe by timing out) and `/readyz` (ok when
 * every registered readiness check passes: caches synced and, when leading, the first full reconcile done).
 * Failing checks are listed as `[-]name failed: reason`; `?verbose` lists passing ones too.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from './logger.js';
import type { Registry } from './metrics.js';

/** true/undefined = ok; false or a string (the reason) = failing; a throw = failing with its message. */
export type HealthCheck = () => boolean | string | void | Promise<boolean | string | void>;

export interface ParsedAddress {
  host: string;
  port: number;
}

/**
 * Parses a bind address: ":8081" (all interfaces), "127.0.0.1:8081", "[::1]:8081", "0" disables (returns
 * undefined). The error names `flag`.
 */
export function parseBindAddress(
  value: string,
  flag = '--health-probe-bind-address',
): ParsedAddress | undefined {
  const text = value.trim();
  if (text === '0') return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port > 65535) {
    throw new Error(
      `${flag}: "${value}" is not a bind address; use host:port, :port, [ipv6]:port, or 0 to disable`,
    );
  }
  const host = match[1] ?? (match[2] || '0.0.0.0');
  return { host, port };
}

export interface HealthServerOptions {
  /** host:port; port 0 picks a free one (tests). */
  address: ParsedAddress;
  /** Served on /metrics; omit to serve no metrics here. */
  registry?: Registry;
  /**
   * Serve /healthz, /livez and /readyz here. controller-runtime keeps scrapes and probes on separate addresses
   * (--metrics-bind-address, --health-probe-bind-address), so each server answers only for its own role.
   */
  probes?: boolean;
  logger?: Logger;
  /** Bound on each readiness check (default 5 s). */
  checkTimeoutMs?: number;
}

export class HealthServer {
  private readonly server: http.Server;
  private readonly readiness = new Map<string, HealthCheck>();
  private readonly liveness = new Map<string, HealthCheck>();
  private readonly options: HealthServerOptions;
  private readonly log: Logger;

  constructor(options: HealthServerOptions) {
    this.options = options;
    this.log = (options.logger ?? silentLogger).child({ component: 'health' });
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'health endpoint failed');
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    // Probes and scrapes are short requests; idle connections must not hold shutdown.
    this.server.keepAliveTimeout = 5_000;
  }

  /** Registers a check for /readyz; names must be unique. */
  addReadinessCheck(name: string, check: HealthCheck): this {
    if (this.readiness.has(name)) throw new Error(`readiness check "${name}" is already registered`);
    this.readiness.set(name, check);
    return this;
  }

  /** Registers an extra check for /healthz (by default it only proves the event loop runs). */
  addLivenessCheck(name: string, check: HealthCheck): this {
    if (this.liveness.has(name)) throw new Error(`liveness check "${name}" is already registered`);
    this.liveness.set(name, check);
    return this;
  }

  /** Starts listening; resolves with the bound address (the real port when 0 was asked). */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) =>
        reject(new Error(`health server: cannot listen on ${this.describe()}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(this.options.address.port, this.options.address.host, () => {
        this.server.off('error', onError);
        const address = this.server.address() as AddressInfo;
        const paths = [
          ...(this.options.registry ? ['/metrics'] : []),
          ...(this.options.probes ? ['/healthz', '/readyz'] : []),
        ];
        this.log.info({ address: `${address.address}:${address.port}` }, `serving ${paths.join(', ')}`);
        resolve(address);
      });
    });
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private describe(): string {
    const { host, port } = this.options.address;
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://health');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        if (!this.options.registry) break;
        const body = await this.options.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.options.registry.contentType }).end(body);
        return;
      }
      case '/healthz':
      case '/livez':
        if (!this.options.probes) break;
        await this.respond(res, this.liveness, url.searchParams.has('verbose'));
        return;
      case '/readyz':
        if (!this.options.probes) break;
        await this.respond(res, this.readiness, url.searchParams.has('verbose'));
        return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }

  private async respond(
    res: http.ServerResponse,
    checks: Map<string, HealthCheck>,
    verbose: boolean,
  ): Promise<void> {
    const results = await Promise.all(
      [...checks].map(async ([name, check]) => ({ name, failure: await this.run(check) })),
    );
    const failing = results.filter((r) => r.failure !== undefined);
    const lines = results
      .filter((r) => verbose || r.failure !== undefined)
      .map((r) => (r.failure === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.failure}`));
    const ok = failing.length === 0;
    const summary = ok ? 'ok' : `${failing.length} check(s) failed`;
    const body = lines.length > 0 ? `${lines.join('\n')}\n${summary}\n` : `${summary}\n`;
    res.writeHead(ok ? 200 : 500, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
    });
    res.end(body);
  }

  /** Undefined when the check passes, else the reason. */
  private async run(check: HealthCheck): Promise<string | undefined> {
    const timeoutMs = this.options.checkTimeoutMs ?? 5_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const outcome = await Promise.race([
        Promise.resolve().then(check),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve(`no answer within ${timeoutMs}ms`), timeoutMs);
        }),
      ]);
      if (outcome === undefined || outcome === true) return undefined;
      if (outcome === false) return 'not ready';
      return outcome;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}
