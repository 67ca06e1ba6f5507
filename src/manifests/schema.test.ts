import fc from 'fast-check';
import { closestName, editDistance, validate, type ObjectSchema } from './schema.js';
import { NETWORK_POLICY_SCHEMA } from './schemas.js';

const policy = (spec: unknown, metadata: unknown = { name: 'p', namespace: 'ns' }) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata,
  spec,
});

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent transpositions as one edit each', () => {
    expect(editDistance('namespace', 'namespace')).toBe(0);
    expect(editDistance('namspace', 'namespace')).toBe(1);
    expect(editDistance('destinaton', 'destination')).toBe(1);
    expect(editDistance('podSelcetor', 'podSelector')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('is symmetric, zero only on equal strings, and at most the longer length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(d).toBe(editDistance(b, a));
        expect(d === 0).toBe(a === b);
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
        expect(d).toBeGreaterThanOrEqual(Math.abs(a.length - b.length));
      }),
      { numRuns: 500 },
    );
  });
});

describe('closestName', () => {
  const fields = ['podSelector', 'namespaceSelector', 'ipBlock'];
  it('prefers a case-insensitive match, then the nearest within one edit per four characters', () => {
    expect(closestName('NamespaceSelector', fields)).toBe('namespaceSelector');
    expect(closestName('namspaceSelector', fields)).toBe('namespaceSelector');
    expect(closestName('ipblok', fields)).toBe('ipBlock');
    expect(closestName('selector', fields)).toBeUndefined();
    expect(closestName('ports', fields)).toBeUndefined();
  });
});

describe('validate', () => {
  it('accepts a well-formed NetworkPolicy', () => {
    const np = policy({
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists' }] } },
          ],
          ports: [{ port: 80 }, { port: 'http', protocol: 'TCP' }],
        },
      ],
      egress: [
        {
          to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
          ports: [{ port: 1000, endPort: 2000 }],
        },
      ],
    });
    expect(validate(NETWORK_POLICY_SCHEMA, np)).toEqual([]);
  });

  it('reports an unknown field with its path and the right spelling', () => {
    const issues = validate(
      NETWORK_POLICY_SCHEMA,
      policy(
        {
          podSelector: {},
          ingress: [{ from: [{ NamespaceSelector: { matchLabels: { usage: 'finance' } } }] }],
        },
        {
          Namespace: 'accounts',
          name: 'p',
        },
      ),
    );
    expect(issues).toEqual([
      {
        kind: 'unknown-field',
        path: ['metadata', 'Namespace'],
        message: 'unknown field "Namespace" in ObjectMeta; did you mean "namespace"?',
        suggestion: 'namespace',
      },
      {
        kind: 'unknown-field',
        path: ['spec', 'ingress', 0, 'from', 0, 'NamespaceSelector'],
        message: 'unknown field "NamespaceSelector" in NetworkPolicyPeer; did you mean "namespaceSelector"?',
        suggestion: 'namespaceSelector',
      },
    ]);
  });

  it('says when an unknown field belongs to an enclosing object (an indentation slip)', () => {
    const issues = validate(
      NETWORK_POLICY_SCHEMA,
      policy({ podSelector: {}, ingress: [{ from: [{ podSelector: {}, ports: [{ port: 80 }] }] }] }),
    );
    expect(issues).toEqual([
      {
        kind: 'unknown-field',
        path: ['spec', 'ingress', 0, 'from', 0, 'ports'],
        message:
          'unknown field "ports" in NetworkPolicyPeer; "ports" is a field of NetworkPolicyIngressRule: check the indentation',
      },
    ]);
  });

  it('lists the known fields when nothing is close', () => {
    const [issue] = validate(NETWORK_POLICY_SCHEMA, policy({ podSelector: {}, colour: 'blue' }));
    expect(issue?.message).toBe(
      'unknown field "colour" in NetworkPolicySpec; known fields: egress, ingress, podSelector, policyTypes',
    );
  });

  it('reports a map where a list belongs, showing the list form', () => {
    const issues = validate(
      NETWORK_POLICY_SCHEMA,
      policy({ podSelector: {}, ingress: [{ ports: { port: 3111 } }] }),
    );
    expect(issues).toEqual([
      {
        kind: 'wrong-type',
        path: ['spec', 'ingress', 0, 'ports'],
        message:
          'expected a list of NetworkPolicyPort, got a map; make it a list item by starting it with "- ": `- port: 3111`',
      },
    ]);
  });

  it('reports a list where one object belongs, and scalars where strings or objects belong', () => {
    const issues = validate(
      NETWORK_POLICY_SCHEMA,
      policy({
        podSelector: [{ matchLabels: { app: 'a' } }],
        ingress: [{ from: [{ podSelector: { matchLabels: { version: 1.5, on: true } } }] }],
      }),
    );
    expect(issues.map((i) => [i.kind, i.path.join('.'), i.message])).toEqual([
      [
        'wrong-type',
        'spec.podSelector',
        'expected a LabelSelector (a map), got a list; remove the leading "-": this field takes one object, not a list',
      ],
      [
        'wrong-type',
        'spec.ingress.0.from.0.podSelector.matchLabels.version',
        'expected a string, got the number 1.5; quote it ("1.5"): YAML reads it as a number',
      ],
      [
        'wrong-type',
        'spec.ingress.0.from.0.podSelector.matchLabels.on',
        'expected a string, got the boolean true; quote it ("true"): YAML reads it as a boolean',
      ],
    ]);
  });

  it('reports enum values with a case-insensitive suggestion', () => {
    const issues = validate(
      NETWORK_POLICY_SCHEMA,
      policy({
        podSelector: {},
        policyTypes: ['ingress'],
        ingress: [{ ports: [{ protocol: 'tcp', port: 80 }] }],
      }),
    );
    expect(issues.map((i) => [i.kind, i.message, i.suggestion])).toEqual([
      ['invalid-value', '"ingress" is not one of "Ingress", "Egress"; did you mean "Ingress"?', 'Ingress'],
      ['invalid-value', '"tcp" is not one of "TCP", "UDP", "SCTP"; did you mean "TCP"?', 'TCP'],
    ]);
  });

  it('reports a missing required field once, not again when it is only misspelled', () => {
    const required: ObjectSchema = {
      type: 'object',
      name: 'LabelSelectorRequirement',
      fields: { key: { type: 'string' }, operator: { type: 'string' } },
      required: ['key'],
    };
    expect(validate(required, { operator: 'Exists' }).map((i) => [i.kind, i.path.join('.')])).toEqual([
      ['missing-field', 'key'],
    ]);
    expect(validate(required, { Key: 'a' }).map((i) => [i.kind, i.path.join('.')])).toEqual([
      ['unknown-field', 'Key'],
    ]);
  });

  it('accepts a NetworkPolicy without spec.podSelector, as the API server of Kubernetes 1.36 does', () => {
    expect(validate(NETWORK_POLICY_SCHEMA, policy({ ingress: [] }))).toEqual([]);
  });

  it('treats null as absent, as the API server decodes it', () => {
    expect(
      validate(NETWORK_POLICY_SCHEMA, policy({ podSelector: {}, ingress: [{ from: null, ports: null }] })),
    ).toEqual([]);
  });

  it('lets open objects carry fields it does not know', () => {
    const open: ObjectSchema = {
      type: 'object',
      name: 'Open',
      open: true,
      fields: { a: { type: 'integer' } },
    };
    expect(validate(open, { a: 1, anything: { at: 'all' } })).toEqual([]);
    expect(validate(open, { a: 'x' })[0]?.kind).toBe('wrong-type');
  });
});
