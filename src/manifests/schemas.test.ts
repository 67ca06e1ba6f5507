/**
 * The schemas against the real ones: Calico's CRDs of both API groups (read from the shared reference data beside
 * the repository; ours are generated from the projectcalico.org/v3 ones, this checks crd.projectcalico.org/v1 has
 * the same fields) and, for the VpcEgressProfile schema derived from its definition, our CRD in crds/.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Schema } from './schema.js';
import {
  CALICO_NETWORK_POLICY_SCHEMA,
  GLOBAL_NETWORK_POLICY_SCHEMA,
  TIER_SCHEMA,
  VPC_EGRESS_PROFILE_SCHEMA,
} from './schemas.js';

interface OpenApi {
  type?: string;
  properties?: Record<string, OpenApi>;
  items?: OpenApi;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

const REFERENCE = '../shared/reference/calico';
const CALICO_GNP_CRDS = [
  `${REFERENCE}/crd.projectcalico.org-v1_calico-v3.31.7/crd.projectcalico.org_globalnetworkpolicies.yaml`,
  `${REFERENCE}/crd.projectcalico.org-v1_calico-v3.32.1/crd.projectcalico.org_globalnetworkpolicies.yaml`,
  `${REFERENCE}/projectcalico.org-v3_calico-v3.32.1/projectcalico.org_globalnetworkpolicies.yaml`,
];

function specSchema(file: string): OpenApi {
  const crd = parse(readFileSync(file, 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: OpenApi } }[] };
  };
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
  return root?.properties?.spec as OpenApi;
}

/** Every field path with its type, in a form both sides can produce: `egress[].destination.nets[]: string`. */
function openApiPaths(node: OpenApi, prefix: string, out: Map<string, string>): Map<string, string> {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = `${prefix}${prefix ? '.' : ''}${key}`;
    out.set(path, openApiType(child));
    if (child.items) {
      out.set(`${path}[]`, openApiType(child.items));
      openApiPaths(child.items, `${path}[]`, out);
    } else openApiPaths(child, path, out);
  }
  return out;
}

function openApiType(node: OpenApi): string {
  if (node['x-kubernetes-int-or-string']) return 'int-or-string';
  if (node.type === 'object' && !node.properties) return 'map';
  return node.type ?? 'any';
}

function schemaPaths(schema: Schema, prefix: string, out: Map<string, string>): Map<string, string> {
  if (schema.type !== 'object') return out;
  for (const [key, child] of Object.entries(schema.fields)) {
    const path = `${prefix}${prefix ? '.' : ''}${key}`;
    out.set(path, schemaType(child));
    if (child.type === 'array') {
      out.set(`${path}[]`, schemaType(child.items));
      schemaPaths(child.items, `${path}[]`, out);
    } else schemaPaths(child, path, out);
  }
  return out;
}

function schemaType(schema: Schema): string {
  switch (schema.type) {
    case 'object':
      return 'object';
    case 'map':
      return 'map';
    default:
      return schema.type;
  }
}

describe.each([
  { name: 'GLOBAL_NETWORK_POLICY_SCHEMA', schema: GLOBAL_NETWORK_POLICY_SCHEMA, crds: CALICO_GNP_CRDS },
  {
    name: 'CALICO_NETWORK_POLICY_SCHEMA',
    schema: CALICO_NETWORK_POLICY_SCHEMA,
    crds: CALICO_GNP_CRDS.map((file) => file.replace(/globalnetworkpolicies/g, 'networkpolicies')),
  },
])('$name', ({ schema, crds }) => {
  const spec = schema.fields.spec as Schema;
  const ours = schemaPaths(spec, '', new Map());

  it.each(crds)('has every field of %s, with its type', (file) => {
    const theirs = openApiPaths(specSchema(file), '', new Map());
    expect(theirs.size).toBeGreaterThan(50);
    const missing = [...theirs]
      .filter(([path, type]) => ours.get(path) !== type)
      .map(([p, t]) => `${p}: ${t}`);
    expect(missing).toEqual([]);
  });

  it('has no field that none of the CRDs has', () => {
    const union = new Set(crds.flatMap((file) => [...openApiPaths(specSchema(file), '', new Map()).keys()]));
    expect([...ours.keys()].filter((path) => !union.has(path))).toEqual([]);
  });
});

describe('VPC_EGRESS_PROFILE_SCHEMA', () => {
  // Derived from the definition the CRD is generated from; this checks the derivation's types against OpenAPI's.
  it('has exactly the fields of the CRD in crds/, with their types', () => {
    const crd = specSchema('crds/calico-vpc.io_vpcegressprofiles.yaml');
    const theirs = openApiPaths(crd, '', new Map());
    const ours = schemaPaths(VPC_EGRESS_PROFILE_SCHEMA.fields.spec as Schema, '', new Map());
    expect(theirs.size).toBeGreaterThan(10);
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
  });
});

describe('TIER_SCHEMA', () => {
  it.each(CALICO_GNP_CRDS.map((file) => file.replace('globalnetworkpolicies', 'tiers')))(
    'has exactly the fields of %s',
    (file) => {
      const theirs = openApiPaths(specSchema(file), '', new Map());
      expect(theirs.size).toBeGreaterThan(1);
      expect(Object.fromEntries(schemaPaths(TIER_SCHEMA.fields.spec as Schema, '', new Map()))).toEqual(
        Object.fromEntries(theirs),
      );
    },
  );
});
