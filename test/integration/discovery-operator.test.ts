/**
 * spec.discovery.ibmCloud end to end: the real operator against a real API server, reading address prefixes from
 * local fake IBM Clouds (IAM + VPC API over HTTP on 127.0.0.1).
 *
 * The CRD admits only https endpoints, so the profiles name https endpoints (IBM's defaults, or per-test hosts
 * under the reserved .test TLD) and the operator's `fetch` routes each host to a fake. Everything between the
 * profile and that `fetch` is the production path: Secret read, IAM token, paging, status, Events, GNPs.
 *
 * Refreshes: one test waits for the real 1m refresh interval (the minimum the CRD allows), because it is the only
 * proof that the requeue after a discovery reaches the VPC again by itself. The others ask for a refresh with the
 * calico-vpc.io/discovery-requested-at annotation, which is what a user does after changing the VPC.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../../src/api/kube.js';
import type { VpcEgressProfile } from '../../src/api/v1alpha1.js';
import { SECRETS } from '../../src/kube/resources.js';
import { DISCOVERY_REQUEST_ANNOTATION } from '../../src/vpe/discovery.js';
import type { LocalControlPlane } from '../../src/controlplane/local.js';
import type { FetchFunction } from '../../src/ibm/http.js';
import { KubeClient } from '../../src/kube/client.js';
import { EVENTS } from '../../src/kube/resources.js';
import { type KubeEvent } from '../../src/kube/events.js';
import { FakeIbmCloud, FIXTURE_VPC_ID } from '../fixtures/ibm/fake-ibm-cloud.js';
import { createTestNamespace, eventually, startDedicatedControlPlane, uniqueName } from './harness.js';
import { gnpClient, startOperator, type RunningOperator } from './operator.js';
import { VPC_EGRESS_PROFILES } from '../../src/kube/resources.js';

const describeOrSkip = process.env.USE_EXISTING_CLUSTER === 'true' ? describe.skip : describe;
// Skipped against an existing cluster: the operator under test must be the only one reconciling the profiles.

interface Secret extends KubeObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  stringData?: Record<string, string>;
  data?: Record<string, string>;
}

/** Routes requests for each https host to the fake IBM Cloud registered for it. */
class IbmCloudRouter {
  readonly #routes = new Map<string, FakeIbmCloud>();

  route(host: string, cloud: FakeIbmCloud): void {
    this.#routes.set(host, cloud);
  }

  readonly fetch: FetchFunction = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const cloud = this.#routes.get(url.host);
    if (url.protocol !== 'https:' || !cloud) {
      return Promise.reject(new Error(`no fake IBM Cloud for ${url.origin}`));
    }
    return globalThis.fetch(new URL(`${url.pathname}${url.search}`, cloud.origin), init);
  };
}

describeOrSkip('VPC address-prefix discovery', () => {
  let cp: LocalControlPlane;
  let kc: KubeConfig;
  let op: RunningOperator;
  let client: KubeClient;
  let profiles: ReturnType<KubeClient['resource']>;
  let secrets: ReturnType<KubeClient['resource']>;
  let gnps: ReturnType<typeof gnpClient>;
  let namespace: string;
  const router = new IbmCloudRouter();
  const clouds: FakeIbmCloud[] = [];

  beforeAll(async () => {
    const started = await startDedicatedControlPlane();
    if (!started) throw new Error('unreachable: skipped above');
    ({ cp, kc } = started);
    client = new KubeClient(kc);
    profiles = client.resource(VPC_EGRESS_PROFILES);
    secrets = client.resource(SECRETS);
    gnps = gnpClient(kc, 'v3');
    namespace = await createTestNamespace(kc, 'ibm');
    op = await startOperator(kc, {
      calicoApi: 'v3',
      discovery: {
        fetch: router.fetch,
        // Failures are scripted per request: keep the client's retries few and short.
        retry: { maxAttempts: 2, backoff: { initialMs: 50, maxMs: 100, factor: 2, jitter: 0 } },
        requestTimeoutMs: 5000,
      },
    });
    // Explicit timeouts: run with --selectProjects, the integration project's testTimeout did not reach this file
    // (hooks failed at jest's default 5 s).
  }, 120_000);
  afterAll(async () => {
    await op?.stop();
    await Promise.all(clouds.map((cloud) => cloud.close()));
    client?.close();
    gnps?.client.close();
    await cp?.stop();
  }, 60_000);

  /** A fake IBM Cloud reachable as https://vpc.<label>.test/v1 and https://iam.<label>.test. */
  async function fakeCloud(label: string) {
    const cloud = await FakeIbmCloud.start();
    clouds.push(cloud);
    router.route(`vpc.${label}.test`, cloud);
    router.route(`iam.${label}.test`, cloud);
    return {
      cloud,
      endpoints: { endpoint: `https://vpc.${label}.test/v1`, iamEndpoint: `https://iam.${label}.test` },
    };
  }

  async function putSecret(name: string, apiKey: string): Promise<void> {
    const body: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace },
      stringData: { apikey: apiKey },
    };
    const existing = await secrets.get(name, { namespace }).catch(() => undefined);
    if (existing) {
      body.metadata.resourceVersion = existing.metadata?.resourceVersion;
      await secrets.update(body);
    } else {
      await secrets.create(body);
    }
  }

  /**
   * A profile that discovers its zones from a fake IBM Cloud of its own (hosts named after `label`), with one gateway
   * called `label` and an API key Secret that works.
   */
  async function discoveringProfile(label: string) {
    const { cloud, endpoints } = await fakeCloud(label);
    const secretName = uniqueName('key');
    await putSecret(secretName, cloud.apiKey);
    const name = uniqueName(label);
    await profiles.create(
      discoveryProfile(name, secretName, endpoints, {
        gateways: [{ name: label, protocol: 'TCP', ports: [443] }],
      }),
    );
    return { cloud, secretName, name };
  }

  function discoveryProfile(
    name: string,
    secretName: string,
    ibmCloud: Record<string, unknown> = {},
    spec: Record<string, unknown> = {},
  ): VpcEgressProfile {
    return {
      apiVersion: 'calico-vpc.io/v1alpha1',
      kind: 'VpcEgressProfile',
      metadata: { name },
      spec: {
        discovery: {
          ibmCloud: {
            region: 'us-south',
            vpcId: FIXTURE_VPC_ID,
            apiKeySecretRef: { namespace, name: secretName, key: 'apikey' },
            ...ibmCloud,
          },
        },
        ...spec,
      },
    } as VpcEgressProfile;
  }

  const getProfile = (name: string) => profiles.get(name) as Promise<VpcEgressProfile>;
  const conditionOf = (p: VpcEgressProfile, type: string) =>
    p.status?.conditions?.find((c) => c.type === type);

  /** The profile once its condition `type` has `status` (and `reason`, if given). */
  function profileWith(name: string, type: string, status: string, reason?: string, timeoutMs?: number) {
    return eventually(
      `${name}: ${type}=${status}${reason ? ` (${reason})` : ''}`,
      async () => {
        const p = await getProfile(name);
        const c = conditionOf(p, type);
        return c?.status === status && (reason === undefined || c.reason === reason) ? p : undefined;
      },
      timeoutMs,
    );
  }

  async function requestDiscovery(name: string): Promise<void> {
    await profiles.patch(
      name,
      { metadata: { annotations: { [DISCOVERY_REQUEST_ANNOTATION]: `${Date.now()}-${Math.random()}` } } },
      { type: 'merge' },
    );
  }

  /** Every managed GNP of a profile, by name, as stored. */
  async function gnpsOf(profile: string) {
    const all = await gnps.managed();
    return new Map([...all].filter(([, g]) => g.metadata.labels?.['calico-vpc.io/profile'] === profile));
  }

  const netsOf = async (policy: string) => (await gnps.get(policy))?.spec.egress?.[0]?.destination?.nets;

  async function allEvents(): Promise<KubeEvent[]> {
    return (await client.resource<KubeEvent>(EVENTS).listAll()).items;
  }

  async function deleteProfile(name: string): Promise<void> {
    await profiles.delete(name);
    await eventually(`${name}'s GNPs deleted`, async () => (await gnpsOf(name)).size === 0);
  }

  it('writes a GNP per discovered zone and follows a prefix added to the VPC within the refresh interval', async () => {
    // IBM's default endpoints: the spec names no endpoint at all.
    const cloud = await FakeIbmCloud.start();
    clouds.push(cloud);
    router.route('us-south.iaas.cloud.ibm.com', cloud);
    router.route('iam.cloud.ibm.com', cloud);
    const secretName = uniqueName('key');
    await putSecret(secretName, cloud.apiKey);
    const name = uniqueName('disc');
    await profiles.create(discoveryProfile(name, secretName, { refreshInterval: '1m' }));

    const discovered = await profileWith(name, 'Discovered', 'True');
    expect(discovered.status?.discoveredZones).toEqual([
      { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22'] },
      { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
      { name: 'us-south-3', addressPrefixes: ['10.240.128.0/18'] },
    ]);
    expect(conditionOf(discovered, 'Degraded')?.status).toBe('False');
    await eventually('one GNP per discovered zone', async () => (await gnpsOf(name)).size === 3);
    const zone1 = await gnps.get('allow-vpe-gateway-registry-us-south-1');
    expect(zone1?.spec).toEqual(
      expect.objectContaining({
        order: 500,
        selector: "ibm.role == 'worker_private'",
        types: ['Egress'],
        egress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            source: {},
            destination: { nets: ['10.240.0.0/18', '172.16.0.0/22'], ports: [443, 4443] },
          },
        ],
      }),
    );
    const firstDiscovery = discovered.status?.lastDiscoveryTime;

    // `ibmcloud is vpc-address-prefix-create`: nobody touches the cluster.
    cloud.addPrefix(FIXTURE_VPC_ID, 'us-south-2', '10.240.192.0/18');
    await eventually(
      'the new prefix in the us-south-2 GNP',
      async () =>
        JSON.stringify(await netsOf('allow-vpe-gateway-registry-us-south-2')) ===
        JSON.stringify(['10.240.64.0/18', '10.240.192.0/18']),
      // One refresh interval, plus room for a slow shared machine.
      60_000 + 30_000,
      250,
    );
    // The reconcile writes the GNPs first and the status after them, so the status may lag by a moment.
    await eventually('status.lastDiscoveryTime of the second discovery', async () => {
      const refreshed = await getProfile(name);
      expect(refreshed.status?.lastDiscoveryTime).not.toBe(firstDiscovery);
      return true;
    });
    // The IAM token (an hour's life) served both discoveries.
    expect(cloud.requestsTo('iam')).toHaveLength(1);
    expect(cloud.requestsTo('vpc').length).toBeGreaterThanOrEqual(2);

    const events = (await allEvents()).filter((e) => e.regarding.name === name);
    expect(events.map((e) => e.note)).toContainEqual('added 10.240.192.0/18 to us-south-2');
    const success = (await op.registry.getSingleMetric('calico_vpc_discovery_total')?.get())?.values.find(
      (v) => v.labels.result === 'success',
    );
    expect(success?.value).toBeGreaterThanOrEqual(2);
    await deleteProfile(name);
  }, 150_000);

  it('discovers at once when asked with the annotation', async () => {
    const { cloud, name } = await discoveringProfile('asked');
    await eventually('the us-south-3 GNP', () => gnps.get('allow-vpe-gateway-asked-us-south-3'));

    cloud.addPrefix(FIXTURE_VPC_ID, 'us-south-3', '10.250.0.0/24');
    await requestDiscovery(name);
    await eventually(
      'the new prefix',
      async () =>
        JSON.stringify(await netsOf('allow-vpe-gateway-asked-us-south-3')) ===
        JSON.stringify(['10.240.128.0/18', '10.250.0.0/24']),
    );
    await deleteProfile(name);
  }, 120_000);

  it('changes nothing that works while IBM Cloud fails, never shows the API key, and recovers', async () => {
    const { cloud, secretName, name } = await discoveringProfile('outage');
    await profileWith(name, 'Discovered', 'True');
    await eventually('3 GNPs', async () => (await gnpsOf(name)).size === 3);
    const working = await gnpsOf(name);
    const specs = () => gnpsOf(name).then((m) => new Map([...m].map(([n, g]) => [n, g.spec])));
    const workingSpecs = new Map([...working].map(([n, g]) => [n, g.spec]));

    // The VPC API is down (500 on every attempt the client makes).
    cloud.script('vpc', { status: 500, body: { errors: [{ code: 'internal_error', message: 'down' }] } });
    cloud.script('vpc', { status: 500, body: { errors: [{ code: 'internal_error', message: 'down' }] } });
    await requestDiscovery(name);
    const down = await profileWith(name, 'Discovered', 'False', 'ServerError');
    expect(conditionOf(down, 'Degraded')).toMatchObject({ status: 'True', reason: 'DiscoveryFailed' });
    expect(conditionOf(down, 'Degraded')?.message).toContain('keeping the 3 zones discovered at');
    expect(conditionOf(down, 'Ready')?.status).toBe('True');
    expect(down.status?.discoveredZones).toHaveLength(3);
    expect(await specs()).toEqual(workingSpecs);

    // The VPC API refuses the token (401 for the token and for the fresh one the client asks for).
    cloud.script('vpc', { status: 401, body: { errors: [{ code: 'not_authenticated', message: 'no' }] } });
    cloud.script('vpc', { status: 401, body: { errors: [{ code: 'not_authenticated', message: 'no' }] } });
    await requestDiscovery(name);
    await profileWith(name, 'Discovered', 'False', 'Unauthorized');
    expect(await specs()).toEqual(workingSpecs);

    // Someone puts a wrong API key in the Secret.
    const wrongKey = `wrong-${uniqueName('apikey')}`;
    await putSecret(secretName, wrongKey);
    await requestDiscovery(name);
    const refused = await profileWith(name, 'Discovered', 'False', 'InvalidApiKey');
    expect(conditionOf(refused, 'Discovered')?.message).toContain('create a new API key');
    expect(await specs()).toEqual(workingSpecs);

    const published = JSON.stringify([await getProfile(name), await allEvents()]);
    expect(published).not.toContain(wrongKey);
    expect(published).not.toContain(cloud.apiKey);

    // Fixed: the right key again, and the VPC API answers.
    await putSecret(secretName, cloud.apiKey);
    await requestDiscovery(name);
    const recovered = await profileWith(name, 'Discovered', 'True');
    expect(conditionOf(recovered, 'Degraded')?.status).toBe('False');
    expect(await specs()).toEqual(workingSpecs);
    await deleteProfile(name);
  }, 120_000);

  it('reports a missing Secret clearly and deletes nothing', async () => {
    const { cloud, endpoints } = await fakeCloud('nosecret');
    const secretName = uniqueName('absent');
    const name = uniqueName('nosecret');
    // Hand-listed zones keep working while the Secret is missing.
    await profiles.create(
      discoveryProfile(name, secretName, endpoints, {
        gateways: [{ name: 'nosecret', protocol: 'TCP', ports: [443] }],
        zones: [{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }],
      }),
    );
    const missing = await profileWith(name, 'Discovered', 'False', 'ApiKeySecretUnusable');
    expect(conditionOf(missing, 'Discovered')?.message).toContain(
      `Secret ${namespace}/${secretName} (spec.discovery.ibmCloud.apiKeySecretRef) not found`,
    );
    expect(conditionOf(missing, 'Degraded')?.status).toBe('True');
    expect(await netsOf('allow-vpe-gateway-nosecret-us-south-1')).toEqual(['10.240.0.0/18']);
    expect(cloud.requests).toEqual([]);

    // Created: discovery takes over (the VPC is authoritative for us-south-1, which gains 172.16.0.0/22).
    await putSecret(secretName, cloud.apiKey);
    await requestDiscovery(name);
    await profileWith(name, 'Discovered', 'True');
    await eventually('the discovered zones', async () => (await gnpsOf(name)).size === 3);
    expect(await netsOf('allow-vpe-gateway-nosecret-us-south-1')).toEqual(['10.240.0.0/18', '172.16.0.0/22']);
    const working = await gnpsOf(name);

    // Deleted again: the discovered rules stay.
    await secrets.delete(secretName, { namespace });
    await requestDiscovery(name);
    await profileWith(name, 'Discovered', 'False', 'ApiKeySecretUnusable');
    const after = await gnpsOf(name);
    expect([...after.keys()].sort()).toEqual([...working.keys()].sort());
    for (const [policy, gnp] of working) expect(after.get(policy)?.spec).toEqual(gnp.spec);
    await deleteProfile(name);
  }, 120_000);

  it('keeps the discovered rules when the discovery settings become invalid, and names the field', async () => {
    const { name } = await discoveringProfile('invalid');
    await profileWith(name, 'Discovered', 'True');
    await eventually('3 GNPs', async () => (await gnpsOf(name)).size === 3);
    const working = await gnpsOf(name);

    // Admission cannot know that this endpoint belongs to another region; the operator does.
    const p = await getProfile(name);
    (p.spec.discovery!.ibmCloud as unknown as Record<string, unknown>).endpoint =
      'https://eu-de.iaas.cloud.ibm.com/v1';
    await profiles.update(p);
    const invalid = await profileWith(name, 'Discovered', 'False', 'InvalidSettings');
    expect(conditionOf(invalid, 'Discovered')?.message).toContain('spec.discovery.ibmCloud.endpoint');
    expect(conditionOf(invalid, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'InvalidDiscoverySettings',
    });
    const after = await gnpsOf(name);
    for (const [policy, gnp] of working) expect(after.get(policy)?.spec).toEqual(gnp.spec);
    expect(after.size).toBe(working.size);
    await deleteProfile(name);
  }, 120_000);

  it('turned off, leaves no discovery in the status: only spec.zones, its rules and Ready', async () => {
    const { name } = await discoveringProfile('off');
    const discovering = await profileWith(name, 'Discovered', 'True');
    expect(discovering.status?.discoveredZones).toHaveLength(3);
    expect(discovering.status?.lastDiscoveryTime).toBeDefined();

    const p = await getProfile(name);
    delete p.spec.discovery;
    p.spec.zones = [{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }];
    await profiles.update(p);
    const off = await eventually(`${name}: no discovery in the status`, async () => {
      const current = await getProfile(name);
      return current.status?.observedGeneration === current.metadata.generation &&
        current.status?.discoveredZones === undefined
        ? current
        : undefined;
    });
    expect(off.status?.lastDiscoveryTime).toBeUndefined();
    expect(off.status?.conditions?.map((c) => c.type).sort()).not.toContain('Discovered');
    expect(off.status?.conditions?.map((c) => c.type)).not.toContain('Degraded');
    expect(conditionOf(off, 'Ready')?.status).toBe('True');
    await eventually('only the hand-listed zone', async () =>
      [...(await gnpsOf(name)).keys()].join() === 'allow-vpe-gateway-off-us-south-1' ? true : undefined,
    );
    await deleteProfile(name);
  }, 120_000);
});
