/**
 * `connectivity -o dot|svg|mermaid` and `diff -o dot|svg|mermaid`: golden pictures (read over by hand, and the
 * seed's rendered and looked at once), every DOT golden rendered by the real Graphviz where `dot` is installed
 * (hack/install-tools.sh installs it for CI), and the error that names the package when it is missing.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GRAPHVIZ_MISSING, renderSvg } from '../graphviz.js';
import { captureIO } from '../io.js';
import { runCli } from '../program.js';
import { registerConnectivity } from './connectivity.js';
import { registerDiff } from './diff.js';

const CONNECTIVITY = 'test/fixtures/connectivity';
const DIFF = 'test/fixtures/diff';
const SEED = 'test/fixtures/seed';
const SEED_FIXED = 'test/fixtures/seed-fixed';
const SEED_AS_APPLIED = ['namespaces.yaml', 'workloads.yaml', 'backend-allow.yaml', 'db-allow.yaml'].map(
  (file) => join(SEED, file),
);
const IPBLOCKS = `${CONNECTIVITY}/ipblocks/input`;

async function run(args: string[]) {
  const io = captureIO();
  const code = await runCli(args, io, [registerConnectivity, registerDiff]);
  return { code, out: io.out(), err: io.err() };
}

const PICTURES: { name: string; args: string[]; golden: string; code: number }[] = [
  {
    name: 'the seed, fixed, as DOT',
    args: ['connectivity', '-f', SEED_FIXED, '-o', 'dot'],
    golden: `${CONNECTIVITY}/seed-fixed/connlist.dot`,
    code: 0,
  },
  {
    name: 'the seed, fixed, as Mermaid',
    args: ['connectivity', '-f', SEED_FIXED, '-o', 'mermaid'],
    golden: `${CONNECTIVITY}/seed-fixed/connlist.mmd`,
    code: 0,
  },
  {
    name: 'ipBlocks as DOT: outside ranges as boxes outside the namespaces',
    args: ['connectivity', '-f', IPBLOCKS, '-o', 'dot'],
    golden: `${CONNECTIVITY}/ipblocks/connlist.dot`,
    code: 0,
  },
  {
    name: 'named ports as Mermaid',
    args: ['connectivity', '-f', `${CONNECTIVITY}/ports/input`, '-o', 'mermaid'],
    golden: `${CONNECTIVITY}/ports/connlist.mmd`,
    code: 0,
  },
  {
    name: 'the seed corrected, as a coloured DOT diff',
    args: ['diff', '--before', ...SEED_AS_APPLIED, '--after', SEED_FIXED, '-o', 'dot'],
    golden: `${DIFF}/seed/diff.dot`,
    code: 1,
  },
  {
    name: 'the seed corrected, as a coloured Mermaid diff',
    args: ['diff', '--before', ...SEED_AS_APPLIED, '--after', SEED_FIXED, '-o', 'mermaid'],
    golden: `${DIFF}/seed/diff.mmd`,
    code: 1,
  },
  {
    name: 'ipBlocks changed, as a DOT diff (added, removed, changed and non-changed edges)',
    args: [
      'diff',
      '--before',
      IPBLOCKS,
      '--after',
      `${IPBLOCKS}/cluster.yaml`,
      `${DIFF}/ipblocks-after`,
      '-o',
      'dot',
    ],
    golden: `${DIFF}/ipblocks-after/diff.dot`,
    code: 1,
  },
];

describe('golden pictures', () => {
  it.each(PICTURES)('$name', async ({ args, golden, code }) => {
    const result = await run(args);
    expect(result.err).toBe('');
    expect(result.out).toBe(readFileSync(golden, 'utf8'));
    expect(result.code).toBe(code);
  });

  it('draws a diff edge per line: changed labelled with both sides, in the diff colours', () => {
    const dot = readFileSync(`${DIFF}/ipblocks-after/diff.dot`, 'utf8');
    expect(dot).toContain(
      '"0.0.0.0-9.255.255.255[External]" -> "web/frontend[Deployment]" [label="TCP 8080,8443 (ref1: TCP 8080)" color="magenta" fontcolor="magenta"]',
    );
    expect(dot).toContain(
      '"web/api[Deployment]" -> "192.168.10.128-192.168.10.255[External]" [label="TCP 5432" color="#008000" fontcolor="#008000"]',
    );
    expect(dot).toContain(
      '"10.20.1.0-10.20.255.255[External]" -> "web/api[Deployment]" [label="TCP 9000" color="red2" fontcolor="red2"]',
    );
    expect(dot).toMatch(/"ops\/probe\[Pod\]" -> "web\/api\[Deployment\]" \[label="TCP 9000" color="grey"/);
  });
});

const dotInstalled = spawnSync('dot', ['-V']).error === undefined;
const withGraphviz = dotInstalled ? describe : describe.skip;
if (!dotInstalled) {
  // Said, so a skipped run is never mistaken for a rendered one.
  process.stderr.write(
    'src/cli/commands/pictures.test.ts: skipping the Graphviz rendering: dot is not on PATH (hack/install-tools.sh installs it)\n',
  );
}

withGraphviz(
  `rendered by Graphviz${dotInstalled ? '' : ' (skipped: dot is not on PATH; hack/install-tools.sh installs it)'}`,
  () => {
    const dotGoldens = PICTURES.filter((picture) => picture.golden.endsWith('.dot'));

    it.each(dotGoldens)(
      '$name renders without a warning, every workload, range and edge drawn',
      ({ golden }) => {
        const text = readFileSync(golden, 'utf8');
        const result = spawnSync('dot', ['-Tsvg'], { input: text, encoding: 'utf8' });
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        const svg = result.stdout;
        const nodes = [...text.matchAll(/^\t+"([^"]+)" \[label=/gm)].map((match) => match[1]);
        const edges = [...text.matchAll(/^\t"[^"]+" -> "[^"]+" \[/gm)];
        const namespaces = [...text.matchAll(/^\tsubgraph "cluster_([^"]+)"/gm)].map((match) => match[1]);
        expect(nodes.length).toBeGreaterThan(0);
        for (const id of nodes) expect(svg).toContain(`<title>${escapeXml(id as string)}</title>`);
        for (const namespace of namespaces) expect(svg).toContain(`<title>cluster_${namespace}</title>`);
        // The legend's edges are drawn too, between invisible points.
        const legendEdges = [...text.matchAll(/^\t\tlegend_edge_\d+_from -> /gm)].length;
        expect(svg.match(/<g id="edge\d+" class="edge">/g)?.length).toBe(edges.length + legendEdges);
        // Outside ranges are boxes (a polygon), workloads ellipses.
        const external = nodes.find((id) => id?.endsWith('[External]'));
        if (external !== undefined) {
          const group = svg.slice(svg.indexOf(`<title>${escapeXml(external)}</title>`));
          expect(group.slice(0, group.indexOf('</g>'))).toContain('<polygon');
        }
      },
    );

    it('connectivity -o svg is the SVG Graphviz draws of -o dot', async () => {
      const result = await run(['connectivity', '-f', SEED_FIXED, '-o', 'svg']);
      expect(result.code).toBe(0);
      expect(result.out).toMatch(/^<\?xml/);
      expect(result.out).toContain('<title>accounts/srv1&#45;backend[Deployment]</title>');
    });

    it('diff -o svg too, with the exit code of the diff', async () => {
      const result = await run(['diff', '--before', ...SEED_AS_APPLIED, '--after', SEED_FIXED, '-o', 'svg']);
      expect(result.code).toBe(1);
      expect(result.out).toContain('<svg');
    });
  },
);

describe('without Graphviz', () => {
  it('names the package to install when dot is not on PATH', () => {
    expect(() => renderSvg('digraph {}\n', 1, 'dot-not-installed-here')).toThrow(GRAPHVIZ_MISSING);
    expect(GRAPHVIZ_MISSING).toContain('install the graphviz package');
  });

  it('connectivity exits 1 and diff exits 2 with that message', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const connectivity = await run(['connectivity', '-f', SEED_FIXED, '-o', 'svg']);
      expect(connectivity).toEqual({ code: 1, out: '', err: `${GRAPHVIZ_MISSING}\n` });
      const diff = await run(['diff', '--before', SEED_FIXED, '--after', SEED_FIXED, '-o', 'svg']);
      expect(diff).toEqual({ code: 2, out: '', err: `${GRAPHVIZ_MISSING}\n` });
    } finally {
      process.env.PATH = path;
    }
  });
});

/** How Graphviz writes a title: XML-escaped, and `-` as `&#45;`. */
function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/-/g, '&#45;');
}
