/**
 * The text formats of a connectivity diff, as np-guard netpol-analyzer writes them (pkg/netpol/diff/
 * diff_formatter_*.go), with ref1 = before and ref2 = after:
 *
 *   txt  `Connectivity diff:` then `diff-type: changed, source: ns/a[Deployment], destination: ns/b[Deployment],
 *        ref1: TCP 8080, ref2: All Connections` (plus `, workloads-diff-info: workload X added` when a peer exists on
 *        one side only); nothing at all when nothing differs, as netpol-analyzer prints nothing then
 *   csv  the header `diff-type,source,destination,ref1,ref2,workloads-diff-info`, Go's csv quoting
 *   md   the same columns as a Markdown table
 *   json {connections: [{diffType, source, destination, ref1, ref2, workloadsDiffInfo}], addedWorkloads,
 *        removedWorkloads} (ours: netpol-analyzer has no JSON diff)
 *
 * Lines come in diff.ts's order (changed, added, removed, then non-changed; by source and destination within);
 * non-changed lines only when asked for.
 */
import { csvField } from './connectivity-format.js';
import type { ConnectionDiff, ConnectivityDiff } from './diff.js';

export const DIFF_TEXT_FORMATS = ['txt', 'json', 'csv', 'md'] as const;
export type DiffTextFormat = (typeof DIFF_TEXT_FORMATS)[number];

export interface DiffFormatOptions {
  /** Also list the pairs whose connections did not change (diff-type `non-changed`). */
  readonly includeNonChanged?: boolean;
}

const COLUMNS = ['diff-type', 'source', 'destination', 'ref1', 'ref2', 'workloads-diff-info'] as const;

export function formatDiff(
  diff: ConnectivityDiff,
  format: DiffTextFormat,
  options: DiffFormatOptions = {},
): string {
  const lines = shownLines(diff, options);
  switch (format) {
    case 'txt':
      return lines.length === 0 ? '' : ['Connectivity diff:', ...lines.map(textLine)].map(newline).join('');
    case 'csv':
      return [COLUMNS.join(','), ...lines.map((line) => cells(line).map(csvField).join(','))]
        .map(newline)
        .join('');
    case 'md':
      return [
        `| ${COLUMNS.join(' | ')} |`,
        '|-----------|--------|-------------|------|------|---------------------|',
        ...lines.map((line) => `| ${cells(line).join(' | ')} |`),
      ]
        .map(newline)
        .join('');
    case 'json':
      return `${JSON.stringify(
        {
          connections: lines.map((line) => ({
            diffType: line.type,
            source: line.src,
            destination: line.dst,
            ref1: line.ref1,
            ref2: line.ref2,
            workloadsDiffInfo: line.workloadsDiffInfo,
          })),
          addedWorkloads: diff.addedWorkloads,
          removedWorkloads: diff.removedWorkloads,
        },
        null,
        2,
      )}\n`;
  }
}

/** The lines a format prints: without the non-changed ones unless asked. */
export function shownLines(
  diff: ConnectivityDiff,
  options: DiffFormatOptions = {},
): readonly ConnectionDiff[] {
  return options.includeNonChanged
    ? diff.connections
    : diff.connections.filter((line) => line.type !== 'non-changed');
}

function textLine(line: ConnectionDiff): string {
  const text = `diff-type: ${line.type}, source: ${line.src}, destination: ${line.dst}, ref1: ${line.ref1}, ref2: ${line.ref2}`;
  return line.workloadsDiffInfo === '' ? text : `${text}, workloads-diff-info: ${line.workloadsDiffInfo}`;
}

function cells(line: ConnectionDiff): string[] {
  return [line.type, line.src, line.dst, line.ref1, line.ref2, line.workloadsDiffInfo];
}

function newline(row: string): string {
  return `${row}\n`;
}
