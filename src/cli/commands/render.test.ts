import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { captureIO } from '../io.js';
import { runCli } from '../program.js';
import { translateNetworkPolicy } from '../../translate/networkpolicy.js';
import { toWire } from '../../calico/flavour.js';
import { registerImportPrefixes } from './import-prefixes.js';
import { registerRender } from './render.js';

const run = async (args: string[], stdin = '') => {
  const io = captureIO(stdin);
  const code = await runCli(args, io, [registerRender, registerImportPrefixes]);
  return { code, out: io.out(), err: io.err() };
};

describe('calico-vpc render', () => {
  it('renders the samples: three VPE rules and one GNP per NetworkPolicy, as the translators make them', async () => {
    const { code, out, err } = await run(['render', '-f', 'config/samples']);
    // kustomize's own file is no Kubernetes object: skipped, and said so.
    expect(err).toBe(
      'warning: config/samples/kustomization.yaml: document 1: not a Kubernetes object (no apiVersion, kind or metadata): skipped\n',
    );
    expect(code).toBe(0);
    const docs = parseAllDocuments(out).map((d) => d.toJS());
    expect(docs.map((d) => d.metadata.name)).toEqual([
      'allow-vpe-gateway-registry-us-south-1',
      'allow-vpe-gateway-registry-us-south-2',
      'allow-vpe-gateway-registry-us-south-3',
      expect.stringMatching(/^knp-accounts-backend-allow-[0-9a-f]{10}$/),
      expect.stringMatching(/^knp-accounts-db-allow-[0-9a-f]{10}$/),
      expect.stringMatching(/^knp-accounts-accounts-allow-[0-9a-f]{10}$/),
    ]);
    expect(docs[2].spec).toEqual({
      order: 500,
      selector: "ibm.role == 'worker_private'",
      types: ['Egress'],
      egress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          source: {},
          destination: { nets: ['10.240.128.0/18'], ports: [443, 4443] },
        },
      ],
    });
    // The same code path as the controller: the translator's output, through the same wire conversion.
    const samples = parseAllDocuments(
      (await import('node:fs')).readFileSync('config/samples/accounts-finance.yaml', 'utf8'),
    ).map((d) => d.toJS());
    const accountsAllow = samples.find((o) => o.metadata.name === 'accounts-allow');
    const expected = translateNetworkPolicy(accountsAllow);
    if (!expected.ok) throw new Error('sample must translate');
    expect(docs[5]).toEqual(JSON.parse(JSON.stringify(toWire(expected.policy, 'v3'))));
  });

  it('writes crd.projectcalico.org/v1 objects the way Calico stores them, as a JSON List', async () => {
    const { code, out } = await run([
      'render',
      '-f',
      'config/samples/vpcegressprofile-us-south.yaml',
      '--calico-api',
      'crd',
      '-o',
      'json',
    ]);
    expect(code).toBe(0);
    const list = JSON.parse(out);
    expect(list.kind).toBe('List');
    expect(list.items[0].apiVersion).toBe('crd.projectcalico.org/v1');
    expect(list.items[0].metadata.name).toBe('default.allow-vpe-gateway-registry-us-south-1');
    expect(list.items[0].spec.types).toEqual(['Egress']);
  });

  it('fails with file, document and field path for the seed as written, and prints nothing on stdout', async () => {
    const { code, out, err } = await run(['render', '-f', 'test/fixtures/seed/accounts-allow.yaml']);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain(
      'test/fixtures/seed/accounts-allow.yaml: document 1: spec.ingress[0].from[0].NamespaceSelector: unknown field',
    );
    expect(err).toContain(
      'test/fixtures/seed/accounts-allow.yaml: document 1: spec.ingress[0].ports: expected a list',
    );
  });

  it('reports an invalid profile prefix with its path', async () => {
    const bad =
      'apiVersion: calico-vpc.io/v1alpha1\nkind: VpcEgressProfile\nmetadata: {name: p}\nspec:\n  zones:\n  - name: z1\n    addressPrefixes: [10.240.1.0/18]\n';
    const { code, err } = await run(['render', '-f', '-'], bad);
    expect(code).toBe(1);
    expect(err).toContain(
      '<stdin>: document 1: spec.zones[0].addressPrefixes[0]: 10.240.1.0/18 has host bits set; the network is 10.240.0.0/18',
    );
  });

  it('reads the items of a typed list, which carry no kind, as the list kind says (a deny-all is not lost)', async () => {
    const list = JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicyList',
      items: [
        {
          metadata: { name: 'deny-all', namespace: 'shop' },
          spec: { podSelector: {}, policyTypes: ['Ingress'] },
        },
      ],
    });
    const { code, out, err } = await run(['render', '-f', '-'], list);
    expect(err).toBe('');
    expect(code).toBe(0);
    const [gnp] = parseAllDocuments(out).map((d) => d.toJS());
    expect(gnp.metadata.name).toMatch(/^knp-shop-deny-all-/);
    expect(gnp.spec.types).toEqual(['Ingress']);
  });

  it('accepts a NetworkPolicy without spec.podSelector as the API server stores it: podSelector {}', async () => {
    const np =
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {policyTypes: [Ingress]}\n';
    const withEmpty = np.replace('spec: {', 'spec: {podSelector: {}, ');
    const without = await run(['render', '-f', '-'], np);
    expect(without.err).toBe('');
    expect(without.code).toBe(0);
    expect(without.out).toBe((await run(['render', '-f', '-'], withEmpty)).out);
  });

  it('rejects an ipBlock written as an IPv4-mapped IPv6 CIDR, as the API server does', async () => {
    const np =
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: "::ffff:10.0.0.0/104"}}]}]\n';
    const { code, out, err } = await run(['render', '-f', '-'], np);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain(
      'spec.ingress[0].from[0].ipBlock.cidr: "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 address',
    );
  });

  it('says which policies it does not translate instead of dropping them silently', async () => {
    const beta =
      'apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: beta, namespace: a}\nspec: {podSelector: {}}\n';
    const { code, err } = await run(['render', '-f', '-'], beta);
    expect(code).toBe(0);
    expect(err).toContain(
      'warning: <stdin>: document 1: NetworkPolicy a/beta (networking.k8s.io/v1beta1) is not translated: the controller translates networking.k8s.io/v1 NetworkPolicies only',
    );
  });

  it('with --strict, refuses what it would only warn about: nothing rendered, every warning an error, exit 1', async () => {
    const beta =
      'apiVersion: networking.k8s.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: beta, namespace: a}\nspec: {podSelector: {}}\n';
    const lenient = await run(['render', '-f', 'config/samples']);
    expect(lenient.code).toBe(0);
    const samples = await run(['render', '--strict', '-f', 'config/samples']);
    expect(samples.code).toBe(1);
    expect(samples.out).toBe('');
    expect(samples.err).toBe(
      'config/samples/kustomization.yaml: document 1: not a Kubernetes object (no apiVersion, kind or metadata): skipped\n',
    );
    const unevaluated = await run(['render', '--strict', '-f', '-'], beta);
    expect(unevaluated.code).toBe(1);
    expect(unevaluated.out).toBe('');
    expect(unevaluated.err).toContain('NetworkPolicy a/beta (networking.k8s.io/v1beta1) is not translated');
    expect(unevaluated.err).not.toContain('warning:');
  });

  it('prints the GNPs of a profile by name, whatever the order of spec.gateways', async () => {
    const profile = (gateways: string) =>
      `apiVersion: calico-vpc.io/v1alpha1\nkind: VpcEgressProfile\nmetadata: {name: p}\nspec:\n  zones: [{name: z1, addressPrefixes: [10.240.0.0/18]}]\n  gateways: ${gateways}\n`;
    const cos = '{name: cos, protocol: TCP, ports: [443]}';
    const registry = '{name: registry, protocol: TCP, ports: [443]}';
    const forward = await run(['render', '-f', '-'], profile(`[${cos}, ${registry}]`));
    const backward = await run(['render', '-f', '-'], profile(`[${registry}, ${cos}]`));
    expect(backward.code).toBe(0);
    expect(parseAllDocuments(backward.out).map((d) => d.toJS().metadata.name)).toEqual([
      'allow-vpe-gateway-cos-z1',
      'allow-vpe-gateway-registry-z1',
    ]);
    expect(backward.out).toBe(forward.out);
  });

  it('keeps the later of two definitions of one object, as kubectl apply -f DIR does, and names both places', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'render-dup-'));
    try {
      const np = (policyTypes: string) =>
        `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec: {podSelector: {}, policyTypes: [${policyTypes}]}\n`;
      writeFileSync(join(dir, 'a.yaml'), np('Ingress'));
      writeFileSync(join(dir, 'b.yaml'), np('Ingress, Egress'));
      const { code, out, err } = await run(['render', '-f', dir]);
      expect(code).toBe(0);
      const docs = parseAllDocuments(out).map((d) => d.toJS());
      expect(docs.map((d) => d.spec.types)).toEqual([['Ingress', 'Egress']]);
      expect(err).toBe(
        `warning: ${join(dir, 'b.yaml')}: document 1: metadata.name: NetworkPolicy a/p is also defined at ${join(dir, 'a.yaml')}:3; the later definition wins, as with kubectl apply -f\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('calico-vpc import-prefixes', () => {
  it('turns the ibmcloud CLI output into a profile with zones grouped and sorted', async () => {
    const { code, out } = await run([
      'import-prefixes',
      '--name',
      'us-south',
      '-f',
      '../shared/reference/ibm/address_prefixes.cli.example.json',
    ]);
    expect(code).toBe(0);
    const profile = parse(out);
    expect(profile.kind).toBe('VpcEgressProfile');
    expect(profile.metadata.name).toBe('us-south');
    expect(profile.spec.zones.map((z: { name: string }) => z.name)).toEqual([
      'us-south-1',
      'us-south-2',
      'us-south-3',
    ]);
  });

  it('says what is wrong with input that is not address prefixes', async () => {
    const { code, err } = await run(['import-prefixes', '--name', 'x'], '{"vpcs": []}');
    expect(code).toBe(1);
    expect(err).toMatch(/^<stdin>: /);
  });
});
