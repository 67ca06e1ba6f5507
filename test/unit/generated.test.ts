/**
 * The files `npm run generate` writes from src/api/vpc-egress-profile.ts are committed; this fails when one is
 * stale (a field changed in the definition without regenerating, or a generated file edited by hand), as
 * kubebuilder's `make manifests` check does.
 */
import { readFileSync } from 'node:fs';
import { formattedGeneratedFiles, REPOSITORY_ROOT } from '../../hack/generated-files.js';

describe('generated files', () => {
  it('are what `npm run generate` writes from the definition (run it after changing src/api/)', async () => {
    const files = await formattedGeneratedFiles();
    expect(files.map((f) => f.path).sort()).toEqual([
      'crds/calico-vpc.io_vpcegressprofiles.yaml',
      'src/api/v1alpha1.generated.ts',
      'src/manifests/calico-openapi.generated.ts',
    ]);
    for (const file of files) {
      const committed = readFileSync(`${REPOSITORY_ROOT}/${file.path}`, 'utf8');
      expect({ path: file.path, text: committed }).toEqual({ path: file.path, text: file.text });
    }
  });
});
