/**
 * The render/lint schema of a kind we define ourselves, derived from its API definition (src/api/definition.ts)
 * so that it cannot drift from the CRD. Like the schemas generated beside it, it carries what the API server's
 * decoder rejects (field names, shapes, required fields, enums); value limits stay with the code that gives the
 * fields meaning (src/vpe/rules.ts), which reports them with its own wording.
 */
import type { Node } from '../api/definition.js';
import type { ObjectSchema, Schema } from './schema.js';

export function schemaOf(node: Node, name: string): Schema {
  switch (node.type) {
    case 'string':
      return node.enum ? { type: 'string', enum: node.enum } : { type: 'string' };
    case 'integer':
      return { type: 'integer' };
    case 'number':
      return { type: 'number' };
    case 'array':
      return { type: 'array', items: schemaOf(node.items, name) };
    case 'object':
      return objectSchemaOf(node, name);
  }
}

function objectSchemaOf(node: Node & { type: 'object' }, name: string): ObjectSchema {
  return {
    type: 'object',
    name: node.tsName ?? node.tsRef?.name ?? name,
    fields: Object.fromEntries(
      Object.entries(node.properties ?? {}).map(([field, child]) => [field, schemaOf(child, field)]),
    ),
    ...(node.required ? { required: node.required } : {}),
  };
}
