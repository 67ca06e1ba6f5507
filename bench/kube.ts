/**
 * The benchmark's own Kubernetes client: node:https with one keep-alive agent, bodies sent as given, nothing else.
 *
 * Deliberately not the operator's KubeClient: the floor must be what a plain client gets from the API server,
 * independent of the code under test (if the operator's client got slower, a floor measured with it would hide
 * that), and the watches that judge convergence must not share its bugs. Loopback only: the benchmark must
 * never load a real cluster.
 */
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { KubeConfig } from '@kubernetes/client-node';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    body: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 500)}`);
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface ListedObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const REQUEST_TIMEOUT_MS = 60_000;
const MAX_ATTEMPTS = 20;
const RETRIED_STATUSES = new Set([429, 503]);

export class BenchApi {
  private readonly agent: https.Agent;

  private constructor(
    readonly server: URL,
    private readonly headers: Record<string, string>,
    private readonly tls: https.AgentOptions,
  ) {
    this.agent = new https.Agent({ ...tls, keepAlive: true, maxSockets: Infinity });
  }

  static async fromKubeconfig(path: string): Promise<BenchApi> {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${path}: no current cluster`);
    const server = new URL(cluster.server);
    if (!LOOPBACK.has(server.hostname)) {
      throw new Error(`the benchmark only talks to a local control plane; ${path} points at ${server.host}`);
    }
    const options: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(options);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'calico-vpc-bench' };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return new BenchApi(server, headers, {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    });
  }

  /**
   * One request; resolves with the parsed JSON body, rejects with HttpError on a non-2xx status. `body` may be a
   * string already serialized (the floor serializes before it starts the clock) or a value to serialize.
   * A 429 (a new CRD's storage initializing, or the server shedding load) or 503 (a just-established CRD not yet
   * served) is retried after its Retry-After (default 1 s), as Kubernetes clients do, a bounded number of times.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requestOnce<T>(method, path, body, contentType);
      } catch (err) {
        if (!(err instanceof HttpError && RETRIED_STATUSES.has(err.status)) || attempt >= MAX_ATTEMPTS)
          throw err;
        await new Promise((r) => setTimeout(r, Math.min(err.retryAfterSeconds ?? 1, 5) * 1000));
      }
    }
  }

  private requestOnce<T>(method: string, path: string, body: unknown, contentType: string): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = { ...this.headers };
    if (payload !== undefined) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    return new Promise<T>((resolve, reject) => {
      const req = https.request(new URL(path, this.server), { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            const retryAfter = Number(res.headers['retry-after']);
            reject(
              new HttpError(status, method, path, text, Number.isFinite(retryAfter) ? retryAfter : undefined),
            );
          } else resolve((text ? JSON.parse(text) : undefined) as T);
        });
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`${method} ${path}: no response in ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Every item of a collection (pages of 500) and the list's resourceVersion, to start a watch from. */
  async listAll(
    path: string,
    labelSelector?: string,
  ): Promise<{ items: ListedObject[]; resourceVersion: string }> {
    const items: ListedObject[] = [];
    let continueToken = '';
    let resourceVersion = '';
    for (let page = 0; page < 10_000; page++) {
      const query = new URLSearchParams({ limit: '500' });
      if (labelSelector) query.set('labelSelector', labelSelector);
      if (continueToken) query.set('continue', continueToken);
      const list = await this.request<{
        items?: ListedObject[];
        metadata?: { continue?: string; resourceVersion?: string };
      }>('GET', `${path}?${query}`);
      items.push(...(list.items ?? []));
      resourceVersion = list.metadata?.resourceVersion ?? resourceVersion;
      continueToken = list.metadata?.continue ?? '';
      if (!continueToken) return { items, resourceVersion };
    }
    throw new Error(`${path}: more than 10,000 pages`);
  }

  /**
   * Watches a collection from `resourceVersion` on a connection of its own; `onEvent` gets each event and the
   * moment (performance.now()) its line arrived. Resolves when the server ends the stream or `signal` aborts;
   * rejects on a non-200 answer, an ERROR event or a broken connection.
   */
  watch(
    path: string,
    options: { resourceVersion: string; labelSelector?: string; signal: AbortSignal },
    onEvent: (type: WatchEventType, object: ListedObject, arrivedAt: number) => void,
  ): Promise<void> {
    const query = new URLSearchParams({
      watch: 'true',
      resourceVersion: options.resourceVersion,
      allowWatchBookmarks: 'true',
      // Longer than any benchmark phase; the phase aborts the watch when it is done with it.
      timeoutSeconds: '3600',
    });
    if (options.labelSelector) query.set('labelSelector', options.labelSelector);
    return new Promise<void>((resolve, reject) => {
      if (options.signal.aborted) return resolve();
      const agent = new https.Agent({ ...this.tls, keepAlive: false });
      const req = https.request(
        new URL(`${path}?${query}`, this.server),
        { method: 'GET', headers: this.headers, agent, signal: options.signal },
        (res: IncomingMessage) => {
          if (res.statusCode !== 200) {
            let text = '';
            res.on('data', (chunk: Buffer) => (text += chunk.toString()));
            res.on('end', () => reject(new HttpError(res.statusCode ?? 0, 'WATCH', path, text)));
            return;
          }
          res.setEncoding('utf8');
          let buffered = '';
          res.on('data', (chunk: string) => {
            const arrivedAt = performance.now();
            buffered += chunk;
            for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
              const line = buffered.slice(0, newline);
              buffered = buffered.slice(newline + 1);
              if (!line.trim()) continue;
              const event = JSON.parse(line) as { type: WatchEventType | 'ERROR'; object: ListedObject };
              if (event.type === 'ERROR') {
                req.destroy(new Error(`WATCH ${path}: ${JSON.stringify(event.object)}`));
                return;
              }
              onEvent(event.type, event.object, arrivedAt);
            }
          });
          res.on('end', () => resolve());
          res.on('error', (err) => (options.signal.aborted ? resolve() : reject(err)));
        },
      );
      req.on('error', (err) => (options.signal.aborted ? resolve() : reject(err)));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
