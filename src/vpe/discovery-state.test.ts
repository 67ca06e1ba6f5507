import fc from 'fast-check';
import type { VpcEgressProfileSpec, VpcEgressProfileStatus, VpcZone } from '../api/v1alpha1.js';
import { FakeIbmCloud, FIXTURE_REGION, FIXTURE_VPC_ID } from '../../test/fixtures/ibm/fake-ibm-cloud.js';
import {
  apiKeyFromSecret,
  DISCOVERED_CONDITION,
  discoverySettings,
  discoveryStatus,
  effectiveZones,
  mergeZones,
  nextDiscoveryAt,
  rememberDiscovery,
  type DiscoveryMemory,
  type DiscoverySettings,
  DEFAULT_REFRESH_INTERVAL_MS,
  parseRefreshInterval,
} from './discovery-state.js';
import { IbmCloudError } from '../ibm/errors.js';
import { listAddressPrefixes } from '../ibm/vpc.js';

const secretRef = { namespace: 'calico-vpc-system', name: 'ibm-api-key', key: 'apikey' };
const ibmCloud = { region: 'us-south', vpcId: FIXTURE_VPC_ID, apiKeySecretRef: secretRef };

function settingsOf(spec: VpcEgressProfileSpec): DiscoverySettings {
  const result = discoverySettings(spec);
  if (!result?.ok) throw new Error(`expected valid settings, got ${JSON.stringify(result)}`);
  return result.value;
}

describe('discoverySettings', () => {
  it('is undefined when discovery is off', () => {
    expect(discoverySettings({ zones: [] })).toBeUndefined();
    // The CRD requires ibmCloud, but a file given to the CLI has met no API server.
    expect(discoverySettings({ discovery: {} } as VpcEgressProfileSpec)).toBeUndefined();
    expect(discoverySettings(undefined)).toBeUndefined();
  });

  it('fills in the public endpoints and the 10m interval', () => {
    expect(settingsOf({ discovery: { ibmCloud } })).toEqual({
      region: 'us-south',
      vpcId: FIXTURE_VPC_ID,
      endpoint: 'https://us-south.iaas.cloud.ibm.com/v1',
      iamEndpoint: 'https://iam.cloud.ibm.com',
      apiKeySecretRef: secretRef,
      refreshIntervalMs: 600_000,
    });
  });

  it('pairs a private VPC endpoint with private IAM unless iamEndpoint is given', () => {
    const endpoint = 'https://us-south.private.iaas.cloud.ibm.com/v1';
    expect(settingsOf({ discovery: { ibmCloud: { ...ibmCloud, endpoint } } }).iamEndpoint).toBe(
      'https://private.iam.cloud.ibm.com',
    );
    const iamEndpoint = 'https://iam.cloud.ibm.com';
    expect(settingsOf({ discovery: { ibmCloud: { ...ibmCloud, endpoint, iamEndpoint } } }).iamEndpoint).toBe(
      iamEndpoint,
    );
  });

  it('reports every problem at once, each under its field path', () => {
    const result = discoverySettings({
      discovery: {
        ibmCloud: {
          region: 'US South',
          vpcId: '',
          apiKeySecretRef: { namespace: 'Bad_NS', name: 'ok', key: 'a/b' },
          endpoint: 'http://vpc.example.com/v1',
          iamEndpoint: 'not a url',
          refreshInterval: '30s',
        },
      },
    });
    expect(result?.ok).toBe(false);
    const errors = result && !result.ok ? result.errors : [];
    expect(errors.map((error) => error.path)).toEqual([
      'spec.discovery.ibmCloud.region',
      'spec.discovery.ibmCloud.vpcId',
      'spec.discovery.ibmCloud.apiKeySecretRef.namespace',
      'spec.discovery.ibmCloud.apiKeySecretRef.key',
      'spec.discovery.ibmCloud.endpoint',
      'spec.discovery.ibmCloud.iamEndpoint',
      'spec.discovery.ibmCloud.refreshInterval',
    ]);
    expect(errors[0]?.message).toBe('"US South" is not an IBM Cloud region name like us-south or eu-de');
    expect(errors[4]?.message).toContain('must use https');
    expect(errors[6]?.message).toBe(
      '"30s" is shorter than the minimum 1m; the VPC API is rate limited per account, and prefixes change rarely',
    );
  });

  it('requires the Secret reference', () => {
    const result = discoverySettings({
      discovery: { ibmCloud: { region: 'us-south', vpcId: FIXTURE_VPC_ID } as never },
    });
    expect(result && !result.ok && result.errors).toEqual([
      {
        path: 'spec.discovery.ibmCloud.apiKeySecretRef',
        message: 'is required: the namespace, name and key of the Secret holding the API key',
      },
    ]);
  });

  it("catches an endpoint of another region than the VPC's", () => {
    const result = discoverySettings({
      discovery: { ibmCloud: { ...ibmCloud, endpoint: 'https://eu-de.iaas.cloud.ibm.com/v1' } },
    });
    expect(result && !result.ok && result.errors[0]?.message).toContain(
      'is the endpoint of region eu-de, but region is us-south',
    );
  });
});

describe('apiKeyFromSecret', () => {
  const key = 'Zx9-very-secret-api-key-value';
  const encoded = Buffer.from(`${key}\n`).toString('base64');

  it('decodes and trims the key', () => {
    expect(apiKeyFromSecret({ data: { apikey: encoded } }, secretRef)).toBe(key);
  });

  it('names the Secret and the missing key, lists the keys it has, and never a value', () => {
    let error: unknown;
    try {
      apiKeyFromSecret({ data: { 'api-key': encoded, other: encoded } }, secretRef);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(IbmCloudError);
    const message = (error as IbmCloudError).message;
    expect(message).toBe(
      'Secret calico-vpc-system/ibm-api-key (spec.discovery.ibmCloud.apiKeySecretRef) has no key "apikey" ' +
        '(its keys: api-key, other)',
    );
    expect(message).not.toContain(encoded);
    expect(message).not.toContain(key);
  });

  it('says how to create a missing Secret, and rejects an empty key', () => {
    expect(() => apiKeyFromSecret(undefined, secretRef)).toThrow(
      'not found; create it with: kubectl -n calico-vpc-system create secret generic ibm-api-key --from-literal=apikey=<API key>',
    );
    expect(() =>
      apiKeyFromSecret({ data: { apikey: Buffer.from(' \n').toString('base64') } }, secretRef),
    ).toThrow('key "apikey" is empty');
  });
});

describe('mergeZones', () => {
  const listed: VpcZone[] = [
    { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18', '10.99.0.0/16'] },
    { name: 'eu-gone-1', addressPrefixes: ['10.1.0.0/18'] },
  ];
  const discovered: VpcZone[] = [
    { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22'] },
    { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
  ];

  it('uses spec.zones alone when discovery is off, even if status still holds discovered zones', () => {
    expect(effectiveZones({ zones: listed }, discovered)).toEqual(listed);
  });

  it('uses spec.zones alone while nothing has been discovered yet', () => {
    expect(effectiveZones({ zones: listed, discovery: { ibmCloud } }, undefined)).toEqual(listed);
  });

  it('lets the VPC decide every zone it returns and keeps hand-listed zones it does not return', () => {
    expect(mergeZones({ zones: listed, discovery: { ibmCloud } }, discovered)).toEqual({
      zones: [
        { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] }, // 10.99.0.0/16 was hand-listed only
        { name: 'eu-gone-1', addressPrefixes: ['10.1.0.0/18'] },
        { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22'] },
      ],
      replacedByDiscovery: ['us-south-2'],
      handListedOnly: ['eu-gone-1'],
    });
  });

  it('holds for any listed and discovered zones: each discovered zone once, as discovered; the rest as listed', () => {
    const zoneName = fc.constantFrom('z-1', 'z-2', 'z-3', 'z-4', 'z-5');
    const zone = fc.record({
      name: zoneName,
      addressPrefixes: fc.array(fc.constantFrom('10.0.0.0/18', '10.1.0.0/18', '10.2.0.0/18'), {
        maxLength: 3,
      }),
    });
    const uniqueZones = fc.uniqueArray(zone, { selector: (z) => z.name, maxLength: 5 });
    fc.assert(
      fc.property(uniqueZones, uniqueZones, (hand, found) => {
        const { zones, handListedOnly } = mergeZones({ zones: hand, discovery: { ibmCloud } }, found);
        const byName = new Map(zones.map((z) => [z.name, z.addressPrefixes]));
        expect(byName.size).toBe(zones.length);
        for (const z of found) expect(byName.get(z.name)).toEqual(z.addressPrefixes);
        const foundNames = new Set(found.map((z) => z.name));
        for (const z of hand)
          if (!foundNames.has(z.name)) expect(byName.get(z.name)).toEqual(z.addressPrefixes);
        expect(new Set(byName.keys())).toEqual(new Set([...hand, ...found].map((z) => z.name)));
        expect(handListedOnly).toEqual(hand.filter((z) => !foundNames.has(z.name)).map((z) => z.name));
      }),
      { numRuns: 500 },
    );
  });
});

describe('discoveryStatus', () => {
  const settings = settingsOf({ discovery: { ibmCloud } });
  const now = Date.parse('2025-06-01T12:00:00Z');
  const context = { now, generation: 3, settings };
  const previous: VpcEgressProfileStatus = {
    discoveredZones: [{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }],
    lastDiscoveryTime: '2025-06-01T11:50:00.000Z',
  };

  it('records fresh zones, the time and a True condition on success', () => {
    const update = discoveryStatus(
      previous,
      {
        ok: true,
        zones: [
          { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
          { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22', '10.240.0.0/18'] },
        ],
      },
      context,
    );
    expect(update).toEqual({
      discoveredZones: [
        { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22'] },
        { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
      ],
      lastDiscoveryTime: '2025-06-01T12:00:00.000Z',
      condition: {
        type: DISCOVERED_CONDITION,
        status: 'True',
        reason: 'Discovered',
        message: `2 zones with 3 address prefixes from VPC ${FIXTURE_VPC_ID} in us-south; next refresh in 10m0s`,
        observedGeneration: 3,
      },
      degraded: undefined,
      changed: true,
      succeeded: true,
      retryAfterMs: undefined,
    });
  });

  it('reports no change when the VPC answers what status already holds', () => {
    const update = discoveryStatus(previous, { ok: true, zones: previous.discoveredZones! }, context);
    expect(update.changed).toBe(false);
  });

  it('keeps the last good zones and says why on failure, with the error kind as reason', () => {
    const error = new IbmCloudError('Forbidden', "the API key's identity lacks the Viewer role", {
      status: 403,
    });
    const update = discoveryStatus(previous, { ok: false, error }, context);
    expect(update.discoveredZones).toEqual(previous.discoveredZones);
    expect(update.lastDiscoveryTime).toBe(previous.lastDiscoveryTime);
    expect(update.condition).toMatchObject({ type: 'Discovered', status: 'False', reason: 'Forbidden' });
    expect(update.degraded).toEqual({
      reason: 'DiscoveryFailed',
      message:
        `discovery from VPC ${FIXTURE_VPC_ID} in us-south failed: the API key's identity lacks the Viewer role; ` +
        'keeping the 1 zone discovered at 2025-06-01T11:50:00.000Z',
    });
    expect(update.succeeded).toBe(false);
  });

  it('treats an empty answer as a failure instead of removing every rule', () => {
    const update = discoveryStatus(previous, { ok: true, zones: [] }, context);
    expect(update.discoveredZones).toEqual(previous.discoveredZones);
    expect(update.condition.reason).toBe('NoAddressPrefixes');
    expect(update.succeeded).toBe(false);
  });

  it('says when there is nothing to fall back on, and passes a Retry-After on', () => {
    const error = new IbmCloudError('RateLimited', 'slow down', { status: 429, retryAfterMs: 120_000 });
    const update = discoveryStatus(undefined, { ok: false, error }, context);
    expect(update.discoveredZones).toBeUndefined();
    expect(update.degraded?.message).toContain('no zones have been discovered yet; only spec.zones are used');
    expect(update.retryAfterMs).toBe(120_000);
  });

  it('maps errors that are not ours to DiscoveryError', () => {
    const update = discoveryStatus(
      previous,
      { ok: false, error: new Error('secrets is forbidden') },
      context,
    );
    expect(update.condition.reason).toBe('DiscoveryError');
    expect(update.condition.message).toContain('secrets is forbidden');
    const odd = discoveryStatus(previous, { ok: false, error: Object.create(null) }, context);
    expect(odd.condition.message).toContain('failed: an error that cannot be described');
  });

  it('never drops the last good zones, whatever fails', () => {
    const zones = fc.array(
      fc.record({
        name: fc.string({ minLength: 1 }),
        addressPrefixes: fc.array(fc.string(), { maxLength: 3 }),
      }),
      { maxLength: 4 },
    );
    const failure = fc.oneof(
      fc
        .constantFrom('Timeout', 'ServerError', 'Forbidden', 'InvalidApiKey', 'BadResponse')
        .map((kind) => ({ ok: false as const, error: new IbmCloudError(kind as 'Timeout', 'x') })),
      fc.constant({ ok: true as const, zones: [] }),
      fc.anything().map((error) => ({ ok: false as const, error })),
    );
    fc.assert(
      fc.property(zones, failure, (last, result) => {
        const before: VpcEgressProfileStatus = {
          discoveredZones: last,
          lastDiscoveryTime: '2025-01-01T00:00:00Z',
        };
        const update = discoveryStatus(before, result, context);
        expect(update.discoveredZones).toEqual(last);
        expect(update.lastDiscoveryTime).toBe(before.lastDiscoveryTime);
        expect(update.degraded?.reason).toBe('DiscoveryFailed');
      }),
      { numRuns: 300 },
    );
  });
});

describe('nextDiscoveryAt', () => {
  const settings = settingsOf({ discovery: { ibmCloud } });
  const t0 = Date.parse('2025-06-01T12:00:00Z');
  const failed = { succeeded: false, retryAfterMs: undefined };

  it('is due at once without memory or a status for this generation', () => {
    expect(nextDiscoveryAt(settings, { metadata: { generation: 2 } }, undefined)).toBe(0);
    const stale = {
      metadata: { generation: 2 },
      status: {
        lastDiscoveryTime: new Date(t0).toISOString(),
        conditions: [
          {
            type: 'Discovered',
            status: 'True' as const,
            reason: 'Discovered',
            message: '',
            lastTransitionTime: '',
            observedGeneration: 1,
          },
        ],
      },
    };
    expect(nextDiscoveryAt(settings, stale, undefined)).toBe(0);
  });

  it('after a restart, waits one interval from the status written for this generation', () => {
    const current = {
      metadata: { generation: 2 },
      status: {
        lastDiscoveryTime: new Date(t0).toISOString(),
        conditions: [
          {
            type: 'Discovered',
            status: 'True' as const,
            reason: 'Discovered',
            message: '',
            lastTransitionTime: '',
            observedGeneration: 2,
          },
        ],
      },
    };
    expect(nextDiscoveryAt(settings, current, undefined)).toBe(t0 + 600_000);
  });

  it('refreshes one interval after a success', () => {
    const memory = rememberDiscovery(undefined, settings, t0, { succeeded: true, retryAfterMs: undefined });
    expect(nextDiscoveryAt(settings, { metadata: {} }, memory)).toBe(t0 + 600_000);
  });

  it('retries failures after 30s, doubling up to the refresh interval', () => {
    let memory: DiscoveryMemory | undefined;
    const delays: number[] = [];
    for (let failures = 0; failures < 7; failures++) {
      memory = rememberDiscovery(memory, settings, t0, failed);
      delays.push(nextDiscoveryAt(settings, { metadata: {} }, memory) - t0);
    }
    expect(delays).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  });

  it('waits at least as long as the Retry-After the API sent', () => {
    const memory = rememberDiscovery(undefined, settings, t0, { succeeded: false, retryAfterMs: 300_000 });
    expect(nextDiscoveryAt(settings, { metadata: {} }, memory)).toBe(t0 + 300_000);
  });

  it('starts afresh when region, VPC, endpoints or Secret change', () => {
    let memory = rememberDiscovery(undefined, settings, t0, failed);
    memory = rememberDiscovery(memory, settings, t0, failed);
    const moved = settingsOf({ discovery: { ibmCloud: { ...ibmCloud, vpcId: 'r006-another-vpc' } } });
    expect(nextDiscoveryAt(moved, { metadata: {} }, memory)).toBe(0);
    expect(rememberDiscovery(memory, moved, t0, failed).consecutiveFailures).toBe(1);
    const slower = settingsOf({ discovery: { ibmCloud: { ...ibmCloud, refreshInterval: '1h' } } });
    expect(rememberDiscovery(memory, slower, t0, failed).consecutiveFailures).toBe(3);
  });
});

describe('a refresh cycle against the local IBM Cloud', () => {
  let cloud: FakeIbmCloud;
  beforeEach(async () => {
    cloud = await FakeIbmCloud.start();
  });
  afterEach(async () => {
    await cloud.close();
  });

  it('picks up a new prefix, then rides out an outage keeping it', async () => {
    const spec: VpcEgressProfileSpec = {
      discovery: {
        ibmCloud: {
          ...ibmCloud,
          region: FIXTURE_REGION,
          endpoint: cloud.vpcEndpoint,
          iamEndpoint: cloud.iamEndpoint,
        },
      },
    };
    const settings = settingsOf(spec);
    const discover = async () => {
      try {
        const zones = await listAddressPrefixes({
          region: settings.region,
          vpcId: settings.vpcId,
          endpoint: settings.endpoint,
          iamEndpoint: settings.iamEndpoint,
          apiKey: cloud.apiKey,
          sleep: async () => undefined,
        });
        return { ok: true as const, zones };
      } catch (error) {
        return { ok: false as const, error };
      }
    };
    const context = { now: Date.parse('2025-06-01T12:00:00Z'), generation: 1, settings };

    const first = discoveryStatus(undefined, await discover(), context);
    cloud.addPrefix(FIXTURE_VPC_ID, 'us-south-2', '10.250.0.0/24');
    const second = discoveryStatus({ ...first }, await discover(), context);
    expect(second.changed).toBe(true);
    expect(effectiveZones(spec, second.discoveredZones)).toContainEqual({
      name: 'us-south-2',
      addressPrefixes: ['10.240.64.0/18', '10.250.0.0/24'],
    });

    cloud.script('vpc', ...Array.from({ length: 4 }, () => ({ status: 503 })));
    const third = discoveryStatus({ ...second }, await discover(), context);
    expect(third.condition).toMatchObject({ status: 'False', reason: 'ServerError' });
    expect(third.discoveredZones).toEqual(second.discoveredZones);
    expect(effectiveZones(spec, third.discoveredZones)).toEqual(effectiveZones(spec, second.discoveredZones));
  });
});

describe('parseRefreshInterval', () => {
  const field = 'spec.discovery.ibmCloud.refreshInterval';

  it('defaults to 10m', () => {
    expect(parseRefreshInterval(undefined)).toBe(DEFAULT_REFRESH_INTERVAL_MS);
    expect(DEFAULT_REFRESH_INTERVAL_MS).toBe(600_000);
  });

  it('accepts 1m to 24h', () => {
    expect(parseRefreshInterval('1m')).toBe(60_000);
    expect(parseRefreshInterval('24h')).toBe(86_400_000);
    expect(parseRefreshInterval('1h30m')).toBe(5_400_000);
  });

  it('rejects less than a minute, naming the field and the minimum', () => {
    expect(() => parseRefreshInterval('59s')).toThrow(`${field} "59s" is shorter than the minimum 1m`);
    expect(() => parseRefreshInterval('0')).toThrow('shorter than the minimum');
  });

  it('rejects more than a day, which timers cannot hold reliably', () => {
    expect(() => parseRefreshInterval('24h1s')).toThrow(`${field} "24h1s" is longer than the maximum 24h`);
  });

  it('passes syntax errors through with the field name', () => {
    expect(() => parseRefreshInterval('10')).toThrow(`${field} "10" has no unit`);
  });
});
