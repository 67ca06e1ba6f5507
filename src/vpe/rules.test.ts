import { formatPath } from '../api/errors.js';
import fc from 'fast-check';
import type { VpcEgressProfile, VpcEgressProfileSpec } from '../api/v1alpha1.js';
import type { GlobalNetworkPolicy } from '../calico/types.js';
import type { FieldError, Finding, Validated } from '../api/errors.js';
import { translateProfile, type VpeTranslation } from './rules.js';

function profile(spec: VpcEgressProfileSpec | Record<string, unknown>, name = 'prod'): VpcEgressProfile {
  return {
    apiVersion: 'calico-vpc.io/v1alpha1',
    kind: 'VpcEgressProfile',
    metadata: { name },
    spec: spec as VpcEgressProfileSpec,
  };
}

function translated(result: Validated<VpeTranslation>): VpeTranslation {
  if (!result.ok) throw new Error(`expected a translation, got ${JSON.stringify(result.errors)}`);
  return result.value;
}

function errorsOf(result: Validated<VpeTranslation>): FieldError[] {
  if (result.ok) throw new Error('expected errors, got a translation');
  return result.errors;
}

const US_SOUTH_1 = { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] };

describe('translateProfile: the seed', () => {
  it("turns one zone with 10.245.0.0/16 into exactly the seed's policy", () => {
    const result = translated(
      translateProfile(
        profile({ zones: [{ name: 'us-south-1', addressPrefixes: ['10.245.0.0/16'] }] }, 'seed'),
      ),
    );
    // The seed (IBM's documented policy), with the per-zone name and our ownership labels added.
    const seed: GlobalNetworkPolicy = {
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: {
        name: 'allow-vpe-gateway-registry-us-south-1',
        labels: {
          'app.kubernetes.io/managed-by': 'calico-vpc-operator',
          'calico-vpc.io/source': 'vpc-egress-profile',
          'calico-vpc.io/profile': 'seed',
          'calico-vpc.io/zone': 'us-south-1',
          'calico-vpc.io/gateway': 'registry',
        },
      },
      spec: {
        egress: [
          {
            action: 'Allow',
            destination: { nets: ['10.245.0.0/16'], ports: [443, 4443] },
            protocol: 'TCP',
            source: {},
          },
        ],
        order: 500,
        selector: "ibm.role == 'worker_private'",
        types: ['Egress'],
      },
    };
    expect(result.policies).toEqual([seed]);
    expect(result.zones).toEqual([{ name: 'us-south-1', addressPrefixes: ['10.245.0.0/16'] }]);
    expect(result.warnings).toEqual([]);
    // The field order is part of "byte-identical output": spec keys in the order the seed documents them.
    expect(Object.keys(result.policies[0]?.spec ?? {})).toEqual(['order', 'selector', 'types', 'egress']);
    expect(Object.keys(result.policies[0]?.spec.egress?.[0] ?? {})).toEqual([
      'action',
      'protocol',
      'source',
      'destination',
    ]);
  });

  it("translates the issue's example profile", () => {
    const result = translated(
      translateProfile(
        profile({
          vpc: 'prod-vpc',
          zones: [
            { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] },
            { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18', '10.250.0.0/24'] },
          ],
          gateways: [{ name: 'registry', protocol: 'TCP', ports: [443, 4443] }],
          selector: "ibm.role == 'worker_private'",
          order: 500,
        }),
      ),
    );
    expect(result.policies.map((p) => [p.metadata.name, p.spec.egress?.[0]?.destination?.nets])).toEqual([
      ['allow-vpe-gateway-registry-us-south-1', ['10.240.0.0/18']],
      ['allow-vpe-gateway-registry-us-south-2', ['10.240.64.0/18', '10.250.0.0/24']],
    ]);
    expect(result.zones).toEqual([
      { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] },
      { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18', '10.250.0.0/24'] },
    ]);
  });
});

describe('translateProfile: shape', () => {
  it('writes one policy per (gateway, zone), gateways outermost, both in spec order', () => {
    const result = translated(
      translateProfile(
        profile({
          zones: [
            { name: 'z-b', addressPrefixes: ['10.1.0.0/16'] },
            { name: 'z-a', addressPrefixes: ['10.2.0.0/16'] },
          ],
          gateways: [
            { name: 'registry', ports: [443] },
            { name: 'dns', protocol: 'UDP', ports: [53] },
          ],
          selector: "role == 'x'",
          order: 42.5,
        }),
      ),
    );
    expect(
      result.policies.map((p) => [
        p.metadata.name,
        p.spec.egress?.[0]?.protocol,
        p.spec.order,
        p.spec.selector,
      ]),
    ).toEqual([
      ['allow-vpe-gateway-registry-z-b', 'TCP', 42.5, "role == 'x'"],
      ['allow-vpe-gateway-registry-z-a', 'TCP', 42.5, "role == 'x'"],
      ['allow-vpe-gateway-dns-z-b', 'UDP', 42.5, "role == 'x'"],
      ['allow-vpe-gateway-dns-z-a', 'UDP', 42.5, "role == 'x'"],
    ]);
    expect(result.policies[3]?.metadata.labels).toMatchObject({
      'calico-vpc.io/zone': 'z-a',
      'calico-vpc.io/gateway': 'dns',
    });
  });

  it("aggregates a zone's prefixes into the minimal sorted set and sorts and de-duplicates ports", () => {
    const result = translated(
      translateProfile(
        profile({
          zones: [
            {
              name: 'us-south-1',
              addressPrefixes: [
                '10.250.0.0/24',
                '10.240.64.0/18',
                '10.240.0.0/24',
                '10.240.0.0/18',
                '10.250.1.0/24',
              ],
            },
          ],
          gateways: [{ name: 'registry', ports: [4443, 443, 4443] }],
        }),
      ),
    );
    expect(result.zones[0]?.addressPrefixes).toEqual(['10.240.0.0/17', '10.250.0.0/23']);
    expect(result.policies[0]?.spec.egress?.[0]?.destination).toEqual({
      nets: ['10.240.0.0/17', '10.250.0.0/23'],
      ports: [443, 4443],
    });
  });

  it('does not share arrays between policies, so callers cannot corrupt one through another', () => {
    const result = translated(
      translateProfile(
        profile({
          zones: [US_SOUTH_1],
          gateways: [
            { name: 'a', ports: [1] },
            { name: 'b', ports: [1] },
          ],
        }),
      ),
    );
    const [a, b] = result.policies;
    expect(a?.spec.egress?.[0]?.destination?.nets).not.toBe(b?.spec.egress?.[0]?.destination?.nets);
    expect(a?.spec.egress?.[0]?.destination?.nets).not.toBe(result.zones[0]?.addressPrefixes);
  });

  it('uses the given zones instead of spec.zones, and reports their errors under zonesPath', () => {
    const discovered = [{ name: 'us-south-3', addressPrefixes: ['10.240.128.0/18'] }];
    const result = translated(translateProfile(profile({ zones: [US_SOUTH_1] }), { zones: discovered }));
    expect(result.policies.map((p) => p.metadata.name)).toEqual(['allow-vpe-gateway-registry-us-south-3']);
    expect(
      errorsOf(
        translateProfile(profile({}), {
          zones: [{ name: 'x', addressPrefixes: ['bad'] }],
          zonesPath: ['zones'],
        }),
      ),
    ).toEqual([
      {
        path: ['zones', 0, 'addressPrefixes', 0],
        message: '"bad" is not a valid CIDR: expected ADDRESS/PREFIX-LENGTH, e.g. 10.240.0.0/18',
      },
    ]);
  });

  it('warns when a prefix overlaps a prefix of another zone', () => {
    const result = translated(
      translateProfile(
        profile({
          zones: [
            { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] },
            { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18', '10.240.0.0/24'] },
          ],
        }),
      ),
    );
    expect(result.warnings).toEqual<Finding[]>([
      {
        severity: 'warning',
        code: 'PrefixInMultipleZones',
        path: ['spec', 'zones', 1, 'addressPrefixes', 1],
        message:
          '10.240.0.0/24 overlaps 10.240.0.0/18 of zone "us-south-1" (spec.zones[0].addressPrefixes[0]); ' +
          'a VPC address prefix belongs to one zone',
      },
    ]);
    expect(result.policies).toHaveLength(2);
  });
});

describe('translateProfile: validation', () => {
  const cases: [string, Record<string, unknown>, FieldError[]][] = [
    ['missing zones', {}, [{ path: ['spec', 'zones'], message: 'at least one zone is required' }]],
    ['empty zones', { zones: [] }, [{ path: ['spec', 'zones'], message: 'at least one zone is required' }]],
    [
      'no zones while discovery is on',
      { discovery: { ibmCloud: { region: 'us-south' } } },
      [
        {
          path: ['spec', 'zones'],
          message: 'no zones: spec.zones is empty and no zones have been discovered from the VPC yet',
        },
      ],
    ],
    [
      'zones not a list',
      { zones: 'us-south-1' },
      [{ path: ['spec', 'zones'], message: 'must be a list of zones, got the string "us-south-1"' }],
    ],
    [
      'a zone that is not an object',
      { zones: [7] },
      [
        {
          path: ['spec', 'zones', 0],
          message: 'must be an object with name and addressPrefixes, got number 7',
        },
      ],
    ],
    [
      'invalid CIDR',
      { zones: [{ name: 'z', addressPrefixes: ['10.240.0.0/18', '10.240.0/18'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefixes', 1],
          message: '"10.240.0/18" is not a valid CIDR: "10.240.0" is not an IPv4 or IPv6 address',
        },
      ],
    ],
    [
      'host bits',
      { zones: [{ name: 'z', addressPrefixes: ['10.240.1.0/18'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefixes', 0],
          message: '10.240.1.0/18 has host bits set; the network is 10.240.0.0/18',
        },
      ],
    ],
    [
      'IPv6',
      { zones: [{ name: 'z', addressPrefixes: ['2001:db8::/32'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefixes', 0],
          message: '2001:db8::/32 is IPv6; VPC address prefixes are IPv4',
        },
      ],
    ],
    [
      'prefix too short',
      { zones: [{ name: 'z', addressPrefixes: ['10.0.0.0/8'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefixes', 0],
          message: '10.0.0.0/8 has prefix length /8; VPC address prefixes are /9 to /29',
        },
      ],
    ],
    [
      'prefix too long',
      { zones: [{ name: 'z', addressPrefixes: ['10.0.0.0/30'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefixes', 0],
          message: '10.0.0.0/30 has prefix length /30; VPC address prefixes are /9 to /29',
        },
      ],
    ],
    [
      'a prefix that is not a string',
      { zones: [{ name: 'z', addressPrefixes: [167772160] }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefixes', 0],
          message: 'must be an IPv4 CIDR string such as 10.240.0.0/18, got number 167772160',
        },
      ],
    ],
    [
      'no prefixes',
      { zones: [{ name: 'z', addressPrefixes: [] }] },
      [{ path: ['spec', 'zones', 0, 'addressPrefixes'], message: 'at least one address prefix is required' }],
    ],
    [
      'prefixes missing',
      { zones: [{ name: 'z' }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefixes'],
          message: 'must be a list of IPv4 CIDRs, got undefined undefined',
        },
      ],
    ],
    [
      'duplicate zone names',
      {
        zones: [
          US_SOUTH_1,
          { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
          { name: 'us-south-1', addressPrefixes: ['10.240.128.0/18'] },
        ],
      },
      [
        {
          path: ['spec', 'zones', 2, 'name'],
          message: 'duplicate zone name "us-south-1" (first at spec.zones[0])',
        },
      ],
    ],
    [
      'a zone name that is not a DNS label',
      { zones: [{ name: 'US_South_1', addressPrefixes: ['10.240.0.0/18'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'name'],
          message:
            '"US_South_1" is not a valid zone name: it must be a DNS-1123 label (lower-case letters, digits and \'-\', ' +
            'starting and ending with a letter or digit, at most 63 characters) because it is part of the policy name ' +
            'and the value of label calico-vpc.io/zone',
        },
      ],
    ],
    [
      'a zone name of 64 characters',
      { zones: [{ name: 'a'.repeat(64), addressPrefixes: ['10.240.0.0/18'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'name'],
          message: expect.stringContaining('is not a valid zone name') as unknown as string,
        },
      ],
    ],
    [
      'a zone without a name',
      { zones: [{ addressPrefixes: ['10.240.0.0/18'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'name'],
          message: 'zone name is required (a non-empty string), got undefined undefined',
        },
      ],
    ],
    [
      'an unknown zone field',
      { zones: [{ name: 'z', addressPrefix: ['10.240.0.0/18'], addressPrefixes: ['10.240.0.0/18'] }] },
      [
        {
          path: ['spec', 'zones', 0, 'addressPrefix'],
          message: 'unknown field (known fields: name, addressPrefixes)',
        },
      ],
    ],
    [
      'an unknown spec field',
      { zones: [US_SOUTH_1], gateway: [] },
      [
        {
          path: ['spec', 'gateway'],
          message: 'unknown field (known fields: vpc, zones, gateways, selector, order, discovery)',
        },
      ],
    ],
    [
      'duplicate gateway names',
      {
        zones: [US_SOUTH_1],
        gateways: [
          { name: 'registry', ports: [443] },
          { name: 'registry', ports: [4443] },
        ],
      },
      [
        {
          path: ['spec', 'gateways', 1, 'name'],
          message: 'duplicate gateway name "registry" (first at spec.gateways[0])',
        },
      ],
    ],
    [
      'a gateway name with a dot',
      { zones: [US_SOUTH_1], gateways: [{ name: 'cos.registry', ports: [443] }] },
      [
        {
          path: ['spec', 'gateways', 0, 'name'],
          message: expect.stringContaining('"cos.registry" is not a valid gateway name') as unknown as string,
        },
      ],
    ],
    [
      'ports out of range',
      { zones: [US_SOUTH_1], gateways: [{ name: 'registry', ports: [0, 443, 65536, 8.5, '443'] }] },
      [
        {
          path: ['spec', 'gateways', 0, 'ports', 0],
          message: 'must be a port number from 1 to 65535, got number 0',
        },
        {
          path: ['spec', 'gateways', 0, 'ports', 2],
          message: 'must be a port number from 1 to 65535, got number 65536',
        },
        {
          path: ['spec', 'gateways', 0, 'ports', 3],
          message: 'must be a port number from 1 to 65535, got number 8.5',
        },
        {
          path: ['spec', 'gateways', 0, 'ports', 4],
          message: 'must be a port number from 1 to 65535, got the string "443"',
        },
      ],
    ],
    [
      'no ports',
      { zones: [US_SOUTH_1], gateways: [{ name: 'registry', ports: [] }] },
      [
        {
          path: ['spec', 'gateways', 0, 'ports'],
          message: 'at least one port is required (a rule without ports would allow every port)',
        },
      ],
    ],
    [
      'ports missing',
      { zones: [US_SOUTH_1], gateways: [{ name: 'registry' }] },
      [
        {
          path: ['spec', 'gateways', 0, 'ports'],
          message: 'must be a list of port numbers, got undefined undefined',
        },
      ],
    ],
    [
      'a protocol other than TCP or UDP',
      { zones: [US_SOUTH_1], gateways: [{ name: 'registry', protocol: 'SCTP', ports: [443] }] },
      [{ path: ['spec', 'gateways', 0, 'protocol'], message: 'must be TCP or UDP, got the string "SCTP"' }],
    ],
    [
      'an empty gateway list',
      { zones: [US_SOUTH_1], gateways: [] },
      [
        {
          path: ['spec', 'gateways'],
          message:
            'must not be empty; omit it for the default [{"name":"registry","protocol":"TCP","ports":[443,4443]}]',
        },
      ],
    ],
    [
      'an empty selector',
      { zones: [US_SOUTH_1], selector: '  ' },
      [
        {
          path: ['spec', 'selector'],
          message:
            "must not be empty (Calico reads an empty selector as all()); omit it for the default ibm.role == 'worker_private'",
        },
      ],
    ],
    [
      'a selector Calico cannot parse',
      { zones: [US_SOUTH_1], selector: "ibm.role == 'worker_private" },
      [
        {
          path: ['spec', 'selector'],
          message: expect.stringMatching(
            /^invalid Calico selector "ibm.role == 'worker_private": expected /,
          ) as unknown as string,
        },
      ],
    ],
    [
      'an order that is not a number',
      { zones: [US_SOUTH_1], order: '500' },
      [{ path: ['spec', 'order'], message: 'must be a number, got the string "500"' }],
    ],
    [
      'a vpc that is not a string',
      { zones: [US_SOUTH_1], vpc: 12 },
      [{ path: ['spec', 'vpc'], message: 'must be a string (the VPC name or id), got number 12' }],
    ],
    [
      'two (gateway, zone) pairs with the same policy name',
      {
        zones: [
          { name: 'c', addressPrefixes: ['10.1.0.0/16'] },
          { name: 'b-c', addressPrefixes: ['10.2.0.0/16'] },
        ],
        gateways: [
          { name: 'a', ports: [443] },
          { name: 'a-b', ports: [443] },
        ],
      },
      [
        {
          path: ['spec', 'gateways', 1, 'name'],
          message:
            'policy name "allow-vpe-gateway-a-b-c" is made by both gateway "a" with zone "b-c" and gateway "a-b" ' +
            'with zone "c"; rename one of them',
        },
      ],
    ],
  ];

  it.each(cases)('rejects %s', (_name, spec, expected) => {
    expect(errorsOf(translateProfile(profile(spec)))).toEqual(expected);
  });

  it.each([
    ['127.0.0.0/9', '127.0.0.0/8 (loopback)'],
    ['161.26.0.0/16', '161.26.0.0/16 (IBM Cloud infrastructure service endpoints)'],
    ['161.0.0.0/9', '161.26.0.0/16 (IBM Cloud infrastructure service endpoints)'],
    ['166.9.0.0/16', '166.8.0.0/14 (IBM Cloud private service endpoints)'],
    ['169.254.0.0/24', '169.254.0.0/16 (link-local)'],
    ['239.0.0.0/16', '224.0.0.0/4 (multicast)'],
  ])('rejects %s, which overlaps the reserved %s', (prefix, reserved) => {
    expect(
      errorsOf(translateProfile(profile({ zones: [{ name: 'z', addressPrefixes: [prefix] }] }))),
    ).toEqual([
      {
        path: ['spec', 'zones', 0, 'addressPrefixes', 0],
        message: `${prefix} overlaps ${reserved}, which cannot be a VPC address prefix`,
      },
    ]);
  });

  it.each(['126.255.255.248/29', '128.0.0.0/9', '161.27.0.0/16', '166.12.0.0/16', '223.255.255.0/24'])(
    'accepts %s, next to a reserved range',
    (prefix) => {
      expect(translateProfile(profile({ zones: [{ name: 'z', addressPrefixes: [prefix] }] })).ok).toBe(true);
    },
  );

  it.each(['p'.repeat(64), 'Prod', 'prod_1', '-prod', 'prod.'])('rejects the profile name %j', (name) => {
    expect(errorsOf(translateProfile(profile({ zones: [US_SOUTH_1] }, name)))).toEqual([
      {
        path: ['metadata', 'name'],
        message:
          `${JSON.stringify(name)} is not a valid profile name: it must be at most 63 characters of lower-case ` +
          "letters, digits, '-' and '.', starting and ending with a letter or digit, because it is the value of " +
          'label calico-vpc.io/profile',
      },
    ]);
  });

  it('accepts a dotted profile name of 63 characters', () => {
    const name = `${'a'.repeat(31)}.${'b'.repeat(31)}`;
    expect(
      translated(translateProfile(profile({ zones: [US_SOUTH_1] }, name))).policies[0]?.metadata.labels,
    ).toMatchObject({
      'calico-vpc.io/profile': name,
    });
  });

  it('reports every error, not only the first', () => {
    const errors = errorsOf(
      translateProfile(
        profile({
          zones: [
            { name: 'z', addressPrefixes: ['10.0.0.0/8', '10.1.1.0/16'] },
            { name: 'z', addressPrefixes: ['nope'] },
          ],
          gateways: [{ name: 'registry', ports: [0] }],
          selector: '',
          order: Number.NaN,
        }),
      ),
    );
    expect(errors.map((e) => formatPath(e.path))).toEqual([
      'spec.zones[0].addressPrefixes[0]',
      'spec.zones[0].addressPrefixes[1]',
      'spec.zones[1].name',
      'spec.zones[1].addressPrefixes[0]',
      'spec.gateways[0].ports[0]',
      'spec.selector',
      'spec.order',
    ]);
  });

  it('produces policy names that are valid for both Calico APIs even at the longest zone and gateway names', () => {
    const longest = 'a'.repeat(63);
    const result = translated(
      translateProfile(
        profile({
          zones: [{ name: longest, addressPrefixes: ['10.1.0.0/16'] }],
          gateways: [{ name: longest, ports: [1] }],
        }),
      ),
    );
    const name = result.policies[0]?.metadata.name ?? '';
    // 245: what is left of Kubernetes' 253 after Calico's "default." prefix on crd.projectcalico.org/v1.
    expect(name.length).toBeLessThanOrEqual(245);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('translateProfile: determinism', () => {
  const zoneName = fc.constantFrom('us-south-1', 'us-south-2', 'us-south-3', 'eu-de-1');
  const prefix = fc
    .tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 16, max: 29 }),
    )
    .map(([b, c, length]) => {
      const value = ((10 << 24) | (b << 16) | (c << 8)) >>> 0;
      const network = length === 0 ? 0 : (value & (~0 << (32 - length))) >>> 0;
      return `${network >>> 24}.${(network >> 16) & 255}.${(network >> 8) & 255}.${network & 255}/${length}`;
    });
  const zones = fc.uniqueArray(
    fc.record({ name: zoneName, addressPrefixes: fc.array(prefix, { minLength: 1, maxLength: 6 }) }),
    {
      minLength: 1,
      maxLength: 4,
      selector: (z) => z.name,
    },
  );
  const ports = fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 5 });

  it('writes byte-identical policies for the same input and for shuffled prefixes and ports', () => {
    fc.assert(
      fc.property(
        zones.chain((zs) =>
          fc.tuple(
            fc.constant(zs),
            fc.tuple(
              ...zs.map((z) =>
                fc.shuffledSubarray(z.addressPrefixes, { minLength: z.addressPrefixes.length }),
              ),
            ),
          ),
        ),
        ports.chain((ps) => fc.tuple(fc.constant(ps), fc.shuffledSubarray(ps, { minLength: ps.length }))),
        ([zs, shuffledPrefixes], [ps, shuffledPorts]) => {
          const original = profile({ zones: zs, gateways: [{ name: 'registry', ports: ps }] });
          const shuffled = profile({
            zones: zs.map((z, i) => ({ name: z.name, addressPrefixes: shuffledPrefixes[i] ?? [] })),
            gateways: [{ name: 'registry', ports: shuffledPorts }],
          });
          const first = JSON.stringify(translateProfile(original));
          expect(JSON.stringify(translateProfile(original))).toBe(first);
          expect(JSON.stringify(translateProfile(structuredClone(original)))).toBe(first);
          // Warnings point at input positions, which shuffling moves; what is written must not move.
          const written = (p: VpcEgressProfile) => {
            const { policies, zones } = translated(translateProfile(p));
            return JSON.stringify({ policies, zones });
          };
          expect(written(shuffled)).toBe(written(original));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not modify its input', () => {
    const input = profile({
      zones: [{ name: 'z', addressPrefixes: ['10.2.0.0/16', '10.1.0.0/16'] }],
      gateways: [{ name: 'g', ports: [2, 1] }],
    });
    const copy = structuredClone(input);
    translateProfile(input);
    expect(input).toEqual(copy);
  });
});
