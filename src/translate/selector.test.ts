import { formatPath } from '../api/errors.js';
import fc from 'fast-check';
import type { LabelSelector } from '../api/kube.js';
import { compileLabelSelector } from '../selectors/kubernetes.js';
import { parseSelector } from '../selectors/calico.js';
import { labelSelectorToCalico, labelSelectorTerms } from './selector.js';

const translate = (selector: LabelSelector | undefined): string => {
  const result = labelSelectorToCalico(selector, ['spec', 'podSelector']);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value;
};

describe('labelSelectorToCalico', () => {
  it('matchLabels become equalities sorted by key', () => {
    expect(translate({ matchLabels: { tier: 'backend', app: 'Srv1' } })).toBe(
      "app == 'Srv1' && tier == 'backend'",
    );
  });

  it('translates every operator', () => {
    expect(
      translate({
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod', 'dev'] },
          { key: 'env', operator: 'NotIn', values: ['test'] },
          { key: 'canary', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe("has(canary) && env in {'dev', 'prod'} && env not in {'test'} && !has(legacy)");
  });

  it('an empty or absent selector is all()', () => {
    expect(translate({})).toBe('all()');
    expect(translate({ matchLabels: {}, matchExpressions: [] })).toBe('all()');
    expect(labelSelectorTerms(undefined, ['x'])).toEqual({ ok: true, value: [] });
  });

  it('is canonical: reordered expressions and values, duplicates, give the same text', () => {
    const a = translate({
      matchExpressions: [
        { key: 'b', operator: 'In', values: ['y', 'x', 'x'] },
        { key: 'a', operator: 'Exists' },
      ],
    });
    const b = translate({
      matchExpressions: [
        { key: 'a', operator: 'Exists' },
        { key: 'b', operator: 'In', values: ['x', 'y'] },
        { key: 'a', operator: 'Exists' },
      ],
    });
    expect(a).toBe(b);
    expect(a).toBe("has(a) && b in {'x', 'y'}");
  });

  it('keeps the empty label value', () => {
    expect(translate({ matchLabels: { app: '' } })).toBe("app == ''");
  });

  it('rejects values Calico cannot quote, naming the field, instead of widening', () => {
    const result = labelSelectorToCalico(
      { matchExpressions: [{ key: 'app', operator: 'In', values: ['ok', `it's "quoted"`] }] },
      ['spec', 'ingress', 0, 'from', 0, 'podSelector'],
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => formatPath(error.path))).toContain(
      'spec.ingress[0].from[0].podSelector.matchExpressions[0].values[1]',
    );
  });

  it('rejects what the API server rejects (In without values, bad keys)', () => {
    const result = labelSelectorToCalico(
      {
        matchLabels: { 'bad key': 'x' },
        matchExpressions: [{ key: 'app', operator: 'In', values: [] }],
      },
      ['spec', 'podSelector'],
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => formatPath(error.path))).toEqual([
      'spec.podSelector.matchLabels[bad key]',
      'spec.podSelector.matchExpressions[0].values',
    ]);
  });

  it('means in Calico exactly what the selector means in Kubernetes (property)', () => {
    const keys = ['app', 'tier', 'example.com/role'];
    const values = ['a', 'b', '', 'x.y-z_1'];
    const requirement = fc.oneof(
      fc.record({
        key: fc.constantFrom(...keys),
        operator: fc.constantFrom('In' as const, 'NotIn' as const),
        values: fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 3 }),
      }),
      fc.record({
        key: fc.constantFrom(...keys),
        operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
      }),
    );
    const selector = fc.record(
      {
        matchLabels: fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), { maxKeys: 2 }),
        matchExpressions: fc.array(requirement, { maxLength: 4 }),
      },
      { requiredKeys: [] },
    );
    const labels = fc.dictionary(fc.constantFrom(...keys, 'other'), fc.constantFrom(...values));
    fc.assert(
      fc.property(selector, fc.array(labels, { minLength: 1, maxLength: 8 }), (kubeSelector, labelSets) => {
        const calico = parseSelector(translate(kubeSelector));
        const kube = compileLabelSelector(kubeSelector);
        for (const set of labelSets) expect(calico.matches(set)).toBe(kube(set));
      }),
      { numRuns: 500 },
    );
  });
});
