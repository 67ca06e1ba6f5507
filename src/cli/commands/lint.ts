/**
 * `calico-vpc lint -f FILE|DIR|- ... [-o text|json|sarif] [--strict]`: checks manifests for the mistakes that make
 * network policy silently wrong. Exit 1 when there are errors (or, with --strict, warnings).
 */
import { Option } from 'commander';
import {
  formatJson,
  formatSarif,
  formatText,
  lintManifests,
  OUTPUT_FORMATS,
  type OutputFormat,
} from '../../lint/index.js';
import { loadManifests } from '../../manifests/index.js';
import { CliExit } from '../io.js';
import type { CommandRegistrar } from '../program.js';

interface LintOptions {
  filename: string[];
  output: OutputFormat;
  strict?: boolean;
}

const FORMATTERS: Record<OutputFormat, typeof formatText> = {
  text: formatText,
  json: formatJson,
  sarif: formatSarif,
};

export const registerLint: CommandRegistrar = (program, io) => {
  program
    .command('lint')
    .description(
      'Check NetworkPolicies, VpcEgressProfiles and Calico GlobalNetworkPolicies (with the Namespaces, Pods and ' +
        'workloads they select) for unknown fields, wrong shapes, selectors that select nothing, label keys in the ' +
        'wrong case, peers ORed where ANDed was meant, and worker egress policies that block the VPE gateways.',
    )
    .requiredOption(
      '-f, --filename <path...>',
      'manifest file, directory (searched recursively for .yaml, .yml, .json) or - for standard input; repeatable',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('text'))
    .option('--strict', 'exit with status 1 on warnings too')
    .action(async (options: LintOptions) => {
      const manifests = await loadManifests(options.filename, io.readStdin);
      // Objects defined twice and field issues are findings of their own; the rest is said on stderr.
      for (const warning of manifests.warnings)
        if (warning.code !== 'duplicate-object' && warning.code !== 'field')
          io.stderr(`warning: ${warning.message}\n`);
      const findings = lintManifests(manifests);
      io.stdout(FORMATTERS[options.output](findings));
      const errors = findings.filter((f) => f.severity === 'error').length;
      const warnings = findings.length - errors;
      if (findings.length === 0) return;
      const summary = `${errors} ${errors === 1 ? 'error' : 'errors'}, ${warnings} ${warnings === 1 ? 'warning' : 'warnings'}`;
      if (errors > 0 || (options.strict && warnings > 0)) throw new CliExit(1, summary);
      io.stderr(`${summary}\n`);
    });
};
