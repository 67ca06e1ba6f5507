import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { IbmCloudError } from './errors.js';
import { httpDependencies, requestWithRetry, retryPolicy, type HttpRequest } from './http.js';
import { describeProxy, fetchFromEnvironment, proxiedFetch, proxySettingsFrom } from './proxy.js';

const tlsFixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/tls/${name}`, import.meta.url));
const ca = tlsFixture('ca.crt');

/** Listens on 127.0.0.1 and returns the port. */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Answers every request with what it received, as JSON. */
function echo(request: IncomingMessage, respond: (status: number, body: string) => void): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () =>
    respond(
      200,
      JSON.stringify({
        method: request.method,
        path: request.url,
        header: request.headers['x-test'],
        body: Buffer.concat(chunks).toString('utf8'),
      }),
    ),
  );
}

/**
 * A forward proxy: CONNECT tunnels to the port asked (127.0.0.1 only), or answers `refuse` to each CONNECT.
 * Records what it was asked, tunnels and plain requests alike.
 */
class TunnelProxy {
  readonly connects: { target: string; authorization: string | undefined }[] = [];
  readonly plainRequests: string[] = [];
  refuse: number | undefined;
  private readonly sockets = new Set<Socket>();
  readonly server = createHttpServer((request, response) => {
    this.plainRequests.push(`${request.method} ${request.url}`);
    response.writeHead(502).end();
  });

  constructor() {
    this.server.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
      this.connects.push({
        target: request.url ?? '',
        authorization: request.headers['proxy-authorization'],
      });
      if (this.refuse !== undefined) {
        client.end(`HTTP/1.1 ${this.refuse} Refused\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      const port = Number((request.url ?? '').split(':').pop());
      const upstream = connect(port, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.sockets.delete(socket));
      }
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await close(this.server);
  }
}

describe('proxySettingsFrom', () => {
  it('reads HTTPS_PROXY before https_proxy and NO_PROXY before no_proxy, like Go', () => {
    expect(
      proxySettingsFrom({
        HTTPS_PROXY: 'http://upper:3128',
        https_proxy: 'http://lower:3128',
        NO_PROXY: '.internal',
        no_proxy: 'ignored',
      }),
    ).toEqual({ httpsProxy: 'http://upper:3128', noProxy: '.internal' });
    expect(proxySettingsFrom({ https_proxy: ' http://lower:3128 ', no_proxy: 'a,b' })).toEqual({
      httpsProxy: 'http://lower:3128',
      noProxy: 'a,b',
    });
  });

  it('reads a proxy without a scheme as http://, as Go does', () => {
    expect(proxySettingsFrom({ HTTPS_PROXY: 'proxy.corp:3128' })?.httpsProxy).toBe('http://proxy.corp:3128');
    expect(proxySettingsFrom({ HTTPS_PROXY: 'HTTPS://proxy.corp' })?.httpsProxy).toBe('HTTPS://proxy.corp');
  });

  it('is undefined without an https proxy: empty values and HTTP_PROXY alone do not count', () => {
    expect(proxySettingsFrom({})).toBeUndefined();
    expect(proxySettingsFrom({ HTTPS_PROXY: '', https_proxy: '  ' })).toBeUndefined();
    expect(proxySettingsFrom({ HTTP_PROXY: 'http://proxy:3128', NO_PROXY: 'x' })).toBeUndefined();
  });
});

describe('describeProxy', () => {
  it('keeps scheme, host and port, never the credentials', () => {
    expect(describeProxy('http://user:s3cret@proxy.example:3128/')).toBe('http://proxy.example:3128');
    expect(describeProxy('not a url with s3cret')).toBe('(not a URL)');
  });
});

describe('fetchFromEnvironment', () => {
  it('shares one proxied fetch per proxy setting, and uses none without a proxy', () => {
    const proxied = fetchFromEnvironment({ HTTPS_PROXY: 'http://127.0.0.1:9' });
    expect(fetchFromEnvironment({ HTTPS_PROXY: 'http://127.0.0.1:9' })).toBe(proxied);
    expect(fetchFromEnvironment({ HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: 'x' })).not.toBe(proxied);
    expect(fetchFromEnvironment({})).toBe(fetchFromEnvironment({ HTTP_PROXY: 'http://127.0.0.1:9' }));
  });
});

describe('IBM Cloud requests through an HTTPS proxy (real sockets: a TLS server and a CONNECT proxy)', () => {
  let target: Server;
  let targetPort: number;
  let plainTarget: Server;
  let plainPort: number;
  let proxy: TunnelProxy;
  let proxyPort: number;

  beforeAll(async () => {
    target = createHttpsServer(
      { key: tlsFixture('server.key'), cert: tlsFixture('server.crt') },
      (req, res) =>
        echo(req, (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(body)),
    );
    targetPort = await listen(target);
    plainTarget = createHttpServer((req, res) =>
      echo(req, (status, body) => res.writeHead(status).end(body)),
    );
    plainPort = await listen(plainTarget);
    proxy = new TunnelProxy();
    proxyPort = await listen(proxy.server);
  });

  afterAll(async () => {
    await proxy.stop();
    await close(target);
    await close(plainTarget);
  });

  beforeEach(() => {
    proxy.connects.length = 0;
    proxy.plainRequests.length = 0;
    proxy.refuse = undefined;
  });

  const request = (url: string): HttpRequest => ({
    service: 'the VPC API',
    url: new URL(url),
    method: 'POST',
    headers: { 'x-test': 'kept', 'content-type': 'application/json' },
    body: '{"hello":"vpc"}',
    secrets: ['api-key-secret'],
  });
  const send = (fetch: typeof globalThis.fetch, url: string) =>
    requestWithRetry(request(url), {
      deps: httpDependencies({ fetch }),
      retry: retryPolicy({ maxAttempts: 1 }),
      timeoutMs: 5_000,
      signal: undefined,
    });

  it('tunnels an https request through the proxy, with the proxy credentials, and keeps it whole', async () => {
    const fetch = proxiedFetch(
      { httpsProxy: `http://ops:pr%40xy@127.0.0.1:${proxyPort}`, noProxy: undefined },
      { ca },
    );
    const answer = await send(fetch, `https://127.0.0.1:${targetPort}/v1/vpcs/r006/address_prefixes`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      method: 'POST',
      path: '/v1/vpcs/r006/address_prefixes',
      header: 'kept',
      body: '{"hello":"vpc"}',
    });
    expect(proxy.connects).toEqual([
      {
        target: `127.0.0.1:${targetPort}`,
        authorization: `Basic ${Buffer.from('ops:pr@xy').toString('base64')}`,
      },
    ]);
  });

  it('goes direct to a host NO_PROXY names', async () => {
    const fetch = proxiedFetch(
      { httpsProxy: `http://127.0.0.1:${proxyPort}`, noProxy: 'example.com,127.0.0.1' },
      { ca },
    );
    const answer = await send(fetch, `https://127.0.0.1:${targetPort}/identity/token`);
    expect(answer.status).toBe(200);
    expect(proxy.connects).toEqual([]);
  });

  it('never proxies plain http (loopback only), as Go does not', async () => {
    const fetch = proxiedFetch({ httpsProxy: `http://127.0.0.1:${proxyPort}`, noProxy: undefined }, { ca });
    const answer = await send(fetch, `http://127.0.0.1:${plainPort}/identity/token`);
    expect(JSON.parse(answer.body)).toMatchObject({ path: '/identity/token', body: '{"hello":"vpc"}' });
    expect(proxy.connects).toEqual([]);
    expect(proxy.plainRequests).toEqual([]);
  });

  it('refuses a proxy that is not http:// or https://, saying so without its credentials', async () => {
    const fetch = proxiedFetch(
      { httpsProxy: 'socks5://ops:s3cret@127.0.0.1:1080', noProxy: undefined },
      { ca },
    );
    const error = await send(fetch, `https://127.0.0.1:${targetPort}/v1/vpcs`).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(IbmCloudError);
    expect((error as Error).message).toContain(
      'HTTPS_PROXY socks5://127.0.0.1:1080 is not an http:// or https:// proxy',
    );
    expect((error as Error).message).not.toContain('s3cret');
    expect(proxy.connects).toEqual([]);
  });

  it('reports a proxy that refuses the tunnel as Unreachable, naming the service and the cause', async () => {
    proxy.refuse = 407;
    const fetch = proxiedFetch(
      { httpsProxy: `http://ops:api-key-secret@127.0.0.1:${proxyPort}`, noProxy: undefined },
      { ca },
    );
    const error = await send(fetch, `https://127.0.0.1:${targetPort}/v1/vpcs`).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(IbmCloudError);
    expect((error as IbmCloudError).kind).toBe('Unreachable');
    expect((error as Error).message).toContain(`cannot reach the VPC API at https://127.0.0.1:${targetPort}`);
    expect((error as Error).message).toContain('407');
    expect((error as Error).message).not.toContain('api-key-secret');
    expect(proxy.connects).toHaveLength(1);
  });
});
