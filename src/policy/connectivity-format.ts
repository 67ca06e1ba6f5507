/**
 * The connlist output formats of np-guard's netpol-analyzer (pkg/netpol/connlist/conns_formatter_*.go), so that
 * its users can read and diff ours: txt `src => dst : conn` lines, a JSON array of {src, dst, conn}, CSV with the
 * header `src,dst,conn` (fields quoted as Go's encoding/csv quotes them: `TCP 80,9090` holds a comma), and a
 * Markdown table. Every format ends with a newline; an empty txt is empty.
 */
import type { ConnectionLine } from './connectivity.js';

export const CONNLIST_FORMATS = ['txt', 'json', 'csv', 'md'] as const;
export type ConnlistFormat = (typeof CONNLIST_FORMATS)[number];

export function formatConnlist(lines: readonly ConnectionLine[], format: ConnlistFormat): string {
  switch (format) {
    case 'txt':
      return lines.map((line) => `${line.src} => ${line.dst} : ${line.conn}\n`).join('');
    case 'json':
      return `${JSON.stringify(
        lines.map(({ src, dst, conn }) => ({ src, dst, conn })),
        null,
        2,
      )}\n`;
    case 'csv':
      return ['src,dst,conn', ...lines.map((line) => [line.src, line.dst, line.conn].map(csvField).join(','))]
        .map((row) => `${row}\n`)
        .join('');
    case 'md':
      return [
        '| src | dst | conn |',
        '|-----|-----|------|',
        ...lines.map((l) => `| ${l.src} | ${l.dst} | ${l.conn} |`),
      ]
        .map((row) => `${row}\n`)
        .join('');
  }
}

/** Go's csv.Writer: quote a field with a comma, quote, CR or LF, or a leading space; double inner quotes. */
export function csvField(field: string): string {
  return /[",\r\n]/.test(field) || field.startsWith(' ') ? `"${field.replace(/"/g, '""')}"` : field;
}
