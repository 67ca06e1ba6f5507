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
  return [...formatConnlistChunks(lines, format)].join('');
}

/** Lines per chunk: a cluster's connlist can be longer than the longest string JavaScript allows. */
const CHUNK_LINES = 4096;

/** formatConnlist's text in pieces of a few thousand lines, to be written one after the other. */
export function* formatConnlistChunks(
  lines: readonly ConnectionLine[],
  format: ConnlistFormat,
): Generator<string> {
  const chunked = function* (
    head: string,
    row: (line: ConnectionLine, index: number) => string,
    tail: string,
  ): Generator<string> {
    let chunk = head;
    for (let start = 0; start < lines.length; start += CHUNK_LINES) {
      const end = Math.min(lines.length, start + CHUNK_LINES);
      for (let index = start; index < end; index++) chunk += row(lines[index] as ConnectionLine, index);
      yield chunk;
      chunk = '';
    }
    yield chunk + tail;
  };
  switch (format) {
    case 'txt':
      yield* chunked('', (line) => `${line.src} => ${line.dst} : ${line.conn}\n`, '');
      return;
    case 'json':
      // JSON.stringify(lines, null, 2), element by element: `[]` when empty, else one object per 5 lines.
      if (lines.length === 0) {
        yield '[]\n';
        return;
      }
      yield* chunked(
        '[\n',
        ({ src, dst, conn }, index) =>
          `${index > 0 ? ',\n' : ''}  {\n    "src": ${JSON.stringify(src)},\n    "dst": ${JSON.stringify(dst)},\n    "conn": ${JSON.stringify(conn)}\n  }`,
        '\n]\n',
      );
      return;
    case 'csv':
      yield* chunked(
        'src,dst,conn\n',
        (line) => `${[line.src, line.dst, line.conn].map(csvField).join(',')}\n`,
        '',
      );
      return;
    case 'md':
      yield* chunked(
        '| src | dst | conn |\n|-----|-----|------|\n',
        (l) => `| ${l.src} | ${l.dst} | ${l.conn} |\n`,
        '',
      );
      return;
  }
}

/** Go's csv.Writer: quote a field with a comma, quote, CR or LF, or a leading space; double inner quotes. */
export function csvField(field: string): string {
  return /[",\r\n]/.test(field) || field.startsWith(' ') ? `"${field.replace(/"/g, '""')}"` : field;
}
