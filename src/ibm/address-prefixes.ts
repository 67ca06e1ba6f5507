/**
 * The VPC API's address prefixes as zones: what discovery (src/ibm/vpc.ts) and `calico-vpc import-prefixes`
 * (src/vpe/import-prefixes.ts) both make of them.
 */
import type { VpcZone } from '../api/v1alpha1.js';
import { compareCidrs, parseCidr } from '../util/cidr.js';

/** The part of an IBM address prefix that matters here. */
export interface ZonedPrefix {
  cidr: string;
  zone: { name: string };
}

function comparePrefixText(a: string, b: string): number {
  const x = parseCidr(a);
  const y = parseCidr(b);
  // Unparseable text sorts after every CIDR, by text; validating it is translateProfile's job, with a field path.
  if (x.ok && y.ok) return compareCidrs(x.value, y.value);
  if (x.ok !== y.ok) return x.ok ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Zones sorted by name, each with its prefixes in address order and exact duplicates dropped. Prefixes are not
 * aggregated: the manifest lists what the VPC has, and translation aggregates.
 */
export function groupPrefixesByZone(prefixes: readonly ZonedPrefix[]): VpcZone[] {
  const byZone = new Map<string, Set<string>>();
  for (const prefix of prefixes) {
    const cidrs = byZone.get(prefix.zone.name) ?? new Set<string>();
    cidrs.add(prefix.cidr);
    byZone.set(prefix.zone.name, cidrs);
  }
  return [...byZone.keys()]
    .sort()
    .map((name) => ({ name, addressPrefixes: [...(byZone.get(name) ?? [])].sort(comparePrefixText) }));
}
