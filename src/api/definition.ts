/**
 * The small language the API definitions are written in (src/api/vpc-egress-profile.ts): an OpenAPI v3 schema as
 * the CRD carries it, plus a few `ts*` annotations for the TypeScript types. hack/generate.ts turns a definition
 * into the CRD YAML (annotations removed) and the TypeScript types; src/manifests/ derives the render/lint schema
 * from it at runtime. One definition, so a field is added in one place.
 */

export interface CelRule {
  readonly rule: string;
  readonly message?: string;
  readonly messageExpression?: string;
  readonly fieldPath?: string;
  readonly reason?:
    'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
}

interface Common {
  readonly description?: string;
  readonly 'x-kubernetes-validations'?: readonly CelRule[];
}

export interface StringNode extends Common {
  readonly type: 'string';
  readonly format?: 'date-time' | 'int64';
  readonly enum?: readonly string[];
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
}

export interface IntegerNode extends Common {
  readonly type: 'integer';
  readonly format?: 'int64' | 'int32';
  readonly minimum?: number;
  readonly maximum?: number;
}

export interface NumberNode extends Common {
  readonly type: 'number';
}

export interface ArrayNode extends Common {
  readonly type: 'array';
  readonly items: Node;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
}

export interface ObjectNode extends Common {
  readonly type: 'object';
  readonly required?: readonly string[];
  readonly properties?: Readonly<Record<string, Node>>;
  /** The TypeScript interface (and the render/lint message name) for this object; inline when absent. */
  readonly tsName?: string;
  /** Use an existing TypeScript type instead of generating one: `{ name: 'Condition', from: './kube.js' }`. */
  readonly tsRef?: { readonly name: string; readonly from: string };
  /**
   * Fields required in the TypeScript type though the CRD does not require them: status the operator alone
   * writes, always in full.
   */
  readonly tsRequired?: readonly string[];
}

export type Node = StringNode | IntegerNode | NumberNode | ArrayNode | ObjectNode;

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly description?: string;
  readonly priority?: number;
  readonly jsonPath: string;
}

/** A cluster- or namespace-scoped custom resource with one version and a status subresource. */
export interface ResourceDefinition {
  readonly group: string;
  readonly version: string;
  readonly scope: 'Cluster' | 'Namespaced';
  readonly names: {
    readonly kind: string;
    readonly listKind: string;
    readonly plural: string;
    readonly singular: string;
    readonly shortNames?: readonly string[];
    readonly categories?: readonly string[];
  };
  /** Comment lines written at the top of the CRD file, after the generated-file notice. */
  readonly crdComment: readonly string[];
  readonly printerColumns: readonly PrinterColumn[];
  /** The root of openAPIV3Schema: its spec and status; apiVersion, kind and metadata are added. */
  readonly schema: ObjectNode & { readonly properties: { spec: ObjectNode; status: ObjectNode } };
}
