/**
 * Names of the GlobalNetworkPolicies translated from Kubernetes NetworkPolicies.
 *
 * Requirements, and how they are met:
 * - Valid for Calico: lower-case alphanumerics and `-` only. No dot at all, because Calico (3.29-3.31) reads the
 *   part before the first dot as the tier and stores default-tier policies as `default.<name>`; a name may carry
 *   at most that one dot. At most 253 characters including the `<tier>.` prefix Calico may add, so 245 for the
 *   default tier.
 * - Deterministic and stable across restarts: a pure function of (namespace, name, tier), no state, no clock.
 * - Collision-free: the readable part alone is ambiguous (`a-b`/`c` and `a`/`b-c` both read `a-b-c`; a policy
 *   name's dots become dashes), so every name ends with a hash of the exact (namespace, name) pair. The hash is
 *   the first 10 hex digits (40 bits) of SHA-256 over `namespace/name` (`/` occurs in neither), so two different
 *   policies share a GNP name only if their readable parts are equal AND their hashes collide. The GNP also
 *   carries the source's namespace (label) and name (annotation), so the controller can verify ownership.
 * - Readable: `knp-<namespace>-<name>-<hash>`; when that is too long, the readable part is cut (the hash
 *   keeps it unique).
 *
 * Calico's own converter names its namespaced policy `knp.default.<name>` (plain `<name>` from 3.32); ours are
 * global, so the namespace has to be part of the name, and the dots cannot be.
 */
import { hash as digest } from 'node:crypto';
import { DEFAULT_TIER } from '../calico/types.js';

export const NETWORKPOLICY_GNP_PREFIX = 'knp-';
/** Kubernetes' (and Calico's) limit on object names. */
export const MAX_OBJECT_NAME_LENGTH = 253;
const HASH_LENGTH = 10;

/** The longest GNP name that still fits when Calico prefixes it with `<tier>.`: 245 for the default tier. */
export function maxGnpNameLength(tier: string = DEFAULT_TIER): number {
  return MAX_OBJECT_NAME_LENGTH - (tier.length + 1);
}

/**
 * The GNP name for the NetworkPolicy `namespace/name`. The inputs are taken as Kubernetes validated them (a DNS
 * label and a DNS subdomain); anything else is still mapped to a valid Calico name, deterministically.
 */
export function gnpNameForNetworkPolicy(
  namespace: string,
  name: string,
  tier: string = DEFAULT_TIER,
): string {
  const hash = digest('sha256', `${namespace}/${name}`, 'hex').slice(0, HASH_LENGTH);
  const suffix = `-${hash}`;
  const readable = sanitize(`${NETWORKPOLICY_GNP_PREFIX}${namespace}-${name}`);
  const budget = maxGnpNameLength(tier) - suffix.length;
  // A cut can leave a trailing dash; Calico names must end with an alphanumeric before the suffix's dash anyway.
  const cut = readable.length > budget ? readable.slice(0, budget).replace(/-+$/, '') : readable;
  return `${cut}${suffix}`;
}

/** Lower-case, and every run of characters outside [a-z0-9] (dots included) becomes one `-`. */
function sanitize(text: string): string {
  return isSanitized(text) ? text : text.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

/**
 * Whether sanitize leaves `text` as it is: only [a-z0-9] and single dashes (a dash is a run of one character
 * outside [a-z0-9], which becomes a dash again). Most names are like that, and this is cheaper than the replace.
 */
function isSanitized(text: string): boolean {
  let previousDash = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 45 /* - */) {
      if (previousDash) return false;
      previousDash = true;
    } else if ((code >= 97 && code <= 122) || (code >= 48 && code <= 57)) {
      previousDash = false;
    } else {
      return false;
    }
  }
  return true;
}
