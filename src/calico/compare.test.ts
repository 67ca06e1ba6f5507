import fc from 'fast-check';
import {
  cachedGnp,
  canonicalSpec,
  canonicalSpecJson,
  isManaged,
  needsUpdate,
  policyDifferences,
  stableJson,
} from './compare.js';
import { CALICO_METADATA_ANNOTATION, toWire, type CalicoApi } from './flavour.js';
import type { GlobalNetworkPolicy } from './types.js';

const DESIRED: GlobalNetworkPolicy = {
  apiVersion: 'projectcalico.org/v3',
  kind: 'GlobalNetworkPolicy',
  metadata: {
    name: 'allow-vpe-gateway-registry-us-south-1',
    labels: {
      'app.kubernetes.io/managed-by': 'calico-vpc-operator',
      'calico-vpc.io/source': 'vpc-egress-profile',
      'calico-vpc.io/profile': 'prod',
      'calico-vpc.io/zone': 'us-south-1',
      'calico-vpc.io/gateway': 'registry',
    },
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
        destination: { nets: ['10.240.0.0/18', '10.250.0.0/24'], ports: [443, 4443] },
      },
    ],
  },
};

/** What a GET returns after the object was written: server metadata, other tools' marks, Calico's defaults. */
function asServerReturnsIt(wire: GlobalNetworkPolicy): GlobalNetworkPolicy {
  const live = JSON.parse(JSON.stringify(wire)) as GlobalNetworkPolicy;
  live.metadata = {
    ...live.metadata,
    uid: '5f0c7d1e-0000-4000-8000-000000000001',
    resourceVersion: '12345',
    generation: 3,
    creationTimestamp: '2025-05-01T10:00:00Z',
    labels: { ...live.metadata.labels, 'projectcalico.org/tier': 'default', 'team.example.com/owner': 'net' },
    annotations: { ...live.metadata.annotations, 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
  };
  (live.metadata as unknown as Record<string, unknown>).managedFields = [
    { manager: 'calico-vpc-operator', operation: 'Update' },
  ];
  live.spec.tier ??= 'default';
  return live;
}

describe('isManaged', () => {
  it('is true only with our managed-by label', () => {
    expect(isManaged(DESIRED)).toBe(true);
    expect(isManaged({ metadata: { labels: { 'app.kubernetes.io/managed-by': 'helm' } } })).toBe(false);
    expect(isManaged({ metadata: { name: 'allow-ibm-ports-private' } })).toBe(false);
    expect(isManaged({})).toBe(false);
  });

  it('sees our label where Calico keeps v3 labels on crd.projectcalico.org/v1 after rewriting the object', () => {
    const rewrittenByCalico = {
      apiVersion: 'crd.projectcalico.org/v1',
      metadata: {
        name: 'default.allow-vpe-gateway-registry-us-south-1',
        labels: { 'projectcalico.org/tier': 'default' },
        annotations: {
          [CALICO_METADATA_ANNOTATION]: JSON.stringify({
            name: 'allow-vpe-gateway-registry-us-south-1',
            labels: { 'app.kubernetes.io/managed-by': 'calico-vpc-operator' },
          }),
        },
      },
    };
    expect(isManaged(rewrittenByCalico)).toBe(true);
    // Only Calico reads its annotation that way; on a v3 object it is just an annotation.
    expect(isManaged({ ...rewrittenByCalico, apiVersion: 'projectcalico.org/v3' })).toBe(false);
  });
});

describe('needsUpdate: a no-op resync writes nothing', () => {
  it.each<CalicoApi>(['v3', 'crd'])('ignores what the server and other tools add (%s)', (api) => {
    const desired = toWire(DESIRED, api);
    expect(policyDifferences(desired, asServerReturnsIt(desired))).toEqual([]);
    expect(needsUpdate(desired, asServerReturnsIt(desired))).toBe(false);
  });

  it("applies the v3 API's defaults: types from the rules, tier default", () => {
    const { types: _types, ...specWithoutTypes } = DESIRED.spec;
    const desired = { ...DESIRED, spec: specWithoutTypes };
    const live = asServerReturnsIt({ ...DESIRED, spec: { ...DESIRED.spec, tier: 'default' } });
    expect(needsUpdate(desired, live)).toBe(false);
  });

  it("reads what Go's omitempty drops and numeric port strings as the same spec", () => {
    const live = asServerReturnsIt(DESIRED);
    live.spec = {
      ...live.spec,
      doNotTrack: false,
      preDNAT: false,
      applyOnForward: false,
      ingress: [],
      egress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          destination: { nets: ['10.240.0.0/18', '10.250.0.0/24'], ports: ['443', 4443], notNets: [] },
        },
      ],
    };
    expect(policyDifferences(DESIRED, live)).toEqual([]);
  });

  it('ignores extra fields Calico adds to its metadata annotation, but not a different v3 name', () => {
    const desired = toWire(DESIRED, 'crd');
    const live = asServerReturnsIt(desired);
    live.metadata.annotations = {
      ...live.metadata.annotations,
      [CALICO_METADATA_ANNOTATION]: JSON.stringify({
        name: DESIRED.metadata.name,
        creationTimestamp: '2025-05-01T10:00:00Z',
        generation: 2,
      }),
    };
    expect(needsUpdate(desired, live)).toBe(false);
    live.metadata.annotations[CALICO_METADATA_ANNOTATION] = JSON.stringify({ name: 'something-else' });
    expect(policyDifferences(desired, live)).toEqual([`metadata.annotations[${CALICO_METADATA_ANNOTATION}]`]);
  });
});

describe('needsUpdate: drift is repaired', () => {
  const drifted = (api: CalicoApi, edit: (live: GlobalNetworkPolicy) => void): string[] => {
    const desired = toWire(DESIRED, api);
    const live = asServerReturnsIt(desired);
    edit(live);
    return policyDifferences(desired, live);
  };

  it.each<[string, (live: GlobalNetworkPolicy) => void, string[]]>([
    ['a prefix removed', (live) => live.spec.egress?.[0]?.destination?.nets?.pop(), ['spec.egress']],
    ['a port added', (live) => live.spec.egress?.[0]?.destination?.ports?.push(80), ['spec.egress']],
    [
      'the action flipped',
      (live) => Object.assign(live.spec.egress?.[0] ?? {}, { action: 'Deny' }),
      ['spec.egress'],
    ],
    ['the order changed', (live) => (live.spec.order = 100), ['spec.order']],
    ['the selector widened', (live) => (live.spec.selector = 'all()'), ['spec.selector']],
    ['an ingress rule added', (live) => (live.spec.ingress = [{ action: 'Allow' }]), ['spec.ingress']],
    ['doNotTrack switched on', (live) => (live.spec.doNotTrack = true), ['spec.doNotTrack']],
    ['the tier changed', (live) => (live.spec.tier = 'security'), ['spec.tier']],
    ['types widened', (live) => (live.spec.types = ['Ingress', 'Egress']), ['spec.types']],
    [
      'a label of ours removed',
      (live) => delete live.metadata.labels?.['calico-vpc.io/zone'],
      ['metadata.labels[calico-vpc.io/zone]'],
    ],
    [
      'our managed-by label changed',
      (live) => Object.assign(live.metadata.labels ?? {}, { 'app.kubernetes.io/managed-by': 'me' }),
      ['metadata.labels[app.kubernetes.io/managed-by]'],
    ],
  ])('after %s (v3)', (_what, edit, expected) => {
    expect(drifted('v3', edit)).toEqual(expected);
  });

  it('after types were removed on crd.projectcalico.org/v1, where Felix would read that as Ingress and Egress', () => {
    expect(drifted('crd', (live) => delete live.spec.types)).toEqual(['spec.types']);
  });

  it('after the tier label was changed on crd.projectcalico.org/v1, where it is ours to set', () => {
    expect(
      drifted('crd', (live) => Object.assign(live.metadata.labels ?? {}, { 'projectcalico.org/tier': 'x' })),
    ).toEqual(['metadata.labels[projectcalico.org/tier]']);
  });

  it('on any change to the spec', () => {
    // Every generated value differs from DESIRED's, so each edit must be seen.
    const edits = fc.oneof(
      fc.record({ field: fc.constant('order' as const), value: fc.integer({ min: 0, max: 499 }) }),
      fc.record({ field: fc.constant('selector' as const), value: fc.constantFrom('all()', "role == 'x'") }),
      fc.record({
        field: fc.constant('ports' as const),
        value: fc
          .array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 })
          .filter((p) => p.join() !== '443,4443'),
      }),
      fc.record({
        field: fc.constant('nets' as const),
        value: fc.constantFrom<string[]>(['10.0.0.0/8'], ['10.240.0.0/18']),
      }),
    );
    fc.assert(
      fc.property(edits, fc.constantFrom<CalicoApi>('v3', 'crd'), (edit, api) => {
        const desired = toWire(DESIRED, api);
        const live = asServerReturnsIt(desired);
        const destination = live.spec.egress?.[0]?.destination ?? {};
        if (edit.field === 'order') live.spec.order = edit.value;
        if (edit.field === 'selector') live.spec.selector = edit.value;
        if (edit.field === 'ports') destination.ports = edit.value;
        if (edit.field === 'nets') destination.nets = edit.value;
        expect(needsUpdate(desired, live)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it.each<CalicoApi>(['v3', 'crd'])(
    'is satisfied by one write that keeps the live metadata of others and overwrites ours (%s)',
    (api) => {
      const desired = toWire(DESIRED, api);
      const live = asServerReturnsIt(desired);
      live.metadata.labels = {
        ...live.metadata.labels,
        'calico-vpc.io/zone': 'edited',
        'calico-vpc.io/extra': 'x',
      };
      live.metadata.annotations = { ...live.metadata.annotations, [CALICO_METADATA_ANNOTATION]: '{}' };
      live.spec.order = 1;
      expect(needsUpdate(desired, live)).toBe(true);
      const written: GlobalNetworkPolicy = {
        ...desired,
        metadata: {
          ...desired.metadata,
          labels: { ...live.metadata.labels, ...desired.metadata.labels },
          annotations: { ...live.metadata.annotations, ...desired.metadata.annotations },
        },
      };
      expect(policyDifferences(desired, asServerReturnsIt(written))).toEqual([]);
    },
  );

  it('when the live object is of the other API', () => {
    expect(policyDifferences(toWire(DESIRED, 'crd'), DESIRED)).toEqual(['apiVersion']);
  });
});

describe('cachedGnp: the cache keeps metadata and a digest of the spec, and compares as the full object does', () => {
  const cases: [string, CalicoApi, (live: GlobalNetworkPolicy) => void][] = [
    ['nothing changed', 'v3', () => undefined],
    ['nothing changed', 'crd', () => undefined],
    [
      "only what Go's omitempty drops and numeric port strings",
      'v3',
      (live) => {
        live.spec.doNotTrack = false;
        live.spec.ingress = [];
        live.spec.egress![0]!.destination!.ports = ['443', 4443];
      },
    ],
    ['a prefix removed', 'v3', (live) => live.spec.egress?.[0]?.destination?.nets?.pop()],
    ['the order changed', 'crd', (live) => (live.spec.order = 100)],
    ['the selector widened', 'v3', (live) => (live.spec.selector = 'all()')],
    ['the source of a rule removed', 'v3', (live) => delete live.spec.egress![0]!.source],
    ['types removed', 'crd', (live) => delete live.spec.types],
    ['the tier changed', 'v3', (live) => (live.spec.tier = 'security')],
    ['a label of ours removed', 'v3', (live) => delete live.metadata.labels?.['calico-vpc.io/zone']],
    [
      "another tool's label added",
      'v3',
      (live) => Object.assign(live.metadata.labels ?? {}, { 'team.example.com/x': 'y' }),
    ],
    [
      'the v3 name in Calico’s annotation changed',
      'crd',
      (live) =>
        Object.assign(live.metadata.annotations ?? {}, {
          [CALICO_METADATA_ANNOTATION]: JSON.stringify({ name: 'other' }),
        }),
    ],
  ];

  it.each(cases)('%s (%s)', (_what, api, edit) => {
    const desired = toWire(DESIRED, api);
    const live = asServerReturnsIt(desired);
    edit(live);
    const drifted = policyDifferences(desired, live).length > 0;
    expect(needsUpdate(desired, cachedGnp(live, api))).toBe(drifted);
  });

  it('holds no rule, managedFields or timestamps; is idempotent', () => {
    const live = asServerReturnsIt(toWire(DESIRED, 'v3'));
    const cached = cachedGnp(live, 'v3');
    expect(cached.spec).toEqual({ tier: 'default' });
    expect(Object.keys(cached.metadata).sort()).toEqual([
      'annotations',
      'generation',
      'labels',
      'name',
      'resourceVersion',
      'uid',
    ]);
    expect(cachedGnp(cached, 'v3')).toBe(cached);
  });

  it('keeps the labels as they are, and shares one frozen spec among entries without a tier', () => {
    const live = asServerReturnsIt(toWire(DESIRED, 'v3'));
    expect(cachedGnp(live, 'v3').metadata.labels).toEqual(live.metadata.labels);
    const untiered = (name: string) => {
      const object = asServerReturnsIt(toWire(DESIRED, 'v3'));
      delete object.spec.tier;
      return cachedGnp({ ...object, metadata: { ...object.metadata, name } }, 'v3');
    };
    const [a, b] = [untiered('a'), untiered('b')];
    expect(a.spec).toEqual({});
    expect(a.spec).toBe(b.spec);
    expect(Object.isFrozen(a.spec)).toBe(true);
  });

  it('an entry whose spec is unknown (null digest) always needs a write', () => {
    const desired = toWire(DESIRED, 'v3');
    const cached = { ...cachedGnp(asServerReturnsIt(desired), 'v3'), specDigest: null };
    expect(needsUpdate(desired, cached)).toBe(true);
  });

  it('sees any change to the spec', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<CalicoApi>('v3', 'crd'),
        fc.integer({ min: 0, max: 499 }),
        fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 }),
        (api, order, ports) => {
          const desired = toWire(DESIRED, api);
          const live = asServerReturnsIt(desired);
          live.spec.order = order;
          live.spec.egress![0]!.destination!.ports = ports;
          const drifted = policyDifferences(desired, live).length > 0;
          expect(needsUpdate(desired, cachedGnp(live, api))).toBe(drifted);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('canonicalSpecJson: the one-pass text of the canonical spec the digest is taken of', () => {
  const maybe = <T>(arb: fc.Arbitrary<T>) =>
    fc.oneof(arb, fc.constant(null), fc.constant(undefined), fc.constant({}), fc.constant([]));
  const port = fc.oneof(
    fc.integer({ min: 0, max: 65535 }),
    fc.integer({ min: 0, max: 65535 }).map(String),
    fc.constantFrom('80:90', 'http', '', '007', 'a1'),
    fc.constant(null),
    fc.constant({}),
  );
  const entity = fc.dictionary(
    fc.constantFrom('selector', 'nets', 'notNets', 'ports', 'notPorts', 'namespaceSelector', '10', '9', 'x'),
    maybe(fc.oneof(fc.array(port, { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }))),
  );
  const rule = fc.oneof(
    fc.dictionary(
      fc.constantFrom('action', 'protocol', 'source', 'destination', 'metadata', 'ipVersion', '1'),
      maybe(fc.oneof(entity, fc.jsonValue({ maxDepth: 2 }))),
    ),
    fc.array(maybe(entity), { maxLength: 3 }),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const spec = fc.dictionary(
    fc.constantFrom(
      'tier',
      'order',
      'selector',
      'types',
      'ingress',
      'egress',
      'doNotTrack',
      'preDNAT',
      'applyOnForward',
      'serviceAccountSelector',
      '2',
      'zz',
    ),
    maybe(
      fc.oneof(
        fc.array(maybe(rule), { maxLength: 4 }),
        fc.subarray(['Ingress', 'Egress', 'Egress']),
        fc.boolean(),
        fc.constantFrom('', 'default', 'security', 0, 1),
        fc.jsonValue({ maxDepth: 2 }),
      ),
    ),
  );

  it('is stableJson(canonicalSpec(spec)) for any spec, in both APIs', () => {
    fc.assert(
      fc.property(fc.constantFrom<CalicoApi>('v3', 'crd'), spec, (api, value) => {
        const reference = (() => {
          try {
            return stableJson(canonicalSpec(value as never, api));
          } catch (err) {
            return `throws ${(err as Error).name}`;
          }
        })();
        let actual: string;
        try {
          actual = canonicalSpecJson(value as never, api);
        } catch (err) {
          actual = `throws ${(err as Error).name}`;
        }
        expect(actual).toBe(reference);
      }),
      { numRuns: 3000 },
    );
  });

  it('is stableJson(canonicalSpec(spec)) for the policies the operator writes', () => {
    for (const api of ['v3', 'crd'] as const) {
      const desired = toWire(DESIRED, api);
      expect(canonicalSpecJson(desired.spec, api)).toBe(stableJson(canonicalSpec(desired.spec, api)));
      expect(canonicalSpecJson(undefined, api)).toBe(stableJson(canonicalSpec(undefined, api)));
    }
  });
});
