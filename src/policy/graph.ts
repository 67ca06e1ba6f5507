/**
 * Connectivity and its diff as pictures: one graph model, written as Graphviz DOT or as a Mermaid flowchart.
 *
 * The connectivity graph is drawn the way np-guard netpol-analyzer draws its connlist (pkg/netpol/connlist/
 * conns_formatter_dot.go): every namespace a cluster (`subgraph "cluster_<ns>"`, labelled with the namespace) of
 * its workloads, blue, labelled `name[Kind]`; outside ranges outside every cluster, red2, and here also in their
 * own shape (a box); one edge per allowed connection, gold2, labelled with the connections in darkgreen. The diff
 * graph colours as netpol-analyzer's diff (pkg/netpol/diff/diff_formatter_dot.go): edges added #008000, removed
 * red2, changed magenta (labelled `after (ref1: before)`), non-changed grey; workloads new #008000, lost red,
 * persistent blue; with a legend. Lines are sorted, so the same input always gives the same text.
 */
import type { ConnectivityReport } from './connectivity.js';
import type { ConnectivityDiff, DiffType } from './diff.js';

export const GRAPH_FORMATS = ['dot', 'mermaid'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

export interface GraphNode {
  /** The peer's id (`ns/name[Kind]`, `FIRST-LAST[External]`). */
  readonly id: string;
  readonly label: string;
  /** Workloads are drawn inside their namespace; outside ranges have none. */
  readonly namespace?: string;
  readonly external: boolean;
  readonly color: string;
}

export interface GraphEdge {
  readonly src: string;
  readonly dst: string;
  readonly label: string;
  readonly color: string;
  readonly fontColor: string;
}

export interface Graph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  /** Edge colours and node colours to explain (the diff's). */
  readonly legend?: { readonly edges: readonly LegendEntry[]; readonly nodes: readonly LegendEntry[] };
}

interface LegendEntry {
  readonly label: string;
  readonly color: string;
}

const WORKLOAD_COLOR = 'blue';
const EXTERNAL_COLOR = 'red2';
const EDGE_COLOR = 'gold2';
const EDGE_FONT_COLOR = 'darkgreen';

const EXTERNAL_SUFFIX = '[External]';

function node(id: string, color: (id: string) => string): GraphNode {
  if (id.endsWith(EXTERNAL_SUFFIX)) {
    return { id, label: id.slice(0, -EXTERNAL_SUFFIX.length), external: true, color: color(id) };
  }
  const slash = id.indexOf('/');
  return { id, label: id.slice(slash + 1), namespace: id.slice(0, slash), external: false, color: color(id) };
}

/** Every workload of the report (connected or not) and the outside ranges some connection uses. */
export function connectivityGraph(report: ConnectivityReport): Graph {
  const ids = new Set(report.workloads.map((peer) => peer.id));
  for (const line of report.connections) ids.add(line.src).add(line.dst);
  return {
    nodes: [...ids].map((id) =>
      node(id, (peer) => (peer.endsWith(EXTERNAL_SUFFIX) ? EXTERNAL_COLOR : WORKLOAD_COLOR)),
    ),
    edges: report.connections.map((line) => ({
      src: line.src,
      dst: line.dst,
      label: line.conn,
      color: EDGE_COLOR,
      fontColor: EDGE_FONT_COLOR,
    })),
  };
}

const DIFF_EDGE_COLORS: Readonly<Record<DiffType, string>> = {
  added: '#008000',
  removed: 'red2',
  changed: 'magenta',
  'non-changed': 'grey',
};
const NEW_PEER_COLOR = '#008000';
const LOST_PEER_COLOR = 'red';
const PERSISTENT_PEER_COLOR = 'blue';

/** Every line of the diff, non-changed ones included (as netpol-analyzer draws them), coloured by type. */
export function diffGraph(diff: ConnectivityDiff): Graph {
  const added = new Set(diff.addedWorkloads);
  const removed = new Set(diff.removedWorkloads);
  const color = (id: string) =>
    added.has(id) ? NEW_PEER_COLOR : removed.has(id) ? LOST_PEER_COLOR : PERSISTENT_PEER_COLOR;
  const ids = new Set([...diff.addedWorkloads, ...diff.removedWorkloads]);
  for (const line of diff.connections) ids.add(line.src).add(line.dst);
  return {
    nodes: [...ids].map((id) => node(id, color)),
    edges: diff.connections.map((line) => ({
      src: line.src,
      dst: line.dst,
      label:
        line.type === 'changed'
          ? `${line.ref2} (ref1: ${line.ref1})`
          : line.type === 'removed'
            ? line.ref1
            : line.ref2,
      color: DIFF_EDGE_COLORS[line.type],
      fontColor: DIFF_EDGE_COLORS[line.type],
    })),
    legend: {
      edges: [
        { label: 'added connection', color: DIFF_EDGE_COLORS.added },
        { label: 'removed connection', color: DIFF_EDGE_COLORS.removed },
        { label: 'changed connection', color: DIFF_EDGE_COLORS.changed },
        { label: 'non-changed connection', color: DIFF_EDGE_COLORS['non-changed'] },
      ],
      nodes: [
        { label: 'new workload', color: NEW_PEER_COLOR },
        { label: 'lost workload', color: LOST_PEER_COLOR },
        { label: 'persistent workload', color: PERSISTENT_PEER_COLOR },
      ],
    },
  };
}

export function formatGraph(graph: Graph, format: GraphFormat): string {
  return format === 'dot' ? toDot(graph) : toMermaid(graph);
}

// ---------------------------------------------------------------------------------------------------------------
// Graphviz DOT

/** A DOT quoted string: ids hold `/`, `[`, `-` and `.`, which bare DOT ids cannot. */
function quoted(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byNamespace(graph: Graph): Map<string, GraphNode[]> {
  const namespaces = new Map<string, GraphNode[]>();
  for (const peer of graph.nodes) {
    if (peer.namespace === undefined) continue;
    const peers = namespaces.get(peer.namespace) ?? [];
    peers.push(peer);
    namespaces.set(peer.namespace, peers);
  }
  return new Map([...namespaces].sort(([a], [b]) => compareText(a, b)));
}

function toDot(graph: Graph): string {
  const nodeLine = (peer: GraphNode) =>
    `${quoted(peer.id)} [label=${quoted(peer.label)} color=${quoted(peer.color)} fontcolor=${quoted(peer.color)}${peer.external ? ' shape=box' : ''}]`;
  const lines = ['digraph {'];
  for (const [namespace, peers] of byNamespace(graph)) {
    lines.push(`\tsubgraph ${quoted(`cluster_${namespace}`)} {`);
    lines.push(...peers.map((peer) => `\t\t${nodeLine(peer)}`).sort(compareText));
    lines.push(`\t\tlabel=${quoted(namespace)}`, '\t}');
  }
  lines.push(
    ...graph.nodes
      .filter((peer) => peer.namespace === undefined)
      .map((peer) => `\t${nodeLine(peer)}`)
      .sort(compareText),
  );
  lines.push(
    ...graph.edges
      .map(
        (edge) =>
          `\t${quoted(edge.src)} -> ${quoted(edge.dst)} [label=${quoted(edge.label)} color=${quoted(edge.color)} fontcolor=${quoted(edge.fontColor)}]`,
      )
      .sort(compareText),
  );
  if (graph.legend) lines.push(...dotLegend(graph.legend));
  lines.push('}');
  return lines.map((line) => `${line}\n`).join('');
}

/** A legend cluster: one short edge per edge colour between invisible points, one node per node colour. */
function dotLegend(legend: NonNullable<Graph['legend']>): string[] {
  const lines = ['\tsubgraph cluster_legend {', '\t\tlabel="Legend"', '\t\tfontsize=10', '\t\tmargin=0'];
  legend.edges.forEach((entry, index) => {
    const [from, to] = [`legend_edge_${index}_from`, `legend_edge_${index}_to`];
    lines.push(
      `\t\t${from} [style=invis height=0 width=0]`,
      `\t\t${to} [style=invis height=0 width=0]`,
      `\t\t${from} -> ${to} [label=${quoted(entry.label)} color=${quoted(entry.color)} fontcolor=${quoted(entry.color)} fontsize=10 arrowsize=0.2]`,
    );
  });
  legend.nodes.forEach((entry, index) => {
    lines.push(
      `\t\tlegend_node_${index} [label=${quoted(entry.label)} color=${quoted(entry.color)} fontcolor=${quoted(entry.color)} fontsize=10]`,
    );
  });
  lines.push('\t}');
  return lines;
}

// ---------------------------------------------------------------------------------------------------------------
// Mermaid

/** A Mermaid quoted label: `"` is written as its entity code, the only character a quoted label cannot hold. */
function mermaidLabel(text: string): string {
  return `"${text.replace(/"/g, '#quot;')}"`;
}

/** Mermaid node colours: Graphviz names Mermaid's CSS does not know are written as hex. */
const CSS_COLORS: Readonly<Record<string, string>> = { red2: '#ee0000', gold2: '#eec900', grey: '#808080' };
const css = (color: string) => CSS_COLORS[color] ?? color;

/**
 * `flowchart LR`, a subgraph per namespace, outside ranges as hexagons, edges labelled with the connections;
 * node ids are generated (`n0`, `n1`, ...) since Mermaid ids cannot hold `/` or `[`.
 */
function toMermaid(graph: Graph): string {
  const sortedNodes = [...graph.nodes].sort((a, b) => compareText(a.id, b.id));
  const ids = new Map(sortedNodes.map((peer, index) => [peer.id, `n${index}`]));
  const idOf = (peer: string) => ids.get(peer) as string;
  const nodeText = (peer: GraphNode) =>
    peer.external
      ? `${idOf(peer.id)}{{${mermaidLabel(peer.label)}}}`
      : `${idOf(peer.id)}[${mermaidLabel(peer.label)}]`;
  const lines = ['flowchart LR'];
  [...byNamespace(graph)].forEach(([namespace, peers], index) => {
    lines.push(`  subgraph ns${index}[${mermaidLabel(namespace)}]`);
    lines.push(...[...peers].sort((a, b) => compareText(a.id, b.id)).map((peer) => `    ${nodeText(peer)}`));
    lines.push('  end');
  });
  lines.push(
    ...sortedNodes.filter((peer) => peer.namespace === undefined).map((peer) => `  ${nodeText(peer)}`),
  );
  const edges = [...graph.edges].sort((a, b) => compareText(a.src, b.src) || compareText(a.dst, b.dst));
  lines.push(
    ...edges.map((edge) => `  ${idOf(edge.src)} -->|${mermaidLabel(edge.label)}| ${idOf(edge.dst)}`),
  );
  // Mermaid draws no free-standing edge, so the legend's edge colours are words in their colour.
  const legend = graph.legend
    ? [
        ...graph.legend.edges.map((entry) => ({ ...entry, label: `→ ${entry.label}` })),
        ...graph.legend.nodes,
      ].map((entry, index) => ({ ...entry, id: `legend${index}` }))
    : [];
  if (legend.length > 0) {
    lines.push('  subgraph legend["Legend"]');
    lines.push(...legend.map((entry) => `    ${entry.id}[${mermaidLabel(entry.label)}]`));
    lines.push('  end');
  }
  // `style` takes one node; a class takes a list.
  const coloured = [
    ...sortedNodes.map((peer) => ({ id: idOf(peer.id), color: peer.color })),
    ...legend.map(({ id, color }) => ({ id, color })),
  ];
  [...groupBy(coloured, (entry) => entry.color)].forEach(([color, entries], index) => {
    lines.push(`  classDef color${index} stroke:${css(color)},color:${css(color)}`);
    lines.push(`  class ${entries.map((entry) => entry.id).join(',')} color${index}`);
  });
  if (graph.legend) {
    // Edge colours only with a legend (the diff's): a plain connectivity picture keeps the theme's edges.
    for (const [color, indices] of groupBy(
      edges.map((edge, index) => ({ edge, index })),
      ({ edge }) => edge.color,
    )) {
      lines.push(
        `  linkStyle ${indices.map(({ index }) => index).join(',')} stroke:${css(color)},color:${css(color)}`,
      );
    }
  }
  return lines.map((line) => `${line}\n`).join('');
}

/** Groups in first-seen order. */
function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item)) ?? [];
    group.push(item);
    groups.set(key(item), group);
  }
  return groups;
}
