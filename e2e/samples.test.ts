/**
 * config/samples applied to the cluster: the operator (deployed, or in-process) writes the GNPs they mean —
 * computed here with the same pure translations and storage rules, in the Calico API the cluster serves — reports
 * the profile's status, follows an edit and a deletion, and removes everything when the samples go.
 */
import { join } from 'node:path';
import type { Condition, KubeObject, Namespace, NetworkPolicy } from '../src/api/kube.js';
import type { VpcEgressProfile } from '../src/api/v1alpha1.js';
import { DEFAULT_TIER, type GlobalNetworkPolicy } from '../src/calico/types.js';
import { readManifests } from '../src/controlplane/install.js';
import { REPO_ROOT } from '../src/controlplane/local.js';
import type { ResourceClient } from '../src/kube/resource.js';
import { translateNetworkPolicy } from '../src/translate/networkpolicy.js';
import { translateProfile } from '../src/vpe/rules.js';
import { applyManifests, resourceFor } from './support/apply.js';
import {
  CONVERGE_MS,
  connectE2eCluster,
  eventually,
  getOrUndefined,
  type E2eCluster,
} from './support/cluster.js';

const SAMPLES = readManifests(join(REPO_ROOT, 'config', 'samples')) as KubeObject[];
const byKind = <T extends KubeObject>(kind: string) => SAMPLES.filter((o) => o.kind === kind) as T[];
const SAMPLE_NAMESPACES = byKind<Namespace>('Namespace');
const SAMPLE_POLICIES = byKind<NetworkPolicy>('NetworkPolicy');
const [SAMPLE_PROFILE] = byKind<VpcEgressProfile>('VpcEgressProfile');

function translatedPolicy(np: NetworkPolicy): GlobalNetworkPolicy {
  const translation = translateNetworkPolicy(np);
  if (!translation.ok)
    throw new Error(`sample ${np.metadata.name} does not translate: ${JSON.stringify(translation.errors)}`);
  return translation.policy;
}

function translatedProfile(profile: VpcEgressProfile): GlobalNetworkPolicy[] {
  const translation = translateProfile(profile);
  if (!translation.ok)
    throw new Error(`sample profile does not translate: ${JSON.stringify(translation.errors)}`);
  return translation.value.policies;
}

/** Calico's v3 API defaults an absent `spec.tier` (src/calico/compare.ts tells defaults from drift the same way). */
const withDefaultTier = (spec: GlobalNetworkPolicy['spec']) => ({ ...spec, tier: spec.tier ?? DEFAULT_TIER });

/**
 * Throws (with the difference) unless the stored GNP is the expected one: spec exactly (but for a defaulted
 * tier), our labels present.
 */
function expectStored(live: GlobalNetworkPolicy | undefined, expected: GlobalNetworkPolicy): true {
  if (!live) throw new Error(`GNP ${expected.metadata.name} does not exist`);
  expect(withDefaultTier(live.spec)).toEqual(withDefaultTier(expected.spec));
  expect(live.metadata.labels).toEqual(expect.objectContaining(expected.metadata.labels));
  return true;
}

describe('config/samples on the cluster', () => {
  let cluster: E2eCluster;
  let policies: ResourceClient<KubeObject>;
  let namespaces: ResourceClient<KubeObject>;
  let profiles: ResourceClient<KubeObject>;
  /** Sample objects that existed before this file ran: left as they were found. */
  const preexisting = new Set<string>();

  beforeAll(async () => {
    if (!SAMPLE_PROFILE || SAMPLE_POLICIES.length === 0)
      throw new Error('config/samples lost its profile or policies');
    cluster = await connectE2eCluster();
    policies = await resourceFor(cluster.client, SAMPLE_POLICIES[0] as KubeObject);
    namespaces = await resourceFor(cluster.client, SAMPLE_NAMESPACES[0] as KubeObject);
    profiles = await resourceFor(cluster.client, SAMPLE_PROFILE);
    for (const ns of SAMPLE_NAMESPACES) {
      if (await getOrUndefined(namespaces, ns.metadata.name))
        preexisting.add(`Namespace/${ns.metadata.name}`);
    }
    if (await getOrUndefined(profiles, SAMPLE_PROFILE.metadata.name))
      preexisting.add(`VpcEgressProfile/${SAMPLE_PROFILE.metadata.name}`);
    if (preexisting.size > 0) {
      process.stderr.write(
        `e2e: ${[...preexisting].join(', ')} existed before the suite; they are re-applied but not deleted\n`,
      );
    }
  }, CONVERGE_MS * 2);

  afterAll(async () => {
    await cluster?.close();
  }, CONVERGE_MS);

  const gnp = (policy: GlobalNetworkPolicy) =>
    getOrUndefined(cluster.gnps, cluster.stored(policy).metadata.name);

  it(
    'writes the GNPs the samples mean and reports the profile Ready',
    async () => {
      await applyManifests(cluster.client, SAMPLES);

      for (const np of SAMPLE_POLICIES) {
        const expected = cluster.stored(translatedPolicy(np));
        await eventually(
          `the GNP of NetworkPolicy ${np.metadata.name}`,
          async () => expectStored(await gnp(translatedPolicy(np)), expected),
          CONVERGE_MS,
          500,
        );
      }
      const accountsAllow = await gnp(
        translatedPolicy(SAMPLE_POLICIES.find((np) => np.metadata.name === 'accounts-allow')!),
      );
      expect(accountsAllow?.spec.selector).toContain("projectcalico.org/namespace == 'accounts'");
      expect(accountsAllow?.spec.ingress).toEqual([
        {
          action: 'Allow',
          protocol: 'TCP',
          source: {
            selector: "projectcalico.org/orchestrator == 'k8s'",
            namespaceSelector: "usage == 'finance'",
          },
          destination: { ports: [3111] },
        },
      ]);

      const vpePolicies = translatedProfile(SAMPLE_PROFILE!);
      expect(vpePolicies.map((p) => p.metadata.name)).toEqual([
        'allow-vpe-gateway-registry-us-south-1',
        'allow-vpe-gateway-registry-us-south-2',
        'allow-vpe-gateway-registry-us-south-3',
      ]);
      for (const policy of vpePolicies) {
        const expected = cluster.stored(policy);
        await eventually(
          `GNP ${policy.metadata.name}`,
          async () => expectStored(await gnp(policy), expected),
          CONVERGE_MS,
          500,
        );
      }
      const profile = await eventually(
        'the profile to be Ready for its current generation',
        async () => {
          const p = (await profiles.get(SAMPLE_PROFILE!.metadata.name)) as VpcEgressProfile;
          const ready = p.status?.conditions?.find((c: Condition) => c.type === 'Ready');
          return ready?.status === 'True' && p.status?.observedGeneration === p.metadata.generation && p;
        },
        CONVERGE_MS,
        500,
      );
      expect(profile.status?.policies).toEqual(vpePolicies.map((p) => p.metadata.name));
      expect(profile.status?.zones).toEqual([
        { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] },
        { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
        { name: 'us-south-3', addressPrefixes: ['10.240.128.0/18'] },
      ]);
    },
    CONVERGE_MS * 3,
  );

  it(
    'follows an edit and a deletion of a sample policy, and re-applying the samples restores them',
    async () => {
      const sample = SAMPLE_POLICIES.find((np) => np.metadata.name === 'accounts-allow')!;
      const edited: NetworkPolicy = structuredClone(sample);
      edited.spec.ingress![0]!.ports = [
        { protocol: 'TCP', port: 3111 },
        { protocol: 'TCP', port: 3112 },
      ];
      await applyManifests(cluster.client, [edited]);
      await eventually(
        'the edit in the GNP',
        async () =>
          expectStored(await gnp(translatedPolicy(edited)), cluster.stored(translatedPolicy(edited))),
        CONVERGE_MS,
        500,
      );
      expect((await gnp(translatedPolicy(edited)))?.spec.ingress?.[0]?.destination?.ports).toEqual([
        '3111:3112',
      ]);

      const dbAllow = SAMPLE_POLICIES.find((np) => np.metadata.name === 'db-allow')!;
      await policies.delete(dbAllow.metadata.name, { namespace: dbAllow.metadata.namespace });
      await eventually(
        'the deleted policy GNP gone',
        async () => (await gnp(translatedPolicy(dbAllow))) === undefined,
        CONVERGE_MS,
        500,
      );

      await applyManifests(cluster.client, SAMPLES);
      for (const np of [sample, dbAllow]) {
        await eventually(
          `the GNP of ${np.metadata.name} as the sample says`,
          async () => expectStored(await gnp(translatedPolicy(np)), cluster.stored(translatedPolicy(np))),
          CONVERGE_MS,
          500,
        );
      }
    },
    CONVERGE_MS * 3,
  );

  it(
    'removes every GNP of the samples when they are deleted',
    async () => {
      const created = SAMPLES.filter(
        (o) => !preexisting.has(`${o.kind}/${o.metadata?.name}`) && o.kind !== 'NetworkPolicy',
      );
      if (created.length < SAMPLE_NAMESPACES.length + 1) {
        // The user's own copies of the samples are never deleted; nothing to check then.
        process.stderr.write('e2e: samples existed before the suite, so their deletion is not tested\n');
        return;
      }
      await profiles.delete(SAMPLE_PROFILE!.metadata.name);
      for (const ns of SAMPLE_NAMESPACES) await namespaces.delete(ns.metadata.name);

      for (const policy of [
        ...SAMPLE_POLICIES.map(translatedPolicy),
        ...translatedProfile(SAMPLE_PROFILE!),
      ]) {
        await eventually(
          `GNP ${policy.metadata.name} removed`,
          async () => (await gnp(policy)) === undefined,
          CONVERGE_MS,
          500,
        );
      }
      // Gone for good, so the next file (or run) can apply the samples again.
      for (const ns of SAMPLE_NAMESPACES) {
        await eventually(
          `namespace ${ns.metadata.name} gone`,
          async () => (await getOrUndefined(namespaces, ns.metadata.name)) === undefined,
          CONVERGE_MS,
          1000,
        );
      }
    },
    CONVERGE_MS * 3,
  );
});
