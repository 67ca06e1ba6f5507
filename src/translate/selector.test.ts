import { formatPath } from '../api/errors.js';
import fc from 'fast-check';
import type { LabelSelector } from '../api/kube.js';
import { compileLabelSelector } from '../selectors/kubernetes.js';
import { parseSelector, quoteSelectorValue } from '../selectors/calico.js';
import { labelSelectorToCalico, labelSelectorTerms } from './selector.js';

const translate = (selector: LabelSelector | undefined): string => {
  const result = labelSelectorToCalico(selector, ['spec', 'podSelector']);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value;
};

/** Valid selectors over `keys` and `values`; `repeats`: In/NotIn values may repeat. */
function selectorArbitrary(
  keys: string[],
  values: string[],
  { repeats, labels, expressions }: { repeats: boolean; labels: number; expressions: number },
): fc.Arbitrary<LabelSelector> {
  const valueList = repeats
    ? fc.array(fc.constantFrom(...values), { minLength: 1, maxLength: 4 })
    : fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 3 });
  const requirement = fc.oneof(
    fc.record({
      key: fc.constantFrom(...keys),
      operator: fc.constantFrom('In' as const, 'NotIn' as const),
      values: valueList,
    }),
    fc.record({
      key: fc.constantFrom(...keys),
      operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
    }),
  );
  return fc.record(
    {
      matchLabels: fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), { maxKeys: labels }),
      matchExpressions: fc.array(requirement, { maxLength: expressions }),
    },
    { requiredKeys: [] },
  );
}

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
    const selector = selectorArbitrary(keys, values, { repeats: false, labels: 2, expressions: 4 });
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

  it('gives the same terms as the plain implementation it replaced (property)', () => {
    // The implementation before the fast paths for one label, one expression and one value (valid selectors
    // only: the errors are held by the tests above). A changed term would rewrite every GNP of a cluster.
    const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    const rank = { In: 0, NotIn: 1, Exists: 2, DoesNotExist: 3 } as const;
    const plain = (selector: LabelSelector): string[] => {
      const labels = Object.keys(selector.matchLabels ?? {})
        .sort(byCodeUnits)
        .map((key) => `${key} == ${quoteSelectorValue(selector.matchLabels?.[key] ?? '')}`);
      const expressions = (selector.matchExpressions ?? []).map(({ key, operator, values }) => {
        const list = [...new Set(values ?? [])].sort(byCodeUnits).map(quoteSelectorValue).join(', ');
        const term =
          operator === 'In' || operator === 'NotIn'
            ? `${key} ${operator === 'In' ? 'in' : 'not in'} {${list}}`
            : operator === 'Exists'
              ? `has(${key})`
              : `!has(${key})`;
        return { sortKey: `${key}\u0000${rank[operator]}\u0000${term}`, term };
      });
      expressions.sort((a, b) => byCodeUnits(a.sortKey, b.sortKey));
      return [...new Set([...labels, ...expressions.map((entry) => entry.term)])];
    };
    // 'app' is a prefix of 'app-x' and 'app.x': the order of keys that extend one another is where sorting goes wrong.
    const keys = ['app', 'app-x', 'app.x', 'tier', 'example.com/role', 'Z'];
    const values = ['a', 'b', '', 'x.y-z_1', 'B', '0'];
    // Repeated values and requirements on purpose: the canonical form sorts and de-duplicates them.
    const selector = selectorArbitrary(keys, values, { repeats: true, labels: 3, expressions: 5 });
    fc.assert(
      fc.property(selector, (kubeSelector) => {
        const terms = labelSelectorTerms(kubeSelector, []);
        expect(terms).toEqual({ ok: true, value: plain(kubeSelector) });
      }),
      { numRuns: 3000 },
    );
  });
});
