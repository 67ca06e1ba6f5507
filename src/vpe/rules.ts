/**
 * VpcEgressProfile -> the per-(gateway, zone) GlobalNetworkPolicies of IBM's "allow the VPE gateway" rule.
 *
 * Pure and deterministic: the same profile always yields byte-identical policies (zones and gateways in spec
 * order, prefixes aggregated and sorted, ports sorted and de-duplicated), so a resync never churns. Validation
 * reports every problem at once, each with the field path, and never narrows or widens silently: a profile with
 * any error yields no policies at all (the controller then keeps the last good ones).
 */
import type { VpcEgressProfile, VpcZone, ZoneStatus } from '../api/v1alpha1.js';
import { DEFAULT_GATEWAYS, DEFAULT_VPE_ORDER, DEFAULT_WORKER_SELECTOR } from '../api/v1alpha1.js';
import type { GlobalNetworkPolicy } from '../calico/types.js';
import {
  GATEWAY_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  PROFILE_LABEL,
  SOURCE_LABEL,
  SOURCE_VPE,
  ZONE_LABEL,
} from '../calico/types.js';
import { parseSelector, SelectorParseError } from '../selectors/calico.js';
import { aggregateCidrs, cidrsOverlap, formatCidr, parseCidr, type Cidr } from '../util/cidr.js';
import { formatPath, type FieldError, type FieldPath, type Finding, type Validated } from '../api/errors.js';
import type { Node } from '../api/definition.js';
import {
  DNS_LABEL_PATTERN,
  DNS_SUBDOMAIN_PATTERN,
  MAX_LABEL_LENGTH,
  RESERVED_RANGES,
  VPC_EGRESS_PROFILE,
  VPC_PREFIX_MAX_LENGTH,
  VPC_PREFIX_MIN_LENGTH,
} from '../api/vpc-egress-profile.js';

export const VPE_POLICY_NAME_PREFIX = 'allow-vpe-gateway-';
export { MAX_LABEL_LENGTH };

const RESERVED: readonly { cidr: Cidr; text: string; use: string }[] = RESERVED_RANGES.map(
  ({ cidr, use }) => {
    const parsed = parseCidr(cidr);
    if (!parsed.ok) throw new Error(`RESERVED_RANGES: ${parsed.message}`);
    return { cidr: parsed.value, text: cidr, use };
  },
);

// The API server prunes unknown fields; a file given to the CLI is not pruned, so its fields are checked here
// against the definition's.
const specSchema = VPC_EGRESS_PROFILE.schema.properties.spec;
const fieldsOf = (node: Node | undefined): readonly string[] =>
  Object.freeze(Object.keys((node?.type === 'object' && node.properties) || {}));
const itemsOf = (node: Node | undefined): Node | undefined =>
  node?.type === 'array' ? node.items : undefined;
/** The fields of VpcEgressProfileSpec, of a zone and of a gateway. */
const VPE_SPEC_FIELDS = fieldsOf(specSchema);
const VPE_ZONE_FIELDS = fieldsOf(itemsOf(specSchema.properties?.zones));
const VPE_GATEWAY_FIELDS = fieldsOf(itemsOf(specSchema.properties?.gateways));

/** Finding codes of translateProfile's warnings. */
export const PREFIX_IN_MULTIPLE_ZONES = 'PrefixInMultipleZones';

export function vpePolicyName(gateway: string, zone: string): string {
  return `${VPE_POLICY_NAME_PREFIX}${gateway}-${zone}`;
}

export interface TranslateProfileOptions {
  /**
   * Zones to use instead of `spec.zones`, e.g. the ones discovered from the VPC API (how discovered and listed
   * zones combine is the caller's decision). Errors in them are reported under `zonesPath`.
   */
  zones?: readonly VpcZone[];
  /** Field path of `zones` in error messages; default `status.discoveredZones`. */
  zonesPath?: FieldPath;
}

export interface VpeTranslation {
  /** One per (gateway, zone): gateways in spec order, zones in spec order within a gateway. */
  policies: GlobalNetworkPolicy[];
  /** Every zone in spec order with its validated, aggregated, sorted prefixes. */
  zones: ZoneStatus[];
  warnings: Finding[];
}

// DNS-1123 label: what a Kubernetes name segment and (a subset of) a label value may be.
export const DNS_LABEL = new RegExp(DNS_LABEL_PATTERN);
// A cluster-scoped object's name (DNS-1123 subdomain); at most 63 long it is also a valid label value.
const DNS_SUBDOMAIN = new RegExp(DNS_SUBDOMAIN_PATTERN);
const DNS_LABEL_RULE =
  "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The API server prunes unknown fields; a file given to the CLI is not pruned, so a typo must not pass. */
function unknownFieldErrors(
  object: Record<string, unknown>,
  path: FieldPath,
  known: readonly string[],
): FieldError[] {
  return Object.keys(object)
    .filter((key) => !known.includes(key))
    .sort()
    .map((key) => ({
      path: [...path, key],
      message: `unknown field (known fields: ${known.join(', ')})`,
    }));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Errors for a name that becomes part of a GNP name and a label value. */
function nameErrors(value: unknown, path: FieldPath, what: string, label: string): FieldError[] {
  if (typeof value !== 'string' || value === '') {
    return [{ path, message: `${what} name is required (a non-empty string), got ${describe(value)}` }];
  }
  if (value.length > MAX_LABEL_LENGTH || !DNS_LABEL.test(value)) {
    return [
      {
        path,
        message:
          `${JSON.stringify(value)} is not a valid ${what} name: it must be a DNS-1123 label (${DNS_LABEL_RULE}) ` +
          `because it is part of the policy name and the value of label ${label}`,
      },
    ];
  }
  return [];
}

interface CheckedZone {
  name: string;
  path: FieldPath;
  prefixes: { cidr: Cidr; path: FieldPath }[];
}

function checkZones(
  zones: unknown,
  zonesPath: FieldPath,
  errors: FieldError[],
  discovery: boolean,
): CheckedZone[] {
  if (zones === undefined || zones === null || (Array.isArray(zones) && zones.length === 0)) {
    errors.push({
      path: zonesPath,
      message: discovery
        ? 'no zones: spec.zones is empty and no zones have been discovered from the VPC yet'
        : 'at least one zone is required',
    });
    return [];
  }
  if (!Array.isArray(zones)) {
    errors.push({ path: zonesPath, message: `must be a list of zones, got ${describe(zones)}` });
    return [];
  }
  const checked: CheckedZone[] = [];
  const firstByName = new Map<string, string>();
  zones.forEach((zone: unknown, i) => {
    const path = [...zonesPath, i];
    if (!isRecord(zone)) {
      errors.push({
        path,
        message: `must be an object with name and addressPrefixes, got ${describe(zone)}`,
      });
      return;
    }
    errors.push(...unknownFieldErrors(zone, path, VPE_ZONE_FIELDS));
    const namePath = [...path, 'name'];
    const nameProblems = nameErrors(zone.name, namePath, 'zone', ZONE_LABEL);
    errors.push(...nameProblems);
    if (nameProblems.length === 0) {
      const duplicate = claimName(firstByName, zone.name as string, path, 'zone');
      if (duplicate !== undefined) errors.push(duplicate);
    }
    const prefixesPath = [...path, 'addressPrefixes'];
    const prefixes = zone.addressPrefixes;
    if (!Array.isArray(prefixes) || prefixes.length === 0) {
      errors.push({
        path: prefixesPath,
        message: Array.isArray(prefixes)
          ? 'at least one address prefix is required'
          : `must be a list of IPv4 CIDRs, got ${describe(prefixes)}`,
      });
      return;
    }
    const parsed: { cidr: Cidr; path: FieldPath }[] = [];
    prefixes.forEach((prefix: unknown, j) => {
      const prefixPath = [...prefixesPath, j];
      const cidr = checkPrefix(prefix, prefixPath, errors);
      if (cidr) parsed.push({ cidr, path: prefixPath });
    });
    if (typeof zone.name === 'string') checked.push({ name: zone.name, path, prefixes: parsed });
  });
  return checked;
}

function checkPrefix(prefix: unknown, path: FieldPath, errors: FieldError[]): Cidr | undefined {
  if (typeof prefix !== 'string') {
    errors.push({
      path,
      message: `must be an IPv4 CIDR string such as 10.240.0.0/18, got ${describe(prefix)}`,
    });
    return undefined;
  }
  const parsed = parseCidr(prefix);
  if (!parsed.ok) {
    errors.push({ path, message: parsed.message });
    return undefined;
  }
  const cidr = parsed.value;
  if (cidr.family !== 4) {
    errors.push({ path, message: `${prefix} is IPv6; VPC address prefixes are IPv4` });
    return undefined;
  }
  let valid = true;
  if (cidr.prefixLength < VPC_PREFIX_MIN_LENGTH || cidr.prefixLength > VPC_PREFIX_MAX_LENGTH) {
    errors.push({
      path,
      message:
        `${prefix} has prefix length /${cidr.prefixLength}; VPC address prefixes are ` +
        `/${VPC_PREFIX_MIN_LENGTH} to /${VPC_PREFIX_MAX_LENGTH}`,
    });
    valid = false;
  }
  for (const reserved of RESERVED) {
    if (cidrsOverlap(cidr, reserved.cidr)) {
      errors.push({
        path,
        message: `${prefix} overlaps ${reserved.text} (${reserved.use}), which cannot be a VPC address prefix`,
      });
      valid = false;
    }
  }
  return valid ? cidr : undefined;
}

interface CheckedGateway {
  name: string;
  path: FieldPath;
  protocol: 'TCP' | 'UDP';
  ports: number[];
}

function checkGateways(gateways: unknown, errors: FieldError[]): CheckedGateway[] {
  const gatewaysPath: FieldPath = ['spec', 'gateways'];
  if (gateways === undefined || gateways === null) {
    return DEFAULT_GATEWAYS.map((g, i) => ({
      name: g.name,
      path: [...gatewaysPath, i],
      protocol: g.protocol ?? 'TCP',
      ports: [...g.ports],
    }));
  }
  if (!Array.isArray(gateways) || gateways.length === 0) {
    errors.push({
      path: gatewaysPath,
      message: Array.isArray(gateways)
        ? `must not be empty; omit it for the default ${JSON.stringify(DEFAULT_GATEWAYS)}`
        : `must be a list of gateways, got ${describe(gateways)}`,
    });
    return [];
  }
  const checked: CheckedGateway[] = [];
  const firstByName = new Map<string, string>();
  gateways.forEach((gateway: unknown, i) => {
    const path = [...gatewaysPath, i];
    if (!isRecord(gateway)) {
      errors.push({
        path,
        message: `must be an object with name, protocol and ports, got ${describe(gateway)}`,
      });
      return;
    }
    const unknown = unknownFieldErrors(gateway, path, VPE_GATEWAY_FIELDS);
    errors.push(...unknown);
    let valid = unknown.length === 0;
    const namePath = [...path, 'name'];
    const nameProblems = nameErrors(gateway.name, namePath, 'gateway', GATEWAY_LABEL);
    errors.push(...nameProblems);
    if (nameProblems.length === 0) {
      const duplicate = claimName(firstByName, gateway.name as string, path, 'gateway');
      if (duplicate !== undefined) {
        errors.push(duplicate);
        valid = false;
      }
    } else {
      valid = false;
    }
    const protocol = gateway.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP') {
      errors.push({
        path: [...path, 'protocol'],
        message: `must be TCP or UDP, got ${describe(protocol)}`,
      });
      valid = false;
    }
    const ports = checkPorts(gateway.ports, [...path, 'ports'], errors);
    if (valid && ports) {
      checked.push({ name: gateway.name as string, path, protocol: protocol as 'TCP' | 'UDP', ports });
    }
  });
  return checked;
}

function checkPorts(ports: unknown, path: FieldPath, errors: FieldError[]): number[] | undefined {
  if (!Array.isArray(ports) || ports.length === 0) {
    // An empty port list in a Calico rule means every port: never let a typo widen the rule.
    errors.push({
      path,
      message: Array.isArray(ports)
        ? 'at least one port is required (a rule without ports would allow every port)'
        : `must be a list of port numbers, got ${describe(ports)}`,
    });
    return undefined;
  }
  let valid = true;
  ports.forEach((port: unknown, k) => {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      errors.push({
        path: [...path, k],
        message: `must be a port number from 1 to 65535, got ${describe(port)}`,
      });
      valid = false;
    }
  });
  return valid ? [...new Set(ports as number[])].sort((a, b) => a - b) : undefined;
}

function checkSelector(selector: unknown, errors: FieldError[]): string {
  const path: FieldPath = ['spec', 'selector'];
  if (selector === undefined || selector === null) return DEFAULT_WORKER_SELECTOR;
  if (typeof selector !== 'string') {
    errors.push({ path, message: `must be a Calico selector string, got ${describe(selector)}` });
    return '';
  }
  if (selector.trim() === '') {
    // Calico reads an empty selector as all(): the allow rule would apply to every endpoint.
    errors.push({
      path,
      message: `must not be empty (Calico reads an empty selector as all()); omit it for the default ${DEFAULT_WORKER_SELECTOR}`,
    });
    return '';
  }
  try {
    parseSelector(selector);
  } catch (error) {
    if (!(error instanceof SelectorParseError)) throw error;
    errors.push({ path, message: error.message });
  }
  return selector;
}

function checkOrder(order: unknown, errors: FieldError[]): number {
  if (order === undefined || order === null) return DEFAULT_VPE_ORDER;
  if (typeof order !== 'number' || !Number.isFinite(order)) {
    errors.push({ path: ['spec', 'order'], message: `must be a number, got ${describe(order)}` });
    return DEFAULT_VPE_ORDER;
  }
  return order;
}

/** Errors for a VpcEgressProfile name: it is also the value of PROFILE_LABEL on every policy it writes. */
export function profileNameErrors(name: unknown): FieldError[] {
  const path: FieldPath = ['metadata', 'name'];
  if (typeof name !== 'string' || name === '')
    return [{ path, message: `is required, got ${describe(name)}` }];
  if (name.length > MAX_LABEL_LENGTH || !DNS_SUBDOMAIN.test(name)) {
    return [
      {
        path,
        message:
          `${JSON.stringify(name)} is not a valid profile name: it must be at most 63 characters of lower-case ` +
          `letters, digits, '-' and '.', starting and ending with a letter or digit, because it is the value of ` +
          `label ${PROFILE_LABEL}`,
      },
    ];
  }
  return [];
}

/** Warnings for a prefix that overlaps a prefix of an earlier zone: traffic to it is allowed under both zones. */
function zoneOverlapWarnings(zones: readonly CheckedZone[]): Finding[] {
  const warnings: Finding[] = [];
  zones.forEach((zone, k) => {
    for (const prefix of zone.prefixes) {
      for (const earlier of zones.slice(0, k)) {
        for (const other of earlier.prefixes) {
          if (!cidrsOverlap(prefix.cidr, other.cidr)) continue;
          warnings.push({
            severity: 'warning',
            code: PREFIX_IN_MULTIPLE_ZONES,
            path: prefix.path,
            message:
              `${formatCidr(prefix.cidr)} overlaps ${formatCidr(other.cidr)} of zone ${JSON.stringify(earlier.name)} ` +
              `(${formatPath(other.path)}); a VPC address prefix belongs to one zone`,
          });
        }
      }
    }
  });
  return warnings;
}

function vpePolicy(
  profile: string,
  gateway: CheckedGateway,
  zone: ZoneStatus,
  selector: string,
  order: number,
): GlobalNetworkPolicy {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: {
      name: vpePolicyName(gateway.name, zone.name),
      labels: {
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [SOURCE_LABEL]: SOURCE_VPE,
        [PROFILE_LABEL]: profile,
        [ZONE_LABEL]: zone.name,
        [GATEWAY_LABEL]: gateway.name,
      },
    },
    spec: {
      order,
      selector,
      types: ['Egress'],
      egress: [
        {
          action: 'Allow',
          protocol: gateway.protocol,
          source: {},
          destination: { nets: [...zone.addressPrefixes], ports: [...gateway.ports] },
        },
      ],
    },
  };
}

export function translateProfile(
  profile: VpcEgressProfile,
  options: TranslateProfileOptions = {},
): Validated<VpeTranslation> {
  const errors: FieldError[] = [];
  const spec: Record<string, unknown> = isRecord(profile.spec) ? profile.spec : {};
  if (!isRecord(profile.spec))
    errors.push({ path: ['spec'], message: `is required, got ${describe(profile.spec)}` });
  errors.push(...unknownFieldErrors(spec, ['spec'], VPE_SPEC_FIELDS));

  const profileName = profile.metadata?.name;
  errors.push(...profileNameErrors(profileName));
  const zonesPath: FieldPath = options.zones
    ? (options.zonesPath ?? ['status', 'discoveredZones'])
    : ['spec', 'zones'];
  const discovery = isRecord(spec.discovery) && spec.discovery.ibmCloud !== undefined;
  const zones = checkZones(options.zones ?? spec.zones, zonesPath, errors, discovery);
  const gateways = checkGateways(spec.gateways, errors);
  const selector = checkSelector(spec.selector, errors);
  const order = checkOrder(spec.order, errors);
  if (spec.vpc !== undefined && typeof spec.vpc !== 'string') {
    errors.push({
      path: ['spec', 'vpc'],
      message: `must be a string (the VPC name or id), got ${describe(spec.vpc)}`,
    });
  }

  // "a-b" + "c" and "a" + "b-c" make the same policy name; two objects cannot share it.
  const producers = new Map<string, string>();
  for (const gateway of gateways) {
    for (const zone of zones) {
      const name = vpePolicyName(gateway.name, zone.name);
      const producer = `gateway ${JSON.stringify(gateway.name)} with zone ${JSON.stringify(zone.name)}`;
      const earlier = producers.get(name);
      if (earlier === undefined) producers.set(name, producer);
      else if (earlier !== producer) {
        errors.push({
          path: [...gateway.path, 'name'],
          message: `policy name ${JSON.stringify(name)} is made by both ${earlier} and ${producer}; rename one of them`,
        });
      }
    }
  }

  if (errors.length > 0) return { ok: false, errors };

  const zoneStatuses: ZoneStatus[] = zones.map((zone) => ({
    name: zone.name,
    addressPrefixes: aggregateCidrs(zone.prefixes.map((p) => p.cidr)).map(formatCidr),
  }));
  const policies = gateways.flatMap((gateway) =>
    zoneStatuses.map((zone) => vpePolicy(profileName, gateway, zone, selector, order)),
  );
  return { ok: true, value: { policies, zones: zoneStatuses, warnings: zoneOverlapWarnings(zones) } };
}

/**
 * Names are unique within a list (zones, gateways): the first item at `path` claims its name; a later one gets an
 * error on its name that says where the first is.
 */
function claimName(
  firstByName: Map<string, string>,
  name: string,
  path: FieldPath,
  what: 'zone' | 'gateway',
): FieldError | undefined {
  const first = firstByName.get(name);
  if (first === undefined) {
    firstByName.set(name, formatPath(path));
    return undefined;
  }
  return {
    path: [...path, 'name'],
    message: `duplicate ${what} name ${JSON.stringify(name)} (first at ${first})`,
  };
}
