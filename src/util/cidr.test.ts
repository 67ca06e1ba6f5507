import fc from 'fast-check';
import { IPv4, IPv6, Validator } from 'ip-num';
import {
  aggregateCidrs,
  cidrContains,
  cidrContainsIp,
  cidrsOverlap,
  cidrToRange,
  compareCidrs,
  formatCidr,
  formatIp,
  formatRange,
  intersectIntervals,
  mergeIntervals,
  parseCidr,
  parseIp,
  parseRange,
  partitionAtBoundaries,
  rangeToCidrs,
  subtractIntervals,
  type Cidr,
  type IpFamily,
  type IpInterval,
} from './cidr.js';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

function range(text: string): IpInterval {
  const parsed = parseRange(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

const texts = (cidrs: Cidr[]): string[] => cidrs.map(formatCidr);

describe('parseCidr', () => {
  it.each([
    ['10.240.0.0/18', 4, 18],
    ['0.0.0.0/0', 4, 0],
    ['255.255.255.255/32', 4, 32],
    ['2001:db8::/32', 6, 32],
    ['::/0', 6, 0],
    ['::1/128', 6, 128],
  ])('accepts %s', (text, family, prefixLength) => {
    const parsed = parseCidr(text);
    expect(parsed).toEqual({ ok: true, value: expect.objectContaining({ family, prefixLength }) });
    expect(parsed.ok && formatCidr(parsed.value)).toBe(text);
  });

  it('rejects host bits with the network in the message', () => {
    expect(parseCidr('10.240.1.0/18')).toEqual({
      ok: false,
      message: '10.240.1.0/18 has host bits set; the network is 10.240.0.0/18',
    });
    expect(parseCidr('2001:db8::1/64')).toEqual({
      ok: false,
      message: '2001:db8::1/64 has host bits set; the network is 2001:db8::/64',
    });
  });

  it('keeps exactly the network bits, at every prefix length of both families (property)', () => {
    // Held to shifts rather than to the precomputed masks parseCidr uses.
    const address = fc.oneof(
      fc.tuple(fc.constant(4 as const), fc.bigInt(0n, (1n << 32n) - 1n), fc.integer({ min: 0, max: 32 })),
      fc.tuple(fc.constant(6 as const), fc.bigInt(0n, (1n << 128n) - 1n), fc.integer({ min: 0, max: 128 })),
    );
    fc.assert(
      fc.property(address, fc.boolean(), ([family, value, prefixLength], aligned) => {
        const hostBits = BigInt((family === 4 ? 32 : 128) - prefixLength);
        const network = (value >> hostBits) << hostBits;
        const given = aligned ? network : value;
        const text = `${formatIp({ family, value: given })}/${prefixLength}`;
        expect(parseCidr(text, { hostBits: 'mask' })).toEqual({
          ok: true,
          value: { family, network, prefixLength },
        });
        expect(parseCidr(text).ok).toBe(given === network);
      }),
      { numRuns: 3000 },
    );
  });

  it('masks host bits when asked to', () => {
    const parsed = parseCidr('10.240.1.7/18', { hostBits: 'mask' });
    expect(parsed.ok && formatCidr(parsed.value)).toBe('10.240.0.0/18');
  });

  it('accepts a bare address only when asked to', () => {
    expect(parseCidr('10.1.2.3')).toEqual({
      ok: false,
      message: '"10.1.2.3" is not a valid CIDR: expected ADDRESS/PREFIX-LENGTH, e.g. 10.240.0.0/18',
    });
    const v4 = parseCidr('10.1.2.3', { bareAddress: true });
    expect(v4.ok && formatCidr(v4.value)).toBe('10.1.2.3/32');
    const v6 = parseCidr('2001:db8::5', { bareAddress: true });
    expect(v6.ok && formatCidr(v6.value)).toBe('2001:db8::5/128');
    expect(parseCidr('nope', { bareAddress: true })).toEqual({
      ok: false,
      message: '"nope" is not a valid CIDR or address',
    });
  });

  it.each([
    [
      '10.0.0.0/33',
      '"10.0.0.0/33" is not a valid CIDR: the prefix length must be a whole number from 0 to 32',
    ],
    ['10.0.0.0/', '"10.0.0.0/" is not a valid CIDR: the prefix length must be a whole number from 0 to 32'],
    [
      '10.0.0.0/08',
      '"10.0.0.0/08" is not a valid CIDR: the prefix length must be a whole number from 0 to 32',
    ],
    [
      '10.0.0.0/-1',
      '"10.0.0.0/-1" is not a valid CIDR: the prefix length must be a whole number from 0 to 32',
    ],
    ['::/129', '"::/129" is not a valid CIDR: the prefix length must be a whole number from 0 to 128'],
    [
      '10.0.0.256/24',
      '"10.0.0.256/24" is not a valid CIDR: "10.0.0.256" is not an IPv4 address: each part must be 0 to 255',
    ],
    ['010.0.0.0/8', '"010.0.0.0/8" is not a valid CIDR: "010.0.0.0" is not an IPv4 or IPv6 address'],
    ['10.0.0/24', '"10.0.0/24" is not a valid CIDR: "10.0.0" is not an IPv4 or IPv6 address'],
    [' 10.0.0.0/24', '" 10.0.0.0/24" is not a valid CIDR: " 10.0.0.0" is not an IPv4 or IPv6 address'],
    [
      'fe80::1%eth0/64',
      '"fe80::1%eth0/64" is not a valid CIDR: "fe80::1%eth0" is not an IPv4 or IPv6 address',
    ],
    ['1::2::3/64', '"1::2::3/64" is not a valid CIDR: "1::2::3" is not an IPv4 or IPv6 address'],
    ['', '"" is not a valid CIDR: expected ADDRESS/PREFIX-LENGTH, e.g. 10.240.0.0/18'],
  ])('rejects %j', (text, message) => {
    expect(parseCidr(text)).toEqual({ ok: false, message });
  });
});

describe('parseIp, IPv4 (read without ip-num)', () => {
  const octetText = fc.oneof(
    fc.integer({ min: 0, max: 255 }).map(String),
    fc.integer({ min: 256, max: 999 }).map(String),
    fc.stringMatching(/^[0-9]{1,4}$/),
    fc.constantFrom('0', '00', '01', '255', '256'),
  );
  const ipv4Text = fc.oneof(
    fc.array(octetText, { minLength: 4, maxLength: 4 }).map((octets) => octets.join('.')),
    fc.array(octetText, { minLength: 1, maxLength: 6 }).map((octets) => octets.join('.')),
  );

  it('agrees with ip-num and Go (no leading zeros) on every dotted-decimal text', () => {
    fc.assert(
      fc.property(ipv4Text, (text) => {
        const parsed = parseIp(text);
        const goAccepts = /^(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)){3}$/.test(text);
        const ipNumAccepts = Validator.isValidIPv4String(text)[0];
        expect(parsed.ok).toBe(goAccepts && ipNumAccepts);
        if (parsed.ok) {
          expect(parsed.value).toEqual({ family: 4, value: IPv4.fromDecimalDottedString(text).value });
        }
      }),
    );
  });

  it.each([
    ['0.0.0.0', 0n],
    ['255.255.255.255', 0xffffffffn],
    ['10.240.0.1', 0x0af00001n],
  ])('%s is %d', (text, value) => {
    expect(parseIp(text)).toEqual({ ok: true, value: { family: 4, value } });
  });

  it.each(['256.0.0.1', '1.2.3.300', '010.0.0.1', '1.2.3', '1.2.3.4.5', '1..2.3'])('rejects %s', (text) => {
    expect(parseIp(text).ok).toBe(false);
  });
});

describe('parseIp, IPv6 (plain forms read without ip-num)', () => {
  const group = fc.oneof(
    fc.stringMatching(/^[0-9a-fA-F]{1,4}$/),
    fc.constantFrom('0', '0000', 'ffff', 'FFFF', '12345', 'g', ''),
  );
  const ipv6Text = fc.oneof(
    fc.array(group, { minLength: 1, maxLength: 9 }).map((groups) => groups.join(':')),
    fc
      .tuple(fc.array(group, { maxLength: 8 }), fc.array(group, { maxLength: 8 }))
      .map(([head, tail]) => `${head.join(':')}::${tail.join(':')}`),
    fc
      .tuple(fc.array(group, { maxLength: 6 }), fc.integer({ min: 0, max: 300 }))
      .map(([head, octet]) => `${head.join(':')}::ffff:1.2.3.${octet}`),
    fc.constantFrom(
      '::',
      ':::',
      '1::2::3',
      ':1::',
      '1:2:3:4:5:6:7::',
      '::1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8::',
    ),
  );

  it('agrees with ip-num on every text', () => {
    fc.assert(
      fc.property(ipv6Text, (text) => {
        const parsed = parseIp(text);
        const ipNumAccepts = Validator.isValidIPv6String(text)[0];
        expect(parsed.ok).toBe(ipNumAccepts);
        if (parsed.ok) expect(parsed.value).toEqual({ family: 6, value: IPv6.fromString(text).value });
      }),
    );
  });

  it.each([
    ['::', 0n],
    ['::1', 1n],
    ['2001:db8::', 0x20010db8n << 96n],
    ['1:2:3:4:5:6:7::', 0x00010002000300040005000600070000n],
    ['FE80::A', (0xfe80n << 112n) | 0xan],
  ])('%s is %d', (text, value) => {
    expect(parseIp(text)).toEqual({ ok: true, value: { family: 6, value } });
  });
});

describe('formatIp', () => {
  it.each([
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
    ['0:0:1:0:0:0:0:0', '0:0:1::'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['10.240.0.1', '10.240.0.1'],
  ])('%s is printed as %s (RFC 5952)', (input, expected) => {
    const parsed = parseIp(input);
    expect(parsed.ok && formatIp(parsed.value)).toBe(expected);
  });

  const anyAddress = fc.oneof(
    fc.bigInt(0n, (1n << 32n) - 1n).map((value) => ({ family: 4 as const, value })),
    fc.bigInt(0n, (1n << 128n) - 1n).map((value) => ({ family: 6 as const, value })),
    // Runs of zeros are where the formatting can go wrong: build addresses from mostly-zero groups.
    fc
      .array(fc.constantFrom<bigint>(0n, 0n, 0n, 1n, 0xffffn), { minLength: 8, maxLength: 8 })
      .map((groups) => ({
        family: 6 as const,
        value: groups.reduce<bigint>((acc, g) => (acc << 16n) | g, 0n),
      })),
  );

  it('prints IPv6 as the plain implementation it replaced did (property)', () => {
    // The group-by-group bigint version, before formatIPv6 took out four 32-bit words instead.
    const plain = (value: bigint): string => {
      const groups: number[] = [];
      for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
      let bestStart = -1;
      let bestLength = 1;
      for (let i = 0; i < groups.length;) {
        if (groups[i] !== 0) {
          i++;
          continue;
        }
        let j = i;
        while (j < groups.length && groups[j] === 0) j++;
        if (j - i > bestLength) {
          bestStart = i;
          bestLength = j - i;
        }
        i = j;
      }
      const hex = (part: number[]): string => part.map((g) => g.toString(16)).join(':');
      if (bestStart < 0) return hex(groups);
      return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
    };
    fc.assert(
      fc.property(anyAddress, (address) => {
        if (address.family !== 6 || address.value >> 32n === 0xffffn) return;
        expect(formatIp(address)).toBe(plain(address.value));
      }),
      { numRuns: 3000 },
    );
  });

  it('parses back what it prints', () => {
    fc.assert(
      fc.property(anyAddress, (address) => {
        expect(parseIp(formatIp(address))).toEqual({ ok: true, value: address });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('ranges', () => {
  it('converts a CIDR to its first and last address', () => {
    expect(formatRange(cidrToRange(cidr('10.240.0.0/18')))).toBe('10.240.0.0-10.240.63.255');
    expect(formatRange(cidrToRange(cidr('2001:db8::/126')))).toBe('2001:db8::-2001:db8::3');
  });

  it('covers a range with the fewest CIDRs', () => {
    expect(texts(rangeToCidrs(range('10.0.0.1-10.0.0.6')))).toEqual([
      '10.0.0.1/32',
      '10.0.0.2/31',
      '10.0.0.4/31',
      '10.0.0.6/32',
    ]);
    expect(texts(rangeToCidrs(range('0.0.0.0-255.255.255.255')))).toEqual(['0.0.0.0/0']);
    expect(texts(rangeToCidrs(range('::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')))).toEqual(['::/0']);
    expect(texts(rangeToCidrs(range('255.255.255.255-255.255.255.255')))).toEqual(['255.255.255.255/32']);
  });

  it.each([
    ['10.0.0.1', '"10.0.0.1" is not an address range: expected FIRST-LAST'],
    ['10.0.0.2-10.0.0.1', '"10.0.0.2-10.0.0.1" is not an address range: the first address is after the last'],
    ['10.0.0.1-::1', '"10.0.0.1-::1" is not an address range: it mixes IPv4 and IPv6'],
    ['x-10.0.0.1', '"x-10.0.0.1" is not an address range: "x" is not an IPv4 or IPv6 address'],
  ])('rejects the range %j', (text, message) => {
    expect(parseRange(text)).toEqual({ ok: false, message });
  });

  it('rangeToCidrs covers exactly the range with aligned, unmergeable blocks', () => {
    const anyRange = fc
      .tuple(
        fc.constantFrom<IpFamily>(4, 6),
        fc.bigInt(0n, (1n << 32n) - 1n),
        fc.bigInt(0n, (1n << 32n) - 1n),
      )
      .map(([family, a, b]) => ({ family, first: a < b ? a : b, last: a < b ? b : a }));
    fc.assert(
      fc.property(anyRange, (interval) => {
        const blocks = rangeToCidrs(interval);
        let next = interval.first;
        let contiguousAndAligned = true;
        for (const block of blocks) {
          const r = cidrToRange(block);
          // Aligned means no host bits: the block starts at a multiple of its size.
          contiguousAndAligned &&= r.first === next && r.first % (r.last - r.first + 1n) === 0n;
          next = r.last + 1n;
        }
        expect(contiguousAndAligned).toBe(true);
        expect(next).toBe(interval.last + 1n);
        expect(aggregateCidrs(blocks)).toEqual(blocks);
      }),
      { numRuns: 500 },
    );
  });
});

describe('aggregateCidrs', () => {
  const aggregate = (...input: string[]) => texts(aggregateCidrs(input.map(cidr)));

  it('collapses nested prefixes with the same start (ip-num gets this wrong)', () => {
    expect(aggregate('10.0.0.0/16', '10.0.0.0/8')).toEqual(['10.0.0.0/8']);
    expect(aggregate('10.0.0.0/8', '10.0.0.0/16')).toEqual(['10.0.0.0/8']);
  });

  it('merges adjacent siblings, but not adjacent blocks that do not form one CIDR', () => {
    expect(aggregate('10.0.0.128/25', '10.0.0.0/25')).toEqual(['10.0.0.0/24']);
    expect(aggregate('10.0.0.128/25', '10.0.1.0/25')).toEqual(['10.0.0.128/25', '10.0.1.0/25']);
    expect(aggregate('10.240.0.0/18', '10.240.64.0/18', '10.240.128.0/17')).toEqual(['10.240.0.0/16']);
  });

  it('keeps the families apart, IPv4 first', () => {
    expect(aggregate('::/0', '0.0.0.0/0', '10.0.0.0/8', '2001:db8::/32')).toEqual(['0.0.0.0/0', '::/0']);
    expect(aggregate('::/1', '0.0.0.0/1', '128.0.0.0/1', '8000::/1')).toEqual(['0.0.0.0/0', '::/0']);
  });

  it('handles duplicates and the empty set', () => {
    expect(aggregate('10.0.0.0/24', '10.0.0.0/24')).toEqual(['10.0.0.0/24']);
    expect(aggregate()).toEqual([]);
  });

  // A small sub-space per family (a /24 and a /120: 256 addresses each) so the covered set can be enumerated.
  const SPACE = 256;
  const BASE: Record<IpFamily, bigint> = { 4: 0x0a000000n, 6: 0x20010db8n << 96n };
  const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };
  const smallCidr = fc
    .record({
      family: fc.constantFrom<IpFamily>(4, 6),
      offset: fc.integer({ min: 0, max: SPACE - 1 }),
      hostBits: fc.integer({ min: 0, max: 8 }),
    })
    .map(({ family, offset, hostBits }): Cidr => {
      const size = 1 << hostBits;
      return {
        family,
        network: BASE[family] + BigInt(offset - (offset % size)),
        prefixLength: BITS[family] - hostBits,
      };
    });

  function covered(cidrs: readonly Cidr[]): Set<string> {
    const set = new Set<string>();
    for (const c of cidrs) {
      const r = cidrToRange(c);
      for (let a = r.first; a <= r.last; a++) set.add(`${c.family}:${a - BASE[c.family]}`);
    }
    return set;
  }

  /** The unique minimal CIDR cover of a set inside the sub-space, built top-down: whole block, nothing, or split. */
  function modelMinimalCover(addresses: Set<string>): Cidr[] {
    const result: Cidr[] = [];
    for (const family of [4, 6] as const) {
      const visit = (start: number, size: number): void => {
        let count = 0;
        for (let a = start; a < start + size; a++) if (addresses.has(`${family}:${a}`)) count++;
        if (count === size) {
          result.push({
            family,
            network: BASE[family] + BigInt(start),
            prefixLength: BITS[family] - Math.log2(size),
          });
        } else if (count > 0) {
          visit(start, size / 2);
          visit(start + size / 2, size / 2);
        }
      };
      visit(0, SPACE);
    }
    return result;
  }

  it('equals the brute-force minimal cover of the same addresses', () => {
    fc.assert(
      fc.property(fc.array(smallCidr, { maxLength: 12 }), (input) => {
        const result = aggregateCidrs(input);
        expect(covered(result)).toEqual(covered(input));
        expect(result).toEqual(modelMinimalCover(covered(input)));
      }),
      { numRuns: 500 },
    );
  });

  it('is sorted, disjoint, unmergeable, idempotent and independent of input order', () => {
    fc.assert(
      fc.property(
        fc
          .array(smallCidr, { maxLength: 12 })
          .chain((a) => fc.tuple(fc.constant(a), fc.shuffledSubarray(a, { minLength: a.length }))),
        ([input, shuffled]) => {
          const result = aggregateCidrs(input);
          for (let i = 1; i < result.length; i++) {
            const a = result[i - 1] as Cidr;
            const b = result[i] as Cidr;
            expect(compareCidrs(a, b)).toBeLessThan(0);
            expect(cidrsOverlap(a, b)).toBe(false);
            // Two siblings (same length, adjacent, together aligned) would make one shorter prefix.
            const mergeable =
              a.family === b.family &&
              a.prefixLength === b.prefixLength &&
              a.prefixLength > 0 &&
              cidrToRange(a).last + 1n === b.network &&
              parseCidr(formatCidr({ ...a, prefixLength: a.prefixLength - 1 })).ok;
            expect(mergeable).toBe(false);
          }
          expect(aggregateCidrs(result)).toEqual(result);
          expect(aggregateCidrs(shuffled)).toEqual(result);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('containment and overlap', () => {
  it('answers per family', () => {
    expect(cidrContains(cidr('10.0.0.0/8'), cidr('10.1.0.0/16'))).toBe(true);
    expect(cidrContains(cidr('10.1.0.0/16'), cidr('10.0.0.0/8'))).toBe(false);
    expect(cidrsOverlap(cidr('10.1.0.0/16'), cidr('10.0.0.0/8'))).toBe(true);
    expect(cidrsOverlap(cidr('10.1.0.0/16'), cidr('10.2.0.0/16'))).toBe(false);
    // ::/96 holds the values 0..2^32-1, the same numbers as all of IPv4: still no overlap.
    expect(cidrsOverlap(cidr('0.0.0.0/0'), cidr('::/96'))).toBe(false);
    expect(cidrContains(cidr('::/0'), cidr('10.0.0.0/8'))).toBe(false);
    const ip = parseIp('10.1.2.3');
    expect(ip.ok && cidrContainsIp(cidr('10.0.0.0/8'), ip.value)).toBe(true);
    expect(ip.ok && cidrContainsIp(cidr('::/0'), ip.value)).toBe(false);
  });
});

describe('interval sets', () => {
  // Intervals inside 0..63 of both families, so the address sets can be enumerated.
  const smallInterval = fc
    .tuple(fc.constantFrom<IpFamily>(4, 6), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 }))
    .map(([family, a, b]): IpInterval => ({
      family,
      first: BigInt(Math.min(a, b)),
      last: BigInt(Math.max(a, b)),
    }));
  const members = (intervals: readonly IpInterval[]): Set<string> => {
    const set = new Set<string>();
    for (const i of intervals) for (let a = i.first; a <= i.last; a++) set.add(`${i.family}:${a}`);
    return set;
  };
  const isCanonical = (intervals: IpInterval[]) => expect(mergeIntervals(intervals)).toEqual(intervals);

  it('merges, intersects and subtracts like sets', () => {
    fc.assert(
      fc.property(
        fc.array(smallInterval, { maxLength: 6 }),
        fc.array(smallInterval, { maxLength: 6 }),
        (a, b) => {
          const setA = members(a);
          const setB = members(b);
          expect(members(mergeIntervals(a))).toEqual(setA);
          isCanonical(mergeIntervals(a));
          const both = intersectIntervals(a, b);
          expect(members(both)).toEqual(new Set([...setA].filter((x) => setB.has(x))));
          isCanonical(both);
          const rest = subtractIntervals(a, b);
          expect(members(rest)).toEqual(new Set([...setA].filter((x) => !setB.has(x))));
          isCanonical(rest);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('partitions the covered space so every input is a union of pieces', () => {
    fc.assert(
      fc.property(fc.array(smallInterval, { maxLength: 6 }), (input) => {
        const pieces = partitionAtBoundaries(input);
        expect(members(pieces)).toEqual(members(input));
        for (let i = 1; i < pieces.length; i++) {
          const prev = pieces[i - 1] as IpInterval;
          const cur = pieces[i] as IpInterval;
          expect(prev.family < cur.family || prev.last < cur.first).toBe(true);
        }
        for (const piece of pieces) {
          for (const interval of input) {
            const inside =
              interval.family === piece.family &&
              interval.first <= piece.first &&
              piece.last <= interval.last;
            const outside =
              interval.family !== piece.family || piece.last < interval.first || interval.last < piece.first;
            expect(inside || outside).toBe(true);
          }
        }
        // Coarsest: two touching pieces must lie in different sets of inputs, or they would be one piece.
        const signature = (piece: IpInterval) =>
          input
            .map((x) => x.family === piece.family && x.first <= piece.first && piece.last <= x.last)
            .join();
        for (let i = 1; i < pieces.length; i++) {
          const prev = pieces[i - 1] as IpInterval;
          const cur = pieces[i] as IpInterval;
          if (prev.family === cur.family && prev.last + 1n === cur.first) {
            expect(signature(prev)).not.toBe(signature(cur));
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('partitions at the top of the address space', () => {
    const all = range('0.0.0.0-255.255.255.255');
    const top = range('255.255.255.0-255.255.255.255');
    expect(partitionAtBoundaries([all, top]).map(formatRange)).toEqual([
      '0.0.0.0-255.255.254.255',
      '255.255.255.0-255.255.255.255',
    ]);
  });
});
