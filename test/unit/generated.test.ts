/**
 * The files `npm run generate` writes are committed; this fails when one is stale (a field changed in a definition
 * or an override without regenerating, or a generated file edited by hand), as kubebuilder's `make manifests`
 * check does.
 */
import { readFileSync } from 'node:fs';
import {
  formattedGeneratedFiles,
  kubernetesOpenApiCopyPath,
  kubernetesVersion,
  publishedKubernetesOpenApiDir,
  REPOSITORY_ROOT,
} from '../../hack/generated-files.js';

const ALWAYS_GENERATED = [
  'crds/calico-vpc.io_vpcegressprofiles.yaml',
  'src/api/v1alpha1.generated.ts',
  'src/manifests/calico-openapi.generated.ts',
  'src/manifests/kubernetes-schemas.generated.ts',
];

describe('generated files', () => {
  it('are what `npm run generate` writes from the definitions (run it after changing src/api/ or an override)', async () => {
    const files = await formattedGeneratedFiles();
    expect(files.map((f) => f.path).filter((path) => !path.startsWith('hack/schemas/'))).toEqual(
      expect.arrayContaining(ALWAYS_GENERATED),
    );
    for (const file of files) {
      const committed = readFileSync(`${REPOSITORY_ROOT}/${file.path}`, 'utf8');
      expect({ path: file.path, text: committed }).toEqual({ path: file.path, text: file.text });
    }
  });

  // The copy is cut from the Kubernetes sources in the Go module cache, which the control-plane build downloads
  // (.ci/run builds it before the tests); without them the module above is generated from the committed copy.
  const version = kubernetesVersion();
  const published = publishedKubernetesOpenApiDir(version);
  (published ? it : it.skip)(
    `cut ${kubernetesOpenApiCopyPath(version)} from the published schema (skipped when k8s.io/kubernetes@${version} is not in the Go module cache)`,
    async () => {
      const files = await formattedGeneratedFiles();
      expect(files.map((f) => f.path)).toContain(kubernetesOpenApiCopyPath(version));
    },
  );
});
