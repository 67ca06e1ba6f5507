/**
 * VPC address prefixes -> a VpcEgressProfile manifest (`calico-vpc import-prefixes`), grouped by zone as the
 * IBM discovery client groups them (src/ibm/address-prefixes.ts). Accepts the two shapes IBM prints: the plain array of
 * `ibmcloud is vpc-address-prefixes VPC --output json` and the VPC API's `{address_prefixes: [...]}` envelope.
 */
import type { VpcEgressProfile } from '../api/v1alpha1.js';
import { API_VERSION, VPC_EGRESS_PROFILE_KIND } from '../api/v1alpha1.js';
import { parseCidr } from '../util/cidr.js';
import { type FieldError, type Validated, type FieldPath } from '../api/errors.js';
import { groupPrefixesByZone, type ZonedPrefix } from '../ibm/address-prefixes.js';
import { profileNameErrors } from './rules.js';

export interface ImportPrefixesOptions {
  /** metadata.name of the profile. */
  name: string;
  /** spec.vpc; by default the VPC id found in the prefixes' `href`, if any. */
  vpc?: string;
}

const EXPECTED_SHAPE =
  'expected the JSON array printed by `ibmcloud is vpc-address-prefixes VPC --output json` ' +
  "or the VPC API's response object with address_prefixes";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Paths name the input's own fields: `[2].zone.name` in the CLI's array, `address_prefixes[2].zone.name` in the API's.
function readPrefixes(
  input: unknown,
  errors: FieldError[],
): { list: unknown[]; path: FieldPath } | undefined {
  if (Array.isArray(input)) return { list: input, path: [] };
  if (!isRecord(input)) {
    errors.push({ path: [], message: `${EXPECTED_SHAPE}; got ${input === null ? 'null' : typeof input}` });
    return undefined;
  }
  const list = input.address_prefixes;
  if (!Array.isArray(list)) {
    const keys = Object.keys(input).sort().join(', ') || 'none';
    errors.push({
      path: ['address_prefixes'],
      message: `${EXPECTED_SHAPE}; got an object with the fields: ${keys}`,
    });
    return undefined;
  }
  // One page of several would silently leave zones out, and their workers unable to pull images.
  const next = input.next;
  if (next !== undefined && next !== null) {
    const href = isRecord(next) && typeof next.href === 'string' ? `: ${next.href}` : '';
    errors.push({
      path: ['next'],
      message:
        `this is one page of a paged response (${list.length} prefixes here` +
        `${typeof input.total_count === 'number' ? ` of ${input.total_count}` : ''}); the next page is missing${href}. ` +
        'Use `ibmcloud is vpc-address-prefixes VPC --output json`, which prints every prefix',
    });
  } else if (typeof input.total_count === 'number' && input.total_count !== list.length) {
    errors.push({
      path: ['total_count'],
      message: `says ${input.total_count} prefixes, but address_prefixes has ${list.length}; some are missing`,
    });
  }
  return { list, path: ['address_prefixes'] };
}

/** Validates the shape and the CIDR text of every prefix, reporting all problems. */
export function parseAddressPrefixes(input: unknown): Validated<ZonedPrefix[]> {
  const errors: FieldError[] = [];
  const read = readPrefixes(input, errors);
  if (!read) return { ok: false, errors };
  if (read.list.length === 0) {
    errors.push({
      path: read.path,
      message: 'no address prefixes: a VPC with clusters has at least one per zone',
    });
  }
  const prefixes: ZonedPrefix[] = [];
  read.list.forEach((item: unknown, i) => {
    const path = [...read.path, i];
    if (!isRecord(item)) {
      errors.push({ path, message: 'expected an address prefix object with cidr and zone' });
      return;
    }
    const zone = isRecord(item.zone) ? item.zone.name : undefined;
    let valid = true;
    if (typeof zone !== 'string' || zone === '') {
      errors.push({
        path: [...path, 'zone', 'name'],
        message: 'expected the zone name, e.g. us-south-1',
      });
      valid = false;
    }
    if (typeof item.cidr !== 'string') {
      errors.push({ path: [...path, 'cidr'], message: 'expected a CIDR string, e.g. 10.240.0.0/18' });
      valid = false;
    } else {
      const cidr = parseCidr(item.cidr);
      if (!cidr.ok) {
        errors.push({ path: [...path, 'cidr'], message: cidr.message });
        valid = false;
      }
    }
    if (valid) prefixes.push({ cidr: item.cidr as string, zone: { name: zone as string } });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: prefixes };
}

const VPC_ID_IN_HREF = /\/vpcs\/([^/?#]+)\/address_prefixes/;

function vpcIdFromHrefs(input: unknown): string | undefined {
  const list = Array.isArray(input) ? input : isRecord(input) ? input.address_prefixes : undefined;
  if (!Array.isArray(list)) return undefined;
  const ids = new Set<string>();
  for (const item of list) {
    const match = isRecord(item) && typeof item.href === 'string' ? VPC_ID_IN_HREF.exec(item.href) : null;
    if (match?.[1]) ids.add(decodeURIComponent(match[1]));
  }
  return ids.size === 1 ? [...ids][0] : undefined;
}

/** A VpcEgressProfile manifest from parsed JSON in either of IBM's shapes. */
export function profileFromAddressPrefixes(
  input: unknown,
  options: ImportPrefixesOptions,
): Validated<VpcEgressProfile> {
  const nameErrors = profileNameErrors(options.name);
  const parsed = parseAddressPrefixes(input);
  if (!parsed.ok || nameErrors.length > 0) {
    return { ok: false, errors: [...nameErrors, ...(parsed.ok ? [] : parsed.errors)] };
  }
  const vpc = options.vpc ?? vpcIdFromHrefs(input);
  return {
    ok: true,
    value: {
      apiVersion: API_VERSION,
      kind: VPC_EGRESS_PROFILE_KIND,
      metadata: { name: options.name },
      spec: { ...(vpc === undefined ? {} : { vpc }), zones: groupPrefixesByZone(parsed.value) },
    },
  };
}

/** profileFromAddressPrefixes for JSON text (a file or stdin). */
export function importPrefixes(text: string, options: ImportPrefixesOptions): Validated<VpcEgressProfile> {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      errors: [{ path: [], message: `not JSON (${(error as Error).message}); ${EXPECTED_SHAPE}` }],
    };
  }
  return profileFromAddressPrefixes(input, options);
}
