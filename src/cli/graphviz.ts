/**
 * `-o svg`: the DOT picture rendered by Graphviz's `dot`, run as a child process (the one external program the CLI
 * uses, and only for this format). When it is not installed the error names the package to install.
 */
import { spawnSync } from 'node:child_process';
import { formatGraph, type Graph } from '../policy/graph.js';
import { CliExit } from './io.js';

export const GRAPHVIZ_MISSING =
  'error: -o svg needs the dot program of Graphviz, which is not installed (or not on PATH): install the ' +
  'graphviz package (apt-get install graphviz, dnf install graphviz, brew install graphviz), or write -o dot ' +
  'and render it elsewhere';

/** The SVG `dot` makes of `dot`; CliExit(`exitCode`) when Graphviz is missing or fails. */
export function renderSvg(dotText: string, exitCode: number, program = 'dot'): string {
  const result = spawnSync(program, ['-Tsvg'], {
    input: dotText,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    // Given explicitly, so that dot is looked up on this process's current PATH.
    env: process.env,
  });
  if (result.error) {
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CliExit(exitCode, GRAPHVIZ_MISSING);
    throw new CliExit(exitCode, `error: running Graphviz's ${program}: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new CliExit(
      exitCode,
      `error: Graphviz's ${program} failed (exit ${String(result.status ?? result.signal)}): ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

/** The picture formats of `connectivity` and `diff`: DOT and Mermaid text, and SVG through Graphviz. */
export const PICTURE_FORMATS = ['dot', 'svg', 'mermaid'] as const;
export type PictureFormat = (typeof PICTURE_FORMATS)[number];

export function isPictureFormat(format: string): format is PictureFormat {
  return (PICTURE_FORMATS as readonly string[]).includes(format);
}

/** The graph as the picture format asks; CliExit(`exitCode`) when SVG cannot be made. */
export function drawGraph(graph: Graph, format: PictureFormat, exitCode: number): string {
  return format === 'svg' ? renderSvg(formatGraph(graph, 'dot'), exitCode) : formatGraph(graph, format);
}
