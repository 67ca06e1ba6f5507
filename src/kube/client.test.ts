/**
 * The REST client against a scripted HTTP server on loopback: real sockets, so connection reuse, content types,
 * status parsing and watch framing are tested as they happen on the wire. TLS and auth against a real API server
 * are covered by the integration tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from '../observability/metrics.js';
import { KubeClient } from './client.js';
import { loadKubeConfig } from './config.js';
import { ApiError, isAlreadyExists, isConflict, isGone, isInvalid, isNotFound } from './errors.js';
import { DeadlineSweeper } from './transport.js';

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: Recorded, res: http.ServerResponse) => void;

let server: http.Server;
let port: number;
let connections = 0;
let handler: Handler;
const requests: Recorded[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests.length = 0;
  connections = 0;
});

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function newClient(): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return new KubeClient(kc, { registry: new Registry(), fieldManager: 'test-manager' });
}

const configMaps = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };
const gnps = {
  group: 'projectcalico.org',
  version: 'v3',
  plural: 'globalnetworkpolicies',
  namespaced: false,
};

describe('KubeClient', () => {
  it('reuses one keep-alive connection for sequential requests and sends the bearer token', async () => {
    handler = (_req, res) => json(res, 200, { major: '1', minor: '36', gitVersion: 'v1.36.3' });
    const client = newClient();
    for (let i = 0; i < 5; i++) await client.discovery.serverVersion();
    expect(connections).toBe(1);
    expect(requests[0]?.headers.authorization).toBe('Bearer secret-token');
    expect(requests[0]?.headers.accept).toBe('application/json');
    client.close();
  });

  it('reuses credentials for a while, and reads them afresh after a 401', async () => {
    const client = newClient();
    const user = client.kubeConfig.getCurrentUser() as { token?: string };
    let valid = 'Bearer secret-token';
    handler = (req, res) =>
      req.headers.authorization === valid
        ? json(res, 200, { major: '1', minor: '36', gitVersion: 'v1.36.3' })
        : json(res, 401, { kind: 'Status', reason: 'Unauthorized', code: 401 });
    await client.discovery.serverVersion();
    user.token = 'rotated';
    valid = 'Bearer rotated';
    // Within the TTL the cached (now stale) token is sent, and rejected...
    await expect(client.discovery.serverVersion()).rejects.toMatchObject({ status: 401 });
    // ...which drops the cache: the next request reads the kubeconfig again.
    await expect(client.discovery.serverVersion()).resolves.toMatchObject({ gitVersion: 'v1.36.3' });
    expect(requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer secret-token',
      'Bearer secret-token',
      'Bearer rotated',
    ]);
    client.close();
  });

  it('with no credentials TTL, follows a rotated token on the very next request', async () => {
    handler = (_req, res) => json(res, 200, { major: '1', minor: '36', gitVersion: 'v1.36.3' });
    const kc = newClient().kubeConfig;
    const client = new KubeClient(kc, { registry: new Registry(), credentialsTtlMs: 0 });
    await client.discovery.serverVersion();
    (kc.getCurrentUser() as { token?: string }).token = 'rotated';
    await client.discovery.serverVersion();
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer secret-token', 'Bearer rotated']);
    client.close();
  });

  it('builds namespaced and cluster-scoped paths and refuses the wrong scope', async () => {
    handler = (req, res) => json(res, 200, { metadata: { name: 'x' } });
    const client = newClient();
    await client.resource(configMaps).get('cfg', { namespace: 'ns' });
    await client.resource(gnps).get('default.allow');
    expect(requests.map((r) => r.url)).toEqual([
      '/api/v1/namespaces/ns/configmaps/cfg',
      '/apis/projectcalico.org/v3/globalnetworkpolicies/default.allow',
    ]);
    expect(() => client.resource(configMaps).path(undefined, 'cfg')).toThrow(
      /namespaced: metadata.namespace is required/,
    );
    expect(() => client.resource(gnps).path('ns', 'x')).toThrow(/cluster-scoped/);
    client.close();
  });

  it('throws ApiError with the Status reason, message and field causes', async () => {
    const statuses: Record<string, [number, unknown]> = {
      '/api/v1/namespaces/ns/configmaps/missing': [
        404,
        { kind: 'Status', code: 404, reason: 'NotFound', message: 'configmaps "missing" not found' },
      ],
      '/api/v1/namespaces/ns/configmaps/stale': [
        409,
        { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' },
      ],
      '/api/v1/namespaces/ns/configmaps/twice': [
        409,
        { kind: 'Status', code: 409, reason: 'AlreadyExists', message: 'already exists' },
      ],
      '/api/v1/namespaces/ns/configmaps/bad': [
        422,
        {
          kind: 'Status',
          code: 422,
          reason: 'Invalid',
          message: 'ConfigMap "bad" is invalid: data[x y]: Invalid value',
          details: {
            name: 'bad',
            kind: 'ConfigMap',
            causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value', field: 'data[x y]' }],
          },
        },
      ],
      '/api/v1/namespaces/ns/configmaps/proxy': [502, '<html>bad gateway</html>'],
    };
    handler = (req, res) => {
      const [status, body] = statuses[req.url] ?? [500, {}];
      if (typeof body === 'string') res.writeHead(status).end(body);
      else json(res, status, body);
    };
    const client = newClient();
    const cms = client.resource(configMaps);
    const errorOf = (name: string) =>
      cms.get(name, { namespace: 'ns' }).then(
        () => undefined,
        (err: unknown) => err,
      );

    const missing = await errorOf('missing');
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing).toMatchObject({
      status: 404,
      reason: 'NotFound',
      message: 'configmaps "missing" not found',
    });
    expect(isNotFound(missing)).toBe(true);
    expect(isConflict(await errorOf('stale'))).toBe(true);
    const twice = await errorOf('twice');
    expect([isAlreadyExists(twice), isConflict(twice)]).toEqual([true, false]);
    const bad = (await errorOf('bad')) as ApiError;
    expect(isInvalid(bad)).toBe(true);
    expect(bad.causes).toEqual([
      { reason: 'FieldValueInvalid', message: 'Invalid value', field: 'data[x y]' },
    ]);
    expect(bad.request).toBe('GET /api/v1/namespaces/ns/configmaps/bad');
    const proxy = (await errorOf('proxy')) as ApiError;
    expect(proxy).toMatchObject({ status: 502, reason: 'InternalError' });
    expect(proxy.message).toContain('bad gateway');
    client.close();
  });

  it('lists every page with limit/continue and fills in apiVersion and kind of the items', async () => {
    handler = (req, res) => {
      const url = new URL(req.url, 'http://x');
      const page = url.searchParams.get('continue');
      json(res, 200, {
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: page ? { resourceVersion: '42' } : { resourceVersion: '42', continue: 'next' },
        items: [{ metadata: { name: page ? 'b' : 'a', namespace: 'ns' } }],
      });
    };
    const client = newClient();
    const result = await client
      .resource(configMaps)
      .listAll({ namespace: 'ns', labelSelector: 'app=web', limit: 1 });
    expect(result.resourceVersion).toBe('42');
    expect(result.items).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'ns' } },
    ]);
    expect(requests.map((r) => r.url)).toEqual([
      '/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dweb&limit=1',
      '/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dweb&limit=1&continue=next',
    ]);
    client.close();
  });

  it('writes with the right verbs, content types, fieldManager and preconditions', async () => {
    handler = (req, res) => json(res, 200, req.body ? JSON.parse(req.body) : {});
    const client = newClient();
    const cms = client.resource(configMaps);
    const cm = { metadata: { name: 'cfg', namespace: 'ns', resourceVersion: '5' }, data: { a: '1' } };
    await cms.create(cm);
    await cms.update(cm);
    await cms.updateStatus(cm);
    await cms.patch('cfg', { data: { a: '2' } }, { type: 'merge', namespace: 'ns' });
    await cms.apply(cm, { fieldManager: 'ssa', force: true });
    await cms.delete('cfg', {
      namespace: 'ns',
      preconditions: { resourceVersion: '5' },
      propagationPolicy: 'Background',
    });
    expect(requests.map((r) => [r.method, r.url, r.headers['content-type']])).toEqual([
      ['POST', '/api/v1/namespaces/ns/configmaps?fieldManager=test-manager', 'application/json'],
      ['PUT', '/api/v1/namespaces/ns/configmaps/cfg?fieldManager=test-manager', 'application/json'],
      ['PUT', '/api/v1/namespaces/ns/configmaps/cfg/status?fieldManager=test-manager', 'application/json'],
      [
        'PATCH',
        '/api/v1/namespaces/ns/configmaps/cfg?fieldManager=test-manager',
        'application/merge-patch+json',
      ],
      [
        'PATCH',
        '/api/v1/namespaces/ns/configmaps/cfg?fieldManager=ssa&force=true',
        'application/apply-patch+yaml',
      ],
      ['DELETE', '/api/v1/namespaces/ns/configmaps/cfg', 'application/json'],
    ]);
    expect(JSON.parse(requests[1]!.body)).toEqual({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' });
    expect(JSON.parse(requests[5]!.body)).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { resourceVersion: '5' },
      propagationPolicy: 'Background',
    });
    client.close();
  });

  it('streams watch events split across arbitrary chunks and throws the ERROR event as ApiError', async () => {
    const lines = [
      { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '10' } } },
      { type: 'BOOKMARK', object: { metadata: { resourceVersion: '11' } } },
      {
        type: 'ERROR',
        object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 5 (11)' },
      },
    ];
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
      // Cut mid-line to prove the framing does not depend on chunk boundaries.
      res.write(text.slice(0, 17));
      setTimeout(() => res.end(text.slice(17)), 5);
    };
    const client = newClient();
    const seen: string[] = [];
    let thrown: unknown;
    try {
      for await (const event of client
        .resource(configMaps)
        .watch({ namespace: 'ns', resourceVersion: '9', allowWatchBookmarks: true, timeoutSeconds: 300 })) {
        seen.push(`${event.type} ${event.object.metadata?.resourceVersion}`);
      }
    } catch (err) {
      thrown = err;
    }
    expect(seen).toEqual(['ADDED 10', 'BOOKMARK 11']);
    expect(isGone(thrown)).toBe(true);
    expect(requests[0]?.url).toBe(
      '/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion=9&allowWatchBookmarks=true&timeoutSeconds=300',
    );
    client.close();
  });

  it('ends a watch cleanly when the server closes the stream, and closes it when the signal aborts', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }) + '\n');
    };
    const client = newClient();
    const events = [];
    for await (const event of client.resource(configMaps).watch({ namespace: 'ns' })) events.push(event);
    expect(events).toHaveLength(1);

    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).flushHeaders();
    const abort = new AbortController();
    const watching = (async () => {
      for await (const _ of client.resource(configMaps).watch({ namespace: 'ns', signal: abort.signal }))
        void _;
    })();
    setTimeout(() => abort.abort(), 10);
    await expect(watching).rejects.toThrow(/abort/i);
    client.close();
  });

  it('answers discovery questions, treating a group/version the server does not serve as absent', async () => {
    handler = (req, res) => {
      if (req.url === '/api') return json(res, 200, { versions: ['v1'] });
      if (req.url === '/apis') {
        return json(res, 200, {
          groups: [
            {
              name: 'crd.projectcalico.org',
              versions: [{ version: 'v1' }],
              preferredVersion: { version: 'v1' },
            },
          ],
        });
      }
      if (req.url === '/apis/crd.projectcalico.org/v1') {
        return json(res, 200, {
          resources: [
            { name: 'globalnetworkpolicies', namespaced: false, kind: 'GlobalNetworkPolicy', verbs: ['get'] },
          ],
        });
      }
      if (req.url === '/apis/projectcalico.org/v3')
        return json(res, 503, {
          kind: 'Status',
          code: 503,
          reason: 'ServiceUnavailable',
          message: 'the server is currently unable to handle the request',
        });
      json(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' });
    };
    const client = newClient();
    expect(await client.discovery.apiGroups()).toEqual([
      { name: '', versions: ['v1'], preferredVersion: 'v1' },
      { name: 'crd.projectcalico.org', versions: ['v1'], preferredVersion: 'v1' },
    ]);
    expect(await client.discovery.hasResource('crd.projectcalico.org', 'v1', 'globalnetworkpolicies')).toBe(
      true,
    );
    expect(await client.discovery.hasResource('crd.projectcalico.org', 'v1', 'tiers')).toBe(false);
    expect(await client.discovery.hasResource('example.com', 'v1', 'things')).toBe(false);
    // An aggregated API that is down is not "absent": the caller must not conclude the wrong flavour.
    await expect(
      client.discovery.hasResource('projectcalico.org', 'v3', 'globalnetworkpolicies'),
    ).rejects.toMatchObject({ status: 503 });
    client.close();
  });

  it('bounds a request that gets no answer', async () => {
    handler = () => undefined;
    const kc = newClient().kubeConfig;
    const client = new KubeClient(kc, { registry: new Registry(), requestTimeoutMs: 50 });
    await expect(client.discovery.serverVersion()).rejects.toThrow(/no complete response within 50ms/);
    client.close();
  });

  it('bounds a request whose answer starts but never ends, and leaves finished requests alone', async () => {
    handler = (req, res) => {
      if (req.url === '/version') return res.writeHead(200).write('{"major":'); // never ended
      json(res, 200, {});
    };
    const kc = newClient().kubeConfig;
    const client = new KubeClient(kc, { registry: new Registry(), requestTimeoutMs: 80 });
    // Requests that finish well within their deadline share the timer with the one that does not.
    await Promise.all([1, 2, 3].map(() => client.request({ method: 'GET', path: '/ok' })));
    await expect(client.discovery.serverVersion()).rejects.toThrow(/no complete response within 80ms/);
    await expect(client.request({ method: 'GET', path: '/ok' })).resolves.toEqual({});
    client.close();
  });

  it("ends a request when the caller's signal aborts, and leaves no listener on a long-lived signal", async () => {
    handler = (req, res) => {
      if (req.url === '/version') return; // never answered
      json(res, 200, {});
    };
    const client = newClient();
    const controllerSignal = new AbortController();
    for (let i = 0; i < 20; i++)
      await client.request({ method: 'GET', path: '/ok', signal: controllerSignal.signal });
    expect(getEventListeners(controllerSignal.signal, 'abort')).toHaveLength(0);
    const pending = client.discovery.serverVersion(controllerSignal.signal);
    setTimeout(() => controllerSignal.abort(), 10);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(getEventListeners(controllerSignal.signal, 'abort')).toHaveLength(0);
    client.close();
  });

  it('counts requests in rest_client_requests_total by code and method', async () => {
    handler = (_req, res) => json(res, 200, {});
    const registry = new Registry();
    const client = new KubeClient(newClient().kubeConfig, { registry });
    await client.discovery.serverVersion();
    const values = (await registry.getSingleMetric('rest_client_requests_total')?.get())?.values ?? [];
    expect(values).toEqual([
      expect.objectContaining({
        value: 1,
        labels: { code: '200', method: 'GET', host: `127.0.0.1:${port}` },
      }),
    ]);
    client.close();
  });
});

describe('loadKubeConfig', () => {
  it('names the missing context and lists the known ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const file = join(dir, 'config');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'dev', cluster: 'c', user: 'u' }],
      currentContext: 'dev',
    });
    writeFileSync(file, kc.exportConfig());
    expect(() => loadKubeConfig({ path: file, context: 'prod' })).toThrow(
      '--context: no context "prod" in the kubeconfig (it has: dev)',
    );
    expect(loadKubeConfig({ path: file }).getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    rmSync(dir, { recursive: true });
  });
});

describe('DeadlineSweeper', () => {
  it('expires each deadline once, in time order, and never a cancelled one', async () => {
    const sweeper = new DeadlineSweeper();
    const expired: string[] = [];
    const all = new Promise<void>((resolve) => {
      const expire = (name: string) => () => {
        expired.push(name);
        if (expired.length === 3) resolve();
      };
      sweeper.add(60, expire('late'));
      sweeper.add(20, expire('early'));
      const cancel = sweeper.add(10, expire('cancelled'));
      sweeper.add(40, expire('middle'));
      cancel();
    });
    await all;
    expect(expired).toEqual(['early', 'middle', 'late']);
  });
});
