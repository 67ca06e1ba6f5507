/**
 * The files generated from the API definition, formatted as `prettier --write` would leave them. Shared by
 * hack/generate.ts (writes them) and test/unit/generated.test.ts (fails when a committed one is stale).
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { generatedFiles, type GeneratedFile } from '../src/api/generate.js';
import { VPC_EGRESS_PROFILE } from '../src/api/vpc-egress-profile.js';
import { findCalicoCrds } from '../src/controlplane/install.js';
import { generateOpenApiModule } from '../src/manifests/openapi.js';

export const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Calico's schemas come from the projectcalico.org/v3 CRDs we install (the stricter of the two groups: its enums and
 * ranges are what Calico's validator enforces on crd.projectcalico.org/v1 too).
 */
async function calicoSchemaFile(): Promise<GeneratedFile> {
  const { v3 } = await findCalicoCrds();
  const source = (exportName: string, plural: string) => {
    const file = join(v3, `projectcalico.org_${plural}.yaml`);
    return {
      exportName,
      provenance: `${basename(v3)}/${basename(file)}`,
      crdText: readFileSync(file, 'utf8'),
    };
  };
  const text = generateOpenApiModule(
    [source('GLOBAL_NETWORK_POLICY_SPEC', 'globalnetworkpolicies'), source('TIER_SPEC', 'tiers')],
    'hack/generated-files.ts',
  );
  return { path: 'src/manifests/calico-openapi.generated.ts', text };
}

export async function formattedGeneratedFiles(): Promise<GeneratedFile[]> {
  const files = [
    ...generatedFiles(VPC_EGRESS_PROFILE, 'src/api/vpc-egress-profile.ts'),
    await calicoSchemaFile(),
  ];
  return Promise.all(
    files.map(async ({ path, text }) => {
      const filepath = `${REPOSITORY_ROOT}/${path}`;
      const options = (await resolveConfig(filepath)) ?? {};
      return { path, text: await format(text, { ...options, filepath }) };
    }),
  );
}
