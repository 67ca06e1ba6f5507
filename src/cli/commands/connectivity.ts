/**
 * `calico-vpc connectivity -f FILE|DIR|- ... | --kubeconfig PATH [-o txt|json|csv|md] [--focus-workload NS/NAME]
 * [--explain] [--mode k8s|calico]`: the allowed connections between every ordered pair of workloads and outside
 * address ranges, in np-guard netpol-analyzer's connlist format, offline from manifests or live from a cluster.
 * Only the result goes to stdout; warnings and errors go to stderr, and bad input exits 1.
 */
import { Option } from 'commander';
import { fromWire } from '../../calico/flavour.js';
import {
  apiGroupOf,
  CALICO_API_GROUPS,
  describeObject,
  isUnevaluatedPolicy,
  loadManifests,
  manifestsFromSources,
  type Inventory,
  type LoadedManifests,
  type ManifestObject,
} from '../../manifests/index.js';
import type { CalicoTier } from '../../policy/calico-eval.js';
import {
  CONNLIST_FORMATS,
  formatConnlistChunks,
  type ConnlistFormat,
} from '../../policy/connectivity-format.js';
import {
  analyzeConnectivity,
  CONNECTIVITY_MODES,
  describeProblem,
  type ConnectivityInput,
  type ConnectivityMode,
  type ConnectivityOptions,
  type ConnectivityProblem,
  type ConnectivityReport,
} from '../../policy/connectivity.js';
import { explainConnectivity } from '../../policy/explain.js';
import {
  explainSinglePair,
  pairSpecFocus,
  parsePeerSpec,
  parsePortSpec,
  type PeerSpec,
  type PortSpec,
} from '../../policy/explain-pair.js';
import { connectivityGraph } from '../../policy/graph.js';
import { drawGraph, isPictureFormat, PICTURE_FORMATS, type PictureFormat } from '../graphviz.js';
import { formatFieldError } from '../../api/errors.js';
import { CliExit, type CliIO } from '../io.js';
import type { ClusterLister } from '../live.js';
import type { CommandRegistrar } from '../program.js';

interface ConnectivityFlags {
  filename?: string[];
  kubeconfig?: string;
  context?: string;
  output: ConnlistFormat | PictureFormat;
  focusWorkload?: string;
  explain?: boolean;
  from?: string;
  to?: string;
  port?: string;
  mode?: ConnectivityMode;
  skipUnevaluatedPolicies?: boolean;
  strict?: boolean;
}

/** How the command reaches a cluster; tests replace it. */
export type ListerFactory = (
  kubeconfig: string,
  context?: string,
) => ClusterLister & { name: string; close(): void };

/** `makeLister` defaults to the kubeconfig lister of ../live.ts, loaded only for `--kubeconfig` (it needs client-node). */
export function connectivityRegistrar(makeLister?: ListerFactory): CommandRegistrar {
  return (program, io) => {
    program
      .command('connectivity')
      .description(
        'List the connections the policies allow between every ordered pair of workloads (and outside address ' +
          'ranges), as np-guard netpol-analyzer lines: SRC => DST : CONNS. Reads Namespaces, Pods, workloads, ' +
          'NetworkPolicies and Calico GlobalNetworkPolicies and NetworkPolicies from manifests or from a live cluster.',
      )
      .option(
        '-f, --filename <path...>',
        'manifest file, directory (searched recursively for .yaml, .yml, .json) or - for standard input; repeatable',
      )
      .option('--kubeconfig <path>', 'read the objects from the cluster of this kubeconfig instead of files')
      .option('--context <name>', 'kubeconfig context (with --kubeconfig)')
      .addOption(
        new Option(
          '-o, --output <format>',
          'output format: connlist text, or a picture (dot: Graphviz, svg: rendered with Graphviz dot, mermaid)',
        )
          .choices([...CONNLIST_FORMATS, ...PICTURE_FORMATS])
          .default('txt'),
      )
      .option(
        '--focus-workload <ns/name>',
        'only the connections from or to this workload (NAME or NAMESPACE/NAME)',
      )
      .option('--explain', 'say for every pair which policies and rules allow or deny which ports (txt only)')
      .option(
        '--strict',
        'refuse input with fields kubectl would only warn about (an unknown field of a pod)',
      )
      .option(
        '--skip-unevaluated-policies',
        'analyse even when the input has policies connectivity does not evaluate (AdminNetworkPolicy, ..., and ' +
          'Calico NetworkPolicies in --mode k8s), with a warning for each: traffic they deny is reported allowed',
      )
      .option(
        '--from <peer>',
        'with --explain and --to: explain only this source (NAMESPACE/NAME, NAME, or an outside IPv4 address)',
      )
      .option('--to <peer>', 'with --explain and --from: explain only this destination')
      .option('--port <port>', 'with --from and --to: only this port (8080, udp/53, or a named port of --to)')
      .addOption(
        new Option(
          '--mode <mode>',
          'k8s: NetworkPolicy semantics; calico: the GlobalNetworkPolicies the NetworkPolicies translate to, plus ' +
            'the Calico GlobalNetworkPolicies and NetworkPolicies in the input (default: calico when the input has ' +
            'Calico policies, else k8s)',
        ).choices(CONNECTIVITY_MODES),
      )
      .action((flags: ConnectivityFlags) => runConnectivity(flags, io, makeLister));
  };
}

export const registerConnectivity: CommandRegistrar = connectivityRegistrar();

async function runConnectivity(
  flags: ConnectivityFlags,
  io: CliIO,
  makeLister: ListerFactory | undefined,
): Promise<void> {
  const files = flags.filename ?? [];
  if (files.length > 0 === (flags.kubeconfig !== undefined)) {
    throw new CliExit(1, 'error: give the input with -f FILE|DIR|- or --kubeconfig PATH (one of the two)');
  }
  if (flags.context !== undefined && flags.kubeconfig === undefined) {
    throw new CliExit(1, 'error: --context selects a context of --kubeconfig; give --kubeconfig too');
  }
  if (flags.explain && flags.output !== 'txt') {
    throw new CliExit(1, `error: --explain prints text; use it with -o txt, not -o ${flags.output}`);
  }

  const pairQuery = singlePairQuery(flags);
  const focusWorkload = pairQuery?.focus ?? flags.focusWorkload;

  const source: AnalysisSource =
    flags.kubeconfig !== undefined
      ? { kubeconfig: flags.kubeconfig, ...(flags.context !== undefined ? { context: flags.context } : {}) }
      : { files };
  const { input, inventory } = await loadAnalysisInput(source, io, makeLister, {
    skipUnevaluatedPolicies: flags.skipUnevaluatedPolicies === true,
    strict: flags.strict === true,
  });
  const report = analyzeOrExit(
    input,
    inventory,
    {
      mode: flags.mode ?? defaultMode([input]),
      explain: flags.explain === true,
      skipUnevaluatedPolicies: flags.skipUnevaluatedPolicies === true,
      ...(focusWorkload !== undefined ? { focusWorkload } : {}),
    },
    io,
  );
  if (pairQuery !== undefined) {
    const explained = explainSinglePair(report, pairQuery.from, pairQuery.to, pairQuery.port);
    if (!explained.ok) throw new CliExit(1, `error: ${explained.message}`);
    io.stdout(explained.value);
    return;
  }
  if (flags.explain) io.stdout(explainConnectivity(report));
  else if (isPictureFormat(flags.output)) io.stdout(drawGraph(connectivityGraph(report), flags.output, 1));
  else for (const chunk of formatConnlistChunks(report.connections, flags.output)) io.stdout(chunk);
}

/** `--from X --to Y [--port P]`, checked and parsed; undefined without them. */
function singlePairQuery(
  flags: ConnectivityFlags,
): { from: PeerSpec; to: PeerSpec; port?: PortSpec; focus: string } | undefined {
  if (flags.from === undefined && flags.to === undefined) {
    if (flags.port !== undefined)
      throw new CliExit(1, 'error: --port selects a port of --from and --to; give them too');
    return undefined;
  }
  if (flags.from === undefined || flags.to === undefined || !flags.explain) {
    throw new CliExit(1, 'error: --from and --to explain one pair: give both, with --explain');
  }
  if (flags.focusWorkload !== undefined) {
    throw new CliExit(
      1,
      'error: --focus-workload and --from/--to cannot be combined: --from/--to already name the pair',
    );
  }
  const from = parsePeerSpec(flags.from);
  const to = parsePeerSpec(flags.to);
  const port = flags.port === undefined ? undefined : parsePortSpec(flags.port);
  for (const [flag, parsed] of [
    ['--from', from],
    ['--to', to],
    ['--port', port],
  ] as const) {
    if (parsed !== undefined && !parsed.ok) throw new CliExit(1, `error: ${flag} ${parsed.message}`);
  }
  if (!from.ok || !to.ok || (port !== undefined && !port.ok)) throw new Error('unreachable');
  const focus = pairSpecFocus(from.value, to.value);
  if (!focus.ok) throw new CliExit(1, `error: ${focus.message}`);
  return { from: from.value, to: to.value, ...(port ? { port: port.value } : {}), focus: focus.value };
}

/** Where the analysed objects come from: manifests (files, directories, - for standard input) or a live cluster. */
export type AnalysisSource =
  { readonly files: readonly string[] } | { readonly kubeconfig: string; readonly context?: string };

/** The analysis input of a source; input the loader or the conversion refuses throws CliExit(1) naming file and field. */
export async function loadAnalysisInput(
  source: AnalysisSource,
  io: CliIO,
  makeLister: ListerFactory | undefined,
  options: { skipUnevaluatedPolicies?: boolean; strict?: boolean } = {},
): Promise<{ input: ConnectivityInput; inventory: Inventory }> {
  const loaded =
    'kubeconfig' in source
      ? await loadFromCluster(makeLister, source.kubeconfig, source.context, io)
      : await loadManifests([...source.files], io.readStdin);
  if (loaded.errors.length > 0) throw new CliExit(1, loaded.errors.map((error) => error.message).join('\n'));
  const fieldWarnings = loaded.warnings.filter((warning) => warning.code === 'field');
  if (options.strict === true && fieldWarnings.length > 0)
    throw new CliExit(1, fieldWarnings.map((warning) => warning.message).join('\n'));
  for (const warning of loaded.warnings) io.stderr(`warning: ${warning.message}\n`);
  const unevaluated = loaded.inventory.ignored
    .filter(isUnevaluatedPolicy)
    .map(
      (object) =>
        object.source.error(
          [],
          `${describeObject(object)} (${object.apiVersion ?? 'no apiVersion'}) is a policy connectivity does not evaluate: connections it denies would be reported allowed`,
        ).message,
    );
  if (unevaluated.length > 0 && options.skipUnevaluatedPolicies !== true) {
    throw new CliExit(
      1,
      [
        ...unevaluated,
        'error: remove these from the input, or give --skip-unevaluated-policies to analyse without them',
      ].join('\n'),
    );
  }
  for (const message of unevaluated) io.stderr(`warning: ${message}: not evaluated\n`);
  const { input, errors } = connectivityInput(loaded);
  if (errors.length > 0) throw new CliExit(1, errors.join('\n'));
  return { input, inventory: loaded.inventory };
}

/** calico when some input has Calico policies (global or namespaced: they mean nothing to k8s mode), else k8s. */
export function defaultMode(inputs: readonly ConnectivityInput[]): ConnectivityMode {
  return inputs.some((input) => input.globalNetworkPolicies?.length || input.calicoNetworkPolicies?.length)
    ? 'calico'
    : 'k8s';
}

/**
 * analyzeConnectivity for the CLI: problems throw CliExit(1) pointing into the files, warnings go to stderr
 * (prefixed with `label`, when given, to tell two analysed inputs apart).
 */
export function analyzeOrExit(
  input: ConnectivityInput,
  inventory: Inventory,
  options: ConnectivityOptions,
  io: CliIO,
  label = '',
): ConnectivityReport {
  const result = analyzeConnectivity(input, options);
  if (!result.ok) {
    throw new CliExit(
      1,
      result.problems.flatMap((problem) => problemMessages(problem, inventory)).join('\n'),
    );
  }
  for (const warning of result.report.warnings) io.stderr(`warning: ${label}${warning}\n`);
  return result.report;
}

async function loadFromCluster(
  makeLister: ListerFactory | undefined,
  kubeconfig: string,
  context: string | undefined,
  io: CliIO,
): Promise<LoadedManifests> {
  const live = await import('../live.js');
  const lister = (makeLister ?? live.kubeconfigLister)(kubeconfig, context);
  try {
    const { sources, notes } = await live.readCluster(lister, lister.name);
    for (const note of notes) io.stderr(`warning: ${note}\n`);
    return manifestsFromSources(sources);
  } finally {
    lister.close();
  }
}

/**
 * The analysis input from loaded manifests: crd.projectcalico.org/v1 policies read back into the v3 shape (and
 * their missing `types` read as Felix reads them), and Calico Tiers, which the inventory does not keep.
 */
export function connectivityInput(loaded: LoadedManifests): { input: ConnectivityInput; errors: string[] } {
  const { inventory } = loaded;
  const errors: string[] = [];
  const tiers = loaded.objects.flatMap((object) => tierOf(object, errors));
  return {
    input: {
      namespaces: inventory.namespaces,
      endpoints: inventory.endpoints,
      networkPolicies: inventory.networkPolicies,
      globalNetworkPolicies: inventory.globalNetworkPolicies.map((view) =>
        view.apiGroup === 'crd.projectcalico.org'
          ? { object: fromWire(view.object, 'crd'), missingTypes: 'crd-v1' as const }
          : { object: view.object },
      ),
      calicoNetworkPolicies: inventory.calicoNetworkPolicies.map((view) =>
        view.apiGroup === 'crd.projectcalico.org'
          ? {
              // Stored like a GNP (the `default.` name prefix, the v3 name in an annotation): read back the same way.
              object: fromWire(view.object, 'crd'),
              namespace: view.namespace,
              missingTypes: 'crd-v1' as const,
            }
          : { object: view.object, namespace: view.namespace },
      ),
      tiers,
    },
    errors,
  };
}

function tierOf(object: ManifestObject, errors: string[]): CalicoTier[] {
  const group = apiGroupOf(object.apiVersion);
  if (object.kind !== 'Tier' || !(CALICO_API_GROUPS as readonly (string | undefined)[]).includes(group))
    return [];
  const metadata = object.raw.metadata as { name?: unknown } | undefined;
  const spec = (object.raw.spec ?? {}) as { order?: unknown; defaultAction?: unknown };
  const tier: CalicoTier = { name: typeof metadata?.name === 'string' ? metadata.name : '' };
  if (tier.name === '') errors.push(object.source.error(['metadata', 'name'], 'required').message);
  if (spec.order !== undefined && spec.order !== null) {
    if (typeof spec.order === 'number' && Number.isFinite(spec.order)) tier.order = spec.order;
    else errors.push(object.source.error(['spec', 'order'], 'must be a number').message);
  }
  if (spec.defaultAction !== undefined && spec.defaultAction !== null) {
    if (spec.defaultAction === 'Deny' || spec.defaultAction === 'Pass')
      tier.defaultAction = spec.defaultAction;
    else errors.push(object.source.error(['spec', 'defaultAction'], 'must be Deny or Pass').message);
  }
  return [tier];
}

/** Each problem as `file: document N: field: message`, pointing into the object it is about. */
function problemMessages(problem: ConnectivityProblem, inventory: Inventory): string[] {
  const source =
    problem.kind === 'NetworkPolicy'
      ? inventory.networkPolicies[problem.index]?.source
      : problem.kind === 'GlobalNetworkPolicy'
        ? inventory.globalNetworkPolicies[problem.index]?.source
        : problem.kind === 'CalicoNetworkPolicy'
          ? inventory.calicoNetworkPolicies[problem.index]?.source
          : problem.kind === 'endpoint'
            ? inventory.endpoints[problem.index]?.source
            : undefined;
  if (source === undefined) return [`error: ${describeProblem(problem)}`];
  // Errors about a generated GNP have paths in the GNP, not in the file; they are quoted, not located.
  const located = !problem.subject.startsWith('the translation of');
  return problem.errors.map((error) =>
    located
      ? source.error(error.path, `${problem.subject}: ${error.message}`).message
      : source.error([], `${problem.subject}: ${formatFieldError(error)}`).message,
  );
}
