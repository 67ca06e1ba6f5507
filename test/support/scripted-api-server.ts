/**
 * A scripted HTTP server on loopback for the REST client's unit tests (src/kube/*.test.ts): real sockets, so
 * connection reuse, content types, status parsing and watch framing are tested as they happen on the wire. TLS and
 * auth against a real API server are covered by the integration tests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from '../../src/observability/metrics.js';
import { KubeClient } from '../../src/kube/client.js';

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Handler = (req: Recorded, res: http.ServerResponse) => void;

export interface ScriptedApiServer {
  /** Answers every request; each test sets its own. */
  handler: Handler;
  /** The requests since the test started. */
  readonly requests: Recorded[];
  /** TCP connections accepted since the test started. */
  readonly connections: number;
  readonly port: number;
  /** A client of this server with a bearer token `secret-token` and field manager `test-manager`. */
  newClient(): KubeClient;
}

/** Starts the server for the calling test file (beforeAll) and stops it after (afterAll). */
export function scriptedApiServer(): ScriptedApiServer {
  let server: http.Server;
  let port = 0;
  let connections = 0;
  const requests: Recorded[] = [];
  const api: ScriptedApiServer = {
    handler: () => {
      throw new Error('no handler set');
    },
    requests,
    get connections() {
      return connections;
    },
    get port() {
      return port;
    },
    newClient() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
        users: [{ name: 'u', token: 'secret-token' }],
        contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
        currentContext: 'ctx',
      });
      return new KubeClient(kc, { registry: new Registry(), fieldManager: 'test-manager' });
    },
  };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
        requests.push(recorded);
        api.handler(recorded, res);
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

  return api;
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
