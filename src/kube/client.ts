/**
 * The client the operator, the CLI and the tests use: the Transport (one keep-alive agent, cached credentials),
 * a ResourceClient per resource (src/kube/resource.ts; the resources we use are in src/kube/resources.ts) and API
 * discovery. Kubeconfig loading is src/kube/config.ts.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../api/kube.js';
import { ApiDiscovery } from './api-discovery.js';
import { ResourceClient, type ResourceRef } from './resource.js';
import { Transport, type TransportOptions } from './transport.js';

export class KubeClient extends Transport {
  readonly discovery: ApiDiscovery;

  constructor(kubeConfig: KubeConfig, options: TransportOptions = {}) {
    super(kubeConfig, options);
    this.discovery = new ApiDiscovery(this);
  }

  resource<T extends KubeObject = KubeObject>(ref: ResourceRef): ResourceClient<T> {
    return new ResourceClient<T>(this, ref);
  }
}
