/**
 * `calico-vpc render -f FILE|DIR ... [-o yaml|json] [--calico-api v3|crd] [--strict]`: the GlobalNetworkPolicies the
 * controller would write for the given VpcEgressProfiles and NetworkPolicies, like `kubectl apply --dry-run`.
 * Invalid input: nothing on stdout, every problem on stderr as `file: document N: field.path: message`, exit 1.
 */
import { Option } from 'commander';
import { toWire, type CalicoApi, type CrdNaming } from '../../calico/flavour.js';
import { describeObject, isUnevaluatedPolicy, loadManifests } from '../../manifests/index.js';
import { renderPolicies } from '../../translate/render.js';
import { CliExit } from '../io.js';
import { yamlStream } from '../yaml.js';
import type { CommandRegistrar } from '../program.js';

interface RenderOptions {
  filename: string[];
  output: 'yaml' | 'json';
  calicoApi: CalicoApi;
  crdNaming: CrdNaming;
  networkPolicyOrder: string;
  tier: string;
  strict?: boolean;
}

export const registerRender: CommandRegistrar = (program, io) => {
  program
    .command('render')
    .description(
      'Print the Calico GlobalNetworkPolicies the controller would write for the VpcEgressProfiles and ' +
        'NetworkPolicies in the given manifests (offline, like kubectl apply --dry-run).',
    )
    .requiredOption(
      '-f, --filename <path...>',
      'manifest file, directory (recursive) or - for standard input; repeatable',
    )
    .addOption(
      new Option('-o, --output <format>', 'a YAML stream, or a JSON List')
        .choices(['yaml', 'json'])
        .default('yaml'),
    )
    .addOption(
      new Option('--calico-api <api>', 'write projectcalico.org/v3 or crd.projectcalico.org/v1 objects')
        .choices(['v3', 'crd'])
        .default('v3'),
    )
    .addOption(
      new Option(
        '--crd-naming <naming>',
        'with --calico-api crd: default-tier names as Calico <=3.31 (tier-prefixed) or 3.32+ (plain) store them',
      )
        .choices(['tier-prefixed', 'plain'])
        .default('tier-prefixed'),
    )
    .option('--network-policy-order <n>', 'order of the GNPs translated from NetworkPolicies', '1000')
    .option('--tier <name>', 'Calico tier of the GNPs translated from NetworkPolicies', 'default')
    .option('--strict', 'treat every warning as an error: render nothing and exit 1')
    .action(async (options: RenderOptions) => {
      const order = Number(options.networkPolicyOrder);
      if (!Number.isFinite(order))
        throw new CliExit(
          2,
          `--network-policy-order: expected a number, got "${options.networkPolicyOrder}"`,
        );
      const manifests = await loadManifests(options.filename, io.readStdin);
      const { inventory } = manifests;
      const result = renderPolicies(
        { profiles: inventory.vpcEgressProfiles, networkPolicies: inventory.networkPolicies },
        { order, tier: options.tier },
      );
      const errors = [
        ...manifests.errors.map((e) => e.message),
        ...result.errors.map(({ source, error }) => source.error(error.path, error.message).message),
      ];
      const warnings = [
        ...manifests.warnings.map((warning) => warning.message),
        ...inventory.ignored.filter(isUnevaluatedPolicy).map((object) => {
          const message = `${describeObject(object)} (${object.apiVersion ?? 'no apiVersion'}) is not translated: the controller translates networking.k8s.io/v1 NetworkPolicies only`;
          return object.source.error([], message).message;
        }),
        ...inventory.calicoNetworkPolicies.map(({ object, namespace, source }) => {
          const message = `Calico NetworkPolicy ${namespace}/${object.metadata.name} (${object.apiVersion}) is not translated: it is a Calico policy already; the controller translates networking.k8s.io/v1 NetworkPolicies only`;
          return source.error([], message).message;
        }),
        ...result.warnings.map(({ source, error }) => source.error(error.path, error.message).message),
      ];
      if (options.strict === true) errors.push(...warnings);
      else for (const warning of warnings) io.stderr(`warning: ${warning}\n`);
      if (errors.length) throw new CliExit(1, errors.join('\n'));
      const objects = result.policies.map((p) =>
        toWire(p, options.calicoApi, { crdNaming: options.crdNaming }),
      );
      if (options.output === 'json') {
        io.stdout(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`);
      } else {
        io.stdout(yamlStream(objects));
      }
      if (objects.length === 0)
        io.stderr('no VpcEgressProfile or NetworkPolicy in the input: nothing to render\n');
    });
};
