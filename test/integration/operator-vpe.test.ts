/**
 * VpcEgressProfile -> per-zone VPE gateway GNPs, reconciled by the real operator against a real API server:
 * create, no-op restart, update, prune, drift repair, deletion, invalid update, conflict, foreign objects, and
 * both Calico API flavours.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { VpcEgressProfile } from '../../src/api/v1alpha1.js';
import type { CalicoApi } from '../../src/calico/flavour.js';
import { KubeClient } from '../../src/kube/client.js';
import { isConflict, isInvalid } from '../../src/kube/errors.js';
import type { LocalControlPlane } from '../../src/controlplane/local.js';
import { eventually, startDedicatedControlPlane, uniqueName } from './harness.js';
import { gnpClient, startOperator, type RunningOperator } from './operator.js';
import { VPC_EGRESS_PROFILES } from '../../src/kube/resources.js';

const describeOrSkip = process.env.USE_EXISTING_CLUSTER === 'true' ? describe.skip : describe;
// Skipped against an existing cluster: these tests start their own control plane so that the operator under test
// is the only one reconciling it.

function profile(
  name: string,
  zones: Record<string, string[]>,
  extra: Partial<VpcEgressProfile['spec']> = {},
) {
  return {
    apiVersion: 'calico-vpc.io/v1alpha1',
    kind: 'VpcEgressProfile',
    metadata: { name },
    spec: {
      vpc: 'prod-vpc',
      zones: Object.entries(zones).map(([z, p]) => ({ name: z, addressPrefixes: p })),
      ...extra,
    },
  } as VpcEgressProfile;
}

describeOrSkip.each(['v3', 'crd'] as CalicoApi[])('VPE gateway rules written as %s', (api) => {
  let cp: LocalControlPlane;
  let kc: KubeConfig;
  let op: RunningOperator;
  let profiles: ReturnType<KubeClient['resource']>;
  let gnps: ReturnType<typeof gnpClient>;
  let getAsTable: (
    path: string,
  ) => Promise<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>;
  const stored = (name: string) => (api === 'crd' ? `default.${name}` : name);

  beforeAll(async () => {
    const started = await startDedicatedControlPlane();
    if (!started) throw new Error('unreachable: skipped above');
    ({ cp, kc } = started);
    profiles = new KubeClient(kc).resource(VPC_EGRESS_PROFILES);
    gnps = gnpClient(kc, api);
    op = await startOperator(kc, { calicoApi: api });
    getAsTable = (path) =>
      new KubeClient(kc).request({
        method: 'GET',
        path,
        accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
      });
  });
  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  const getProfile = (name: string) => profiles.get(name) as Promise<VpcEgressProfile>;
  /** Read-modify-write that retries when the operator's status write got in between (409), as kubectl edit would. */
  const updateProfile = async (name: string, mutate: (p: VpcEgressProfile) => void): Promise<boolean> => {
    for (let attempt = 0; ; attempt++) {
      const p = await getProfile(name);
      mutate(p);
      try {
        await profiles.update(p);
        return true;
      } catch (err) {
        if (!isConflict(err) || attempt > 20) {
          if (isInvalid(err)) return false;
          throw err;
        }
      }
    }
  };

  it('creates one GNP per zone with exactly the seed shape, and reports status', async () => {
    const name = uniqueName('p');
    await profiles.create(
      profile(name, { 'us-south-1': ['10.240.0.0/18'], 'us-south-2': ['10.240.64.0/18', '10.250.0.0/24'] }),
    );
    const gnp = await eventually('the us-south-2 GNP', () =>
      gnps.get(stored('allow-vpe-gateway-registry-us-south-2')),
    );
    expect(gnp.spec).toEqual(
      expect.objectContaining({
        order: 500,
        selector: "ibm.role == 'worker_private'",
        types: ['Egress'],
        egress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            source: {},
            destination: { nets: ['10.240.64.0/18', '10.250.0.0/24'], ports: [443, 4443] },
          },
        ],
      }),
    );
    expect(gnp.metadata.labels).toEqual(
      expect.objectContaining({
        'app.kubernetes.io/managed-by': 'calico-vpc-operator',
        'calico-vpc.io/profile': name,
        'calico-vpc.io/zone': 'us-south-2',
        'calico-vpc.io/gateway': 'registry',
      }),
    );
    const ready = await eventually('Ready=True', async () => {
      const p = await getProfile(name);
      const c = p.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.status === 'True' && p.status?.observedGeneration === p.metadata.generation ? p : undefined;
    });
    expect(ready.status?.policies).toEqual([
      'allow-vpe-gateway-registry-us-south-1',
      'allow-vpe-gateway-registry-us-south-2',
    ]);
    expect(ready.status?.zones).toEqual([
      { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] },
      { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18', '10.250.0.0/24'] },
    ]);
    expect(ready.status?.zoneCount).toBe(2);
    // What `kubectl get vep` prints: the server's Table, the ZONES column counting every zone.
    const table = await getAsTable(`/apis/calico-vpc.io/v1alpha1/vpcegressprofiles/${name}`);
    const zonesColumn = table.columnDefinitions.findIndex((c) => c.name === 'Zones');
    expect(table.rows[0]?.cells[zonesColumn]).toBe(2);
    await profiles.delete(name);
    await eventually(
      'its GNPs deleted',
      async () => !(await gnps.managed()).has(stored('allow-vpe-gateway-registry-us-south-1')),
    );
  });

  it('updates a zone, prunes a removed zone, repairs drift, and deletes with the profile', async () => {
    const name = uniqueName('p');
    await profiles.create(profile(name, { 'eu-de-1': ['10.243.0.0/18'], 'eu-de-2': ['10.243.64.0/18'] }));
    const zone1 = stored('allow-vpe-gateway-registry-eu-de-1');
    const zone2 = stored('allow-vpe-gateway-registry-eu-de-2');
    await eventually('both GNPs', async () => (await gnps.get(zone1)) && (await gnps.get(zone2)));

    // Update: an added prefix, adjacent to the first, aggregates into one /17.
    await updateProfile(name, (p) => {
      p.spec.zones = [{ name: 'eu-de-1', addressPrefixes: ['10.243.0.0/18', '10.243.64.0/18'] }];
    });
    await eventually('zone 1 aggregated', async () => {
      const g = await gnps.get(zone1);
      return JSON.stringify(g?.spec.egress?.[0]?.destination?.nets) === JSON.stringify(['10.243.0.0/17']);
    });
    await eventually('zone 2 pruned', async () => (await gnps.get(zone2)) === undefined);

    // Drift: edit by hand -> restored.
    const live = (await gnps.get(zone1))!;
    live.spec.egress![0]!.destination!.ports = [443];
    await gnps.resource.update(live);
    await eventually('the edit reverted', async () => {
      const g = await gnps.get(zone1);
      return JSON.stringify(g?.spec.egress?.[0]?.destination?.ports) === '[443,4443]';
    });
    // Drift: delete by hand -> recreated.
    await gnps.resource.delete(zone1);
    await eventually('recreated', () => gnps.get(zone1));

    await profiles.delete(name);
    await eventually('GNP deleted with its profile', async () => (await gnps.get(zone1)) === undefined);
  });

  it('keeps the last good GNPs when an update is invalid, and says why', async () => {
    const name = uniqueName('p');
    await profiles.create(profile(name, { 'jp-tok-1': ['10.244.0.0/18'] }));
    const zone = stored('allow-vpe-gateway-registry-jp-tok-1');
    const before = await eventually('the GNP', () => gnps.get(zone));
    // 169.254.0.0/16 (link-local) is not a VPC address prefix. Whether admission or the reconciler rejects it,
    // nothing that works may be deleted or weakened.
    const admitted = await updateProfile(name, (p) => {
      p.spec.zones = [{ name: 'jp-tok-1', addressPrefixes: ['169.254.0.0/18'] }];
    });
    if (admitted) {
      const invalid = await eventually('Ready=False InvalidSpec', async () => {
        const q = await getProfile(name);
        const c = q.status?.conditions?.find((x) => x.type === 'Ready');
        return c?.status === 'False' && c.reason === 'InvalidSpec' ? c : undefined;
      });
      expect(invalid.message).toContain('169.254.0.0/18');
    }
    expect(await gnps.get(zone)).toEqual(expect.objectContaining({ spec: before.spec }));

    // Admission cannot see that two (gateway, zone) pairs make the same policy name; the reconciler can.
    expect(
      await updateProfile(name, (q) => {
        q.spec.zones = [
          { name: 'jp-tok-1', addressPrefixes: ['10.244.0.0/18'] },
          { name: 'tok-1', addressPrefixes: ['10.245.0.0/18'] },
        ];
        q.spec.gateways = [
          { name: 'registry', protocol: 'TCP', ports: [443, 4443] },
          { name: 'registry-jp', protocol: 'TCP', ports: [443] },
        ];
      }),
    ).toBe(true);
    const invalid = await eventually('Ready=False InvalidSpec', async () => {
      const r = await getProfile(name);
      const c = r.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.status === 'False' &&
        c.reason === 'InvalidSpec' &&
        r.status?.observedGeneration === r.metadata.generation
        ? r
        : undefined;
    });
    expect(invalid.status?.conditions?.find((x) => x.type === 'Invalid')?.message).toContain(
      'allow-vpe-gateway-registry-jp-tok-1',
    );
    expect(invalid.status?.policies).toEqual(['allow-vpe-gateway-registry-jp-tok-1']);
    // Nothing that worked was deleted or weakened, and nothing new was written from the broken spec.
    expect((await gnps.get(zone))?.spec).toEqual(before.spec);
    expect(await gnps.get(stored('allow-vpe-gateway-registry-tok-1'))).toBeUndefined();
    await profiles.delete(name);
  });

  it('lets the older of two profiles claiming a zone keep it; the newer reports Conflict', async () => {
    const older = uniqueName('older');
    const newer = uniqueName('newer');
    await profiles.create(profile(older, { 'br-sao-1': ['10.250.0.0/18'] }));
    const zone = stored('allow-vpe-gateway-registry-br-sao-1');
    await eventually('the older profile GNP', () => gnps.get(zone));
    // creationTimestamp has one-second resolution: make the order unambiguous.
    await new Promise((r) => setTimeout(r, 1100));
    await profiles.create(profile(newer, { 'br-sao-1': ['10.99.0.0/18'] }));
    const conflict = await eventually('Conflict=True on the newer', async () => {
      const q = await getProfile(newer);
      return q.status?.conditions?.find((x) => x.type === 'Conflict' && x.status === 'True');
    });
    expect(conflict.message).toContain(older);
    const g = await gnps.get(zone);
    expect(g?.metadata.labels?.['calico-vpc.io/profile']).toBe(older);
    expect(g?.spec.egress?.[0]?.destination?.nets).toEqual(['10.250.0.0/18']);

    // The older goes away: the newer takes over.
    await profiles.delete(older);
    await eventually(
      'the newer owns it',
      async () => (await gnps.get(zone))?.metadata.labels?.['calico-vpc.io/profile'] === newer,
    );
    await profiles.delete(newer);
  });

  it('never touches a GNP it does not own', async () => {
    const foreign = {
      apiVersion: api === 'v3' ? 'projectcalico.org/v3' : 'crd.projectcalico.org/v1',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: stored('allow-vpe-gateway-registry-ca-tor-1') },
      spec: { order: 10, selector: 'all()', types: ['Egress'], egress: [{ action: 'Deny' }] },
    };
    await gnps.resource.create(foreign as never);
    const name = uniqueName('p');
    await profiles.create(profile(name, { 'ca-tor-1': ['10.249.0.0/18'] }));
    await eventually('Ready=False with a reason', async () => {
      const q = await getProfile(name);
      const c = q.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.status === 'False' && /not managed/.test(c.message) ? c : undefined;
    });
    const g = await gnps.get(foreign.metadata.name);
    expect(g?.spec.order).toBe(10);
    expect(g?.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    await profiles.delete(name);
    await new Promise((r) => setTimeout(r, 500));
    expect(await gnps.get(foreign.metadata.name)).toBeDefined();
  });

  it('makes zero writes when restarted on a converged cluster', async () => {
    const name = uniqueName('p');
    await profiles.create(profile(name, { 'us-east-1': ['10.241.0.0/18'], 'us-east-2': ['10.241.64.0/18'] }));
    await eventually('converged', async () => {
      const q = await getProfile(name);
      return q.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
    });
    await op.stop();
    op = await startOperator(kc, { calicoApi: api });
    // Ready means every key known at sync has been reconciled once.
    expect(await op.writes()).toBe(0);
    await profiles.delete(name);
  });
});
