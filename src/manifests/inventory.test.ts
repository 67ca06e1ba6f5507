import { NAMESPACE_NAME_LABEL } from '../api/kube.js';
import { buildInventory, classify } from './inventory.js';
import { parseManifests } from './parse.js';
import { manifestsFromSources } from './index.js';

const yaml = (...docs: string[]) => docs.join('\n---\n');
const inventoryOf = (text: string, file = 'in.yaml') =>
  buildInventory(parseManifests([{ file, text }]).objects);

const deployment = (name: string, namespace: string, labels: string, extra = '') => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  template:
    metadata: {labels: ${labels}}
    spec:
      containers:
      - name: c
        ports: [{name: http, containerPort: 8080}, {containerPort: 53, protocol: UDP}]
${extra}`;

describe('classify', () => {
  it('tells Kubernetes NetworkPolicies from Calico ones and knows both Calico API groups', () => {
    expect(classify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' })).toBe('NetworkPolicy');
    expect(classify({ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy' })).toBe(
      'CalicoNetworkPolicy',
    );
    expect(classify({ apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkPolicy' })).toBe(
      'CalicoNetworkPolicy',
    );
    expect(classify({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy' })).toBe(
      'GlobalNetworkPolicy',
    );
    expect(classify({ apiVersion: 'crd.projectcalico.org/v1', kind: 'GlobalNetworkPolicy' })).toBe(
      'GlobalNetworkPolicy',
    );
    expect(classify({ apiVersion: 'calico-vpc.io/v1alpha1', kind: 'VpcEgressProfile' })).toBe(
      'VpcEgressProfile',
    );
    expect(classify({ apiVersion: 'batch/v1', kind: 'CronJob' })).toBe('workload');
    expect(classify({ apiVersion: 'v1', kind: 'ReplicationController' })).toBe('workload');
    expect(classify({ apiVersion: 'v1', kind: 'Service' })).toBe('other');
    expect(classify({ apiVersion: undefined, kind: 'Pod' })).toBe('other');
  });
});

describe('buildInventory', () => {
  it('turns every workload kind into one endpoint with its template labels, ports and itself as owner', () => {
    const kinds = ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'].map(
      (kind) =>
        `apiVersion: apps/v1\nkind: ${kind}\nmetadata: {name: ${kind.toLowerCase()}, namespace: w}\nspec:\n  template:\n    metadata: {labels: {kind: ${kind}}}\n    spec: {containers: [{name: c}]}`,
    );
    const job = `apiVersion: batch/v1\nkind: Job\nmetadata: {name: job, namespace: w}\nspec: {template: {metadata: {labels: {kind: Job}}, spec: {containers: [{name: c}]}}}`;
    const cron = `apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cron, namespace: w}\nspec: {jobTemplate: {spec: {template: {metadata: {labels: {kind: CronJob}}, spec: {containers: [{name: c}]}}}}}`;
    const rc = `apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc, namespace: w}\nspec: {template: {metadata: {labels: {kind: RC}}, spec: {containers: [{name: c}]}}}`;
    const inventory = inventoryOf(yaml(...kinds, job, cron, rc));
    expect(inventory.errors).toEqual([]);
    expect(inventory.endpoints.map((e) => [e.owner.kind, e.owner.name, e.labels.kind])).toEqual([
      ['CronJob', 'cron', 'CronJob'],
      ['DaemonSet', 'daemonset', 'DaemonSet'],
      ['Deployment', 'deployment', 'Deployment'],
      ['Job', 'job', 'Job'],
      ['ReplicationController', 'rc', 'RC'],
      ['ReplicaSet', 'replicaset', 'ReplicaSet'],
      ['StatefulSet', 'statefulset', 'StatefulSet'],
    ]);
    expect(inventory.endpoints.find((e) => e.owner.kind === 'CronJob')?.labelsPath).toEqual([
      'spec',
      'jobTemplate',
      'spec',
      'template',
      'metadata',
      'labels',
    ]);
  });

  it('reads container ports with TCP as the default protocol, sidecars included', () => {
    const inventory = inventoryOf(
      yaml(
        deployment('web', 'shop', '{app: web}'),
        `apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  initContainers:\n  - {name: once, ports: [{containerPort: 1}]}\n  - {name: sidecar, restartPolicy: Always, ports: [{containerPort: 9090, name: metrics}]}\n  containers: [{name: c}]\nstatus: {podIP: 10.0.0.5, podIPs: [{ip: 10.0.0.5}, {ip: 'fd00::5'}]}`,
      ),
    );
    const [pod, web] = inventory.endpoints;
    expect(web?.ports).toEqual([
      { containerPort: 8080, protocol: 'TCP', name: 'http' },
      { containerPort: 53, protocol: 'UDP' },
    ]);
    expect(pod?.ports).toEqual([{ containerPort: 9090, protocol: 'TCP', name: 'metrics' }]);
    expect(pod?.ips).toEqual(['10.0.0.5', 'fd00::5']);
    expect(pod?.owner).toEqual({ kind: 'Pod', name: 'p' });
  });

  it('represents a workload by its pods when they are in the input, under the top owner', () => {
    const rs = `apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-5d8f\n  namespace: shop\n  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}]\nspec: {template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}}`;
    const pod = (name: string) =>
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: shop\n  labels: {app: web, pod-template-hash: 5d8f}\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f, uid: u2, controller: true}]\nspec: {containers: [{name: c}]}`;
    const withAll = inventoryOf(
      yaml(deployment('web', 'shop', '{app: web}'), rs, pod('web-5d8f-a'), pod('web-5d8f-b')),
    );
    expect(withAll.endpoints.map((e) => [e.name, e.owner])).toEqual([
      ['web-5d8f-a', { kind: 'Deployment', name: 'web' }],
      ['web-5d8f-b', { kind: 'Deployment', name: 'web' }],
    ]);
    // A cluster dump without the ReplicaSet: the pod is shown as its owner as the reference names it
    // (netpol-analyzer's convention), never as a Deployment the input does not have.
    const podsOnly = inventoryOf(yaml(pod('web-5d8f-a')));
    expect(podsOnly.endpoints.map((e) => e.owner)).toEqual([{ kind: 'ReplicaSet', name: 'web-5d8f' }]);
    // The ReplicaSet without its Deployment stands for its pods, owned by the Deployment.
    const rsOnly = inventoryOf(rs);
    expect(rsOnly.endpoints.map((e) => [e.name, e.owner])).toEqual([
      ['web-5d8f', { kind: 'Deployment', name: 'web' }],
    ]);
    // With its Deployment, the ReplicaSet adds nothing.
    const both = inventoryOf(yaml(deployment('web', 'shop', '{app: web}'), rs));
    expect(both.endpoints.map((e) => [e.name, e.owner.kind])).toEqual([['web', 'Deployment']]);
  });

  it('declares every referenced namespace with its name label, and labels declared ones the same way', () => {
    const inventory = inventoryOf(
      yaml(
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: accounts, labels: {usage: accounts}}',
        deployment('api', 'finance', '{app: api}'),
        'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {}}',
      ),
    );
    expect(inventory.namespaces).toEqual([
      expect.objectContaining({
        name: 'accounts',
        declared: true,
        labels: { usage: 'accounts', [NAMESPACE_NAME_LABEL]: 'accounts' },
      }),
      { name: 'default', declared: false, labels: { [NAMESPACE_NAME_LABEL]: 'default' } },
      { name: 'finance', declared: false, labels: { [NAMESPACE_NAME_LABEL]: 'finance' } },
    ]);
    expect(inventory.networkPolicies[0]).toEqual(
      expect.objectContaining({ namespace: 'default', namespaceDefaulted: true }),
    );
    expect(inventory.hasDeclaredNamespaces).toBe(true);
    expect(inventory.hasEndpoints).toBe(true);
  });

  it('keeps invalid objects out of the views and reports them as file: document N: path: message', () => {
    const { inventory, errors } = manifestsFromSources([
      {
        file: 'seed.yaml',
        text: yaml(
          'kind: Namespace\napiVersion: v1\nmetadata: {name: ok}',
          'kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {Namespace: accounts, name: accounts-allow}\nspec:\n  podSelector: {}\n  ingress:\n  - from: [{NamespaceSelector: {}}]\n    ports: {port: 3111}',
        ),
      },
    ]);
    expect(inventory.networkPolicies).toEqual([]);
    expect(inventory.invalid).toHaveLength(1);
    expect(errors.map((e) => e.message)).toEqual([
      'seed.yaml: document 2: metadata.Namespace: unknown field "Namespace" in ObjectMeta; did you mean "namespace"?',
      'seed.yaml: document 2: spec.ingress[0].from[0].NamespaceSelector: unknown field "NamespaceSelector" in NetworkPolicyPeer; did you mean "namespaceSelector"?',
      'seed.yaml: document 2: spec.ingress[0].ports: expected a list of NetworkPolicyPort, got a map; make it a list item by starting it with "- ": `- port: 3111`',
    ]);
    expect(errors[2]?.position).toEqual({ line: 12, col: 12 });
  });

  it('sorts out the Calico policies (global and namespaced) and tiers, profiles and the kinds it does not read', () => {
    const inventory = inventoryOf(
      yaml(
        'apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: default.a}\nspec: {selector: all()}',
        'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: b}\nspec: {selector: all()}',
        'apiVersion: calico-vpc.io/v1alpha1\nkind: VpcEgressProfile\nmetadata: {name: p}\nspec: {zones: [{name: z, addressPrefixes: [10.0.0.0/18]}]}',
        'apiVersion: v1\nkind: Service\nmetadata: {name: s}',
        'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: c, namespace: x}\nspec: {}',
        'apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: platform}\nspec: {order: 100, defaultAction: Pass}',
        'apiVersion: crd.projectcalico.org/v1\nkind: Tier\nmetadata: {name: security}\nspec: {}',
      ),
    );
    expect(inventory.tiers.map(({ source: _source, ...tier }) => tier)).toEqual([
      { name: 'platform', order: 100, defaultAction: 'Pass' },
      { name: 'security' },
    ]);
    expect(inventory.globalNetworkPolicies.map((g) => [g.object.metadata.name, g.apiGroup])).toEqual([
      ['default.a', 'crd.projectcalico.org'],
      ['b', 'projectcalico.org'],
    ]);
    expect(inventory.vpcEgressProfiles.map((p) => p.object.metadata.name)).toEqual(['p']);
    expect(
      inventory.calicoNetworkPolicies.map((p) => [p.namespace, p.object.metadata.name, p.apiGroup]),
    ).toEqual([['x', 'c', 'projectcalico.org']]);
    expect(inventory.namespaces.map((n) => n.name)).toEqual(['x']);
    expect(inventory.ignored.map((o) => o.kind)).toEqual(['Service']);
    expect(inventory.errors).toEqual([]);
  });
});
