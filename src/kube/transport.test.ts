/**
 * The transport under the REST client (./transport.ts): one keep-alive connection, credentials reused for a while
 * and read afresh after a 401, a bound on each request, request metrics; against a scripted server on loopback.
 */
import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from '../observability/metrics.js';
import { KubeClient } from './client.js';
import { DeadlineSweeper } from './transport.js';
import { json, scriptedApiServer } from '../../test/support/scripted-api-server.js';

const api = scriptedApiServer();

describe('transport', () => {
  it('reuses one keep-alive connection for sequential requests and sends the bearer token', async () => {
    api.handler = (_req, res) => json(res, 200, { major: '1', minor: '36', gitVersion: 'v1.36.3' });
    const client = api.newClient();
    for (let i = 0; i < 5; i++) await client.discovery.serverVersion();
    expect(api.connections).toBe(1);
    expect(api.requests[0]?.headers.authorization).toBe('Bearer secret-token');
    expect(api.requests[0]?.headers.accept).toBe('application/json');
    client.close();
  });

  it('preconnect opens that many pooled connections, which the next concurrent requests use', async () => {
    api.handler = (_req, res) => json(res, 200, { major: '1', minor: '36', gitVersion: 'v1.36.3' });
    const client = api.newClient();
    const before = api.connections;
    await client.preconnect(4);
    expect(api.connections - before).toBe(4);
    await Promise.all(Array.from({ length: 4 }, () => client.discovery.serverVersion()));
    expect(api.connections - before).toBe(4);
    client.close();
  });

  it('preconnect ignores a server that fails', async () => {
    api.handler = (_req, res) => json(res, 500, { kind: 'Status', code: 500 });
    const client = api.newClient();
    await expect(client.preconnect(2)).resolves.toBeUndefined();
    client.close();
  });

  it('reuses credentials for a while, and reads them afresh after a 401', async () => {
    const client = api.newClient();
    const user = client.kubeConfig.getCurrentUser() as { token?: string };
    let valid = 'Bearer secret-token';
    api.handler = (req, res) =>
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
    expect(api.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer secret-token',
      'Bearer secret-token',
      'Bearer rotated',
    ]);
    client.close();
  });

  it('with no credentials TTL, follows a rotated token on the very next request', async () => {
    api.handler = (_req, res) => json(res, 200, { major: '1', minor: '36', gitVersion: 'v1.36.3' });
    const kc = api.newClient().kubeConfig;
    const client = new KubeClient(kc, { registry: new Registry(), credentialsTtlMs: 0 });
    await client.discovery.serverVersion();
    (kc.getCurrentUser() as { token?: string }).token = 'rotated';
    await client.discovery.serverVersion();
    expect(api.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer secret-token',
      'Bearer rotated',
    ]);
    client.close();
  });

  it('bounds a request that gets no answer', async () => {
    api.handler = () => undefined;
    const kc = api.newClient().kubeConfig;
    const client = new KubeClient(kc, { registry: new Registry(), requestTimeoutMs: 50 });
    await expect(client.discovery.serverVersion()).rejects.toThrow(/no complete response within 50ms/);
    client.close();
  });

  it('bounds a request whose answer starts but never ends, and leaves finished requests alone', async () => {
    api.handler = (req, res) => {
      if (req.url === '/version') return void res.writeHead(200).write('{"major":'); // never ended
      json(res, 200, {});
    };
    const kc = api.newClient().kubeConfig;
    const client = new KubeClient(kc, { registry: new Registry(), requestTimeoutMs: 80 });
    // Requests that finish well within their deadline share the timer with the one that does not.
    await Promise.all([1, 2, 3].map(() => client.request({ method: 'GET', path: '/ok' })));
    await expect(client.discovery.serverVersion()).rejects.toThrow(/no complete response within 80ms/);
    await expect(client.request({ method: 'GET', path: '/ok' })).resolves.toEqual({});
    client.close();
  });

  it("ends a request when the caller's signal aborts, and leaves no listener on a long-lived signal", async () => {
    api.handler = (req, res) => {
      if (req.url === '/version') return; // never answered
      json(res, 200, {});
    };
    const client = api.newClient();
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

  it('adds one listener to a signal shared by many requests in flight, and removes it when they end', async () => {
    const waiting: (() => void)[] = [];
    api.handler = (_req, res) => waiting.push(() => json(res, 200, {}));
    const client = api.newClient();
    const controllerSignal = new AbortController();
    const requests = Array.from({ length: 16 }, () =>
      client.request({ method: 'GET', path: '/ok', signal: controllerSignal.signal }),
    );
    let listenersInFlight: number;
    try {
      while (waiting.length < 16) await new Promise((resolve) => setTimeout(resolve, 5));
      listenersInFlight = getEventListeners(controllerSignal.signal, 'abort').length;
    } finally {
      for (const answer of waiting) answer();
      await Promise.allSettled(requests);
      client.close();
    }
    // A listener per request would be 16 here, and Node warns of a leak above 10.
    expect(listenersInFlight).toBe(1);
    expect(getEventListeners(controllerSignal.signal, 'abort')).toHaveLength(0);
  });

  it("puts every path under the server URL's own path, and encodes the query", async () => {
    api.handler = (_req, res) => json(res, 200, {});
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: 'c', server: `http://127.0.0.1:${api.port}/k8s/clusters/c-1//`, skipTLSVerify: true },
      ],
      users: [{ name: 'u', token: 'secret-token' }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    const client = new KubeClient(kc, { registry: new Registry() });
    const before = api.requests.length;
    await client.request({
      method: 'GET',
      path: '/api/v1/pods',
      query: { labelSelector: 'app in (a b),tier!=x', limit: 5, continue: undefined, watch: true },
    });
    await client.request({ method: 'GET', path: '/version', query: {} });
    client.close();
    expect(api.requests.slice(before).map((r) => r.url)).toEqual([
      '/k8s/clusters/c-1/api/v1/pods?labelSelector=app+in+%28a+b%29%2Ctier%21%3Dx&limit=5&watch=true',
      '/k8s/clusters/c-1/version',
    ]);
  });

  it('sends a JSON body whose Content-Length counts bytes, not characters', async () => {
    api.handler = (_req, res) => json(res, 201, {});
    const client = api.newClient();
    const before = api.requests.length;
    const body = { metadata: { name: 'x', annotations: { note: 'zoné ☃ 𝄞' } }, spec: { order: 500 } };
    await client.request({ method: 'POST', path: '/apis/x', body });
    client.close();
    const [sent] = api.requests.slice(before);
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.headers['content-length']).toBe(String(Buffer.byteLength(JSON.stringify(body))));
    expect(JSON.parse(sent!.body)).toEqual(body);
  });

  it('counts requests in rest_client_requests_total by code and method', async () => {
    api.handler = (_req, res) => json(res, 200, {});
    const registry = new Registry();
    const client = new KubeClient(api.newClient().kubeConfig, { registry });
    await client.discovery.serverVersion();
    const values = (await registry.getSingleMetric('rest_client_requests_total')?.get())?.values ?? [];
    expect(values).toEqual([
      expect.objectContaining({
        value: 1,
        labels: { code: '200', method: 'GET', host: `127.0.0.1:${api.port}` },
      }),
    ]);
    client.close();
  });
});

describe('transport over TLS', () => {
  const fixture = (name: string) => readFileSync(join(process.cwd(), 'test', 'fixtures', 'tls', name));
  const base64 = (name: string) => fixture(name).toString('base64');
  let server: https.Server;
  let port = 0;
  let connections = 0;
  const clients: string[] = [];

  beforeAll(async () => {
    // Answers only clients presenting a certificate signed by the CA.
    server = https.createServer(
      {
        key: fixture('server.key'),
        cert: fixture('server.crt'),
        ca: fixture('ca.crt'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        clients.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ major: '1', minor: '36', gitVersion: 'v1.36.3' }));
      },
    );
    server.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const clientOf = (caFile: string, user: Record<string, string>) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: base64(caFile) }],
      users: [{ name: 'u', ...user }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    return new KubeClient(kc, { registry: new Registry() });
  };

  it("presents the kubeconfig's client certificate, verifies the server by its CA, and keeps one connection", async () => {
    connections = 0;
    clients.length = 0;
    const client = clientOf('ca.crt', { certData: base64('client.crt'), keyData: base64('client.key') });
    for (let i = 0; i < 3; i++) await client.discovery.serverVersion();
    await Promise.all([1, 2, 3].map(() => client.discovery.serverVersion()));
    client.close();
    expect(clients).toEqual(Array(6).fill('transport-test-client'));
    // Three requests at once open up to three connections; the sequential ones before reuse the first.
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(connections).toBeLessThanOrEqual(3);
  });

  it('refuses a server its CA did not sign, and sends nothing without a client certificate the server takes', async () => {
    clients.length = 0;
    const wrongCa = clientOf('other-ca.crt', {
      certData: base64('client.crt'),
      keyData: base64('client.key'),
    });
    await expect(wrongCa.discovery.serverVersion()).rejects.toThrow(
      /self-signed|unable to verify|signature/i,
    );
    wrongCa.close();
    const noCert = clientOf('ca.crt', { token: 'secret-token' });
    await expect(noCert.discovery.serverVersion()).rejects.toThrow();
    noCert.close();
    expect(clients).toEqual([]);
  });
});

describe('DeadlineSweeper', () => {
  it('expires each deadline once, in time order, and never a cancelled one', async () => {
    const sweeper = new DeadlineSweeper();
    const expired: string[] = [];
    await new Promise<void>((resolve) => {
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
    expect(expired).toEqual(['early', 'middle', 'late']);
  });
});
