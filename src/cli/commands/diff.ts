/**
 * `calico-vpc diff --before FILE|DIR... | --before-kubeconfig PATH  --after FILE|DIR... | --after-kubeconfig PATH
 * [-o txt|json|csv|md] [--include-non-changed] [--mode k8s|calico] [--before-mode M] [--after-mode M]`: what a
 * policy change allows or denies that was not so before, in np-guard netpol-analyzer's diff format. Each side is
 * loaded and analysed as `connectivity` does; the pure diff is src/policy/diff.ts.
 *
 * Exit codes, as diff(1)'s: 0 when nothing differs, 1 when something does, 2 when the diff could not be made (bad
 * input, bad flags), so a CI job can gate on the change.
 */
import { CommanderError, Option, type Command } from 'commander';
import {
  CONNECTIVITY_MODES,
  type ConnectivityInput,
  type ConnectivityMode,
  type ConnectivityReport,
} from '../../policy/connectivity.js';
import { diffConnectivity } from '../../policy/diff.js';
import { diffGraph } from '../../policy/graph.js';
import { drawGraph, isPictureFormat, PICTURE_FORMATS, type PictureFormat } from '../graphviz.js';
import { DIFF_TEXT_FORMATS, formatDiff, type DiffTextFormat } from '../../policy/diff-format.js';
import { CliExit, type CliIO } from '../io.js';
import type { CommandRegistrar } from '../program.js';
import {
  analyzeOrExit,
  defaultMode,
  loadAnalysisInput,
  type AnalysisSource,
  type ListerFactory,
} from './connectivity.js';

/** The exit codes of `diff`. */
export const DIFF_EXIT = { same: 0, differs: 1, error: 2 } as const;

interface DiffFlags {
  before?: string[];
  after?: string[];
  beforeKubeconfig?: string;
  beforeContext?: string;
  afterKubeconfig?: string;
  afterContext?: string;
  output: DiffTextFormat | PictureFormat;
  includeNonChanged?: boolean;
  mode?: ConnectivityMode;
  beforeMode?: ConnectivityMode;
  afterMode?: ConnectivityMode;
}

type LoadedInput = Awaited<ReturnType<typeof loadAnalysisInput>>;
type Side = 'before' | 'after';

export function diffRegistrar(makeLister?: ListerFactory): CommandRegistrar {
  return (program, io) => {
    const command = program
      .command('diff')
      .description(
        'The connections that a policy change adds, removes or changes: the connectivity of --before (ref1) ' +
          'against --after (ref2), as np-guard netpol-analyzer diff lines. Exit 0: no difference; 1: a difference; ' +
          '2: error.',
      )
      .option('--before <path...>', 'manifest files or directories (- for standard input) before the change')
      .option('--after <path...>', 'manifest files or directories after the change')
      .option('--before-kubeconfig <path>', 'read the before side from the cluster of this kubeconfig')
      .option('--before-context <name>', 'kubeconfig context (with --before-kubeconfig)')
      .option('--after-kubeconfig <path>', 'read the after side from the cluster of this kubeconfig')
      .option('--after-context <name>', 'kubeconfig context (with --after-kubeconfig)')
      .addOption(
        new Option(
          '-o, --output <format>',
          'output format: diff lines, or a picture coloured by diff type (dot, svg through Graphviz dot, mermaid)',
        )
          .choices([...DIFF_TEXT_FORMATS, ...PICTURE_FORMATS])
          .default('txt'),
      )
      .option(
        '--include-non-changed',
        'also list the connections that did not change (diff-type non-changed)',
      )
      .addOption(
        new Option(
          '--mode <mode>',
          'k8s: NetworkPolicy semantics; calico: the GlobalNetworkPolicies (translated and given), on both sides ' +
            '(default: calico when either side has GlobalNetworkPolicies, else k8s)',
        ).choices(CONNECTIVITY_MODES),
      )
      .addOption(
        new Option('--before-mode <mode>', 'the mode of the before side only').choices(CONNECTIVITY_MODES),
      )
      .addOption(
        new Option(
          '--after-mode <mode>',
          'the mode of the after side only (e.g. k8s before, calico after)',
        ).choices(CONNECTIVITY_MODES),
      )
      .action((flags: DiffFlags) => runDiff(flags, io, makeLister));
    exitWithErrorCode(command);
  };
}

export const registerDiff: CommandRegistrar = diffRegistrar();

/** Commander's own errors (an unknown flag, a bad choice) exit 2 too, not 1, which means "differs" here. */
function exitWithErrorCode(command: Command): void {
  command.exitOverride((error) => {
    if (error.exitCode === 0) throw error; // --help
    throw new CommanderError(DIFF_EXIT.error, error.code, error.message);
  });
}

async function runDiff(flags: DiffFlags, io: CliIO, makeLister: ListerFactory | undefined): Promise<void> {
  let differs: boolean;
  try {
    differs = await printDiff(flags, io, makeLister);
  } catch (error) {
    // Every failure (bad flags, bad input) is 2 here: 1 means "differs".
    if (error instanceof CliExit) throw new CliExit(DIFF_EXIT.error, error.message);
    throw new CliExit(DIFF_EXIT.error, `error: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (differs) throw new CliExit(DIFF_EXIT.differs);
}

/** Prints the diff; whether anything differs. */
async function printDiff(
  flags: DiffFlags,
  io: CliIO,
  makeLister: ListerFactory | undefined,
): Promise<boolean> {
  const sources = { before: sourceOf(flags, 'before'), after: sourceOf(flags, 'after') };
  const loaded = {
    before: await loadAnalysisInput(sources.before, io, makeLister),
    after: await loadAnalysisInput(sources.after, io, makeLister),
  };
  const inputs = sameWorkloads(loaded.before, loaded.after, io);
  const mode = flags.mode ?? defaultMode([inputs.before, inputs.after]);
  const modes: Record<Side, ConnectivityMode> = {
    before: flags.beforeMode ?? mode,
    after: flags.afterMode ?? mode,
  };
  const [beforeReport, afterReport] = (['before', 'after'] as const).map((side) =>
    analyzeOrExit(inputs[side], loaded[side].inventory, { mode: modes[side] }, io, `${side}: `),
  ) as [ConnectivityReport, ConnectivityReport];
  const diff = diffConnectivity(beforeReport, afterReport);
  const silent = (id: string) => !diff.connections.some((line) => line.src === id || line.dst === id);
  for (const id of diff.addedWorkloads.filter(silent))
    io.stderr(`note: workload ${id} is only in --after, and has no connections\n`);
  for (const id of diff.removedWorkloads.filter(silent))
    io.stderr(`note: workload ${id} is only in --before, and had no connections\n`);
  io.stdout(
    isPictureFormat(flags.output)
      ? drawGraph(diffGraph(diff), flags.output, DIFF_EXIT.error)
      : formatDiff(diff, flags.output, { includeNonChanged: flags.includeNonChanged === true }),
  );
  return diff.differs;
}

function sourceOf(flags: DiffFlags, side: Side): AnalysisSource {
  const files = flags[side] ?? [];
  const kubeconfig = side === 'before' ? flags.beforeKubeconfig : flags.afterKubeconfig;
  const context = side === 'before' ? flags.beforeContext : flags.afterContext;
  if (files.length > 0 === (kubeconfig !== undefined)) {
    throw new CliExit(
      DIFF_EXIT.error,
      `error: give the ${side} side with --${side} FILE|DIR|- or --${side}-kubeconfig PATH (one of the two)`,
    );
  }
  if (context !== undefined && kubeconfig === undefined) {
    throw new CliExit(
      DIFF_EXIT.error,
      `error: --${side}-context selects a context of --${side}-kubeconfig; give --${side}-kubeconfig too`,
    );
  }
  if (files.includes('-') && (flags[side === 'before' ? 'after' : 'before'] ?? []).includes('-')) {
    throw new CliExit(DIFF_EXIT.error, 'error: only one side can read standard input (-)');
  }
  return kubeconfig !== undefined ? { kubeconfig, ...(context !== undefined ? { context } : {}) } : { files };
}

/**
 * The same workload model on both sides: a side without any workload or pod (a directory of policies only, to diff
 * against a cluster or a full set of manifests) takes the other side's, and its namespaces, except those it
 * declares itself (a namespace relabelled is part of a change), so the diff is about the policies and not about
 * every workload being "removed".
 */
function sameWorkloads(before: LoadedInput, after: LoadedInput, io: CliIO): Record<Side, ConnectivityInput> {
  const policiesOnly = (side: LoadedInput) => side.input.endpoints.length === 0;
  const borrow = (side: LoadedInput, from: LoadedInput): ConnectivityInput => {
    const declared = side.inventory.namespaces.filter((namespace) => namespace.declared);
    const names = new Set(declared.map((namespace) => namespace.name));
    return {
      ...side.input,
      namespaces: [...declared, ...from.input.namespaces.filter((namespace) => !names.has(namespace.name))],
      endpoints: from.input.endpoints,
    };
  };
  if (policiesOnly(before) && !policiesOnly(after)) {
    io.stderr('note: --before has no workloads: using those of --after on both sides\n');
    return { before: borrow(before, after), after: after.input };
  }
  if (policiesOnly(after) && !policiesOnly(before)) {
    io.stderr('note: --after has no workloads: using those of --before on both sides\n');
    return { before: before.input, after: borrow(after, before) };
  }
  return { before: before.input, after: after.input };
}
