/**
 * The foundation, end to end: a real kube-apiserver with our CRD and both Calico API groups installed;
 * objects applied, read back, and seen through a watch.
 */
import { CustomObjectsApi, NetworkingV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import { applyObjects, readManifests } from '../../src/controlplane/install.js';
import { deleteTestNamespace, eventually, integrationState, testKubeConfig, uniqueName } from './harness.js';

const gnp = (apiVersion: string, name: string) => ({
  apiVersion,
  kind: 'GlobalNetworkPolicy',
  metadata: { name, labels: { test: 'controlplane' } },
  spec: {
    order: 500,
    selector: "ibm.role == 'worker_private'",
    types: ['Egress'],
    egress: [
      {
        action: 'Allow',
        protocol: 'TCP',
        source: {},
        destination: { nets: ['10.245.0.0/16'], ports: [443, 4443] },
      },
    ],
  },
});

describe('local control plane', () => {
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  beforeAll(() => {
    kc = testKubeConfig();
    custom = kc.makeApiClient(CustomObjectsApi);
  });

  it('is a real kube-apiserver', () => {
    const { serverVersion, existingCluster } = integrationState();
    expect(serverVersion).toMatch(/^v1\.\d+\.\d+/);
    if (!existingCluster) expect(serverVersion).toBe('v1.36.3');
  });

  it.each([
    ['projectcalico.org', 'v3'],
    ['crd.projectcalico.org', 'v1'],
  ])('stores a Calico GlobalNetworkPolicy in %s/%s and reads it back', async (group, version) => {
    // crd.projectcalico.org stores default-tier policies as `default.<name>` (Calico's own convention).
    const name = group === 'crd.projectcalico.org' ? `default.${uniqueName('vpe')}` : uniqueName('vpe');
    const body = gnp(`${group}/${version}`, name);
    await custom.createClusterCustomObject({ group, version, plural: 'globalnetworkpolicies', body });
    const back = (await custom.getClusterCustomObject({
      group,
      version,
      plural: 'globalnetworkpolicies',
      name,
    })) as typeof body;
    expect(back.spec.egress[0]?.destination).toEqual({ nets: ['10.245.0.0/16'], ports: [443, 4443] });
    expect(back.spec.selector).toBe("ibm.role == 'worker_private'");
    await custom.deleteClusterCustomObject({ group, version, plural: 'globalnetworkpolicies', name });
  });

  it('serves our VpcEgressProfile CRD and delivers watch events for it', async () => {
    const name = uniqueName('profile');
    const seen: string[] = [];
    const watch = new Watch(kc);
    const req = await watch.watch(
      '/apis/calico-vpc.io/v1alpha1/vpcegressprofiles',
      { fieldSelector: `metadata.name=${name}` },
      (type: string) => seen.push(type),
      () => undefined,
    );
    try {
      await custom.createClusterCustomObject({
        group: 'calico-vpc.io',
        version: 'v1alpha1',
        plural: 'vpcegressprofiles',
        body: {
          apiVersion: 'calico-vpc.io/v1alpha1',
          kind: 'VpcEgressProfile',
          metadata: { name },
          spec: { zones: [{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }] },
        },
      });
      await eventually('an ADDED event', () => seen.includes('ADDED'));
      await custom.deleteClusterCustomObject({
        group: 'calico-vpc.io',
        version: 'v1alpha1',
        plural: 'vpcegressprofiles',
        name,
      });
      await eventually('a DELETED event', () => seen.includes('DELETED'));
    } finally {
      req.abort();
    }
  });

  it('installs manifests losslessly: a NetworkPolicy peer keeps its `from` (allow from these pods, not anyone)', async () => {
    const ns = uniqueName('apply');
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      ...readManifests('config/samples/accounts-finance.yaml')
        .filter((o) => o.kind === 'NetworkPolicy')
        .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } })),
    ];
    await applyObjects(kc, objects);
    const np = await kc
      .makeApiClient(NetworkingV1Api)
      .readNamespacedNetworkPolicy({ name: 'backend-allow', namespace: ns });
    expect(np.spec?.ingress?.[0]?._from?.[0]?.podSelector?.matchLabels).toEqual({
      app: 'Srv1',
      tier: 'frontend',
    });
    await deleteTestNamespace(kc, ns);
  });

  it('installs our CRD with every CEL rule: admission rejects a prefix with host bits', async () => {
    const err = await custom
      .createClusterCustomObject({
        group: 'calico-vpc.io',
        version: 'v1alpha1',
        plural: 'vpcegressprofiles',
        body: {
          apiVersion: 'calico-vpc.io/v1alpha1',
          kind: 'VpcEgressProfile',
          metadata: { name: uniqueName('bad') },
          spec: { zones: [{ name: 'us-south-1', addressPrefixes: ['10.240.1.0/18'] }] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(String((err as { body?: unknown })?.body ?? err)).toContain('host bits');
  });
});
