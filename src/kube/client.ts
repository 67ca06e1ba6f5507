/**
 * A small raw-JSON REST client for any resource, on node:https with ONE keep-alive agent for the whole process.
 *
 * Why not client-node's generated APIs: they return model classes (the core works on wire JSON), and they open a
 * new https.Agent, so a new TCP+TLS connection, for every request (kubernetes-client/javascript#2893).
 * client-node still does what it is good at: reading kubeconfigs and producing the auth headers and TLS material
 * (`applyToHTTPSOptions`), including exec plugins and the rotating in-cluster token.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../api/kube.js';
import { counter, histogram, perRegistry, sharedRegistry, type Registry } from '../observability/metrics.js';
import { ApiError, type Status } from './errors.js';

export { KubeConfig };

// ---------------------------------------------------------------------------------------------------------------
// Loading a kubeconfig

export interface KubeConfigSource {
  /** An explicit kubeconfig file (`--kubeconfig`). */
  path?: string;
  /** A context of that file other than its current-context (`--context`). */
  context?: string;
  /** The pod's service account (`KUBERNETES_SERVICE_HOST` + the mounted token). */
  inCluster?: boolean;
}

/**
 * Loads the kubeconfig the way kubectl finds it: an explicit path, else in-cluster when asked, else `KUBECONFIG`,
 * `~/.kube/config`, then the in-cluster service account. Throws when none of those exists (client-node would
 * silently fall back to http://localhost:8080).
 */
export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  const kc = new KubeConfig();
  if (source.path) {
    kc.loadFromFile(source.path);
  } else if (source.inCluster) {
    if (!process.env.KUBERNETES_SERVICE_HOST) {
      throw new Error(
        'in-cluster config requested but KUBERNETES_SERVICE_HOST is not set (not running in a pod?)',
      );
    }
    kc.loadFromCluster();
  } else {
    const found = findDefaultKubeConfig();
    if (!found) {
      throw new Error(
        'no kubeconfig: set KUBECONFIG, create ~/.kube/config, pass --kubeconfig, or run in a pod',
      );
    }
    return withContext(found, source.context);
  }
  return withContext(kc, source.context);
}

/** The kubeconfig kubectl would use, or undefined when there is none (so the caller can start a local one). */
export function findDefaultKubeConfig(): KubeConfig | undefined {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  // loadFromDefault's last resort is a made-up cluster named "cluster" at http://localhost:8080.
  if (!cluster || (cluster.name === 'cluster' && cluster.server === 'http://localhost:8080'))
    return undefined;
  return kc;
}

function withContext(kc: KubeConfig, context: string | undefined): KubeConfig {
  if (context) {
    if (!kc.getContextObject(context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(
        `--context: no context "${context}" in the kubeconfig (it has: ${known.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(`kubeconfig: current-context "${kc.getCurrentContext()}" names no cluster`);
  }
  return kc;
}

/** The namespace of the kubeconfig's current context (in a pod: the pod's namespace), or `fallback`. */
export function currentNamespace(kc: KubeConfig, fallback = 'default'): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || fallback;
}

// ---------------------------------------------------------------------------------------------------------------
// Wire types

export interface ResourceRef {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  /** Used for list items when the list response does not say (e.g. 'ConfigMap'). */
  kind?: string;
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: T[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

/** A watch event. ERROR events are not yielded: the watch throws them as ApiError. */
export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
  platform?: string;
  [field: string]: unknown;
}

export interface ApiGroupInfo {
  /** '' for the core group. */
  name: string;
  versions: string[];
  preferredVersion: string | undefined;
}

export interface ApiResourceInfo {
  name: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. /apis/coordination.k8s.io/v1/namespaces/x/leases/y */
  path: string;
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Overrides the client's request timeout; 0 disables it (watches). */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// The client

export interface KubeClientOptions {
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

interface Connection {
  server: URL;
  agent: http.Agent;
  headers: Record<string, string>;
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly fieldManager: string;
  private readonly userAgent: string;
  private readonly requestTimeoutMs: number;
  private readonly credentialsTtlMs: number;
  private readonly metrics: ReturnType<typeof restMetrics>;
  private agent: http.Agent | undefined;
  private agentFingerprint = '';
  /** The last connection and when it must be rebuilt; see connection(). */
  private cachedConnection: { value: Promise<Connection>; expiresAt: number } | undefined;
  private readonly retiredAgents: http.Agent[] = [];

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    this.kubeConfig = kubeConfig;
    this.fieldManager = options.fieldManager ?? 'calico-vpc-operator';
    this.userAgent = options.userAgent ?? 'calico-vpc-operator';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.credentialsTtlMs = options.credentialsTtlMs ?? 10_000;
    this.metrics = restMetrics(options.registry ?? sharedRegistry());
  }

  resource<T extends KubeObject = KubeObject>(ref: ResourceRef): ResourceClient<T> {
    return new ResourceClient<T>(this, ref);
  }

  /** GET /version */
  serverVersion(signal?: AbortSignal): Promise<ServerVersion> {
    return this.request<ServerVersion>({ method: 'GET', path: '/version', signal });
  }

  /** Every served API group with its versions, the core group ('') first. */
  async apiGroups(signal?: AbortSignal): Promise<ApiGroupInfo[]> {
    const core = await this.request<{ versions?: string[] }>({ method: 'GET', path: '/api', signal });
    const groups = await this.request<{
      groups?: { name: string; versions?: { version: string }[]; preferredVersion?: { version: string } }[];
    }>({ method: 'GET', path: '/apis', signal });
    return [
      { name: '', versions: core.versions ?? [], preferredVersion: core.versions?.[0] },
      ...(groups.groups ?? []).map((group) => ({
        name: group.name,
        versions: (group.versions ?? []).map((v) => v.version),
        preferredVersion: group.preferredVersion?.version,
      })),
    ];
  }

  /** The resources of one group/version, or undefined when the server does not serve that group/version. */
  async serverResources(
    group: string,
    version: string,
    signal?: AbortSignal,
  ): Promise<ApiResourceInfo[] | undefined> {
    try {
      const list = await this.request<{ resources?: ApiResourceInfo[] }>({
        method: 'GET',
        path: groupVersionPath(group, version),
        signal,
      });
      return list.resources ?? [];
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Whether `plural` is served in group/version. Other failures (e.g. an aggregated API that is down) throw. */
  async hasResource(group: string, version: string, plural: string, signal?: AbortSignal): Promise<boolean> {
    const resources = await this.serverResources(group, version, signal);
    return resources?.some((r) => r.name === plural) ?? false;
  }

  /** Sends a request and returns the parsed JSON body (undefined for an empty body); non-2xx throws ApiError. */
  async request<R>(options: RequestOptions): Promise<R> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signal = combineSignals(options.signal, timeout);
    const started = performance.now();
    const host = this.host();
    try {
      const response = await this.send(options, signal);
      const text = await readBody(response);
      if (response.statusCode === undefined || response.statusCode < 200 || response.statusCode >= 300) {
        throw ApiError.fromResponse(response.statusCode ?? 0, text, `${options.method} ${options.path}`);
      }
      return (text ? JSON.parse(text) : undefined) as R;
    } catch (err) {
      if (timeout?.aborted && !options.signal?.aborted) {
        const timedOut = new Error(
          `${options.method} ${options.path}: no complete response within ${timeoutMs}ms`,
        );
        timedOut.name = 'TimeoutError';
        throw timedOut;
      }
      throw err;
    } finally {
      this.metrics.duration.observe({ verb: options.method, host }, (performance.now() - started) / 1000);
    }
  }

  /**
   * Opens a streaming GET (a watch) and returns the response once its status is known; non-200 throws ApiError.
   * The caller reads the body and must destroy it (or abort `signal`) when done.
   */
  async openStream(path: string, query: Query, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const response = await this.send({ method: 'GET', path, query }, signal);
    if (response.statusCode !== 200) {
      const text = await readBody(response);
      throw ApiError.fromResponse(response.statusCode ?? 0, text, `WATCH ${path}`);
    }
    return response;
  }

  /** Closes the pooled connections (in-flight requests fail). */
  close(): void {
    this.agent?.destroy();
    for (const agent of this.retiredAgents.splice(0)) agent.destroy();
    this.agent = undefined;
    this.agentFingerprint = '';
    this.cachedConnection = undefined;
  }

  private host(): string {
    try {
      return new URL(this.kubeConfig.getCurrentCluster()?.server ?? '').host;
    } catch {
      return '';
    }
  }

  private async send(
    options: RequestOptions,
    signal: AbortSignal | undefined,
  ): Promise<http.IncomingMessage> {
    const connection = await this.connection();
    const url = new URL(connection.server.href.replace(/\/+$/, '') + options.path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {
      ...connection.headers,
      Accept: 'application/json',
      'User-Agent': this.userAgent,
    };
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const attempt = () =>
      new Promise<{ response: http.IncomingMessage } | { error: Error; reusedSocket: boolean }>((resolve) => {
        const transport = url.protocol === 'http:' ? http : https;
        const req = transport.request(url, {
          method: options.method,
          agent: connection.agent,
          headers,
          signal,
        });
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
    const host = url.host;
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
    const entry = { value, expiresAt: now + this.credentialsTtlMs };
    this.cachedConnection = entry;
    // A failure (e.g. an exec plugin error) is not cached: the next request tries again.
    value.catch(() => {
      if (this.cachedConnection === entry) this.cachedConnection = undefined;
    });
    return value;
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
        this.agent = new https.Agent({ ...tls, keepAlive: true, keepAliveMsecs: 30_000 });
      }
      this.agentFingerprint = fingerprint;
    }
    return { server: new URL(cluster.server), agent: this.agent, headers };
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

function combineSignals(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}

async function readBody(response: http.IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response) text += chunk as string;
  return text;
}

function groupVersionPath(group: string, version: string): string {
  return group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
}

export function apiVersionOf(ref: Pick<ResourceRef, 'group' | 'version'>): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

// ---------------------------------------------------------------------------------------------------------------
// One resource

export interface ListOptions {
  /** Omit for all namespaces (namespaced resources only). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the response's metadata.continue fetches the next page. */
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** The server ends the watch after this long (a clean end, not an error). */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** Defaults to the object's metadata.namespace. */
  namespace?: string;
  fieldManager?: string;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export type PatchType = 'merge' | 'json' | 'strategic';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface PatchOptions extends WriteOptions {
  type: PatchType;
  subresource?: 'status';
}

export interface ApplyOptions extends WriteOptions {
  /** Required by server-side apply: the owner of the fields this object sets. */
  fieldManager: string;
  /** Take over fields owned by other managers instead of failing with a 409 conflict. */
  force?: boolean;
  subresource?: 'status';
}

export interface DeleteOptions {
  namespace?: string;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Delete only if the object still has this uid / resourceVersion (409 otherwise). */
  preconditions?: { uid?: string; resourceVersion?: string };
  gracePeriodSeconds?: number;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export class ResourceClient<T extends KubeObject> {
  readonly ref: ResourceRef;
  readonly apiVersion: string;
  private readonly client: KubeClient;

  constructor(client: KubeClient, ref: ResourceRef) {
    this.client = client;
    this.ref = ref;
    this.apiVersion = apiVersionOf(ref);
  }

  /** The collection or object path; namespace is required for namespaced objects, rejected for cluster-scoped. */
  path(namespace: string | undefined, name?: string, subresource?: string): string {
    const { group, version, plural, namespaced } = this.ref;
    if (!namespaced && namespace) {
      throw new Error(`${plural}.${group || 'core'} is cluster-scoped: got namespace "${namespace}"`);
    }
    if (namespaced && name !== undefined && !namespace) {
      throw new Error(
        `${plural}.${group || 'core'} is namespaced: metadata.namespace is required for "${name}"`,
      );
    }
    let path = groupVersionPath(group, version);
    if (namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
    path += `/${plural}`;
    if (name !== undefined) {
      if (!name) throw new Error(`${plural}: metadata.name is required`);
      path += `/${encodeURIComponent(name)}`;
    }
    if (subresource) path += `/${subresource}`;
    return path;
  }

  get(name: string, options: { namespace?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.client.request<T>({
      method: 'GET',
      path: this.path(options.namespace, name),
      signal: options.signal,
    });
  }

  /** One page. Items get apiVersion/kind filled in (the server omits them in lists of built-in types). */
  async list(options: ListOptions = {}): Promise<KubeList<T>> {
    const list = await this.client.request<KubeList<T>>({
      method: 'GET',
      path: this.path(options.namespace),
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit,
        continue: options.continue,
        resourceVersion: options.resourceVersion,
      },
      signal: options.signal,
    });
    const kind = list.kind?.replace(/List$/, '') || this.ref.kind;
    list.items = (list.items ?? []).map((item) => ({ apiVersion: this.apiVersion, kind, ...item }));
    list.metadata ??= {};
    return list;
  }

  /** Every page (default 500 a page); the resourceVersion is the list's, to start a watch from. */
  async listAll(
    options: Omit<ListOptions, 'continue'> = {},
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.list({ limit: 500, ...options, continue: continueToken });
      items.push(...page.items);
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? resourceVersion;
    } while (continueToken);
    return { items, resourceVersion };
  }

  create(object: T, options: WriteOptions = {}): Promise<T> {
    return this.client.request<T>({
      method: 'POST',
      path: this.path(this.namespaceOf(object, options)),
      query: this.writeQuery(options),
      body: this.withTypeMeta(object),
      signal: options.signal,
    });
  }

  /** PUT; with metadata.resourceVersion set, a concurrent change fails with 409 Conflict instead of being lost. */
  update(object: T, options: WriteOptions = {}): Promise<T> {
    return this.put(object, options, undefined);
  }

  updateStatus(object: T, options: WriteOptions = {}): Promise<T> {
    return this.put(object, options, 'status');
  }

  patch(name: string, patch: unknown, options: PatchOptions): Promise<T> {
    return this.client.request<T>({
      method: 'PATCH',
      path: this.path(options.namespace, name, options.subresource),
      query: this.writeQuery(options),
      body: patch,
      contentType: PATCH_CONTENT_TYPES[options.type],
      signal: options.signal,
    });
  }

  /** Server-side apply (the body is JSON, which is YAML). */
  apply(object: T, options: ApplyOptions): Promise<T> {
    return this.client.request<T>({
      method: 'PATCH',
      path: this.path(this.namespaceOf(object, options), object.metadata?.name ?? '', options.subresource),
      query: { ...this.writeQuery(options), force: options.force ? true : undefined },
      body: this.withTypeMeta(object),
      contentType: 'application/apply-patch+yaml',
      signal: options.signal,
    });
  }

  async delete(name: string, options: DeleteOptions = {}): Promise<void> {
    const { preconditions, propagationPolicy, gracePeriodSeconds, dryRun } = options;
    await this.client.request<unknown>({
      method: 'DELETE',
      path: this.path(options.namespace, name),
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(preconditions ? { preconditions } : {}),
        ...(propagationPolicy ? { propagationPolicy } : {}),
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        ...(dryRun ? { dryRun: ['All'] } : {}),
      },
      signal: options.signal,
    });
  }

  /**
   * A watch as an async iterable. It ends when the server ends the stream (timeoutSeconds); an ERROR event
   * (e.g. 410 Expired) throws ApiError; aborting `signal` or leaving the loop closes the connection.
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const response = await this.client.openStream(
      this.path(options.namespace),
      {
        watch: true,
        resourceVersion: options.resourceVersion,
        allowWatchBookmarks: options.allowWatchBookmarks,
        timeoutSeconds: options.timeoutSeconds,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
      options.signal,
    );
    response.setEncoding('utf8');
    let buffered = '';
    try {
      for await (const chunk of response) {
        buffered += chunk as string;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
          if (line) yield this.parseWatchLine(line);
        }
      }
      if (buffered.trim()) yield this.parseWatchLine(buffered.trim());
    } finally {
      response.destroy();
    }
  }

  private parseWatchLine(line: string): WatchEvent<T> {
    const event = JSON.parse(line) as { type: WatchEventType | 'ERROR'; object: unknown };
    if (event.type === 'ERROR')
      throw ApiError.fromStatus(event.object as Status, 500, `WATCH ${this.ref.plural}`);
    return event as WatchEvent<T>;
  }

  private put(object: T, options: WriteOptions, subresource: 'status' | undefined): Promise<T> {
    return this.client.request<T>({
      method: 'PUT',
      path: this.path(this.namespaceOf(object, options), object.metadata?.name ?? '', subresource),
      query: this.writeQuery(options),
      body: this.withTypeMeta(object),
      signal: options.signal,
    });
  }

  private namespaceOf(object: T, options: WriteOptions): string | undefined {
    return options.namespace ?? object.metadata?.namespace;
  }

  private writeQuery(options: WriteOptions): Query {
    return {
      fieldManager: options.fieldManager ?? this.client.fieldManager,
      dryRun: options.dryRun ? 'All' : undefined,
    };
  }

  private withTypeMeta(object: T): T {
    return {
      ...object,
      apiVersion: object.apiVersion ?? this.apiVersion,
      kind: object.kind ?? this.ref.kind,
    };
  }
}
