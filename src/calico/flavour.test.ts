import fc from 'fast-check';
import {
  CALICO_METADATA_ANNOTATION,
  calicoApiOf,
  crdNamingForCalicoVersion,
  effectiveLabels,
  fromWire,
  globalNetworkPolicyResource,
  policyNameError,
  storedPolicyName,
  toWire,
  type CalicoApi,
  type CrdNaming,
} from './flavour.js';
import type { GlobalNetworkPolicy, PolicyDirection } from './types.js';

const SEED_POLICY: GlobalNetworkPolicy = {
  apiVersion: 'projectcalico.org/v3',
  kind: 'GlobalNetworkPolicy',
  metadata: {
    name: 'allow-vpe-gateway-registry-us-south-1',
    labels: { 'app.kubernetes.io/managed-by': 'calico-vpc-operator', 'calico-vpc.io/zone': 'us-south-1' },
  },
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
};

describe('resources', () => {
  it('addresses GlobalNetworkPolicies in each API', () => {
    expect(globalNetworkPolicyResource('v3')).toEqual({
      group: 'projectcalico.org',
      version: 'v3',
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      plural: 'globalnetworkpolicies',
    });
    expect(globalNetworkPolicyResource('crd')).toEqual({
      group: 'crd.projectcalico.org',
      version: 'v1',
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'GlobalNetworkPolicy',
      plural: 'globalnetworkpolicies',
    });
    expect(calicoApiOf({ apiVersion: 'crd.projectcalico.org/v1' })).toBe('crd');
    expect(calicoApiOf({ apiVersion: 'projectcalico.org/v3' })).toBe('v3');
    expect(calicoApiOf({ apiVersion: 'networking.k8s.io/v1' })).toBeUndefined();
  });

  it.each([
    ['v3.31.7', 'tier-prefixed'],
    ['v3.29.0', 'tier-prefixed'],
    ['v3.32.0', 'plain'],
    ['v3.32.1', 'plain'],
    ['3.33.0-0.dev', 'plain'],
    ['v4.0.0', 'plain'],
    ['v3.3.0', 'tier-prefixed'],
    ['', 'tier-prefixed'],
    [undefined, 'tier-prefixed'],
    ['master', 'tier-prefixed'],
  ])('Calico %s stores default-tier names %s', (version, naming) => {
    expect(crdNamingForCalicoVersion(version)).toBe(naming);
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('toWire', () => {
  it('never changes its input, nor does fromWire (they share nested values, so they must not)', () => {
    const frozen = deepFreeze(structuredClone(SEED_POLICY));
    for (const api of ['v3', 'crd'] as const) {
      const wire = deepFreeze(toWire(frozen, api));
      expect(fromWire(wire, api)).toEqual(SEED_POLICY);
    }
    expect(frozen).toEqual(SEED_POLICY);
  });

  it('sends the v3 object as it is', () => {
    expect(toWire(SEED_POLICY, 'v3')).toEqual(SEED_POLICY);
  });

  it("stores crd.projectcalico.org/v1 objects as Calico's own client does (3.29-3.31)", () => {
    expect(toWire(SEED_POLICY, 'crd')).toEqual({
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'GlobalNetworkPolicy',
      metadata: {
        name: 'default.allow-vpe-gateway-registry-us-south-1',
        labels: {
          'app.kubernetes.io/managed-by': 'calico-vpc-operator',
          'calico-vpc.io/zone': 'us-south-1',
          'projectcalico.org/tier': 'default',
        },
        annotations: { 'projectcalico.org/metadata': '{"name":"allow-vpe-gateway-registry-us-south-1"}' },
      },
      spec: { ...SEED_POLICY.spec, tier: 'default' },
    });
  });

  it('keeps the plain name from Calico 3.32, where the migrator would rename a prefixed one', () => {
    const wire = toWire(SEED_POLICY, 'crd', { crdNaming: 'plain' });
    expect(wire.metadata.name).toBe('allow-vpe-gateway-registry-us-south-1');
    expect(wire.metadata.annotations).toEqual({
      'projectcalico.org/metadata': '{"name":"allow-vpe-gateway-registry-us-south-1"}',
    });
  });

  it('makes types explicit on crd, as the v3 API would have defaulted them (Felix reads none as both)', () => {
    const withoutTypes = (spec: GlobalNetworkPolicy['spec']): GlobalNetworkPolicy => ({
      ...SEED_POLICY,
      spec: { selector: 'all()', ...spec },
    });
    const rule = [{ action: 'Allow' as const }];
    expect(toWire(withoutTypes({ egress: rule }), 'crd').spec.types).toEqual(['Egress']);
    expect(toWire(withoutTypes({ ingress: rule }), 'crd').spec.types).toEqual(['Ingress']);
    expect(toWire(withoutTypes({ ingress: rule, egress: rule }), 'crd').spec.types).toEqual([
      'Ingress',
      'Egress',
    ]);
    expect(toWire(withoutTypes({}), 'crd').spec.types).toEqual(['Ingress']);
  });

  it('keeps a non-default tier in the name in every convention', () => {
    const tiered: GlobalNetworkPolicy = {
      ...SEED_POLICY,
      metadata: { name: 'security.block' },
      spec: { ...SEED_POLICY.spec, tier: 'security' },
    };
    for (const crdNaming of ['plain', 'tier-prefixed'] as const) {
      const wire = toWire(tiered, 'crd', { crdNaming });
      expect(wire.metadata.name).toBe('security.block');
      expect(wire.metadata.labels).toEqual({ 'projectcalico.org/tier': 'security' });
      expect(wire.spec.tier).toBe('security');
    }
    expect(storedPolicyName('block', 'security', 'crd', { crdNaming: 'plain' })).toBe('security.block');
  });

  it('refuses a name Calico cannot store, rather than let the API server or Felix misread it', () => {
    expect(() => toWire({ ...SEED_POLICY, metadata: { name: 'a.b.c' } }, 'v3')).toThrow(
      `cannot store GlobalNetworkPolicy: "a.b.c" is not a valid policy name: Calico allows at most one '.'`,
    );
  });

  it('does not modify its input', () => {
    const copy = structuredClone(SEED_POLICY);
    toWire(SEED_POLICY, 'crd');
    expect(SEED_POLICY).toEqual(copy);
  });
});

describe('policyNameError', () => {
  it.each<[string, CalicoApi, { tier?: string; crdNaming?: CrdNaming }, string | undefined]>([
    ['allow-x', 'v3', {}, undefined],
    ['', 'v3', {}, 'a policy name must not be empty'],
    [
      'Allow-X',
      'v3',
      {},
      `"Allow-X" is not a valid policy name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`,
    ],
    ['a.b.c', 'crd', {}, `"a.b.c" is not a valid policy name: Calico allows at most one '.'`],
    [
      'other.x',
      'v3',
      { tier: 'security' },
      `"other.x" is not a valid policy name: a name with a '.' must start with its tier, "security."`,
    ],
    ['security.x', 'crd', { tier: 'security' }, undefined],
    [
      'default.x',
      'v3',
      {},
      `"default.x" is not a valid policy name: name default-tier policies without the "default." prefix`,
    ],
    ['a'.repeat(245), 'crd', {}, undefined],
    ['a'.repeat(246), 'crd', {}, `"${'a'.repeat(246)}" is too long: 246 characters, at most 245 here`],
    ['a'.repeat(253), 'crd', { crdNaming: 'plain' }, undefined],
    ['a'.repeat(253), 'v3', {}, undefined],
    ['a'.repeat(254), 'v3', {}, `"${'a'.repeat(254)}" is too long: 254 characters, at most 253 here`],
  ])('%j on %s %j', (name, api, options, expected) => {
    expect(policyNameError(name, api, options)).toBe(expected);
  });
});

describe('fromWire', () => {
  it('reads an object written by Calico itself, labels and annotations kept in the metadata annotation', () => {
    const writtenByCalico: GlobalNetworkPolicy = {
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'GlobalNetworkPolicy',
      metadata: {
        name: 'default.allow-dns',
        uid: 'u-1',
        resourceVersion: '42',
        labels: { 'projectcalico.org/tier': 'default' },
        annotations: {
          [CALICO_METADATA_ANNOTATION]: JSON.stringify({
            name: 'allow-dns',
            creationTimestamp: '2025-01-01T00:00:00Z',
            labels: { team: 'net', 'projectcalico.org/tier': 'default' },
            annotations: { note: 'hand made' },
          }),
        },
      },
      spec: {
        tier: 'default',
        selector: 'all()',
        types: ['Egress'],
        egress: [{ action: 'Allow', protocol: 'UDP' }],
      },
    };
    expect(fromWire(writtenByCalico, 'crd')).toEqual({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: {
        name: 'allow-dns',
        uid: 'u-1',
        resourceVersion: '42',
        labels: { team: 'net' },
        annotations: { note: 'hand made' },
      },
      spec: { selector: 'all()', types: ['Egress'], egress: [{ action: 'Allow', protocol: 'UDP' }] },
    });
    expect(effectiveLabels(writtenByCalico)).toEqual({ team: 'net', 'projectcalico.org/tier': 'default' });
  });

  it('takes the name from the stored name when there is no (readable) metadata annotation', () => {
    const stored = (name: string, annotations?: Record<string, string>): GlobalNetworkPolicy => ({
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'GlobalNetworkPolicy',
      metadata: { name, ...(annotations ? { annotations } : {}) },
      spec: { selector: 'all()' },
    });
    expect(fromWire(stored('default.allow-x'), 'crd').metadata.name).toBe('allow-x');
    expect(fromWire(stored('allow-x'), 'crd').metadata.name).toBe('allow-x');
    expect(fromWire(stored('security.allow-x'), 'crd').metadata.name).toBe('security.allow-x');
    const broken = fromWire(stored('default.allow-x', { [CALICO_METADATA_ANNOTATION]: '{not json' }), 'crd');
    expect(broken.metadata).toEqual({ name: 'allow-x' });
  });

  it('leaves v3 objects as they are, server-added metadata included', () => {
    const live = {
      ...SEED_POLICY,
      metadata: { ...SEED_POLICY.metadata, uid: 'u', labels: { 'projectcalico.org/tier': 'default' } },
    };
    expect(fromWire(live, 'v3')).toEqual(live);
  });
});

describe('round trip', () => {
  const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/);
  const labels = fc.option(
    fc.dictionary(
      fc.constantFrom('app.kubernetes.io/managed-by', 'calico-vpc.io/zone', 'team'),
      fc.stringMatching(/^[a-z0-9]{1,8}$/),
      {
        minKeys: 1,
      },
    ),
    { nil: undefined },
  );
  const annotations = fc.option(
    fc.dictionary(fc.constantFrom('calico-vpc.io/networkpolicy-name', 'note'), fc.string({ maxLength: 20 }), {
      minKeys: 1,
    }),
    { nil: undefined },
  );
  const types = fc.subarray<PolicyDirection>(['Ingress', 'Egress'], { minLength: 1 });
  const rule = fc.record(
    {
      action: fc.constantFrom('Allow' as const, 'Deny' as const),
      protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
      source: fc.constant({}),
      destination: fc.record({
        nets: fc.constant<string[]>(['10.0.0.0/8']),
        ports: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }),
      }),
    },
    { requiredKeys: ['action'] },
  );
  const policy = fc
    .record({
      name,
      tier: fc.constantFrom(undefined, 'security'),
      labels,
      annotations,
      order: fc.option(fc.double({ min: 0, max: 2000, noNaN: true }), { nil: undefined }),
      selector: fc.constantFrom("ibm.role == 'worker_private'", 'all()'),
      types,
      egress: fc.array(rule, { maxLength: 2 }),
    })
    .map(({ name, tier, labels, annotations, order, selector, types, egress }): GlobalNetworkPolicy => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: {
        name: tier ? `${tier}.${name}` : name,
        ...(labels ? { labels } : {}),
        ...(annotations ? { annotations } : {}),
      },
      spec: { ...(tier ? { tier } : {}), ...(order === undefined ? {} : { order }), selector, types, egress },
    }));

  it('fromWire(toWire(x)) = x for every API and naming convention', () => {
    fc.assert(
      fc.property(
        policy,
        fc.constantFrom<CalicoApi>('v3', 'crd'),
        fc.constantFrom<CrdNaming>('plain', 'tier-prefixed'),
        (gnp, api, crdNaming) => {
          const wire = toWire(gnp, api, { crdNaming });
          expect(calicoApiOf(wire)).toBe(api);
          expect(fromWire(wire, api)).toEqual(gnp);
          expect(fromWire(JSON.parse(JSON.stringify(wire)) as GlobalNetworkPolicy, api)).toEqual(gnp);
        },
      ),
      { numRuns: 500 },
    );
  });
});
