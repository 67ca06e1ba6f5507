import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import type { KubeObject } from '../api/kube.js';
import type { VpcEgressProfile, VpcEgressProfileSpec } from '../api/v1alpha1.js';
import { FakeIbmCloud, FIXTURE_REGION, FIXTURE_VPC_ID } from '../../test/fixtures/ibm/fake-ibm-cloud.js';
import type { FetchFunction } from '../ibm/http.js';
import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { ApiError } from '../kube/errors.js';
import type { EventInput, EventRecorder } from '../kube/events.js';
import { createLogger } from '../observability/logger.js';
import type { ReconcileContext } from '../controller/controller.js';
import { SECRETS } from '../kube/resources.js';
import {
  VpcDiscovery,
  describeZoneChanges,
  DISCOVERY_REQUEST_ANNOTATION,
  type Discovery,
  type DiscoveryOptions,
  type ZoneSource,
} from './discovery.js';

const SECRET_REF = { namespace: 'calico-vpc-system', name: 'ibm-cloud-api-key', key: 'apikey' };
const TEN_MINUTES = 600_000;
const DISCOVERED_FIXTURE = [
  { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22'] },
  { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
  { name: 'us-south-3', addressPrefixes: ['10.240.128.0/18'] },
];

interface StoredSecret extends KubeObject {
  data?: Record<string, string>;
}

/** The Secrets the discovery may read, and every request it made for them. */
class FakeSecrets {
  readonly stored = new Map<string, StoredSecret>();
  readonly gets: { namespace: string | undefined; name: string }[] = [];
  forbidden = false;
  #version = 1;

  put(apiKey: string, ref = SECRET_REF): void {
    this.stored.set(`${ref.namespace}/${ref.name}`, {
      metadata: { name: ref.name, namespace: ref.namespace, resourceVersion: String(++this.#version) },
      data: { [ref.key]: Buffer.from(`${apiKey}\n`).toString('base64') },
    });
  }

  client(): DiscoveryOptions['client'] {
    const resource = (ref: unknown) => {
      expect(ref).toEqual(SECRETS);
      return {
        get: (name: string, options: { namespace?: string } = {}) => {
          this.gets.push({ namespace: options.namespace, name });
          if (this.forbidden) {
            return Promise.reject(
              new ApiError(403, 'Forbidden', `secrets "${name}" is forbidden: User cannot get resource`),
            );
          }
          const secret = this.stored.get(`${options.namespace}/${name}`);
          return secret
            ? Promise.resolve(structuredClone(secret))
            : Promise.reject(new ApiError(404, 'NotFound', `secrets "${name}" not found`));
        },
      };
    };
    return { resource } as unknown as DiscoveryOptions['client'];
  }
}

class RecordedEvents implements EventRecorder {
  readonly recorded: EventInput[] = [];
  event(_regarding: KubeObject, event: EventInput): void {
    this.recorded.push(event);
  }
}

function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

/** A VPC API whose answers wait until `release()`; IAM answers at once. Honors the request's abort signal. */
function gatedVpcFetch(): { fetch: FetchFunction; release: () => void; started: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started = 0;
  const fetch: FetchFunction = (input, init) => {
    if (!String(input).includes('/address_prefixes')) return globalThis.fetch(input, init);
    started++;
    return new Promise<Response>((resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      gate.then(() => globalThis.fetch(input, init).then(resolve, reject), reject);
    });
  };
  return { fetch, release, started: () => started };
}

describe('VpcDiscovery', () => {
  let cloud: FakeIbmCloud;
  let clock: ManualClock;
  let secrets: FakeSecrets;
  let events: RecordedEvents;
  let registry: Registry;
  let logs: ReturnType<typeof capturingLogger>;
  let enqueued: string[];
  let uidCounter = 0;

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2025, 5, 1, 12));
    cloud = await FakeIbmCloud.start({ now: () => clock.now() });
    secrets = new FakeSecrets();
    secrets.put(cloud.apiKey);
    events = new RecordedEvents();
    registry = new Registry();
    logs = capturingLogger();
    enqueued = [];
  });
  afterEach(async () => {
    await cloud.close();
  });

  function discovery(overrides: Partial<DiscoveryOptions> = {}): Discovery {
    const created = new VpcDiscovery({
      client: secrets.client(),
      logger: logs.logger,
      registry,
      events,
      clock,
      // One attempt per request: retries would wait on the manual clock (the client's retries are tested in src/ibm).
      retry: { maxAttempts: 1 },
      ...overrides,
    });
    created.bindController({ enqueue: (key) => enqueued.push(key) });
    return created;
  }

  function profile(
    spec: Partial<VpcEgressProfileSpec> = {},
    ibmCloud: Record<string, unknown> = {},
  ): VpcEgressProfile {
    return {
      apiVersion: 'calico-vpc.io/v1alpha1',
      kind: 'VpcEgressProfile',
      metadata: { name: 'prod', uid: `uid-${++uidCounter}`, generation: 1 },
      spec: {
        discovery: {
          ibmCloud: {
            region: FIXTURE_REGION,
            vpcId: FIXTURE_VPC_ID,
            apiKeySecretRef: SECRET_REF,
            endpoint: cloud.vpcEndpoint,
            iamEndpoint: cloud.iamEndpoint,
            ...ibmCloud,
          },
        },
        ...spec,
      } as VpcEgressProfileSpec,
    };
  }

  /** What the VPE reconciler would write back: the profile with the source's status applied. */
  function applied(p: VpcEgressProfile, source: ZoneSource | undefined): VpcEgressProfile {
    const conditions = (source?.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: 'T' }));
    const kept = (p.status?.conditions ?? []).filter((c) => !conditions.some((n) => n.type === c.type));
    return { ...p, status: { ...p.status, ...source?.status, conditions: [...kept, ...conditions] } };
  }

  const ctx = (signal = new AbortController().signal): ReconcileContext => ({
    log: logs.logger,
    reconcileId: 'r',
    signal,
  });
  const condition = (source: ZoneSource | undefined, type: string) =>
    source?.conditions?.find((c) => c.type === type);

  async function metric(result: string): Promise<number> {
    const values = (await registry.getSingleMetric('calico_vpc_discovery_total')?.get())?.values ?? [];
    return values.find((v) => v.labels.result === result)?.value ?? 0;
  }

  /** Nothing the API key could leak into: status, conditions, Events, logs. */
  function expectNoKey(key: string, ...sources: (ZoneSource | undefined)[]): void {
    for (const text of [JSON.stringify(sources), JSON.stringify(events.recorded), logs.lines.join('')]) {
      expect(text).not.toContain(key);
    }
  }

  it('leaves profiles without spec.discovery alone', async () => {
    const source = await discovery().zonesFor(
      { metadata: { name: 'plain', uid: 'u' }, spec: { zones: [] } } as VpcEgressProfile,
      ctx(),
    );
    expect(source).toBeUndefined();
    expect(secrets.gets).toEqual([]);
    expect(cloud.requests).toEqual([]);
  });

  it('discovers the zones, reports them in status, and refreshes one interval later', async () => {
    const d = discovery();
    const p = profile();
    const first = await d.zonesFor(p, ctx());

    expect(first?.zones).toEqual(DISCOVERED_FIXTURE);
    expect(first?.status).toEqual({
      discoveredZones: DISCOVERED_FIXTURE,
      lastDiscoveryTime: new Date(clock.now()).toISOString(),
    });
    expect(condition(first, 'Discovered')).toMatchObject({
      status: 'True',
      reason: 'Discovered',
      observedGeneration: 1,
    });
    expect(condition(first, 'Discovered')?.message).toContain(`VPC ${FIXTURE_VPC_ID} in us-south`);
    expect(condition(first, 'Degraded')).toMatchObject({ status: 'False', reason: 'DiscoverySucceeded' });
    expect(first?.requeueAfterMs).toBe(TEN_MINUTES);
    // Exactly one Secret, read with a GET by name.
    expect(secrets.gets).toEqual([{ namespace: SECRET_REF.namespace, name: SECRET_REF.name }]);
    expect(events.recorded).toEqual([expect.objectContaining({ type: 'Normal', reason: 'ZonesDiscovered' })]);
    expect(await metric('success')).toBe(1);
    // The attempt finished while the reconcile waited: no extra requeue needed.
    expect(enqueued).toEqual([]);

    // Before the interval: the same zones, no call.
    const written = applied(p, first);
    await clock.advance(TEN_MINUTES - 1000);
    const cached = await d.zonesFor(written, ctx());
    expect(cached?.zones).toEqual(DISCOVERED_FIXTURE);
    expect(cached?.requeueAfterMs).toBe(1000);
    expect(cloud.requestsTo('vpc')).toHaveLength(1);

    // A prefix added to the VPC shows up at the next refresh; IAM's token is reused.
    cloud.addPrefix(FIXTURE_VPC_ID, 'us-south-2', '10.240.192.0/18');
    await clock.advance(1000);
    const refreshed = await d.zonesFor(applied(written, cached), ctx());
    expect(refreshed?.zones).toContainEqual({
      name: 'us-south-2',
      addressPrefixes: ['10.240.64.0/18', '10.240.192.0/18'],
    });
    expect(cloud.requestsTo('vpc')).toHaveLength(2);
    expect(cloud.requestsTo('iam')).toHaveLength(1);
    expect(events.recorded[1]?.note).toBe('added 10.240.192.0/18 to us-south-2');
    expectNoKey(cloud.apiKey, first, cached, refreshed);
  });

  it('merges hand-listed zones: the VPC wins for the zones it returns, the others are kept and named', async () => {
    const p = profile({
      zones: [
        { name: 'us-south-9', addressPrefixes: ['10.9.0.0/18'] },
        { name: 'us-south-1', addressPrefixes: ['10.99.0.0/18'] },
      ],
    });
    const source = await discovery().zonesFor(p, ctx());
    expect(source?.zones).toEqual([
      { name: 'us-south-9', addressPrefixes: ['10.9.0.0/18'] },
      DISCOVERED_FIXTURE[0],
      DISCOVERED_FIXTURE[1],
      DISCOVERED_FIXTURE[2],
    ]);
    expect(condition(source, 'Discovered')?.message).toContain(
      'spec.zones also lists us-south-9, which the VPC does not have',
    );
  });

  it('keeps the last good zones when the VPC API fails, reports Degraded, backs off and recovers', async () => {
    const d = discovery();
    const p = profile();
    const good = applied(p, await d.zonesFor(p, ctx()));

    await clock.advance(TEN_MINUTES);
    cloud.script('vpc', {
      status: 500,
      body: { errors: [{ code: 'internal_error', message: `boom ${cloud.apiKey}` }], trace: 't' },
    });
    const failed = await d.zonesFor(good, ctx());
    expect(failed?.zones).toEqual(DISCOVERED_FIXTURE);
    expect(failed?.status?.discoveredZones).toEqual(DISCOVERED_FIXTURE);
    expect(failed?.status?.lastDiscoveryTime).toBe(good.status?.lastDiscoveryTime);
    expect(condition(failed, 'Discovered')).toMatchObject({ status: 'False', reason: 'ServerError' });
    expect(condition(failed, 'Degraded')).toMatchObject({ status: 'True', reason: 'DiscoveryFailed' });
    expect(condition(failed, 'Degraded')?.message).toContain('keeping the 3 zones discovered at');
    // First retry after 30 s, not after the whole interval.
    expect(failed?.requeueAfterMs).toBe(30_000);
    expect(events.recorded.at(-1)).toMatchObject({ type: 'Warning', reason: 'DiscoveryFailed' });
    expect(await metric('ServerError')).toBe(1);

    await clock.advance(30_000);
    const recovered = await d.zonesFor(applied(good, failed), ctx());
    expect(condition(recovered, 'Discovered')).toMatchObject({ status: 'True' });
    expect(condition(recovered, 'Degraded')).toMatchObject({ status: 'False' });
    expect(recovered?.requeueAfterMs).toBe(TEN_MINUTES);
    expectNoKey(cloud.apiKey, failed, recovered);
  });

  it('reports a missing Secret by name and uses spec.zones, without calling IBM Cloud', async () => {
    secrets.stored.clear();
    const p = profile({ zones: [{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }] });
    const source = await discovery().zonesFor(p, ctx());
    expect(source?.zones).toEqual([{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }]);
    expect(source?.status).toEqual({});
    expect(condition(source, 'Discovered')).toMatchObject({
      status: 'False',
      reason: 'ApiKeySecretUnusable',
    });
    expect(condition(source, 'Discovered')?.message).toContain(
      'Secret calico-vpc-system/ibm-cloud-api-key (spec.discovery.ibmCloud.apiKeySecretRef) not found',
    );
    expect(cloud.requests).toEqual([]);
  });

  it('says which RBAC to grant when the Secret may not be read', async () => {
    secrets.forbidden = true;
    const source = await discovery().zonesFor(profile(), ctx());
    expect(condition(source, 'Discovered')?.reason).toBe('ApiKeySecretUnusable');
    expect(condition(source, 'Discovered')?.message).toContain(
      'config/rbac/ibm_discovery_secret_reader_role.yaml',
    );
  });

  it('rejects a wrong API key without ever writing it anywhere, and picks up a rotated key', async () => {
    const wrongKey = 'wrong-key-0123456789abcdef';
    secrets.put(wrongKey);
    const d = discovery();
    const p = profile();
    const refused = await d.zonesFor(p, ctx());
    expect(condition(refused, 'Discovered')).toMatchObject({ status: 'False', reason: 'InvalidApiKey' });
    expectNoKey(wrongKey, refused);
    expect(cloud.requestsTo('iam')[0]?.form?.get('apikey')).toBe(wrongKey);

    // The Secret is fixed: its new resourceVersion means a new token source with the new key.
    secrets.put(cloud.apiKey);
    await clock.advance(30_000);
    const fixed = await d.zonesFor(applied(p, refused), ctx());
    expect(condition(fixed, 'Discovered')?.status).toBe('True');
    expect(cloud.requestsTo('iam').map((r) => r.form?.get('apikey'))).toEqual([wrongKey, cloud.apiKey]);
    expectNoKey(cloud.apiKey, fixed);
  });

  it('keeps the last good zones when the discovery settings become invalid, naming the field', async () => {
    const d = discovery();
    const p = profile();
    const good = applied(p, await d.zonesFor(p, ctx()));
    const requestsBefore = cloud.requests.length;

    const broken = {
      ...good,
      metadata: { ...good.metadata, generation: 2 },
      spec: profile({}, { endpoint: 'https://eu-de.iaas.cloud.ibm.com/v1' }).spec,
    };
    const first = await d.zonesFor(broken, ctx());
    const second = await d.zonesFor(applied(broken, first), ctx());
    expect(second?.zones).toEqual(DISCOVERED_FIXTURE);
    expect(condition(second, 'Discovered')).toMatchObject({
      status: 'False',
      reason: 'InvalidSettings',
      observedGeneration: 2,
    });
    expect(condition(second, 'Discovered')?.message).toContain('spec.discovery.ibmCloud.endpoint');
    expect(condition(second, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'InvalidDiscoverySettings',
    });
    expect(cloud.requests).toHaveLength(requestsBefore);
    // One Warning for the same problem, not one per reconcile.
    expect(events.recorded.filter((e) => e.reason === 'InvalidDiscoverySettings')).toHaveLength(1);
  });

  it('discovers at once when the request annotation changes, but not for one present at first sight', async () => {
    const d = discovery();
    const p = profile();
    p.metadata.annotations = { [DISCOVERY_REQUEST_ANNOTATION]: 'old' };
    let current = applied(p, await d.zonesFor(p, ctx()));
    current = applied(current, await d.zonesFor(current, ctx()));
    expect(cloud.requestsTo('vpc')).toHaveLength(1);

    current.metadata.annotations = { [DISCOVERY_REQUEST_ANNOTATION]: 'now' };
    await d.zonesFor(current, ctx());
    expect(cloud.requestsTo('vpc')).toHaveLength(2);
    await d.zonesFor(current, ctx());
    expect(cloud.requestsTo('vpc')).toHaveLength(2);
  });

  it('does not hold a reconcile longer than waitMs; the finished attempt requeues the profile', async () => {
    const gated = gatedVpcFetch();
    const d = discovery({ fetch: gated.fetch, waitMs: 2000 });
    const p = profile({ zones: [{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }] });

    const pending = d.zonesFor(p, ctx());
    await eventuallyTrue(() => gated.started() === 1);
    await clock.advance(2000);
    const early = await pending;
    expect(early?.zones).toEqual([{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }]);
    expect(condition(early, 'Discovered')).toMatchObject({ status: 'Unknown', reason: 'Discovering' });
    expect(enqueued).toEqual([]);

    gated.release();
    await eventuallyTrue(() => enqueued.length === 1);
    expect(enqueued).toEqual(['prod']);
    const later = await d.zonesFor(applied(p, early), ctx());
    expect(later?.zones.map((z) => z.name)).toEqual(['us-south-1', 'us-south-2', 'us-south-3']);
    expect(cloud.requestsTo('vpc')).toHaveLength(1);
  });

  it('bounds an attempt by timeoutMs and reports it as a Timeout', async () => {
    const gated = gatedVpcFetch();
    const d = discovery({ fetch: gated.fetch, waitMs: 1000, timeoutMs: 5000 });
    const p = profile();
    const pending = d.zonesFor(p, ctx());
    await eventuallyTrue(() => gated.started() === 1);
    await clock.advance(1000);
    await pending;
    await clock.advance(4000);
    await eventuallyTrue(() => enqueued.length === 1);
    const source = await d.zonesFor(p, ctx());
    expect(condition(source, 'Discovered')).toMatchObject({ status: 'False', reason: 'Timeout' });
    expect(condition(source, 'Discovered')?.message).toContain('did not finish within 5s');
    expect(await metric('Timeout')).toBe(1);
    gated.release();
  });

  it('records nothing for an attempt cut short by shutdown', async () => {
    const gated = gatedVpcFetch();
    const shutdown = new AbortController();
    const d = discovery({ fetch: gated.fetch, waitMs: 1000, signal: shutdown.signal });
    const pending = d.zonesFor(profile(), ctx());
    await eventuallyTrue(() => gated.started() === 1);
    shutdown.abort();
    await clock.advance(1000);
    const source = await pending;
    await settle();
    // Not a failure of the cloud: no Discovered=False, no Warning, no metric, no requeue.
    expect(condition(source, 'Discovered')).toBeUndefined();
    expect(enqueued).toEqual([]);
    expect(events.recorded).toEqual([]);
    expect(await metric('success')).toBe(0);
    gated.release();
  });

  it('starts afresh for a profile re-created under the same name', async () => {
    const d = discovery();
    const first = profile();
    await d.zonesFor(first, ctx());
    const again = profile(); // a new uid, no status yet
    const source = await d.zonesFor(again, ctx());
    expect(source?.zones).toEqual(DISCOVERED_FIXTURE);
    expect(cloud.requestsTo('vpc')).toHaveLength(2);
  });
});

describe('describeZoneChanges', () => {
  it('lists everything the first time, then only what changed', () => {
    const before = [
      { name: 'a-1', addressPrefixes: ['10.0.0.0/18'] },
      { name: 'a-2', addressPrefixes: ['10.1.0.0/18', '10.2.0.0/18'] },
    ];
    expect(describeZoneChanges(undefined, before)).toBe(
      'discovered 2 zone(s): a-1 (10.0.0.0/18); a-2 (10.1.0.0/18, 10.2.0.0/18)',
    );
    expect(
      describeZoneChanges(before, [
        { name: 'a-2', addressPrefixes: ['10.2.0.0/18', '10.3.0.0/18'] },
        { name: 'a-3', addressPrefixes: ['10.4.0.0/18'] },
      ]),
    ).toBe(
      'removed zone a-1 (10.0.0.0/18); added 10.3.0.0/18 to a-2; removed 10.1.0.0/18 from a-2; new zone a-3 (10.4.0.0/18)',
    );
    expect(describeZoneChanges(before, before)).toBe('no change');
  });
});

/** Waits (in real time: the fake cloud answers over real HTTP) for a condition that real I/O brings about. */
async function eventuallyTrue(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
