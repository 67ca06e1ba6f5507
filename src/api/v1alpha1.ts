/**
 * calico-vpc.io/v1alpha1: our CRD types (wire format), generated from the definition in ./vpc-egress-profile.ts
 * (`npm run generate`), and the defaults the controller applies to fields left out.
 */
import type { VpeGateway } from './v1alpha1.generated.js';

export * from './v1alpha1.generated.js';

export const DEFAULT_GATEWAYS: readonly VpeGateway[] = Object.freeze([
  { name: 'registry', protocol: 'TCP', ports: [443, 4443] },
]);
export const DEFAULT_WORKER_SELECTOR = "ibm.role == 'worker_private'";
export const DEFAULT_VPE_ORDER = 500;
