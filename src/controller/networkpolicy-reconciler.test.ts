import fc from 'fast-check';
import type { Namespace, NetworkPolicy } from '../api/kube.js';
import { translateNetworkPolicy } from '../translate/networkpolicy.js';
import { NAMESPACE_NAMES, networkPolicyArbitrary } from '../../test/support/policy-arbitraries.js';
import {
  TRANSLATE_NAMESPACE_LABEL,
  compactNamespace,
  compactNetworkPolicy,
  expandNetworkPolicy,
  namespaceTranslationEnabled,
} from './networkpolicy-reconciler.js';

/** What the API server adds to every object, and what kubectl apply adds. */
function asServerReturnsIt<T extends NetworkPolicy | Namespace>(object: T): T {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      uid: '5f0c7d1e-0000-4000-8000-000000000001',
      resourceVersion: '12345',
      generation: 2,
      creationTimestamp: '2025-05-01T10:00:00Z',
      labels: { ...object.metadata.labels, team: 'net' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(object) },
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
    },
  };
}

describe('the compact NetworkPolicy and Namespace caches', () => {
  it('translate every NetworkPolicy exactly as the full object does', () => {
    fc.assert(
      fc.property(networkPolicyArbitrary([...NAMESPACE_NAMES]), (np) => {
        const full = asServerReturnsIt(np);
        const expanded = expandNetworkPolicy(compactNetworkPolicy(full));
        expect(expanded.spec).toEqual(full.spec);
        expect(translateNetworkPolicy(expanded)).toEqual(translateNetworkPolicy(full));
      }),
      { numRuns: 200 },
    );
  });

  it('keep what an Event names (uid, resourceVersion) and drop labels, annotations and bookkeeping', () => {
    const full = asServerReturnsIt<NetworkPolicy>({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { podSelector: {} },
    });
    const cached = compactNetworkPolicy(full);
    expect(cached).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web', namespace: 'shop', uid: full.metadata.uid, resourceVersion: '12345' },
      specJson: '{"podSelector":{}}',
    });
    expect(expandNetworkPolicy(cached)).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web', namespace: 'shop', uid: full.metadata.uid, resourceVersion: '12345' },
      spec: { podSelector: {} },
    });
  });

  it('keep the labels and deletionTimestamp namespaceTranslationEnabled reads', () => {
    const optedOut = asServerReturnsIt<Namespace>({
      metadata: { name: 'shop', labels: { [TRANSLATE_NAMESPACE_LABEL]: 'false' } },
    });
    const terminating = asServerReturnsIt<Namespace>({
      metadata: { name: 'old', deletionTimestamp: '2025-05-02T10:00:00Z' },
    });
    const plain = asServerReturnsIt<Namespace>({ metadata: { name: 'plain' } });
    for (const ns of [optedOut, terminating, plain]) {
      expect(namespaceTranslationEnabled(compactNamespace(ns))).toBe(namespaceTranslationEnabled(ns));
    }
    expect(namespaceTranslationEnabled(compactNamespace(plain))).toBe(true);
    expect(compactNamespace(plain).metadata).not.toHaveProperty('annotations');
  });
});
