import { hash } from 'node:crypto';
import fc from 'fast-check';
import { gnpNameForNetworkPolicy, maxGnpNameLength } from './names.js';

const CALICO_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

describe('gnpNameForNetworkPolicy', () => {
  it('is readable and ends with a hash of the exact pair', () => {
    expect(gnpNameForNetworkPolicy('accounts', 'backend-allow')).toMatch(
      /^knp-accounts-backend-allow-[0-9a-f]{10}$/,
    );
  });

  it('is stable: a pure function of its inputs', () => {
    expect(gnpNameForNetworkPolicy('accounts', 'backend-allow')).toBe(
      gnpNameForNetworkPolicy('accounts', 'backend-allow'),
    );
    // Pinned (printf 'accounts/backend-allow' | sha256sum): a change of scheme would orphan every GNP in every cluster.
    expect(gnpNameForNetworkPolicy('accounts', 'backend-allow')).toBe(
      'knp-accounts-backend-allow-7d0270ee1c',
    );
  });

  it('has no dot: Calico reads the part before a dot as the tier', () => {
    expect(gnpNameForNetworkPolicy('web', 'allow.from.lb')).toMatch(/^knp-web-allow-from-lb-[0-9a-f]{10}$/);
  });

  it('keeps pairs apart whose readable parts coincide', () => {
    const names = [
      gnpNameForNetworkPolicy('a-b', 'c'),
      gnpNameForNetworkPolicy('a', 'b-c'),
      gnpNameForNetworkPolicy('a', 'b.c'),
      gnpNameForNetworkPolicy('a', 'b--c'),
    ];
    expect(new Set(names).size).toBe(names.length);
  });

  it('fits 245 characters (253 with `default.`) and truncates keeping the hash', () => {
    const long = `${'x'.repeat(120)}.${'y'.repeat(120)}`;
    const name = gnpNameForNetworkPolicy('n'.repeat(63), long);
    expect(name).toHaveLength(245);
    expect(name).toMatch(CALICO_NAME);
    expect(name.startsWith(`knp-${'n'.repeat(63)}-x`)).toBe(true);
    expect(gnpNameForNetworkPolicy('n'.repeat(63), `${long}z`)).not.toBe(name);
  });

  it('leaves room for a custom tier prefix', () => {
    expect(maxGnpNameLength('default')).toBe(245);
    expect(maxGnpNameLength('security')).toBe(244);
    expect(gnpNameForNetworkPolicy('n'.repeat(63), 'p'.repeat(253), 'security').length).toBeLessThanOrEqual(
      244,
    );
  });

  it('always gives valid, distinct names for distinct valid pairs (property)', () => {
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
    const subdomain = fc.array(label, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('.'));
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(label, subdomain), {
          minLength: 2,
          maxLength: 30,
          selector: ([n, p]) => `${n}/${p}`,
        }),
        (pairs) => {
          const names = pairs.map(([namespace, name]) => gnpNameForNetworkPolicy(namespace, name));
          for (const name of names) {
            expect(name).toMatch(CALICO_NAME);
            expect(name.length).toBeLessThanOrEqual(245);
          }
          expect(new Set(names).size).toBe(names.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives the same names as the plain implementation it replaced, for any text (property)', () => {
    // The implementation before the fast path for already-clean names: the GNP names of existing clusters must not
    // change, or the controller would see every policy as new.
    const plain = (namespace: string, name: string, tier = 'default'): string => {
      const suffix = `-${hash('sha256', `${namespace}/${name}`, 'hex').slice(0, 10)}`;
      const readable = `knp-${namespace}-${name}`.toLowerCase().replace(/[^a-z0-9]+/g, '-');
      const budget = 253 - (tier.length + 1) - suffix.length;
      return `${readable.length > budget ? readable.slice(0, budget).replace(/-+$/, '') : readable}${suffix}`;
    };
    // Mostly the characters names are made of, with the ones sanitize rewrites (dots, dashes in runs, upper case,
    // other text) mixed in, and lengths on both sides of the cut.
    const text = fc
      .array(
        fc.oneof(fc.constantFrom('a', 'z', '0', '9', '-', '-', '.', 'A', '_', '\u00e9', ' '), fc.string()),
        {
          maxLength: 160,
        },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, text, fc.constantFrom('default', 'security', 't'), (namespace, name, tier) => {
        expect(gnpNameForNetworkPolicy(namespace, name, tier)).toBe(plain(namespace, name, tier));
      }),
      { numRuns: 3000 },
    );
  });
});
