/**
 * Everything a set of manifests asks the controller to write, computed offline: the `render` command's core.
 * The same pure functions the reconcilers call (translateProfile with the claim resolution between profiles,
 * translateNetworkPolicy), so `render` shows exactly what `run` would write.
 */
import type { NetworkPolicy } from '../api/kube.js';
import type { VpcEgressProfile } from '../api/v1alpha1.js';
import type { GlobalNetworkPolicy } from '../calico/types.js';
import type { FieldError, Finding } from '../api/errors.js';
import { translateNetworkPolicy, type NetworkPolicyTranslationOptions } from './networkpolicy.js';
import { conflictsBetweenProfiles } from '../vpe/claims.js';
import { translateProfile } from '../vpe/rules.js';

export interface RenderInput<S> {
  profiles: readonly { object: VpcEgressProfile; source: S }[];
  networkPolicies: readonly { object: NetworkPolicy; source: S }[];
}

export interface RenderProblem<S> {
  source: S;
  error: FieldError;
}

export interface RenderResult<S> {
  /** Logical (projectcalico.org/v3-shaped) policies: profiles' first, then NetworkPolicies', each in input order. */
  policies: GlobalNetworkPolicy[];
  errors: RenderProblem<S>[];
  warnings: RenderProblem<S>[];
}

export function renderPolicies<S>(
  input: RenderInput<S>,
  options: NetworkPolicyTranslationOptions = {},
): RenderResult<S> {
  const policies: GlobalNetworkPolicy[] = [];
  const errors: RenderProblem<S>[] = [];
  const warnings: RenderProblem<S>[] = [];
  const warn = (source: S, findings: readonly Finding[]) =>
    warnings.push(...findings.map((f) => ({ source, error: { path: f.path, message: f.message } })));

  const claims = conflictsBetweenProfiles(input.profiles.map((p) => p.object));
  for (const { object, source } of input.profiles) {
    const translated = translateProfile(object);
    if (!translated.ok) {
      errors.push(...translated.errors.map((error) => ({ source, error })));
      continue;
    }
    warn(source, translated.value.warnings);
    // By name, as the zones are: the order of spec.gateways must not change the output.
    const byName = [...translated.value.policies].sort((a, b) =>
      a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0,
    );
    for (const policy of byName) {
      const owner = claims.owners.get(policy.metadata.name);
      if (owner === object.metadata.name) policies.push(policy);
      else {
        warnings.push({
          source,
          error: {
            path: ['spec', 'zones'],
            message: `${policy.metadata.name} is also claimed by profile ${owner}, which keeps it`,
          },
        });
      }
    }
  }
  for (const { object, source } of input.networkPolicies) {
    const translated = translateNetworkPolicy(object, options);
    if (!translated.ok) {
      errors.push(...translated.errors.map((error) => ({ source, error })));
      continue;
    }
    warn(source, translated.warnings);
    policies.push(translated.policy);
  }
  return { policies, errors, warnings };
}
