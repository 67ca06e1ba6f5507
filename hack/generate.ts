/**
 * `npm run generate`: writes the files generated from the API definition in src/api/vpc-egress-profile.ts (the CRD
 * in crds/ and src/api/v1alpha1.generated.ts), the Calico schemas from its CRDs and the Kubernetes schemas from the
 * published OpenAPI (hack/generated-files.ts lists them). test/unit/generated.test.ts fails when a committed file
 * differs.
 */
import { writeFileSync } from 'node:fs';
import { formattedGeneratedFiles, REPOSITORY_ROOT } from './generated-files.js';

for (const file of await formattedGeneratedFiles()) {
  writeFileSync(`${REPOSITORY_ROOT}/${file.path}`, file.text);
  console.log(`wrote ${file.path}`);
}
