/**
 * The resource client (./resource.ts): paths, verbs, content types, preconditions, paging, watch framing and the
 * API errors, against a scripted server on loopback.
 */
import { ApiError, isAlreadyExists, isConflict, isGone, isInvalid, isNotFound } from './errors.js';
import { json, scriptedApiServer } from '../../test/support/scripted-api-server.js';

const api = scriptedApiServer();

const configMaps = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };
const gnps = {
  group: 'projectcalico.org',
  version: 'v3',
  plural: 'globalnetworkpolicies',
  namespaced: false,
};

describe('ResourceClient', () => {
  it('builds namespaced and cluster-scoped paths and refuses the wrong scope', async () => {
    api.handler = (req, res) => json(res, 200, { metadata: { name: 'x' } });
    const client = api.newClient();
    await client.resource(configMaps).get('cfg', { namespace: 'ns' });
    await client.resource(gnps).get('default.allow');
    expect(api.requests.map((r) => r.url)).toEqual([
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
    api.handler = (req, res) => {
      const [status, body] = statuses[req.url] ?? [500, {}];
      if (typeof body === 'string') res.writeHead(status).end(body);
      else json(res, status, body);
    };
    const client = api.newClient();
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
    api.handler = (req, res) => {
      const url = new URL(req.url, 'http://x');
      const page = url.searchParams.get('continue');
      json(res, 200, {
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: page ? { resourceVersion: '42' } : { resourceVersion: '42', continue: 'next' },
        items: [{ metadata: { name: page ? 'b' : 'a', namespace: 'ns' } }],
      });
    };
    const client = api.newClient();
    const result = await client
      .resource(configMaps)
      .listAll({ namespace: 'ns', labelSelector: 'app=web', limit: 1 });
    expect(result.resourceVersion).toBe('42');
    expect(result.items).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'ns' } },
    ]);
    expect(api.requests.map((r) => r.url)).toEqual([
      '/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dweb&limit=1',
      '/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dweb&limit=1&continue=next',
    ]);
    client.close();
  });

  it('writes with the right verbs, content types, fieldManager and preconditions', async () => {
    api.handler = (req, res) => json(res, 200, req.body ? JSON.parse(req.body) : {});
    const client = api.newClient();
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
    expect(api.requests.map((r) => [r.method, r.url, r.headers['content-type']])).toEqual([
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
    expect(JSON.parse(api.requests[1]!.body)).toEqual({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' });
    expect(JSON.parse(api.requests[5]!.body)).toEqual({
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
    api.handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
      // Cut mid-line to prove the framing does not depend on chunk boundaries.
      res.write(text.slice(0, 17));
      setTimeout(() => res.end(text.slice(17)), 5);
    };
    const client = api.newClient();
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
    expect(api.requests[0]?.url).toBe(
      '/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion=9&allowWatchBookmarks=true&timeoutSeconds=300',
    );
    client.close();
  });

  it('ends a watch cleanly when the server closes the stream, and closes it when the signal aborts', async () => {
    api.handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }) + '\n');
    };
    const client = api.newClient();
    const events = [];
    for await (const event of client.resource(configMaps).watch({ namespace: 'ns' })) events.push(event);
    expect(events).toHaveLength(1);

    api.handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).flushHeaders();
    const abort = new AbortController();
    const watching = (async () => {
      for await (const _ of client.resource(configMaps).watch({ namespace: 'ns', signal: abort.signal }))
        void _;
    })();
    setTimeout(() => abort.abort(), 10);
    await expect(watching).rejects.toThrow(/abort/i);
    client.close();
  });
});
