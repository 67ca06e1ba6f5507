/**
 * The files generated from the API definition, formatted as `prettier --write` would leave them. Shared by
 * hack/generate.ts (writes them) and test/unit/generated.test.ts (fails when a committed one is stale).
 */
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { generatedFiles, type GeneratedFile } from '../src/api/generate.js';
import { VPC_EGRESS_PROFILE } from '../src/api/vpc-egress-profile.js';

export const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function formattedGeneratedFiles(): Promise<GeneratedFile[]> {
  const files = generatedFiles(VPC_EGRESS_PROFILE, 'src/api/vpc-egress-profile.ts');
  return Promise.all(
    files.map(async ({ path, text }) => {
      const filepath = `${REPOSITORY_ROOT}/${path}`;
      const options = (await resolveConfig(filepath)) ?? {};
      return { path, text: await format(text, { ...options, filepath }) };
    }),
  );
}
