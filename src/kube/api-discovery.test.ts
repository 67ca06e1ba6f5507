/** API discovery (./api-discovery.ts) against a scripted server on loopback. */
import { json, scriptedApiServer } from '../../test/support/scripted-api-server.js';

const api = scriptedApiServer();

describe('discovery', () => {
  it('answers discovery questions, treating a group/version the server does not serve as absent', async () => {
    api.handler = (req, res) => {
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
    const client = api.newClient();
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
});
