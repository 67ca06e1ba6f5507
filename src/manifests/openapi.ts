/**
 * Render/lint schemas built from the OpenAPI v3 schemas the API servers publish (Calico's CRDs), so that the field
 * names, shapes, enums and limits cannot drift from what Calico accepts. The OpenAPI copy is trimmed to what our
 * schema language (./schema.ts) can check and committed as a generated file (`npm run generate`, provenance in its
 * header); test/unit/generated.test.ts fails when it differs from the CRDs we install.
 */
import { parse as parseYaml } from 'yaml';
import type { ObjectSchema, Schema } from './schema.js';

/** The part of an OpenAPI v3 schema node that ./schema.ts can check. */
export interface OpenApiSchema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, OpenApiSchema>>;
  readonly items?: OpenApiSchema;
  readonly additionalProperties?: OpenApiSchema;
  readonly required?: readonly string[];
  readonly enum?: readonly (string | number)[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly 'x-kubernetes-int-or-string'?: boolean;
}

/** `anyOf`/`pattern` beside `x-kubernetes-int-or-string` say only "integer or string"; the extension says it alone. */
const KEPT = [
  'type',
  'properties',
  'items',
  'additionalProperties',
  'required',
  'enum',
  'minimum',
  'maximum',
  'x-kubernetes-int-or-string',
] as const;

/** The node with only what OpenApiSchema carries (descriptions, CEL rules, list types and size limits dropped). */
export function trimOpenApi(node: Record<string, unknown>): OpenApiSchema {
  if (node.allOf) return trimOpenApi(mergeAllOf(node));
  const out: Record<string, unknown> = {};
  for (const key of KEPT) {
    const value = node[key];
    if (value === undefined) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, Record<string, unknown>>).map(([name, child]) => [
          name,
          trimOpenApi(child),
        ]),
      );
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = trimOpenApi(value as Record<string, unknown>);
    } else out[key] = value;
  }
  return out;
}

/**
 * `allOf` of enums, as controller-gen writes a field whose Go type and field both carry an enum (Calico's
 * Tier.spec.defaultAction: Allow|Deny|Log|Pass and Pass|Deny): the values all of them allow, in the first one's
 * order; with no `type`, a string enum is a string. Anything else in an allOf is refused rather than dropped.
 */
function mergeAllOf(node: Record<string, unknown>): Record<string, unknown> {
  const { allOf, ...rest } = node as { allOf: Record<string, unknown>[] } & Record<string, unknown>;
  let merged: Record<string, unknown> = { ...rest };
  for (const part of allOf) {
    const unsupported = Object.keys(part).filter((k) => k !== 'enum' && k !== 'type');
    if (unsupported.length > 0) throw new Error(`allOf with ${unsupported.join(', ')} is not supported`);
    const enumValues = part.enum as unknown[] | undefined;
    const previous = merged.enum as unknown[] | undefined;
    merged = {
      ...merged,
      ...(part.type !== undefined ? { type: part.type } : {}),
      ...(enumValues ? { enum: previous ? previous.filter((v) => enumValues.includes(v)) : enumValues } : {}),
    };
  }
  const values = merged.enum as unknown[] | undefined;
  if (merged.type === undefined && values?.every((v) => typeof v === 'string')) merged.type = 'string';
  return merged;
}

/**
 * How an OpenAPI tree becomes a Schema. OpenAPI has no type names, so every object with properties is named by
 * the field that holds it (`paths[]` for list items); `refine` adds checks the published schema does not express
 * (Calico's validator, not its CRD, limits protocol names).
 */
export interface OpenApiNaming {
  readonly names: Readonly<Record<string, string>>;
  readonly refine?: Readonly<Record<string, Schema>>;
}

export function schemaOfOpenApi(node: OpenApiSchema, field: string, naming: OpenApiNaming): Schema {
  const refined = naming.refine?.[field];
  if (refined) {
    if (schemaOfOpenApi(node, field, { names: naming.names }).type !== refined.type) {
      throw new Error(`refinement of "${field}" changes its type from the published schema's`);
    }
    return refined;
  }
  if (node['x-kubernetes-int-or-string']) return { type: 'int-or-string' };
  const scalar = scalarSchemaOf(node);
  if (scalar !== undefined) return scalar;
  switch (node.type) {
    case 'array':
      if (!node.items) return { type: 'array', items: { type: 'any' } };
      return { type: 'array', items: schemaOfOpenApi(node.items, `${field}[]`, naming) };
    case 'object':
      if (node.properties) return objectSchemaOfOpenApi(node, field, naming);
      return {
        type: 'map',
        values: node.additionalProperties
          ? schemaOfOpenApi(node.additionalProperties, `${field}{}`, naming)
          : { type: 'any' },
      };
    default:
      return { type: 'any' };
  }
}

/** The schema of an OpenAPI string, integer, number or boolean, with its enum and limits; undefined for others. */
export function scalarSchemaOf(node: OpenApiSchema): Schema | undefined {
  switch (node.type) {
    case 'string':
      return node.enum ? { type: 'string', enum: node.enum.map(String) } : { type: 'string' };
    case 'integer':
      return {
        type: 'integer',
        ...(node.minimum !== undefined ? { minimum: node.minimum } : {}),
        ...(node.maximum !== undefined ? { maximum: node.maximum } : {}),
        ...(node.enum ? { enum: node.enum.map(Number) } : {}),
      };
    case 'number':
      return { type: 'number' };
    case 'boolean':
      return { type: 'boolean' };
    default:
      return undefined;
  }
}

export function objectSchemaOfOpenApi(
  node: OpenApiSchema,
  field: string,
  naming: OpenApiNaming,
): ObjectSchema {
  const name = naming.names[field];
  // A new object type in a newer schema must get its name here, not an invented one in users' messages.
  if (name === undefined) throw new Error(`no type name for the object at field "${field}"`);
  return {
    type: 'object',
    name,
    fields: Object.fromEntries(
      Object.entries(node.properties ?? {}).map(([key, child]) => [key, schemaOfOpenApi(child, key, naming)]),
    ),
    ...(node.required ? { required: node.required } : {}),
  };
}

/** One published schema to commit: the export's name, where it came from and the CRD's text. */
export interface OpenApiSource {
  readonly exportName: string;
  /** The file as named in the release, e.g. `projectcalico.org-v3_calico-v3.32.1/projectcalico.org_tiers.yaml`. */
  readonly provenance: string;
  readonly crdText: string;
}

/** The TypeScript module holding the trimmed `spec` schema of each CRD. Pure, for the staleness test. */
export function generateOpenApiModule(sources: readonly OpenApiSource[], generator: string): string {
  const header = [
    '/**',
    ` * GENERATED by \`npm run generate\` (${generator}); do not edit.`,
    ' * The `spec` OpenAPI v3 schemas of these CRDs, trimmed to what src/manifests/schema.ts checks:',
    ...sources.map((s) => ` *   ${s.exportName}: ${s.provenance}`),
    ' */',
    "import type { OpenApiSchema } from './openapi.js';",
  ];
  const exports = sources.map(({ exportName, crdText }) => {
    const crd = parseYaml(crdText) as {
      spec: {
        versions: { schema: { openAPIV3Schema: { properties: { spec: Record<string, unknown> } } } }[];
      };
    };
    const versions = crd.spec.versions;
    if (versions.length !== 1)
      throw new Error(`${exportName}: expected one version, found ${versions.length}`);
    const spec = trimOpenApi(versions[0]!.schema.openAPIV3Schema.properties.spec);
    return `export const ${exportName}: OpenApiSchema = ${JSON.stringify(spec)};`;
  });
  return [...header, '', ...exports, ''].join('\n');
}
