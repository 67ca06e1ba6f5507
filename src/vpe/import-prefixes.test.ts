import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { translateProfile } from './rules.js';
import { groupPrefixesByZone } from '../ibm/address-prefixes.js';
import { importPrefixes, parseAddressPrefixes, profileFromAddressPrefixes } from './import-prefixes.js';

// Copies of ../shared/reference/ibm/ (the VPC API's paged envelope); the CLI prints the same prefixes as a plain array.
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/ibm/', import.meta.url));
const fixture = (file: string): string => readFileSync(join(FIXTURES, file), 'utf8');
const reference = (file: string): string =>
  file === 'address_prefixes.cli.example.json'
    ? JSON.stringify(
        (JSON.parse(fixture('address_prefixes.example.json')) as { address_prefixes: unknown[] })
          .address_prefixes,
      )
    : fixture(file);

const US_SOUTH = [
  { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22'] },
  { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
  { name: 'us-south-3', addressPrefixes: ['10.240.128.0/18'] },
];

describe('importPrefixes', () => {
  it.each(['address_prefixes.cli.example.json', 'address_prefixes.example.json'])(
    'turns %s into a profile with zones grouped and sorted',
    (file) => {
      const result = importPrefixes(reference(file), { name: 'prod' });
      expect(result).toEqual({
        ok: true,
        value: {
          apiVersion: 'calico-vpc.io/v1alpha1',
          kind: 'VpcEgressProfile',
          metadata: { name: 'prod' },
          spec: { vpc: 'r006-2f8b7c4e-8a1d-4b9e-9f3a-6c2d1e0b5a71', zones: US_SOUTH },
        },
      });
      // What import writes, render accepts.
      expect(result.ok && translateProfile(result.value).ok).toBe(true);
    },
  );

  it('uses the given vpc instead of the one in the hrefs', () => {
    const result = importPrefixes(reference('address_prefixes.cli.example.json'), {
      name: 'prod',
      vpc: 'prod-vpc',
    });
    expect(result.ok && result.value.spec.vpc).toBe('prod-vpc');
  });

  it('leaves spec.vpc out when the input does not say which VPC', () => {
    const result = importPrefixes(JSON.stringify([{ cidr: '10.240.0.0/18', zone: { name: 'us-south-1' } }]), {
      name: 'prod',
    });
    expect(result.ok && result.value.spec).toEqual({
      zones: [{ name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] }],
    });
  });

  it('refuses one page of a paged response rather than leave zones out', () => {
    expect(importPrefixes(reference('address_prefixes.page1-of-2.example.json'), { name: 'prod' })).toEqual({
      ok: false,
      errors: [
        {
          path: ['next'],
          message:
            'this is one page of a paged response (2 prefixes here of 4); the next page is missing: ' +
            'https://us-south.iaas.cloud.ibm.com/v1/vpcs/r006-2f8b7c4e-8a1d-4b9e-9f3a-6c2d1e0b5a71/address_prefixes?limit=2&start=9d5a91a3e2cbd233b5a5b33436855ed1. ' +
            'Use `ibmcloud is vpc-address-prefixes VPC --output json`, which prints every prefix',
        },
      ],
    });
  });

  it.each([
    [
      'not JSON',
      'zone us-south-1 10.240.0.0/18',
      {
        path: [],
        message: expect.stringMatching(
          /^not JSON \(.+\); expected the JSON array printed by `ibmcloud is vpc-address-prefixes VPC --output json` or the VPC API's response object with address_prefixes$/,
        ),
      },
    ],
    [
      'a JSON string',
      '"10.240.0.0/18"',
      {
        path: [],
        message:
          "expected the JSON array printed by `ibmcloud is vpc-address-prefixes VPC --output json` or the VPC API's " +
          'response object with address_prefixes; got string',
      },
    ],
    [
      'an object of another kind',
      '{"vpcs": [], "limit": 50}',
      {
        path: ['address_prefixes'],
        message:
          "expected the JSON array printed by `ibmcloud is vpc-address-prefixes VPC --output json` or the VPC API's " +
          'response object with address_prefixes; got an object with the fields: limit, vpcs',
      },
    ],
    [
      'an empty list',
      '[]',
      { path: [], message: 'no address prefixes: a VPC with clusters has at least one per zone' },
    ],
    [
      'a total_count that does not match',
      '{"address_prefixes": [{"cidr": "10.240.0.0/18", "zone": {"name": "us-south-1"}}], "total_count": 3}',
      { path: ['total_count'], message: 'says 3 prefixes, but address_prefixes has 1; some are missing' },
    ],
  ])('rejects %s', (_what, text, error) => {
    expect(importPrefixes(text, { name: 'prod' })).toEqual({ ok: false, errors: [error] });
  });

  it('names every bad prefix by its place in the input', () => {
    const text = JSON.stringify({
      address_prefixes: [
        { cidr: '10.240.0.0/18', zone: { name: 'us-south-1' } },
        { cidr: '10.240.1.0/18', zone: { name: 'us-south-2' } },
        { cidr: 42, zone: 'us-south-3' },
        'x',
      ],
    });
    expect(importPrefixes(text, { name: 'prod' })).toEqual({
      ok: false,
      errors: [
        {
          path: ['address_prefixes', 1, 'cidr'],
          message: '10.240.1.0/18 has host bits set; the network is 10.240.0.0/18',
        },
        { path: ['address_prefixes', 2, 'zone', 'name'], message: 'expected the zone name, e.g. us-south-1' },
        { path: ['address_prefixes', 2, 'cidr'], message: 'expected a CIDR string, e.g. 10.240.0.0/18' },
        { path: ['address_prefixes', 3], message: 'expected an address prefix object with cidr and zone' },
      ],
    });
    expect(parseAddressPrefixes([{ cidr: 'x', zone: { name: 'z' } }])).toEqual({
      ok: false,
      errors: [
        {
          path: [0, 'cidr'],
          message: '"x" is not a valid CIDR: expected ADDRESS/PREFIX-LENGTH, e.g. 10.240.0.0/18',
        },
      ],
    });
  });

  it('rejects a profile name that the API server would reject', () => {
    expect(
      profileFromAddressPrefixes([{ cidr: '10.240.0.0/18', zone: { name: 'z' } }], { name: 'Prod VPC' }),
    ).toEqual({
      ok: false,
      errors: [
        {
          path: ['metadata', 'name'],
          message: expect.stringContaining('"Prod VPC" is not a valid profile name'),
        },
      ],
    });
  });
});

describe('groupPrefixesByZone', () => {
  it('sorts zones by name and prefixes by address, dropping exact duplicates but not aggregating', () => {
    expect(
      groupPrefixesByZone([
        { cidr: '10.240.64.0/18', zone: { name: 'b' } },
        { cidr: '9.0.0.0/18', zone: { name: 'a' } },
        { cidr: '10.240.0.0/18', zone: { name: 'a' } },
        { cidr: '10.240.0.0/18', zone: { name: 'a' } },
        { cidr: '10.240.0.0/24', zone: { name: 'a' } },
        { cidr: '10.240.64.0/18', zone: { name: 'a' } },
      ]),
    ).toEqual([
      { name: 'a', addressPrefixes: ['9.0.0.0/18', '10.240.0.0/18', '10.240.0.0/24', '10.240.64.0/18'] },
      { name: 'b', addressPrefixes: ['10.240.64.0/18'] },
    ]);
  });

  it('keeps text it cannot parse, after the CIDRs, for translation to reject with a field path', () => {
    expect(
      groupPrefixesByZone([
        { cidr: 'zz', zone: { name: 'a' } },
        { cidr: 'yy', zone: { name: 'a' } },
        { cidr: '10.0.0.0/16', zone: { name: 'a' } },
      ]),
    ).toEqual([{ name: 'a', addressPrefixes: ['10.0.0.0/16', 'yy', 'zz'] }]);
  });

  it('gives the same zones whatever the order of the prefixes', () => {
    const prefixes = JSON.parse(reference('address_prefixes.cli.example.json')) as {
      cidr: string;
      zone: { name: string };
    }[];
    expect(groupPrefixesByZone([...prefixes].reverse())).toEqual(US_SOUTH);
    expect(groupPrefixesByZone(prefixes)).toEqual(US_SOUTH);
  });
});
