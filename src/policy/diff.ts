/**
 * The semantic difference of two connectivity results (before = ref1, after = ref2), in the terms of np-guard
 * netpol-analyzer's `diff`: for every ordered pair of peers that is allowed something on either side, whether its
 * connections were `added` (none before), `removed` (none after), `changed` (different sets) or are `non-changed`.
 * Pure: it reads two ConnectivityReports (from analyzeConnectivity, in either mode) and nothing else, so a
 * NetworkPolicy change, a VpcEgressProfile change, or Kubernetes semantics against the GNPs are all diffed alike.
 *
 * Peers are matched by id (`namespace/name[Kind]`): the same workload model on both sides. A workload on one side
 * only makes its connections added or removed, and says so in `workloadsDiffInfo` (`workload ns/a[Deployment]
 * added`), as netpol-analyzer does.
 *
 * Outside ranges are cut differently on the two sides (each side cuts the address space where its own ipBlocks
 * start and end), so both sides are first refined to the common cut: every refined range lies inside one range of
 * each side and takes that range's connections. Neighbouring refined ranges whose lines say the same on both sides
 * are then joined again, so the diff names ranges no finer than the change needs.
 */
import { formatRange, partitionAtBoundaries, type IpInterval } from '../util/cidr.js';
import { NO_CONNECTIONS, type ConnectivityReport, type ExternalPeer } from './connectivity.js';

export type DiffType = 'changed' | 'added' | 'removed' | 'non-changed';

/** The order netpol-analyzer prints the categories in (non-changed, which it prints only in pictures, last). */
export const DIFF_TYPES: readonly DiffType[] = ['changed', 'added', 'removed', 'non-changed'];

export interface ConnectionDiff {
  readonly type: DiffType;
  readonly src: string;
  readonly dst: string;
  /** The connections before (connlist text; `No Connections` when none). */
  readonly ref1: string;
  /** The connections after. */
  readonly ref2: string;
  /** `workload ns/a[Deployment] added`, `workload X and Y removed`, or '' when both peers exist on both sides. */
  readonly workloadsDiffInfo: string;
}

export interface ConnectivityDiff {
  /** Every pair allowed something on either side, non-changed ones included: by category, then src, then dst. */
  readonly connections: readonly ConnectionDiff[];
  /** Workload ids only in the after result. */
  readonly addedWorkloads: readonly string[];
  /** Workload ids only in the before result. */
  readonly removedWorkloads: readonly string[];
  /** Whether anything differs: a connection that is not non-changed, or a workload on one side only. */
  readonly differs: boolean;
}

export function diffConnectivity(before: ConnectivityReport, after: ConnectivityReport): ConnectivityDiff {
  const beforeWorkloads = new Set(before.workloads.map((peer) => peer.id));
  const afterWorkloads = new Set(after.workloads.map((peer) => peer.id));
  const refinedSources = refine(before.externalSources, after.externalSources);
  const refinedDestinations = refine(before.externalDestinations, after.externalDestinations);
  const beforeLines = refinedLines(before, refinedSources, refinedDestinations);
  const afterLines = refinedLines(after, refinedSources, refinedDestinations);

  const compared: ComparedLine[] = [];
  for (const key of new Set([...beforeLines.keys(), ...afterLines.keys()])) {
    const old = beforeLines.get(key);
    const current = afterLines.get(key);
    const line = (old ?? current) as RefinedLine;
    const ref1 = old?.conn ?? NO_CONNECTIONS;
    const ref2 = current?.conn ?? NO_CONNECTIONS;
    const type: DiffType =
      old === undefined
        ? 'added'
        : current === undefined
          ? 'removed'
          : ref1 === ref2
            ? 'non-changed'
            : 'changed';
    compared.push({ ...line, type, ref1, ref2 });
  }

  const addedWorkloads = [...afterWorkloads].filter((id) => !beforeWorkloads.has(id)).sort(compareText);
  const removedWorkloads = [...beforeWorkloads].filter((id) => !afterWorkloads.has(id)).sort(compareText);
  // Only an added line can name an added workload (it had no connections before), and only a removed line a removed one.
  const oneSidedWorkloads: Partial<Record<DiffType, ReadonlySet<string>>> = {
    added: new Set(addedWorkloads),
    removed: new Set(removedWorkloads),
  };
  const connections = joinNeighbouringRanges(compared).map((line): ConnectionDiff => {
    const workloads = oneSidedWorkloads[line.type];
    const oneSided = [line.src, line.dst].filter((id) => workloads?.has(id));
    return {
      type: line.type,
      src: line.src,
      dst: line.dst,
      ref1: line.ref1,
      ref2: line.ref2,
      workloadsDiffInfo: oneSided.length > 0 ? `workload ${oneSided.join(' and ')} ${line.type}` : '',
    };
  });
  connections.sort(compareDiffs);
  return {
    connections,
    addedWorkloads,
    removedWorkloads,
    differs:
      addedWorkloads.length > 0 ||
      removedWorkloads.length > 0 ||
      connections.some((line) => line.type !== 'non-changed'),
  };
}

/** netpol-analyzer sorts each category's formatted lines as strings; every id ends in `]`, so src then dst. */
function compareDiffs(a: ConnectionDiff, b: ConnectionDiff): number {
  return (
    DIFF_TYPES.indexOf(a.type) - DIFF_TYPES.indexOf(b.type) ||
    compareText(a.src, b.src) ||
    compareText(a.dst, b.dst)
  );
}

/** Go's string order (bytes), which is UTF-16 code unit order for the ASCII of ids. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Outside ranges on a common cut

interface RefinedLine {
  readonly src: string;
  readonly dst: string;
  readonly conn: string;
  /** Set when the source (or destination) is an outside range: which one, for joining neighbours. */
  readonly srcRange?: IpInterval;
  readonly dstRange?: IpInterval;
}

interface ComparedLine extends RefinedLine {
  readonly type: DiffType;
  readonly ref1: string;
  readonly ref2: string;
}

/** The common refinement of the two sides' ranges (each side's ranges cover the whole IPv4 space). */
function refine(a: readonly ExternalPeer[], b: readonly ExternalPeer[]): IpInterval[] {
  return partitionAtBoundaries([...a, ...b].map((peer) => peer.range));
}

/** A side's allowed lines with each outside range replaced by the refined ranges it holds, keyed by src and dst. */
function refinedLines(
  report: ConnectivityReport,
  refinedSources: readonly IpInterval[],
  refinedDestinations: readonly IpInterval[],
): Map<string, RefinedLine> {
  const sources = new Map(report.externalSources.map((peer) => [peer.id, peer.range]));
  const destinations = new Map(report.externalDestinations.map((peer) => [peer.id, peer.range]));
  const lines = new Map<string, RefinedLine>();
  for (const { src, dst, conn } of report.connections) {
    const srcRange = sources.get(src);
    const dstRange = destinations.get(dst);
    if (srcRange !== undefined) {
      for (const piece of within(refinedSources, srcRange))
        add(lines, { src: externalId(piece), dst, conn, srcRange: piece });
    } else if (dstRange !== undefined) {
      for (const piece of within(refinedDestinations, dstRange))
        add(lines, { src, dst: externalId(piece), conn, dstRange: piece });
    } else add(lines, { src, dst, conn });
  }
  return lines;
}

function add(lines: Map<string, RefinedLine>, line: RefinedLine): void {
  lines.set(`${line.src}\n${line.dst}`, line);
}

/**
 * The refined pieces inside `range`. Pieces are sorted (IPv4 before IPv6, then by address) and every side's range is
 * a union of consecutive pieces, so a binary search finds the first and the rest follow: a diff of thousands of
 * workloads and ranges stays linear in its lines.
 */
function within(pieces: readonly IpInterval[], range: IpInterval): IpInterval[] {
  const before = (piece: IpInterval) =>
    piece.family < range.family || (piece.family === range.family && piece.first < range.first);
  let low = 0;
  let high = pieces.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (before(pieces[middle] as IpInterval)) low = middle + 1;
    else high = middle;
  }
  const found: IpInterval[] = [];
  for (let index = low; index < pieces.length; index++) {
    const piece = pieces[index] as IpInterval;
    if (piece.family !== range.family || piece.last > range.last) break;
    found.push(piece);
  }
  return found;
}

/** The id connectivity gives an outside range: `FIRST-LAST[External]`. */
function externalId(range: IpInterval): string {
  return `${formatRange(range)}[External]`;
}

/**
 * Joins refined ranges that touch and whose lines agree in everything else (the workload at the other end, type,
 * ref1, ref2), so that a range no side cut is not reported in pieces.
 */
function joinNeighbouringRanges(lines: readonly ComparedLine[]): ComparedLine[] {
  const joined: ComparedLine[] = [];
  const groups = new Map<string, ComparedLine[]>();
  for (const line of lines) {
    if (line.srcRange === undefined && line.dstRange === undefined) {
      joined.push(line);
      continue;
    }
    const key = [
      line.srcRange ? 'src' : 'dst',
      line.srcRange ? line.dst : line.src,
      line.type,
      line.ref1,
      line.ref2,
    ].join('\n');
    const group = groups.get(key) ?? [];
    group.push(line);
    groups.set(key, group);
  }
  for (const group of groups.values()) {
    const rangeOf = (line: ComparedLine) => (line.srcRange ?? line.dstRange) as IpInterval;
    group.sort((a, b) => (rangeOf(a).first < rangeOf(b).first ? -1 : 1));
    let run: ComparedLine | undefined;
    for (const line of group) {
      const range = rangeOf(line);
      const previous = run && rangeOf(run);
      if (run && previous && previous.family === range.family && previous.last + 1n === range.first) {
        run = withRange(run, { family: range.family, first: previous.first, last: range.last });
      } else {
        if (run) joined.push(run);
        run = line;
      }
    }
    if (run) joined.push(run);
  }
  return joined;
}

function withRange(line: ComparedLine, range: IpInterval): ComparedLine {
  return line.srcRange
    ? { ...line, src: externalId(range), srcRange: range }
    : { ...line, dst: externalId(range), dstRange: range };
}
