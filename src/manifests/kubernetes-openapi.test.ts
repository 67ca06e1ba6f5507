import {
  generateKubernetesSchemaModule,
  schemaExportName,
  trimKubernetesOpenApi,
} from './kubernetes-openapi.js';
import type { TypeOverride } from './kubernetes-overrides.js';
import { validate } from './schema.js';
import { NAMESPACE_SCHEMA, NETWORK_POLICY_SCHEMA, POD_SCHEMA, WORKLOAD_SCHEMAS } from './schemas.js';

const ref = (name: string) => ({ allOf: [{ $ref: `#/components/schemas/x.v1.${name}` }], default: {} });

/** A published document in Kubernetes' shape: named types referenced through allOf, descriptions everywhere. */
const published = {
  components: {
    schemas: {
      'x.v1.Thing': {
        description: 'A thing.',
        type: 'object',
        properties: {
          metadata: ref('Meta'),
          spec: ref('ThingSpec'),
          extra: { ...ref('Unused'), description: 'Not picked.' },
        },
      },
      'x.v1.ThingSpec': {
        type: 'object',
        properties: {
          protocol: { type: 'string', description: 'TCP or UDP.' },
          port: { allOf: [{ $ref: '#/components/schemas/x.v1.IntOrString' }] },
          when: { allOf: [{ $ref: '#/components/schemas/x.v1.Time' }] },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
        },
        required: ['protocol'],
      },
      'x.v1.Meta': { type: 'object', properties: { name: { type: 'string' } } },
      'x.v1.Time': { type: 'string', format: 'date-time' },
      'x.v1.IntOrString': { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] },
      'x.v1.Unused': { type: 'object', properties: { deep: { type: 'string' } } },
    },
  },
};
const ROOTS = ['x.v1.Thing'];
const OVERRIDES: Record<string, TypeOverride> = { 'x.v1.Thing': { pick: ['metadata', 'spec'] } };

describe('trimKubernetesOpenApi', () => {
  it('keeps the components the roots reach through picked fields, without descriptions', () => {
    const copy = trimKubernetesOpenApi([published], 'test', ROOTS, OVERRIDES);
    expect(Object.keys(copy.components)).toEqual([
      'x.v1.IntOrString',
      'x.v1.Meta',
      'x.v1.Thing',
      'x.v1.ThingSpec',
      'x.v1.Time',
    ]);
    expect(Object.keys(copy.components['x.v1.Thing']!.properties!)).toEqual(['metadata', 'spec']);
    expect(JSON.stringify(copy)).not.toContain('"description"');
  });

  it('refuses a type the documents publish differently, a missing root and a pick of a missing field', () => {
    const other = structuredClone(published);
    other.components.schemas['x.v1.Meta'].properties.name.type = 'integer';
    expect(() => trimKubernetesOpenApi([published, other], 'test', ROOTS, OVERRIDES)).toThrow(
      'x.v1.Meta differs between the published documents',
    );
    expect(() => trimKubernetesOpenApi([published], 'test', ['x.v1.Nothing'], {})).toThrow(
      'x.v1.Nothing is not in the published schema',
    );
    expect(() =>
      trimKubernetesOpenApi([published], 'test', ROOTS, { 'x.v1.Thing': { pick: ['spek'] } }),
    ).toThrow('x.v1.Thing has no field spek to pick');
  });
});

describe('generateKubernetesSchemaModule', () => {
  const copy = trimKubernetesOpenApi([published], 'test', ROOTS, OVERRIDES);
  const generate = (overrides: Record<string, TypeOverride>) =>
    generateKubernetesSchemaModule(copy, 'copy.json', ROOTS, { ...OVERRIDES, ...overrides }, 'test');

  it('writes one const per object type, dependencies first, and the overrides into them', () => {
    const text = generate({
      'x.v1.ThingSpec': { refine: { protocol: { type: 'string', enum: ['TCP', 'UDP'] } }, required: [] },
      'x.v1.Time': { replace: { type: 'any' } },
      'x.v1.Meta': { required: ['name'] },
    });
    const order = ['META_SCHEMA', 'THING_SPEC_SCHEMA', 'THING_SCHEMA'].map((c) => text.indexOf(`const ${c}`));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!))).toBe(true);
    expect(text).toContain(`"protocol": {"type":"string","enum":["TCP","UDP"]}`);
    expect(text).toContain(`"port": {"type":"int-or-string"}`);
    expect(text).toContain(`"when": {"type":"any"}`);
    expect(text).toContain(`"labels": { type: 'map', values: {"type":"string"} }`);
    expect(text).toContain(`"metadata": META_SCHEMA`);
    expect(text).toMatch(/name: "Thing",\n {2}open: true,/);
    expect(text).not.toMatch(/THING_SPEC_SCHEMA[^]*required: \["protocol"\]/);
  });

  it('keeps the published required list unless overridden, and requiredAt changes it at one field', () => {
    expect(generate({})).toContain('required: ["protocol"]');
    expect(
      generate({ 'x.v1.Thing': { pick: ['metadata', 'spec'], requiredAt: { metadata: [] } } }),
    ).toContain(`"metadata": { ...META_SCHEMA, required: [] }`);
  });

  it('refuses overrides that do not fit the published schema', () => {
    expect(() => generate({ 'x.v1.Gone': {} })).toThrow('override of x.v1.Gone, which no root reaches');
    expect(() => generate({ 'x.v1.ThingSpec': { refine: { protocol: { type: 'integer' } } } })).toThrow(
      "x.v1.ThingSpec.protocol: the refinement's type integer is not the published string",
    );
    expect(() => generate({ 'x.v1.ThingSpec': { refine: { protocl: { type: 'string' } } } })).toThrow(
      'x.v1.ThingSpec: refine of unknown field protocl',
    );
    expect(() => generate({ 'x.v1.ThingSpec': { add: { port: { type: 'any' } } } })).toThrow(
      'x.v1.ThingSpec.port is published: refine it instead',
    );
    expect(() => generate({ 'x.v1.Meta': { required: ['uid'] } })).toThrow(
      'x.v1.Meta requires uid, which it does not type',
    );
    expect(() =>
      generate({
        'x.v1.ThingSpec': { refine: { protocol: { type: 'string', check: () => undefined } } },
      }),
    ).toThrow('x.v1.ThingSpec.protocol: check is a function, which cannot be generated');
  });
});

describe('schemaExportName', () => {
  it('names each const after the Go type, as the exports the rest of the code imports', () => {
    expect(schemaExportName('io.k8s.api.networking.v1.NetworkPolicyPeer')).toBe('NETWORK_POLICY_PEER_SCHEMA');
    expect(schemaExportName('io.k8s.api.networking.v1.IPBlock')).toBe('IP_BLOCK_SCHEMA');
    expect(schemaExportName('io.k8s.api.core.v1.PodIP')).toBe('POD_IP_SCHEMA');
  });
});

/** Where the generated schemas differ from the hand-written ones they replaced: each follows the API server. */
describe('the generated Kubernetes schemas', () => {
  const pod = (port: Record<string, unknown>, status?: unknown) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', creationTimestamp: null },
    spec: { containers: [{ name: 'c', ports: [port] }] },
    ...(status ? { status } : {}),
  });

  it('accept hostPort 0 (none), as validateContainerPorts does, and refuse ports out of range', () => {
    expect(validate(POD_SCHEMA, pod({ containerPort: 80, hostPort: 0 }))).toEqual([]);
    expect(validate(POD_SCHEMA, pod({ containerPort: 0, hostPort: 65536 })).map((i) => i.message)).toEqual([
      '0 is out of range 1..65535',
      '65536 is out of range 0..65535',
    ]);
  });

  it('name a workload and its spec by their kind, and require an ip in each podIPs entry', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: [] };
    expect(validate(WORKLOAD_SCHEMAS.Deployment!, deployment).map((i) => i.message)).toEqual([
      'expected a DeploymentSpec (a map), got a list; remove the leading "-": this field takes one object, not a list',
    ]);
    expect(
      validate(POD_SCHEMA, pod({ containerPort: 80 }, { podIPs: [{}] })).map((i) => [i.path, i.message]),
    ).toEqual([[['status', 'podIPs', 0, 'ip'], 'PodIP requires the field "ip"']]);
  });

  it('type a Namespace spec and status, and ownerReferences without a uid', () => {
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' }, spec: { finalizer: ['x'] } };
    expect(validate(NAMESPACE_SCHEMA, ns).map((i) => i.message)).toEqual([
      'unknown field "finalizer" in NamespaceSpec; did you mean "finalizers"?',
    ]);
    const np = {
      metadata: { name: 'p', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o' }] },
      spec: {},
    };
    expect(validate(NETWORK_POLICY_SCHEMA, np)).toEqual([]);
  });
});
