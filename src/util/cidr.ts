/**
 * IP addresses, CIDRs and address intervals as bigints, for both families.
 *
 * Address text is read here for the common forms (dotted-decimal IPv4, plain IPv6 groups) and by ip-num for the
 * rest of IPv6 (embedded IPv4) and for its error wording; everything else (aggregation, interval arithmetic,
 * formatting) is done here on
 * plain bigints, because ip-num's `Pool.aggregate()` does not collapse nested prefixes with the same start and
 * mixes families, and its IPv6 `toString()` is not the canonical (RFC 5952) form that Calico and Go print.
 *
 * Every function is per family: an IPv4 and an IPv6 value never compare equal, overlap or merge.
 */
import { IPv6, Validator } from 'ip-num';

export type IpFamily = 4 | 6;

/** An address: its family and its value (0 .. 2^bits - 1). */
export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** A CIDR in canonical form: `network` has no host bits set. */
export interface Cidr {
  readonly family: IpFamily;
  readonly network: bigint;
  readonly prefixLength: number;
}

/** An inclusive interval of addresses of one family, `first <= last`. */
export interface IpInterval {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly last: bigint;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export function addressBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

const MAX_V4 = (1n << 32n) - 1n;
const MAX_V6 = (1n << 128n) - 1n;

function maxValue(family: IpFamily): bigint {
  return family === 4 ? MAX_V4 : MAX_V6;
}

function hostMask(family: IpFamily, prefixLength: number): bigint {
  return (
    (family === 4 ? HOST_MASKS_V4 : HOST_MASKS_V6)[prefixLength] ?? computeHostMask(family, prefixLength)
  );
}

function computeHostMask(family: IpFamily, prefixLength: number): bigint {
  return (1n << BigInt(addressBits(family) - prefixLength)) - 1n;
}

// Computed once: connectivity tests addresses against CIDRs millions of times, and BigInt shifts are not cheap.
const HOST_MASKS_V4 = Array.from({ length: 33 }, (_, length) => computeHostMask(4, length));
const HOST_MASKS_V6 = Array.from({ length: 129 }, (_, length) => computeHostMask(6, length));
// The complements within the family (the network bits), for parseCidr: every CIDR the translator reads.
const NETWORK_MASKS_V4 = HOST_MASKS_V4.map((mask) => MAX_V4 ^ mask);
const NETWORK_MASKS_V6 = HOST_MASKS_V6.map((mask) => MAX_V6 ^ mask);

/** The network bits of a prefix length (at most the family's bits). */
function networkMask(family: IpFamily, prefixLength: number): bigint {
  return (family === 4 ? NETWORK_MASKS_V4 : NETWORK_MASKS_V6)[prefixLength] as bigint;
}

// Go's net.ParseIP (and so Calico) rejects leading zeros in IPv4 octets: "010.0.0.1" is not 10.0.0.1.
const IPV4_TEXT = /^(?:(?:0|[1-9][0-9]{0,2})\.){3}(?:0|[1-9][0-9]{0,2})$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;
const PREFIX_TEXT = /^(?:0|[1-9][0-9]{0,2})$/;

/** Parses an IPv4 (dotted decimal) or IPv6 address. Zone indexes (`fe80::1%eth0`) are not addresses here. */
export function parseIp(text: string): Parsed<IpAddress> {
  if (IPV4_TEXT.test(text)) {
    // The regex has vouched for the shape (four dot-separated decimals of 1-3 digits), so only the range is left;
    // reading the octets here rather than through ip-num is a third of the translator's time (bench/).
    const value = parseIPv4Octets(text);
    if (value !== undefined) return { ok: true, value: { family: 4, value: BigInt(value) } };
    return { ok: false, message: `"${text}" is not an IPv4 address: each part must be 0 to 255` };
  }
  if (text.includes(':') && IPV6_CHARS.test(text)) {
    const fast = parseIPv6Groups(text);
    if (fast !== undefined) return { ok: true, value: { family: 6, value: fast } };
    // The rest (embedded IPv4, and every text that is not an address) goes to ip-num, which also words the error.
    const [valid] = Validator.isValidIPv6String(text);
    if (valid) return { ok: true, value: { family: 6, value: IPv6.fromString(text).value } };
  }
  return { ok: false, message: `"${text}" is not an IPv4 or IPv6 address` };
}

/** The 32-bit value of text already matching IPV4_TEXT, or undefined when an octet exceeds 255. */
function parseIPv4Octets(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 46 /* . */) {
      value = value * 256 + octet;
      octet = 0;
    } else {
      octet = octet * 10 + (code - 48);
      if (octet > 255) return undefined;
    }
  }
  return value * 256 + octet;
}

/**
 * The value of an IPv6 text in the plain forms (eight groups of 1-4 hex digits, or fewer around one `::` that
 * stands for at least one zero group), or undefined for anything else, which parseIp leaves to ip-num. It only
 * ever accepts, never rejects, so the errors stay ip-num's; a property test holds the two to the same answers.
 * ip-num's validating regex was a quarter of the translator's time (bench/).
 */
function parseIPv6Groups(text: string): bigint | undefined {
  const ellipsis = text.indexOf('::');
  if (ellipsis >= 0 && text.indexOf('::', ellipsis + 1) >= 0) return undefined;
  // The groups go into eight slots: the head's from the left, the tail's (after `::`) right-aligned. Read without
  // splitting the text, and combined into a bigint once, from four 32-bit words (a bigint per group was slower).
  const groups = IPV6_GROUPS;
  groups.fill(0);
  const headEnd = ellipsis < 0 ? text.length : ellipsis;
  const headCount = readHexGroups(text, 0, headEnd, groups, 0);
  if (headCount < 0) return undefined;
  if (ellipsis < 0) {
    if (headCount !== 8) return undefined;
  } else {
    const tail = TAIL_GROUPS;
    const tailCount = readHexGroups(text, ellipsis + 2, text.length, tail, 0);
    if (tailCount < 0 || headCount + tailCount > 7) return undefined;
    for (let i = 0; i < tailCount; i++) groups[8 - tailCount + i] = tail[i] as number;
  }
  return (
    (BigInt((groups[0] as number) * 0x10000 + (groups[1] as number)) << 96n) |
    (BigInt((groups[2] as number) * 0x10000 + (groups[3] as number)) << 64n) |
    (BigInt((groups[4] as number) * 0x10000 + (groups[5] as number)) << 32n) |
    BigInt((groups[6] as number) * 0x10000 + (groups[7] as number))
  );
}

// Scratch space for parseIPv6Groups (which calls nothing that could re-enter it).
const IPV6_GROUPS: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
const TAIL_GROUPS: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

/**
 * Reads the `:`-separated groups of text[start, end) into `into` from `offset`: how many, or -1 when a group is
 * not 1-4 hex digits or there are more than 8. An empty range has no groups (the side of a `::` may be empty).
 */
function readHexGroups(text: string, start: number, end: number, into: number[], offset: number): number {
  if (start === end) return 0;
  let count = 0;
  let groupStart = start;
  for (let i = start; i <= end; i++) {
    if (i === end || text.charCodeAt(i) === 58 /* : */) {
      if (offset + count >= 8) return -1;
      const value = hexGroup(text, groupStart, i);
      if (value < 0) return -1;
      into[offset + count] = value;
      count++;
      groupStart = i + 1;
    }
  }
  return count;
}

/** text[start, end) as a number when it is 1-4 hex digits, or -1. */
function hexGroup(text: string, start: number, end: number): number {
  if (end - start === 0 || end - start > 4) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    const digit =
      code >= 48 && code <= 57
        ? code - 48
        : code >= 97 && code <= 102
          ? code - 87
          : code >= 65 && code <= 70
            ? code - 55
            : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

export interface ParseCidrOptions {
  /**
   * `reject` (default): "10.240.1.0/18 has host bits set; the network is 10.240.0.0/18".
   * `mask`: silently use the network, as Kubernetes does for NetworkPolicy ipBlocks.
   */
  hostBits?: 'reject' | 'mask';
  /** Accept a bare address as a single-address CIDR (/32 or /128), as Calico's `nets` do. Default false. */
  bareAddress?: boolean;
}

export function parseCidr(text: string, options: ParseCidrOptions = {}): Parsed<Cidr> {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (options.bareAddress) {
      const address = parseIp(text);
      if (!address.ok) return { ok: false, message: `"${text}" is not a valid CIDR or address` };
      const { family, value } = address.value;
      return { ok: true, value: { family, network: value, prefixLength: addressBits(family) } };
    }
    return {
      ok: false,
      message: `"${text}" is not a valid CIDR: expected ADDRESS/PREFIX-LENGTH, e.g. 10.240.0.0/18`,
    };
  }
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const address = parseIp(addressText);
  if (!address.ok) return { ok: false, message: `"${text}" is not a valid CIDR: ${address.message}` };
  const { family, value } = address.value;
  const bits = addressBits(family);
  const prefixLength = Number(prefixText);
  if (!PREFIX_TEXT.test(prefixText) || prefixLength > bits) {
    return {
      ok: false,
      message: `"${text}" is not a valid CIDR: the prefix length must be a whole number from 0 to ${bits}`,
    };
  }
  const network = value & networkMask(family, prefixLength);
  if (network !== value && options.hostBits !== 'mask') {
    return {
      ok: false,
      message: `${text} has host bits set; the network is ${formatCidr({ family, network, prefixLength })}`,
    };
  }
  return { ok: true, value: { family, network, prefixLength } };
}

function formatIPv4(value: bigint): string {
  const n = Number(value); // exact: an IPv4 value fits in 32 bits
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 5952: lower case, no leading zeros, the longest run (first on a tie) of two or more zero groups as `::`. */
function formatIPv6(value: bigint): string {
  if (value >> 32n === 0xffffn) return `::ffff:${formatIPv4(value & 0xffffffffn)}`;
  // Four 32-bit words, each taken out of the bigint once, split into the eight groups as numbers.
  const groups = IPV6_FORMAT_GROUPS;
  for (let word = 0; word < 4; word++) {
    const bits = Number(BigInt.asUintN(32, value >> BigInt(96 - 32 * word)));
    groups[2 * word] = bits >>> 16;
    groups[2 * word + 1] = bits & 0xffff;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return hexGroups(groups, 0, 8);
  return `${hexGroups(groups, 0, bestStart)}::${hexGroups(groups, bestStart + bestLength, 8)}`;
}

// Scratch space for formatIPv6 (which calls nothing that could re-enter it).
const IPV6_FORMAT_GROUPS: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

/** groups[start, end) in lower-case hex without leading zeros, joined by `:`. */
function hexGroups(groups: readonly number[], start: number, end: number): string {
  let text = '';
  for (let i = start; i < end; i++) text += (i === start ? '' : ':') + (groups[i] as number).toString(16);
  return text;
}

export function formatIp(address: IpAddress): string {
  return address.family === 4 ? formatIPv4(address.value) : formatIPv6(address.value);
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ family: cidr.family, value: cidr.network })}/${cidr.prefixLength}`;
}

export function cidrToRange(cidr: Cidr): IpInterval {
  return {
    family: cidr.family,
    first: cidr.network,
    last: cidr.network | hostMask(cidr.family, cidr.prefixLength),
  };
}

/** `FIRST-LAST`, e.g. `10.240.0.0-10.240.63.255`. */
export function formatRange(interval: IpInterval): string {
  const { family } = interval;
  return `${formatIp({ family, value: interval.first })}-${formatIp({ family, value: interval.last })}`;
}

/** Parses `FIRST-LAST` (both of one family, FIRST <= LAST). */
export function parseRange(text: string): Parsed<IpInterval> {
  const parts = text.split('-');
  if (parts.length !== 2)
    return { ok: false, message: `"${text}" is not an address range: expected FIRST-LAST` };
  const first = parseIp(parts[0] ?? '');
  const last = parseIp(parts[1] ?? '');
  if (!first.ok) return { ok: false, message: `"${text}" is not an address range: ${first.message}` };
  if (!last.ok) return { ok: false, message: `"${text}" is not an address range: ${last.message}` };
  if (first.value.family !== last.value.family) {
    return { ok: false, message: `"${text}" is not an address range: it mixes IPv4 and IPv6` };
  }
  if (first.value.value > last.value.value) {
    return { ok: false, message: `"${text}" is not an address range: the first address is after the last` };
  }
  return {
    ok: true,
    value: { family: first.value.family, first: first.value.value, last: last.value.value },
  };
}

/** The fewest CIDRs that cover exactly the interval, in address order. */
export function rangeToCidrs(interval: IpInterval): Cidr[] {
  const { family } = interval;
  const bits = addressBits(family);
  const result: Cidr[] = [];
  let first = interval.first;
  while (first <= interval.last) {
    // The largest block that starts at `first` (aligned) and does not run past `last`.
    let hostBits = 0;
    while (hostBits < bits && ((first >> BigInt(hostBits)) & 1n) === 0n) hostBits++;
    while (first + (1n << BigInt(hostBits)) - 1n > interval.last) hostBits--;
    result.push({ family, network: first, prefixLength: bits - hostBits });
    first += 1n << BigInt(hostBits);
  }
  return result;
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** IPv4 before IPv6, then by network address, then the wider prefix first. */
export function compareCidrs(a: Cidr, b: Cidr): number {
  return a.family - b.family || compareBigint(a.network, b.network) || a.prefixLength - b.prefixLength;
}

/** IPv4 before IPv6, then by first address, then the longer interval first. */
export function compareIntervals(a: IpInterval, b: IpInterval): number {
  return a.family - b.family || compareBigint(a.first, b.first) || compareBigint(b.last, a.last);
}

/** The union of the intervals as the fewest disjoint, non-adjacent intervals, sorted. */
export function mergeIntervals(intervals: readonly IpInterval[]): IpInterval[] {
  const sorted = [...intervals].sort(compareIntervals);
  const merged: IpInterval[] = [];
  for (const next of sorted) {
    const current = merged[merged.length - 1];
    if (current && current.family === next.family && next.first <= current.last + 1n) {
      if (next.last > current.last) merged[merged.length - 1] = { ...current, last: next.last };
    } else {
      merged.push(next);
    }
  }
  return merged;
}

/**
 * The minimal sorted set of CIDRs covering exactly the addresses of the input: overlapping, nested and adjacent
 * CIDRs are combined; IPv4 first, then IPv6; never a CIDR that covers an address no input covered.
 */
export function aggregateCidrs(cidrs: readonly Cidr[]): Cidr[] {
  return mergeIntervals(cidrs.map(cidrToRange)).flatMap(rangeToCidrs);
}

export function intervalContains(outer: IpInterval, inner: IpInterval): boolean {
  return outer.family === inner.family && outer.first <= inner.first && inner.last <= outer.last;
}

export function intervalsOverlap(a: IpInterval, b: IpInterval): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return intervalContains(cidrToRange(outer), cidrToRange(inner));
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return intervalsOverlap(cidrToRange(a), cidrToRange(b));
}

export function cidrContainsIp(cidr: Cidr, address: IpAddress): boolean {
  // cidrToRange without the object: this runs once per ipBlock per connection evaluated.
  return (
    cidr.family === address.family &&
    cidr.network <= address.value &&
    address.value <= (cidr.network | hostMask(cidr.family, cidr.prefixLength))
  );
}

/** The addresses in both sets, as merged intervals. */
export function intersectIntervals(a: readonly IpInterval[], b: readonly IpInterval[]): IpInterval[] {
  const left = mergeIntervals(a);
  const right = mergeIntervals(b);
  const result: IpInterval[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    const x = left[i] as IpInterval;
    const y = right[j] as IpInterval;
    if (x.family !== y.family) {
      if (x.family < y.family) i++;
      else j++;
      continue;
    }
    const first = x.first > y.first ? x.first : y.first;
    const last = x.last < y.last ? x.last : y.last;
    if (first <= last) result.push({ family: x.family, first, last });
    if (x.last < y.last) i++;
    else j++;
  }
  return result;
}

/** The addresses of `from` that are not in `remove`, as merged intervals. */
export function subtractIntervals(from: readonly IpInterval[], remove: readonly IpInterval[]): IpInterval[] {
  const removed = mergeIntervals(remove);
  const result: IpInterval[] = [];
  for (const interval of mergeIntervals(from)) {
    let first = interval.first;
    for (const cut of removed) {
      if (cut.family !== interval.family || cut.last < first) continue;
      if (cut.first > interval.last) break;
      if (cut.first > first) result.push({ family: interval.family, first, last: cut.first - 1n });
      first = cut.last + 1n;
      if (first > interval.last) break;
    }
    if (first <= interval.last) result.push({ family: interval.family, first, last: interval.last });
  }
  return result;
}

/**
 * Cuts the covered address space at every interval boundary: the coarsest disjoint, sorted pieces such that
 * each input interval is exactly a union of pieces (so any property "which inputs contain this address" is
 * constant within a piece). Addresses covered by no input are not returned.
 */
export function partitionAtBoundaries(intervals: readonly IpInterval[]): IpInterval[] {
  const result: IpInterval[] = [];
  for (const family of [4, 6] as const) {
    const own = intervals.filter((interval) => interval.family === family);
    if (own.length === 0) continue;
    const cuts = new Set<bigint>();
    for (const interval of own) {
      cuts.add(interval.first);
      if (interval.last < maxValue(family)) cuts.add(interval.last + 1n);
    }
    const points = [...cuts].sort(compareBigint);
    // Every end of a covered stretch is a cut point, so a piece lies either wholly inside one or wholly outside.
    const covered = mergeIntervals(own);
    let c = 0;
    for (let k = 0; k < points.length; k++) {
      const first = points[k] as bigint;
      const next = points[k + 1];
      const last = next === undefined ? maxValue(family) : next - 1n;
      while (c < covered.length && (covered[c] as IpInterval).last < first) c++;
      const stretch = covered[c];
      if (stretch && stretch.first <= first) result.push({ family, first, last });
    }
  }
  return result;
}

/**
 * The API server rejects CIDRs and addresses in ::ffff:0:0/96 (IPv4-mapped IPv6, e.g. `::ffff:10.0.0.0/104`) in
 * new objects: the same addresses must be written as IPv4. A message saying so, or undefined.
 */
export function ipv4MappedMessage(text: string, cidr: Cidr): string | undefined {
  if (cidr.family !== 6 || cidr.network >> 32n !== 0xffffn) return undefined;
  return `"${text}" is an IPv4-mapped IPv6 address, which the API server rejects; write it as an IPv4 CIDR`;
}
