/**
 * `calico-vpc import-prefixes --name NAME [-f FILE|-]`: the output of `ibmcloud is vpc-address-prefixes VPC
 * --output json` (or the VPC API's address_prefixes response) -> a VpcEgressProfile manifest, zones grouped and
 * sorted, ready for `kubectl apply -f -`.
 */
import { readFile } from 'node:fs/promises';
import { formatFieldError } from '../../api/errors.js';
import { importPrefixes } from '../../vpe/import-prefixes.js';
import { CliExit } from '../io.js';
import { yamlDocument } from '../yaml.js';
import type { CommandRegistrar } from '../program.js';

export const registerImportPrefixes: CommandRegistrar = (program, io) => {
  program
    .command('import-prefixes')
    .description(
      "Turn `ibmcloud is vpc-address-prefixes VPC --output json` (or the VPC API's address_prefixes response) into a VpcEgressProfile.",
    )
    .requiredOption('--name <name>', 'metadata.name of the profile')
    .option('--vpc <vpc>', 'spec.vpc (default: the VPC id in the prefixes)')
    .option('-f, --filename <path>', 'the JSON file, or - for standard input', '-')
    .action(async (options: { name: string; vpc?: string; filename: string }) => {
      const file = options.filename;
      const text =
        file === '-'
          ? await io.readStdin()
          : await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
              throw new CliExit(1, `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
            });
      const result = importPrefixes(text, { name: options.name, vpc: options.vpc });
      const where = file === '-' ? '<stdin>' : file;
      if (!result.ok)
        throw new CliExit(1, result.errors.map((e) => `${where}: ${formatFieldError(e)}`).join('\n'));
      io.stdout(yamlDocument(result.value));
    });
};
