/**
 * Pod labels that impersonate what Calico derives: Felix gives a workload endpoint its namespace's labels as
 * `pcns.<key>` and its service account's as `pcsa.<key>`, and the pod's own label wins a clash. A pod can thereby
 * satisfy a namespaceSelector it does not satisfy in Kubernetes; no translation can close that, so lint flags it.
 */
import type { Inventory } from '../manifests/index.js';
import { findingAt, type LintFinding } from './finding.js';
import { RULES } from './rules.js';

const RESERVED_PREFIXES = ['pcns.', 'pcsa.', 'projectcalico.org/'];

export function calicoReservedLabelFindings(inventory: Inventory): LintFinding[] {
  return inventory.endpoints.flatMap((endpoint) =>
    Object.keys(endpoint.labels)
      .filter((key) => RESERVED_PREFIXES.some((prefix) => key.startsWith(prefix)))
      .map((key) =>
        findingAt(
          RULES.calicoReservedLabel,
          endpoint.source,
          [...endpoint.labelsPath, key],
          `pod label "${key}" shadows a label Calico derives for ${endpoint.namespace}/${endpoint.name}; in Calico it can ` +
            'make the pod match selectors (such as a namespaceSelector) that it does not match in Kubernetes: remove it',
          { at: 'key' },
        ),
      ),
  );
}
