/**
 * Calico's namespaced NetworkPolicy as the global policy Felix evaluates. Felix never sees a namespaced policy:
 * libcalico-go's update processor (lib/backend/syncersv1/updateprocessors: networkpolicyprocessor.go and rules.go,
 * getEndpointSelector) hands it a backend policy
 *
 * - keyed `<namespace>/<name>`, in the policy's tier with its order (so it shares tiers and orders with GNPs, and
 *   one without an order runs after those with one, as a GNP does);
 * - selecting `(<selector>) && projectcalico.org/namespace == '<namespace>'` (its serviceAccountSelector applies as
 *   a GNP's does);
 * - whose rule entities are confined to the policy's namespace as soon as they use a selector, a notSelector or
 *   serviceAccounts, unless they name namespaces with namespaceSelector, which then reads exactly as in a GNP
 *   (`all()`: every namespace, `global()`: no namespace, i.e. host endpoints and global network sets).
 *
 * Written as a GNP, that is an object the calico evaluator (./calico-eval.ts) already reads, so a namespaced policy
 * gets every rule of Calico's semantics that a GNP gets, and no second evaluator exists to drift from the first.
 */
import type { FieldError, FieldPath, Validated } from '../api/errors.js';
import type { CalicoNetworkPolicy, CalicoRule, EntityRule, GlobalNetworkPolicy } from '../calico/types.js';
import { parseSelector, quoteSelectorValue, SelectorParseError } from '../selectors/calico.js';
import { CALICO_NAMESPACE_LABEL } from '../translate/networkpolicy.js';
import { policyTier } from './calico-eval.js';

/**
 * The GNP Felix's view of `policy` amounts to, named `<namespace>/<name>` (the backend key, which no GNP name can
 * be: GNP names have no slash). A selector that does not parse is an error at its own field; the other fields are
 * left as written, for compileCalicoPolicy to check at the same paths.
 */
export function globalPolicyOfNamespaced(
  policy: CalicoNetworkPolicy,
  namespace: string,
): Validated<GlobalNetworkPolicy> {
  const errors: FieldError[] = [];
  const spec = policy.spec ?? {};
  const inNamespace = `${CALICO_NAMESPACE_LABEL} == ${quoteSelectorValue(namespace)}`;
  const selector = checked(spec.selector, ['spec', 'selector'], errors);
  const rules = (direction: 'ingress' | 'egress'): CalicoRule[] | undefined =>
    spec[direction]?.map((rule, index) => {
      const path = ['spec', direction, index];
      const source = rule.source && scopedEntity(rule.source, inNamespace, [...path, 'source'], errors);
      const destination =
        rule.destination && scopedEntity(rule.destination, inNamespace, [...path, 'destination'], errors);
      return { ...rule, ...(source ? { source } : {}), ...(destination ? { destination } : {}) };
    });
  const ingress = rules('ingress');
  const egress = rules('egress');
  if (errors.length > 0) return { ok: false, errors };

  const name = policy.metadata?.name ?? '';
  const { selector: _selector, ingress: _ingress, egress: _egress, ...rest } = spec;
  return {
    ok: true,
    value: {
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: `${namespace}/${name}` },
      spec: {
        ...rest,
        // Explicit: the key's name no longer carries a tier prefix for compileCalicoPolicy to read.
        tier: policyTier(name, spec),
        selector: selector === undefined ? inNamespace : `(${selector}) && ${inNamespace}`,
        ...(ingress ? { ingress } : {}),
        ...(egress ? { egress } : {}),
      },
    },
  };
}

/** rules.go getEndpointSelector for a namespaced policy: a rule without namespaceSelector stays in its namespace. */
function scopedEntity(
  entity: EntityRule,
  inNamespace: string,
  path: FieldPath,
  errors: FieldError[],
): EntityRule {
  if (entity.namespaceSelector) return entity;
  const selector = checked(entity.selector, [...path, 'selector'], errors);
  const accounts = entity.serviceAccounts;
  const selectsEndpoints =
    selector !== undefined ||
    Boolean(entity.notSelector) ||
    Boolean(accounts?.selector) ||
    (accounts?.names?.length ?? 0) > 0;
  if (!selectsEndpoints) return entity;
  return { ...entity, selector: selector === undefined ? inNamespace : `${inNamespace} && (${selector})` };
}

/** The selector if given and valid; an error at `path` if it does not parse (wrapped, it might). */
function checked(text: string | undefined, path: FieldPath, errors: FieldError[]): string | undefined {
  if (!text) return undefined;
  try {
    parseSelector(text);
    return text;
  } catch (error) {
    if (!(error instanceof SelectorParseError)) throw error;
    errors.push({ path, message: error.message });
    return undefined;
  }
}
