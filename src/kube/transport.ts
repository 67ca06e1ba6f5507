/**
 * The HTTP transport to the API server, on node:https with ONE keep-alive agent for the whole process, and the
 * credentials from the kubeconfig reused for a short while.
 *
 * Why not client-node's generated APIs: they return model classes (the core works on wire JSON), and they open a
 * new https.Agent, so a new TCP+TLS connection, for every request (kubernetes-client/javascript#2893).
 * client-node still does what it is good at: reading kubeconfigs and producing the auth headers and TLS material
 * (`applyToHTTPSOptions`), including exec plugins and the rotating in-cluster token.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { counter, histogram, perRegistry, sharedRegistry, type Registry } from '../observability/metrics.js';
import { parseUrl } from '../util/url.js';
import { ApiError } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. /apis/coordination.k8s.io/v1/namespaces/x/leases/y */
  path: string;
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Default application/json; e.g. the Table kubectl prints (`application/json;as=Table;v=v1;g=meta.k8s.io`). */
  accept?: string;
  signal?: AbortSignal;
  /** Overrides the client's request timeout; 0 disables it (watches). */
  timeoutMs?: number;
}

export interface TransportOptions {
  /** Default fieldManager for writes and server-side apply. */
  fieldManager?: string;
  userAgent?: string;
  /** Bound on every non-watch request, including reading the body (default 30s). */
  requestTimeoutMs?: number;
  /** How long credentials read from the kubeconfig are reused (default 10 s; also re-read after any 401). */
  credentialsTtlMs?: number;
  registry?: Registry;
}

const restMetrics = perRegistry((registry) => ({
  requests: counter(registry, {
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests, partitioned by status code, method, and host.',
    labelNames: ['code', 'method', 'host'] as const,
  }),
  duration: histogram(registry, {
    name: 'rest_client_request_duration_seconds',
    help: 'Request latency in seconds. Broken down by verb and host.',
    labelNames: ['verb', 'host'] as const,
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
  }),
}));

/** A request in flight: its current attempt, and why it was ended (deadline passed, caller aborted), if it was. */
interface InFlight {
  request?: http.ClientRequest;
  endedBy?: Error;
}

/** The callbacks waiting on each caller signal, behind the one listener whenAborted adds to it. */
const abortWaiters = new WeakMap<AbortSignal, { callbacks: Set<() => void>; listener: () => void }>();

/**
 * Calls `callback` when `signal` aborts (at once if it has), until the returned function is called. A controller's
 * signal is shared by every request in flight (16 and more at once): one listener per signal fans out to them, where
 * a listener per request trips Node's MaxListenersExceededWarning ("possible memory leak") above 10. The listener
 * goes when its last waiter does, so a long-lived signal keeps none between requests.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    callback();
    return () => {};
  }
  let waiters = abortWaiters.get(signal);
  if (!waiters) {
    const callbacks = new Set<() => void>();
    const listener = () => {
      abortWaiters.delete(signal);
      for (const waiting of [...callbacks]) waiting();
    };
    waiters = { callbacks, listener };
    abortWaiters.set(signal, waiters);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { callbacks, listener } = waiters;
  const entry = () => callback();
  callbacks.add(entry);
  return () => {
    callbacks.delete(entry);
    if (callbacks.size === 0 && abortWaiters.get(signal)?.callbacks === callbacks) {
      abortWaiters.delete(signal);
      signal.removeEventListener('abort', listener);
    }
  };
}

/** What node's http throws when a request's signal aborts. */
function abortError(reason: unknown): Error {
  const error = new Error('The operation was aborted', { cause: reason });
  error.name = 'AbortError';
  return Object.assign(error, { code: 'ABORT_ERR' });
}

/**
 * The deadlines of every request in flight on ONE timer, armed for the earliest. AbortSignal.timeout per request
 * (plus AbortSignal.any to combine it with the caller's signal) showed in the controller's profile: each made a
 * timer that lives for the whole timeout (30 s) after its request has finished, thousands of them at a few
 * hundred writes per second. Here a finished request just leaves the set.
 */
export class DeadlineSweeper {
  private readonly pending = new Set<{ deadline: number; expire: () => void }>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  /** Calls `expire` once `timeoutMs` have passed, unless the returned cancel function runs first. */
  add(timeoutMs: number, expire: () => void): () => void {
    const entry = { deadline: performance.now() + timeoutMs, expire };
    this.pending.add(entry);
    if (entry.deadline < this.timerAt) this.arm(entry.deadline);
    return () => this.pending.delete(entry);
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, at - performance.now()));
    // The timer never keeps the process alive: only the requests it bounds do.
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const entry of this.pending) {
      if (entry.deadline <= now) {
        this.pending.delete(entry);
        entry.expire();
      } else if (entry.deadline < next) next = entry.deadline;
    }
    if (next < Infinity) this.arm(next);
  }
}

/**
 * Where and how the next requests go. The server's URL is parsed once here, not per request: a `new URL` per
 * request (and node's conversion of it back into request options) showed in the controller's profile at a few
 * hundred writes per second.
 */
interface Connection {
  /** node:http or node:https, by the server's scheme. */
  module: typeof http | typeof https;
  /** What node's request options take from the server URL (node's urlToHttpOptions, once). */
  target: Pick<http.RequestOptions, 'protocol' | 'hostname' | 'port' | 'auth'>;
  /** The server URL's path without trailing slashes ('' unless the API server sits under a prefix). */
  basePath: string;
  agent: http.Agent;
  /** Auth headers, then Accept and User-Agent: the headers every request sends. */
  headers: Record<string, string>;
}

interface CachedConnection {
  value: Promise<Connection>;
  /** The value, once it resolved. */
  built?: Connection;
  expiresAt: number;
}

export class Transport {
  readonly kubeConfig: KubeConfig;
  readonly fieldManager: string;
  private readonly userAgent: string;
  private readonly requestTimeoutMs: number;
  private readonly credentialsTtlMs: number;
  private readonly metrics: ReturnType<typeof restMetrics>;
  private agent: http.Agent | undefined;
  private agentFingerprint = '';
  /** The last connection and when it must be rebuilt; see connection(). */
  private cachedConnection: CachedConnection | undefined;
  private readonly retiredAgents: http.Agent[] = [];
  private readonly deadlines = new DeadlineSweeper();
  private labelledServer = { server: '', host: '' };

  constructor(kubeConfig: KubeConfig, options: TransportOptions = {}) {
    this.kubeConfig = kubeConfig;
    this.fieldManager = options.fieldManager ?? 'calico-vpc-operator';
    this.userAgent = options.userAgent ?? 'calico-vpc-operator';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.credentialsTtlMs = options.credentialsTtlMs ?? 10_000;
    this.metrics = restMetrics(options.registry ?? sharedRegistry());
  }

  /** Sends a request and returns the parsed JSON body (undefined for an empty body); non-2xx throws ApiError. */
  async request<R>(options: RequestOptions): Promise<R> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const inFlight: InFlight = {};
    const end = (reason: Error) => {
      inFlight.endedBy ??= reason;
      inFlight.request?.destroy(reason);
    };
    const cancelDeadline =
      timeoutMs > 0
        ? this.deadlines.add(timeoutMs, () => {
            const timedOut = new Error(
              `${options.method} ${options.path}: no complete response within ${timeoutMs}ms`,
            );
            timedOut.name = 'TimeoutError';
            end(timedOut);
          })
        : undefined;
    // The caller's signal is usually long-lived (a controller's): its abort ends the request the same way the
    // deadline does, through one shared listener per signal (see whenAborted), removed in `finally`.
    const signal = options.signal;
    const stopWatchingSignal = signal ? whenAborted(signal, () => end(abortError(signal.reason))) : undefined;
    const started = performance.now();
    try {
      const response = await this.send(options, undefined, inFlight);
      const text = await readBody(response);
      if (response.statusCode === undefined || response.statusCode < 200 || response.statusCode >= 300) {
        throw ApiError.fromResponse(response.statusCode ?? 0, text, `${options.method} ${options.path}`);
      }
      return (text ? JSON.parse(text) : undefined) as R;
    } catch (err) {
      throw inFlight.endedBy ?? err;
    } finally {
      cancelDeadline?.();
      stopWatchingSignal?.();
      this.metrics.duration.observe(
        { verb: options.method, host: this.hostLabel() },
        (performance.now() - started) / 1000,
      );
    }
  }

  /**
   * Opens a streaming GET (a watch) and returns the response once its status is known; non-200 throws ApiError.
   * The caller reads the body and must destroy it (or abort `signal`) when done.
   */
  async openStream(
    path: string,
    query: Query,
    signal?: AbortSignal,
    accept?: string,
  ): Promise<http.IncomingMessage> {
    const response = await this.send({ method: 'GET', path, query, accept }, signal, {});
    if (response.statusCode !== 200) {
      const text = await readBody(response);
      throw ApiError.fromResponse(response.statusCode ?? 0, text, `WATCH ${path}`);
    }
    return response;
  }

  /**
   * Opens up to `count` pooled connections now, by as many concurrent GET /version, so the first burst of work
   * (every reconcile of the initial sync starting at once) does not wait for that many TLS handshakes in a row: on
   * the benchmark machine 16 cold handshakes took 80 ms, 16 requests on open connections 7-10 ms. Called while the
   * informers list, when the API server has little else to do. Failures are ignored: the requests that follow
   * connect on their own and report their own errors.
   */
  async preconnect(count: number, signal?: AbortSignal): Promise<void> {
    if (count < 1) return;
    const version = () => this.request({ method: 'GET', path: '/version', signal, timeoutMs: 5_000 });
    // One first, so the agent holds a TLS session the others resume (no certificate to send and verify again):
    // 16 connections took 31-34 ms of client CPU that way against 39-56 ms all at once.
    await version().catch(() => undefined);
    await Promise.allSettled(Array.from({ length: count }, version));
  }

  /** Closes the pooled connections (in-flight requests fail). */
  close(): void {
    this.agent?.destroy();
    for (const agent of this.retiredAgents.splice(0)) agent.destroy();
    this.agent = undefined;
    this.agentFingerprint = '';
    this.cachedConnection = undefined;
  }

  /** The metrics' host label: the current server URL's host, parsed again only when the server changes. */
  private hostLabel(): string {
    const server = this.kubeConfig.getCurrentCluster()?.server ?? '';
    if (server !== this.labelledServer.server) this.labelledServer = { server, host: hostOf(server) };
    return this.labelledServer.host;
  }

  private async send(
    options: RequestOptions,
    signal: AbortSignal | undefined,
    inFlight: InFlight,
  ): Promise<http.IncomingMessage> {
    const connection = this.currentConnection() ?? (await this.connection());
    // Encoded once, into a Buffer: JSON.stringify returns a rope, which Buffer.byteLength flattened into a copy and
    // the socket then encoded again, on the heap of a request that is often promoted before its answer comes.
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = { ...connection.headers };
    if (options.accept !== undefined) headers.Accept = options.accept;
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(body.length);
    }
    const requestOptions: http.RequestOptions = {
      ...connection.target,
      path: connection.basePath + options.path + queryString(options.query),
      method: options.method,
      agent: connection.agent,
      headers,
      signal,
    };
    const attempt = () =>
      new Promise<{ response: http.IncomingMessage } | { error: Error; reusedSocket: boolean }>((resolve) => {
        const req = connection.module.request(requestOptions);
        inFlight.request = req;
        if (inFlight.endedBy) req.destroy(inFlight.endedBy);
        req.once('response', (response) => resolve({ response }));
        req.once('error', (error) => resolve({ error, reusedSocket: req.reusedSocket }));
        req.end(body);
      });
    let outcome = await attempt();
    // A kept-alive socket the server closed while idle fails on first use without the request being processed:
    // node's documented remedy is one retry on a fresh socket.
    if (
      'error' in outcome &&
      outcome.reusedSocket &&
      (outcome.error as NodeJS.ErrnoException).code === 'ECONNRESET'
    ) {
      outcome = await attempt();
    }
    const host = this.hostLabel();
    if ('error' in outcome) {
      this.metrics.requests.inc({ code: '<error>', method: options.method, host });
      throw outcome.error;
    }
    // Rejected credentials: the next request reads them afresh instead of reusing the cached ones.
    if (outcome.response.statusCode === 401) this.cachedConnection = undefined;
    this.metrics.requests.inc({
      code: String(outcome.response.statusCode ?? 0),
      method: options.method,
      host,
    });
    return outcome.response;
  }

  /**
   * The server, agent and auth headers for the next request, rebuilt at most every credentialsTtlMs and after a
   * 401. client-node's applyToHTTPSOptions re-reads token and certificate files and builds a throw-away
   * https.Agent on every call, which showed in the controller's profile at a few hundred writes per second; a
   * short cache still follows rotated tokens and certificates promptly (client-go caches a service account token
   * file for a minute).
   */
  private connection(): Promise<Connection> {
    const now = performance.now();
    if (this.cachedConnection && now < this.cachedConnection.expiresAt) return this.cachedConnection.value;
    const value = this.buildConnection();
    const entry: CachedConnection = { value, expiresAt: now + this.credentialsTtlMs };
    this.cachedConnection = entry;
    value.then(
      (built) => (entry.built = built),
      // A failure (e.g. an exec plugin error) is not cached: the next request tries again.
      () => {
        if (this.cachedConnection === entry) this.cachedConnection = undefined;
      },
    );
    return value;
  }

  /** The cached connection when it is built and still fresh: most requests go without awaiting connection(). */
  private currentConnection(): Connection | undefined {
    const cached = this.cachedConnection;
    return cached?.built && performance.now() < cached.expiresAt ? cached.built : undefined;
  }

  /**
   * Auth headers from the kubeconfig (tokens rotate); the agent is reused as long as the TLS material it was built
   * with is unchanged, and replaced when a rotated client certificate or CA shows up.
   */
  private async buildConnection(): Promise<Connection> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster)
      throw new Error(
        `kubeconfig: current-context "${this.kubeConfig.getCurrentContext()}" names no cluster`,
      );
    const options: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(options);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    if (options.auth) headers.Authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;

    const tls: https.AgentOptions = {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      pfx: options.pfx,
      passphrase: options.passphrase,
      servername: options.servername,
      ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    };
    const fingerprint = fingerprintOf(cluster.server, cluster.proxyUrl, tls);
    if (!this.agent || fingerprint !== this.agentFingerprint) {
      if (this.agent) this.retireAgent(this.agent);
      if (cluster.proxyUrl) {
        // client-node already built the right proxy agent; keep that one instance instead of one per request.
        this.agent = options.agent as http.Agent;
      } else if (cluster.server.startsWith('http:')) {
        this.agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 30_000 });
      } else {
        // One TLS context for every connection of the agent: given only ca/cert/key, node builds a context per
        // connection, and the agent prints the CA and key into every request's pool name.
        const { ca, cert, key, pfx, passphrase, ...connect } = tls;
        this.agent = new https.Agent({
          ...connect,
          secureContext: createSecureContext({ ca, cert, key, pfx, passphrase }),
          keepAlive: true,
          keepAliveMsecs: 30_000,
        });
      }
      this.agentFingerprint = fingerprint;
    }
    headers.Accept = 'application/json';
    headers['User-Agent'] = this.userAgent;
    const server = new URL(cluster.server);
    return {
      module: server.protocol === 'http:' ? http : https,
      target: requestTarget(server),
      basePath: server.pathname.replace(/\/+$/, ''),
      agent: this.agent,
      headers,
    };
  }

  private retireAgent(agent: http.Agent): void {
    // Watches on the old agent keep running until their next restart; idle sockets go now.
    for (const sockets of Object.values(agent.freeSockets))
      for (const socket of sockets ?? []) socket.destroy();
    this.retiredAgents.push(agent);
    if (this.retiredAgents.length > 4) this.retiredAgents.shift()?.destroy();
  }
}

function fingerprintOf(server: string, proxyUrl: string | undefined, tls: https.AgentOptions): string {
  const hash = createHash('sha256');
  hash.update(`${server}\0${proxyUrl ?? ''}\0${tls.servername ?? ''}\0${String(tls.rejectUnauthorized)}\0`);
  for (const part of [tls.ca, tls.cert, tls.key, tls.pfx, tls.passphrase]) {
    const values = Array.isArray(part) ? part : [part];
    for (const value of values) {
      if (value === undefined) hash.update('\0-');
      else if (typeof value === 'string' || Buffer.isBuffer(value)) hash.update(value);
      else hash.update(JSON.stringify(value));
      hash.update('\0');
    }
  }
  return hash.digest('hex');
}

/** What node's urlToHttpOptions takes from a URL for a request, without the path. */
function requestTarget(url: URL): Connection['target'] {
  const target: Connection['target'] = {
    protocol: url.protocol,
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
  };
  if (url.port !== '') target.port = Number(url.port);
  if (url.username || url.password)
    target.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return target;
}

function hostOf(server: string): string {
  return parseUrl(server)?.host ?? '';
}

/** `?name=value&...` of the defined values, encoded as URLSearchParams encodes them; '' when there are none. */
function queryString(query: Query | undefined): string {
  let text = '';
  for (const name in query) {
    const value = query[name];
    if (value !== undefined) text += `${text ? '&' : '?'}${formEncoded(name)}=${formEncoded(String(value))}`;
  }
  return text;
}

/** What URLSearchParams leaves as it is (application/x-www-form-urlencoded). */
const FORM_SAFE = /^[A-Za-z0-9*._-]*$/;

/**
 * One name or value as URLSearchParams writes it. Most (a field manager, a number, a resourceVersion) need no
 * encoding, and a URLSearchParams per request showed in the controller's profile.
 */
function formEncoded(text: string): string {
  return FORM_SAFE.test(text) ? text : new URLSearchParams([['', text]]).toString().slice(1);
}

/** The whole body as text, decoded once; rejects when the response ends before it is complete. */
function readBody(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.once('end', () =>
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    response.once('error', reject);
    response.once('close', () => {
      if (!response.complete) reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
  });
}
