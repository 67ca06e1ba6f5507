/** Server-side apply of manifests as raw JSON (the same code the local control plane installs with). */
import type { KubeObject } from '../../src/api/kube.js';
import type { KubeClient } from '../../src/kube/client.js';
import { resourceFor } from '../../src/controlplane/install.js';

export { resourceFor };
export const E2E_FIELD_MANAGER = 'calico-vpc-e2e';

/** Applies each object in order (namespaces before what lives in them, as the manifests list them). */
export async function applyManifests(client: KubeClient, objects: readonly KubeObject[]): Promise<void> {
  for (const object of objects) {
    const resource = await resourceFor(client, object);
    await resource.apply(object, { fieldManager: E2E_FIELD_MANAGER, force: true });
  }
}
