/**
 * What a controller is set up with, as controller-runtime's Manager provides it: the client, shared informers,
 * the store of the GNPs we own, Events, logger and metrics, the operator's options and its lifetime. Adding a
 * controller is one file exporting a `ControllerSetup` and one line in CONTROLLERS (src/controller/operator.ts).
 */
import type { KubeObject } from '../api/kube.js';
import type { KubeClient } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import type { CreateInformerOptions, ListWatchInformer } from '../kube/informer.js';
import type { ResourceRef } from '../kube/resource.js';
import type { Logger } from '../observability/logger.js';
import type { Registry } from '../observability/metrics.js';
import type { Controller } from './controller.js';
import type { GnpStore } from './gnp-store.js';
import type { OperatorOptions } from './operator.js';

export interface ControllerContext {
  readonly client: KubeClient;
  readonly options: OperatorOptions;
  /** The GlobalNetworkPolicies we own, in the Calico API the cluster serves: cache and writer. */
  readonly gnps: GnpStore;
  /** The GNP store's informer, to add the indexes a controller reads before it starts. */
  readonly gnpInformer: ListWatchInformer<KubeObject>;
  readonly events: EventRecorder;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Aborted when the operator stops. */
  readonly signal: AbortSignal;
  /**
   * The one informer of `ref`, created with `options` on first use and shared by every controller that watches
   * the resource (the operator starts and stops them all).
   */
  informer<T extends KubeObject, Wire extends KubeObject = T>(
    ref: ResourceRef,
    options?: CreateInformerOptions<T, Wire>,
  ): ListWatchInformer<T, Wire>;
}

/** Builds one controller: its informers, event-to-key mappings and reconciler. */
export type ControllerSetup = (context: ControllerContext) => Controller;
