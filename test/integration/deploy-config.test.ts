/**
 * config/default against the real API server: every object it builds is accepted by a server-side dry run with
 * strict field validation (a misspelt or unknown field fails here, not at a user's `kubectl apply`), and the
 * operator's pod is admitted into a namespace that enforces the restricted Pod Security Standard.
 *
 * Dry runs only: nothing but the test namespace and the ServiceAccount (created in it for real) is persisted.
 * Namespaced objects are moved into the test namespace and cluster-scoped names get a unique suffix, so parallel
 * files and repeated runs never collide. The CRD is left out: the run's setup installed it already.
 */
import type { KubeObject } from '../../src/api/kube.js';
import { KubeClient } from '../../src/kube/client.js';
import { ApiError } from '../../src/kube/errors.js';
import { kustomizeBuild, type Manifest } from '../unit/kustomize.js';
import { createTestNamespace, deleteTestNamespace, testKubeConfig, uniqueName } from './harness.js';

const OPERATOR_NAMESPACE = 'calico-vpc-system';
const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
};

interface PodTemplateOwner {
  spec: { template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> } };
}

const kc = testKubeConfig();
const client = new KubeClient(kc);
const suffix = uniqueName('t').slice(2);

/** POSTs an object with ?fieldValidation=Strict (and dryRun=All unless told), finding its resource by discovery. */
async function strictCreate(object: Manifest, { persist = false } = {}): Promise<void> {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion];
  const resources = await client.discovery.serverResources(group as string, version as string);
  const info = resources?.find((r) => r.kind === object.kind && !r.name.includes('/'));
  if (!info) throw new Error(`the server does not serve ${object.apiVersion} ${object.kind}`);
  const resource = client.resource({
    group: group as string,
    version: version as string,
    plural: info.name,
    namespaced: info.namespaced,
  });
  await client.request<KubeObject>({
    method: 'POST',
    path: resource.path(info.namespaced ? object.metadata.namespace : undefined),
    query: {
      dryRun: persist ? undefined : 'All',
      fieldValidation: 'Strict',
      fieldManager: 'calico-vpc-config-test',
    },
    body: object,
  });
}

/** config/default relocated into `namespace`, cluster-scoped names suffixed, references rewritten to match. */
function relocate(manifests: readonly Manifest[], namespace: string): Manifest[] {
  const clusterScopedNames = new Map<string, string>();
  for (const m of manifests) {
    if (m.kind === 'ClusterRole' || m.kind === 'ClusterRoleBinding') {
      clusterScopedNames.set(m.metadata.name, `${m.metadata.name}-${suffix}`);
    }
  }
  return manifests
    .filter((m) => m.kind !== 'CustomResourceDefinition')
    .map((original) => {
      const m = structuredClone(original) as Manifest & {
        roleRef?: { kind: string; name: string };
        subjects?: { namespace?: string }[];
      };
      if (m.kind === 'Namespace') m.metadata.name = `${m.metadata.name}-${suffix}`;
      else if (m.metadata.namespace === OPERATOR_NAMESPACE) m.metadata.namespace = namespace;
      m.metadata.name = clusterScopedNames.get(m.metadata.name) ?? m.metadata.name;
      if (m.roleRef?.kind === 'ClusterRole')
        m.roleRef.name = clusterScopedNames.get(m.roleRef.name) ?? m.roleRef.name;
      for (const subject of m.subjects ?? []) {
        if (subject.namespace === OPERATOR_NAMESPACE) subject.namespace = namespace;
      }
      return m;
    });
}

function podFrom(deployment: Manifest, namespace: string): Manifest {
  const { template } = (deployment as unknown as PodTemplateOwner).spec;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: uniqueName('manager'), namespace, labels: template.metadata.labels },
    spec: structuredClone(template.spec),
  };
}

describe('config/default on a real API server', () => {
  const built = kustomizeBuild('config/default');
  let namespace: string;
  let objects: Manifest[];

  beforeAll(async () => {
    namespace = await createTestNamespace(kc, 'deploy-config', RESTRICTED);
    objects = relocate(built, namespace);
    // Pod admission looks the ServiceAccount up, so it alone is created for real (a dry run persists nothing).
    await strictCreate(objects.find((m) => m.kind === 'ServiceAccount') as Manifest, { persist: true });
  });

  afterAll(async () => {
    if (namespace) await deleteTestNamespace(kc, namespace);
  });

  it('is accepted object by object with strict field validation', async () => {
    const rejected: string[] = [];
    for (const object of objects.filter((m) => m.kind !== 'ServiceAccount')) {
      await strictCreate(object).catch((err: unknown) => {
        rejected.push(
          `${object.kind}/${object.metadata.name}: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
    }
    expect(rejected).toEqual([]);
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'ClusterRole', 'Role']));
  });

  it('would reject an unknown field (the strictness above is real)', async () => {
    const deployment = structuredClone(objects.find((m) => m.kind === 'Deployment') as Manifest);
    (deployment.spec as Record<string, unknown>).replicaz = 2;
    const err = await strictCreate(deployment).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toContain('replicaz');
  });

  it('runs a pod the restricted Pod Security Standard admits', async () => {
    const deployment = objects.find((m) => m.kind === 'Deployment') as Manifest;
    await expect(strictCreate(podFrom(deployment, namespace))).resolves.toBeUndefined();
  });

  it('would be refused without its hardening (the namespace really enforces restricted)', async () => {
    const deployment = objects.find((m) => m.kind === 'Deployment') as Manifest;
    const pod = podFrom(deployment, namespace);
    const containers = (pod.spec as { containers: { securityContext?: Record<string, unknown> }[] })
      .containers;
    for (const c of containers) delete c.securityContext?.allowPrivilegeEscalation;
    const err = await strictCreate(pod).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(/violates PodSecurity "restricted/);
  });
});
