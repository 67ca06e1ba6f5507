import { generateOpenApiModule, objectSchemaOfOpenApi, schemaOfOpenApi, trimOpenApi } from './openapi.js';
import type { Schema } from './schema.js';

describe('trimOpenApi', () => {
  it('keeps what the schema language checks and drops descriptions, CEL rules and size limits', () => {
    const node = {
      type: 'array',
      description: 'ports',
      maxItems: 20,
      'x-kubernetes-list-type': 'set',
      items: {
        anyOf: [{ type: 'integer' }, { type: 'string' }],
        pattern: '^.*',
        'x-kubernetes-int-or-string': true,
      },
    };
    expect(trimOpenApi(node)).toEqual({ type: 'array', items: { 'x-kubernetes-int-or-string': true } });
  });

  it('merges an allOf of enums into the values all of them allow, in the first one’s order', () => {
    const node = { allOf: [{ enum: ['Allow', 'Deny', 'Log', 'Pass'] }, { enum: ['Pass', 'Deny'] }] };
    expect(trimOpenApi(node)).toEqual({ type: 'string', enum: ['Deny', 'Pass'] });
  });

  it('refuses an allOf it cannot merge rather than dropping it', () => {
    expect(() => trimOpenApi({ allOf: [{ properties: { a: { type: 'string' } } }] })).toThrow(
      'allOf with properties is not supported',
    );
  });
});

describe('schemaOfOpenApi', () => {
  const naming = { names: { spec: 'Spec', 'rules[]': 'Rule' } };

  it('maps OpenAPI types to schema types, naming objects by the field that holds them', () => {
    const spec = objectSchemaOfOpenApi(
      {
        type: 'object',
        required: ['rules'],
        properties: {
          rules: {
            type: 'array',
            items: { type: 'object', properties: { code: { type: 'integer', minimum: 0, maximum: 255 } } },
          },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          port: { 'x-kubernetes-int-or-string': true },
          version: { type: 'integer', enum: [4, 6] },
          on: { type: 'boolean' },
          order: { type: 'number' },
        },
      },
      'spec',
      naming,
    );
    expect(spec).toEqual({
      type: 'object',
      name: 'Spec',
      required: ['rules'],
      fields: {
        rules: {
          type: 'array',
          items: {
            type: 'object',
            name: 'Rule',
            fields: { code: { type: 'integer', minimum: 0, maximum: 255 } },
          },
        },
        labels: { type: 'map', values: { type: 'string' } },
        port: { type: 'int-or-string' },
        version: { type: 'integer', enum: [4, 6] },
        on: { type: 'boolean' },
        order: { type: 'number' },
      },
    });
  });

  it('refuses an object type it has no name for', () => {
    expect(() => schemaOfOpenApi({ type: 'object', properties: {} }, 'extra', naming)).toThrow(
      'no type name for the object at field "extra"',
    );
  });

  it('applies a refinement only when it keeps the published type', () => {
    const check: Schema = { type: 'int-or-string', check: () => 'no' };
    expect(
      schemaOfOpenApi({ 'x-kubernetes-int-or-string': true }, 'p', { names: {}, refine: { p: check } }),
    ).toBe(check);
    expect(() => schemaOfOpenApi({ type: 'string' }, 'p', { names: {}, refine: { p: check } })).toThrow(
      'refinement of "p" changes its type',
    );
  });
});

describe('generateOpenApiModule', () => {
  const crd = (versions: number) =>
    JSON.stringify({
      spec: {
        versions: Array.from({ length: versions }, () => ({
          schema: { openAPIV3Schema: { properties: { spec: { type: 'object', description: 'x' } } } },
        })),
      },
    });

  it('writes each CRD’s trimmed spec schema with where it came from', () => {
    const text = generateOpenApiModule(
      [{ exportName: 'X_SPEC', provenance: 'calico/x.yaml', crdText: crd(1) }],
      'gen',
    );
    expect(text).toContain(' *   X_SPEC: calico/x.yaml');
    expect(text).toContain('export const X_SPEC: OpenApiSchema = {"type":"object"};');
  });

  it('refuses a CRD with several versions (which one would it be?)', () => {
    expect(() =>
      generateOpenApiModule([{ exportName: 'X', provenance: 'p', crdText: crd(2) }], 'gen'),
    ).toThrow('X: expected one version, found 2');
  });
});
