/**
 * `calico-vpc connectivity` end to end, in process: golden outputs (written out by hand from the policies, and
 * read over by hand for --explain) for every format, both modes, focus, ipBlocks, named ports, Calico tiers; bad
 * input on stderr with exit 1; the live-cluster path through a fake lister.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../api/kube.js';
import type { ResourceRef } from '../../kube/resource.js';
import { captureIO } from '../io.js';
import { readCluster, type ClusterLister } from '../live.js';
import { runCli } from '../program.js';
import { connectivityRegistrar, registerConnectivity } from './connectivity.js';

const FIXTURES = 'test/fixtures/connectivity';
const SEED_FIXED = 'test/fixtures/seed-fixed';

const golden = (path: string): string => readFileSync(join(FIXTURES, path), 'utf8');

async function run(args: string[], stdin = '', registrar = registerConnectivity) {
  const io = captureIO(stdin);
  const code = await runCli(['connectivity', ...args], io, [registrar]);
  return { code, out: io.out(), err: io.err() };
}

describe('golden outputs', () => {
  const cases: { name: string; args: string[]; expected: string }[] = [
    { name: 'the seed, fixed: txt', args: ['-f', SEED_FIXED], expected: 'seed-fixed/connlist.txt' },
    {
      name: 'the seed, fixed: json',
      args: ['-f', SEED_FIXED, '-o', 'json'],
      expected: 'seed-fixed/connlist.json',
    },
    {
      name: 'the seed, fixed: csv',
      args: ['-f', SEED_FIXED, '-o', 'csv'],
      expected: 'seed-fixed/connlist.csv',
    },
    { name: 'the seed, fixed: md', args: ['-f', SEED_FIXED, '-o', 'md'], expected: 'seed-fixed/connlist.md' },
    {
      name: 'the seed, fixed, checked on the generated GNPs',
      args: ['-f', SEED_FIXED, '--mode', 'calico'],
      expected: 'seed-fixed/connlist.txt',
    },
    {
      name: 'the seed, fixed, one workload',
      args: ['-f', SEED_FIXED, '--focus-workload', 'accounts/srv1-backend'],
      expected: 'seed-fixed/focus-srv1-backend.txt',
    },
    {
      name: 'the seed, fixed, explained',
      args: ['-f', SEED_FIXED, '--explain'],
      expected: 'seed-fixed/explain.txt',
    },
    {
      name: 'the seed, fixed, explained in Calico terms',
      args: ['-f', SEED_FIXED, '--explain', '--mode', 'calico', '--focus-workload', 'accounts/srv1-backend'],
      expected: 'seed-fixed/explain-calico-srv1-backend.txt',
    },
    { name: 'ipBlocks', args: ['-f', `${FIXTURES}/ipblocks/input`], expected: 'ipblocks/connlist.txt' },
    {
      name: 'ipBlocks on the generated GNPs',
      args: ['-f', `${FIXTURES}/ipblocks/input`, '--mode', 'calico'],
      expected: 'ipblocks/connlist.txt',
    },
    {
      name: 'ipBlocks, explained for one workload',
      args: ['-f', `${FIXTURES}/ipblocks/input`, '--explain', '--focus-workload', 'web/api'],
      expected: 'ipblocks/explain-api.txt',
    },
    {
      name: 'named ports, SCTP and UDP',
      args: ['-f', `${FIXTURES}/ports/input`],
      expected: 'ports/connlist.txt',
    },
    {
      name: 'named ports as csv (a conn with commas is quoted)',
      args: ['-f', `${FIXTURES}/ports/input`, '-o', 'csv'],
      expected: 'ports/connlist.csv',
    },
    {
      name: 'named ports on the generated GNPs',
      args: ['-f', `${FIXTURES}/ports/input`, '--mode', 'calico'],
      expected: 'ports/connlist.txt',
    },
    {
      name: 'Calico tiers and GNPs of both API groups',
      args: ['-f', `${FIXTURES}/calico/input`],
      expected: 'calico/connlist.txt',
    },
    {
      name: 'Calico tiers, explained',
      args: ['-f', `${FIXTURES}/calico/input`, '--explain'],
      expected: 'calico/explain.txt',
    },
  ];

  it.each(cases)('$name', async ({ args, expected }) => {
    const result = await run(args);
    expect(result.err).toBe(expected.startsWith('calico/') ? CALICO_FIXTURE_WARNING : '');
    expect(result.out).toBe(golden(expected));
    expect(result.code).toBe(0);
  });
});

const CALICO_FIXTURE_WARNING =
  'warning: GlobalNetworkPolicy cart-ingress (crd.projectcalico.org/v1) has no spec.types: Felix applies it to Ingress and Egress\n';

describe('input and errors', () => {
  it('reads standard input with -f -', async () => {
    const text = ['namespaces.yaml', 'policies.yaml', 'workloads.yaml']
      .map((file) => readFileSync(join(SEED_FIXED, file), 'utf8'))
      .join('\n---\n');
    const result = await run(['-f', '-'], text);
    expect(result.out).toBe(golden('seed-fixed/connlist.txt'));
  });

  it('prints an empty json array when nothing is allowed', async () => {
    const deny = `
apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: a}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
`;
    const result = await run(['-f', '-', '-o', 'json'], deny);
    expect(result).toEqual({ code: 0, out: '[]\n', err: '' });
  });

  it('needs exactly one of -f and --kubeconfig', async () => {
    expect(await run([])).toEqual({
      code: 1,
      out: '',
      err: 'error: give the input with -f FILE|DIR|- or --kubeconfig PATH (one of the two)\n',
    });
    expect((await run(['-f', SEED_FIXED, '--kubeconfig', '/nonexistent'])).code).toBe(1);
  });

  it('refuses --explain with a format other than txt', async () => {
    expect(await run(['-f', SEED_FIXED, '--explain', '-o', 'json'])).toEqual({
      code: 1,
      out: '',
      err: 'error: --explain prints text; use it with -o txt, not -o json\n',
    });
  });

  it('names the file, document and field of a policy it cannot evaluate', async () => {
    const bad = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: a}
spec:
  podSelector: {}
  ingress:
    - ports:
        - port: 80
          endPort: 70
`;
    const result = await run(['-f', '-'], bad);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toBe(
      '<stdin>: document 1: spec.ingress[0].ports[0].endPort: NetworkPolicy a/bad: must be greater than or equal to port\n',
    );
  });

  it('says in calico mode why a NetworkPolicy cannot be translated', async () => {
    const reserved = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: reserved, namespace: a}
spec:
  podSelector: {matchLabels: {projectcalico.org/namespace: a}}
`;
    const result = await run(['-f', '-', '--mode', 'calico'], reserved);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /^<stdin>: document 1: spec\.podSelector\.matchLabels\["?projectcalico\.org\/namespace"?\]: NetworkPolicy a\/reserved cannot be translated: Calico sets or inherits/,
    );
  });

  it('lists the workloads when --focus-workload names none of them', async () => {
    const result = await run(['-f', SEED_FIXED, '--focus-workload', 'accounts/nope']);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toContain('error: accounts/nope: no workload or pod of that name in the input');
    expect(result.err).toContain('accounts/srv1-backend[Deployment]');
  });

  it('reports unreadable manifests before analysing anything', async () => {
    const result = await run(
      ['-f', '-'],
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec: {ports: 3}\n',
    );
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toMatch(/^<stdin>: document 1: /);
  });

  it('reads pods from a typed PodList whose items carry no kind, as kubectl get --raw gives them', async () => {
    const pods = {
      apiVersion: 'v1',
      kind: 'PodList',
      items: ['a', 'b'].map((name) => ({
        metadata: { name, namespace: 'shop', labels: { app: name } },
        spec: { containers: [{ name: 'c' }] },
      })),
    };
    const result = await run(['-f', '-'], JSON.stringify(pods));
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain('shop/a[Pod] => shop/b[Pod] : All Connections');
  });

  it('keeps the later of two definitions of one policy: a deny-all that replaces an allow-all denies', async () => {
    const pods =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: a}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: a}\nspec: {containers: [{name: c}]}\n';
    const allowAll =
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec: {podSelector: {}, ingress: [{}]}\n';
    const denyAll = allowAll.replace('ingress: [{}]', 'policyTypes: [Ingress]');
    const result = await run(['-f', '-'], [pods, allowAll, denyAll].join('---\n'));
    expect(result.code).toBe(0);
    expect(result.out).toContain('a/db[Pod] => 0.0.0.0-255.255.255.255[External]');
    expect(result.out).not.toContain('a/web[Pod] => a/db[Pod]');
    expect(result.err).toBe(
      'warning: <stdin>: document 4: metadata.name: NetworkPolicy a/p is also defined at <stdin>:13; the later definition wins, as with kubectl apply -f\n',
    );
  });

  it('refuses to report connections while policies of the input go unevaluated, naming every one; a flag proceeds with warnings', async () => {
    const pods =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: a}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: a}\nspec: {containers: [{name: c}]}\n';
    const unevaluated = [
      'apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: anp}\nspec: {priority: 1, subject: {namespaces: {}}}\n',
      'apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: old, namespace: a}\nspec: {podSelector: {}}\n',
      'apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: beta, namespace: a}\nspec: {podSelector: {}}\n',
      'apiVersion: networking.k8s.io/v1\nkind: networkpolicy\nmetadata: {name: lower, namespace: a}\nspec: {podSelector: {}}\n',
    ];
    const stdin = [pods, ...unevaluated].join('---\n');
    const refused = await run(['-f', '-'], stdin);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    for (const name of [
      'AdminNetworkPolicy anp',
      'NetworkPolicy a/old',
      'NetworkPolicy a/beta',
      'networkpolicy a/lower',
    ])
      expect(refused.err).toContain(name);
    expect(refused.err).toContain('--skip-unevaluated-policies');
    const proceeded = await run(['-f', '-', '--skip-unevaluated-policies'], stdin);
    expect(proceeded.code).toBe(0);
    expect(proceeded.out).toContain('a/web[Pod] => a/db[Pod] : All Connections');
    expect(proceeded.err.match(/^warning: .* not evaluated/gm)).toHaveLength(4);
  });

  it('evaluates a Calico NetworkPolicy in calico mode (its default for such input) and refuses it in k8s mode', async () => {
    const pod = (name: string, namespace: string, app: string) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${namespace}, labels: {app: ${app}}}\nspec: {containers: [{name: c, ports: [{containerPort: 80}]}]}\n`;
    // Ingress to db in namespace a only from app=web pods of namespace a: b/web has the label but not the namespace.
    const calicoPolicy =
      'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: db-from-web, namespace: a}\n' +
      "spec:\n  selector: app == 'db'\n  types: [Ingress]\n  ingress: [{action: Allow, source: {selector: app == 'web'}}]\n";
    const stdin = [pod('web', 'a', 'web'), pod('db', 'a', 'db'), pod('web', 'b', 'web'), calicoPolicy].join(
      '---\n',
    );
    for (const args of [[], ['--mode', 'calico']]) {
      const result = await run(['-f', '-', ...args], stdin);
      expect(result.code).toBe(0);
      expect(result.err).toBe('');
      expect(result.out).toContain('a/web[Pod] => a/db[Pod] : All Connections');
      expect(result.out).not.toContain('b/web[Pod] => a/db[Pod]');
      expect(result.out).not.toContain('[External] => a/db[Pod]');
      expect(result.out).toContain('a/db[Pod] => b/web[Pod] : All Connections');
    }
    const explained = await run(['-f', '-', '--explain', '--from', 'b/web', '--to', 'a/db'], stdin);
    expect(explained.code).toBe(0);
    expect(explained.out).toContain('ingress to a/db[Pod]: selected by NetworkPolicy a/db-from-web\n');
    expect(explained.out).toContain(
      '- NetworkPolicy a/db-from-web spec.ingress[0]: source.selector: b/web[Pod] does not match (projectcalico.org/namespace == "a" && app == "web")',
    );

    const refused = await run(['-f', '-', '--mode', 'k8s'], stdin);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toBe(
      '<stdin>: document 4: Calico NetworkPolicy a/db-from-web is not evaluated in --mode k8s: Kubernetes semantics do not include Calico policies: connections it denies would be reported allowed; use --mode calico, or --skip-unevaluated-policies to analyse without it\n',
    );
    const skipped = await run(['-f', '-', '--mode', 'k8s', '--skip-unevaluated-policies'], stdin);
    expect(skipped.code).toBe(0);
    expect(skipped.out).toContain('b/web[Pod] => a/db[Pod] : All Connections');
    expect(skipped.err).toContain(
      'warning: Calico NetworkPolicy a/db-from-web is not evaluated in --mode k8s',
    );
  });

  it('points at the field of an invalid Calico NetworkPolicy, as for a GNP', async () => {
    const stdin =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: a}\nspec: {containers: [{name: c}]}\n---\n' +
      'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: a}\n' +
      'spec:\n  selector: all()\n  ingress: [{action: Allow, source: {selector: "app == \'web"}}]\n';
    const result = await run(['-f', '-'], stdin);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toMatch(
      /^<stdin>: document 2: spec\.ingress\[0\]\.source\.selector: Calico NetworkPolicy a\/bad: invalid Calico selector "app == 'web": .+\n$/,
    );
  });

  it('warns and goes on, as kubectl does by default, about fields of pods that cannot change a verdict; --strict refuses', async () => {
    const pod =
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: a\n  ownerReferences: [{name: rs, uid: u, controller: true}]\nspec:\n  containers: [{name: c, ports: [{containerPort: 80, hostip: x}]}]\n';
    const lenient = await run(['-f', '-'], pod);
    expect(lenient.code).toBe(0);
    expect(lenient.err).toContain(
      'warning: <stdin>: document 1: metadata.ownerReferences[0].apiVersion: OwnerReference requires the field "apiVersion"',
    );
    expect(lenient.err).toContain(
      'warning: <stdin>: document 1: spec.containers[0].ports[0].hostip: unknown field "hostip"',
    );
    const strict = await run(['-f', '-', '--strict'], pod);
    expect(strict.code).toBe(1);
    expect(strict.err).toContain(
      '<stdin>: document 1: spec.containers[0].ports[0].hostip: unknown field "hostip"',
    );
    // What changes meaning stays an error: a pod label that is not a string.
    const badLabel = await run(
      ['-f', '-'],
      pod.replace('namespace: a', 'namespace: a\n  labels: {app: [web]}'),
    );
    expect(badLabel.code).toBe(1);
  });

  it('refuses an ipBlock written as an IPv4-mapped IPv6 CIDR, as the API server does', async () => {
    const result = await run(
      ['-f', '-'],
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: "10.0.0.0/8", except: ["::ffff:10.1.0.0/112"]}}]}]\n',
    );
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      'spec.ingress[0].from[0].ipBlock.except[0]: NetworkPolicy shop/np: "::ffff:10.1.0.0/112" is an IPv4-mapped IPv6 address',
    );
  });

  it('warns on stderr, not stdout, when --mode k8s leaves GlobalNetworkPolicies out', async () => {
    const result = await run(['-f', `${FIXTURES}/calico/input`, '--mode', 'k8s']);
    expect(result.code).toBe(0);
    expect(result.err).toBe(
      'warning: 2 GlobalNetworkPolicies ignored: --mode k8s evaluates NetworkPolicies only; use --mode calico to include them\n',
    );
    expect(result.out).toContain('tools/scanner[Deployment] => shop/checkout[Deployment] : All Connections');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Live

/** A cluster as a lister: the seed's objects, as the API server lists them (pods of ReplicaSets of Deployments). */
function fakeCluster(
  servedCalico: readonly string[] = [],
  extra: readonly KubeObject[] = [],
): ClusterLister & { name: string; close(): void; listed: string[] } {
  const documents = ['namespaces.yaml', 'policies.yaml', 'workloads.yaml'].flatMap((file) =>
    parseAllDocuments(readFileSync(join(SEED_FIXED, file), 'utf8')).map((doc) => doc.toJS() as KubeObject),
  );
  const objects: KubeObject[] = [...documents, ...extra];
  let ip = 10;
  for (const deployment of documents.filter((object) => object.kind === 'Deployment')) {
    const { name, namespace } = deployment.metadata as { name: string; namespace: string };
    const hash = '5d8f7c';
    const template = (
      deployment as { spec: { template: { metadata: { labels: Record<string, string> }; spec: unknown } } }
    ).spec.template;
    objects.push({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: `${name}-${hash}`, namespace, ownerReferences: [owner('Deployment', name)] },
      spec: { template },
    } as KubeObject);
    for (const [suffix, phase] of [
      ['a1', 'Running'],
      ['b2', 'Running'],
      ['c3', 'Succeeded'],
    ] as const) {
      objects.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${name}-${hash}-${suffix}`,
          namespace,
          labels: { ...template.metadata.labels, 'pod-template-hash': hash },
          ownerReferences: [owner('ReplicaSet', `${name}-${hash}`)],
          managedFields: [{ manager: 'kube-controller-manager' }],
        },
        spec: template.spec,
        status: phase === 'Running' ? { phase, podIP: `10.244.0.${ip++}` } : { phase },
      } as KubeObject);
    }
  }
  const listed: string[] = [];
  return {
    name: 'test-cluster',
    listed,
    close: () => undefined,
    serves: async (group, version, plural) => servedCalico.includes(`${group}/${version}/${plural}`),
    list: async (ref: ResourceRef) => {
      listed.push(`${ref.group}/${ref.version}/${ref.plural}`);
      return objects.filter(
        (object) => object.kind === ref.kind && (object.apiVersion ?? '').startsWith(ref.group),
      );
    },
  };
}

function owner(kind: string, name: string) {
  return { apiVersion: 'apps/v1', kind, name, uid: `${kind}-${name}`, controller: true };
}

describe('--kubeconfig', () => {
  it('analyses a live cluster like the same objects in files: pods grouped under their Deployment', async () => {
    const cluster = fakeCluster();
    const registrar = connectivityRegistrar(() => cluster);
    const result = await run(['--kubeconfig', '/path/to/kubeconfig'], '', registrar);
    expect(result.out).toBe(golden('seed-fixed/connlist.txt'));
    expect(result.err).toBe(
      'warning: the cluster serves no Calico API (projectcalico.org/v3 or crd.projectcalico.org/v1): no GlobalNetworkPolicies read\n',
    );
    expect(result.code).toBe(0);
  });

  it('reads GNPs and Tiers from the v3 API when it is served, not again from the CRDs behind it', async () => {
    const cluster = fakeCluster([
      'projectcalico.org/v3/globalnetworkpolicies',
      'projectcalico.org/v3/networkpolicies',
      'projectcalico.org/v3/tiers',
      'crd.projectcalico.org/v1/globalnetworkpolicies',
    ]);
    const { sources, notes } = await readCluster(cluster, cluster.name);
    expect(notes).toEqual([]);
    expect(cluster.listed).toContain('projectcalico.org/v3/globalnetworkpolicies');
    expect(cluster.listed).toContain('projectcalico.org/v3/tiers');
    expect(cluster.listed).not.toContain('crd.projectcalico.org/v1/globalnetworkpolicies');
    expect(cluster.listed).toContain('projectcalico.org/v3/networkpolicies');
    expect(sources.map((source) => source.file)).toContain('test-cluster/networkpolicies.projectcalico.org');
    // Finished pods and managedFields are left out.
    const pods = sources.find((source) => source.file === 'test-cluster/pods')?.text ?? '';
    expect(pods).not.toContain('Succeeded');
    expect(pods).not.toContain('managedFields');
  });

  it("evaluates the cluster's Calico NetworkPolicies", async () => {
    const denyDb = {
      apiVersion: 'projectcalico.org/v3',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny-to-db', namespace: 'accounts' },
      spec: { order: 1, selector: "tier == 'db'", types: ['Ingress'], ingress: [{ action: 'Deny' }] },
    } as KubeObject;
    const served = ['projectcalico.org/v3/globalnetworkpolicies', 'projectcalico.org/v3/networkpolicies'];
    const cluster = fakeCluster(served, [denyDb]);
    const result = await run(
      ['--kubeconfig', '/path/to/kubeconfig'],
      '',
      connectivityRegistrar(() => cluster),
    );
    expect(result.code).toBe(0);
    expect(result.err).toBe('');
    const expected = golden('seed-fixed/connlist.txt')
      .split('\n')
      .filter((line) => !line.startsWith('accounts/srv1-backend[Deployment] => accounts/srv1-db[Deployment]'))
      .join('\n');
    expect(expected).not.toBe(golden('seed-fixed/connlist.txt'));
    expect(result.out).toBe(expected);
  });

  it('falls back to crd.projectcalico.org/v1 when only the CRDs are served', async () => {
    const cluster = fakeCluster(['crd.projectcalico.org/v1/globalnetworkpolicies']);
    await readCluster(cluster, cluster.name);
    expect(cluster.listed).toContain('crd.projectcalico.org/v1/globalnetworkpolicies');
    expect(cluster.listed).not.toContain('crd.projectcalico.org/v1/tiers');
  });
});
