/**
 * The operator: informers (NetworkPolicies, Namespaces, VpcEgressProfiles, our own GNPs), two controllers,
 * leader election, Events, metrics and probes, started and stopped as one.
 *
 * Every replica runs the informers, so a standby's caches are warm when it takes over; only the leader runs the
 * controllers (the only writers). A leader that cannot renew its lease stops writing and ends with exit code 1,
 * like controller-runtime, and its Deployment restarts it as a standby.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../api/kube.js';
import { GLOBAL_NETWORK_POLICY_RESOURCES, type CalicoApi } from '../calico/flavour.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../calico/types.js';
import { KubeClient } from '../kube/client.js';
import { KubeEventRecorder, type EventRecorder } from '../kube/events.js';
import {
  createInformer,
  type CreateInformerOptions,
  type Informer,
  type ListWatchInformer,
} from '../kube/informer.js';
import { LeaderElector } from '../kube/leader.js';
import type { ResourceRef } from '../kube/resource.js';
import { EVENTS, LEASES, globalNetworkPolicies } from '../kube/resources.js';
import { HealthServer, type ParsedAddress } from '../observability/health.js';
import type { Logger } from '../observability/logger.js';
import { sharedRegistry, type Registry } from '../observability/metrics.js';
import type { NetworkPolicyTranslationOptions } from '../translate/networkpolicy.js';
import { detectCalicoApi, type CalicoApiChoice } from './calico-api.js';
import type { ControllerContext, ControllerSetup } from './context.js';
import type { Controller } from './controller.js';
import type { DiscoveryOptions } from '../vpe/discovery.js';
import { GnpStore, OwnWrites, gnpCacheTransform } from './gnp-store.js';
import { DEFAULT_NETWORK_POLICY_WORKERS, setupNetworkPolicyController } from './networkpolicy-reconciler.js';
import { setupVpcEgressProfileController, type VpeReconcilerDeps } from './vpe-reconciler.js';

/** Every controller the operator runs; a new controller is one file and one entry here. */
const CONTROLLERS: readonly ControllerSetup[] = [
  setupVpcEgressProfileController,
  setupNetworkPolicyController,
];

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  calicoApi?: CalicoApiChoice;
  /** Translate NetworkPolicies to GNPs (default true); false removes the translations cleanly. */
  translateNetworkPolicies?: boolean;
  translation?: NetworkPolicyTranslationOptions;
  /** Workers per controller (default: 16 for NetworkPolicies, 1 for profiles). */
  concurrency?: number;
  leaderElection?: LeaderElectionConfig;
  /** /metrics; undefined: not served. */
  metricsAddress?: ParsedAddress;
  /** /healthz and /readyz; undefined: not served. */
  healthAddress?: ParsedAddress;
  /** Informer resync (re-reconcile everything) period; default 10 min. */
  resyncPeriodMs?: number;
  registry?: Registry;
  /** Replaces the built-in VPC address-prefix discovery (spec.discovery, src/vpe/discovery.ts). */
  zonesFor?: VpeReconcilerDeps['zonesFor'];
  /** Tuning of the built-in discovery (timeouts, retries; tests route its HTTP with `fetch`). */
  discovery?: Partial<
    Pick<DiscoveryOptions, 'fetch' | 'timeoutMs' | 'waitMs' | 'requestTimeoutMs' | 'retry'>
  >;
  /** Hook for extra reconcile triggers: called with the profile controller once built. */
  onProfileController?: (controller: Controller) => void;
}

export class Operator {
  private readonly abort = new AbortController();
  private readonly servers: HealthServer[] = [];
  private readonly listening: { host: string; port: number }[] = [];
  private controllers: Controller[] = [];
  private informers: Informer<unknown>[] = [];
  private elector: LeaderElector | undefined;
  private leading = false;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code when the operator stops by itself (lost leadership) or is stopped. */
  readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));
  api: CalicoApi | undefined;
  readonly client: KubeClient;
  private readonly log: Logger;
  private readonly registry: Registry;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: OperatorOptions) {
    this.registry = options.registry ?? sharedRegistry();
    this.client = new KubeClient(options.kubeConfig, {
      fieldManager: 'calico-vpc-operator',
      registry: this.registry,
    });
    this.log = options.logger;
  }

  /** Caches synced and, when leading, every key known at sync reconciled once. */
  ready(): boolean | string {
    if (!this.informers.length || !this.informers.every((i) => i.hasSynced())) return 'caches not synced';
    if (this.leading && !this.controllers.every((c) => c.initialReconcileDone()))
      return 'initial reconcile running';
    return true;
  }

  async start(): Promise<void> {
    const o = this.options;
    const { api, wireOptions } = await detectCalicoApi(this.client, o.calicoApi ?? 'auto');
    this.api = api;
    this.log.info(
      { calicoApi: GLOBAL_NETWORK_POLICY_RESOURCES[api].apiVersion, ...wireOptions },
      'writing Calico GlobalNetworkPolicies',
    );

    const resync = o.resyncPeriodMs ?? 10 * 60_000;
    const common = { logger: this.log, registry: this.registry, resyncPeriodMs: resync };
    // Keyed by resource; each informer holds its own object type, which only its creator knows.
    const informers = new Map<string, ListWatchInformer<never, never>>();
    const informer = <T extends KubeObject, Wire extends KubeObject = T>(
      ref: ResourceRef,
      options: CreateInformerOptions<T, Wire> = {},
    ) => {
      const key = `${ref.plural}.${ref.group}/${ref.version}`;
      const shared =
        informers.get(key) ?? createInformer(this.client.resource<Wire>(ref), { ...common, ...options });
      informers.set(key, shared as ListWatchInformer<never, never>);
      return shared as ListWatchInformer<T, Wire>;
    };
    const gnpRef = globalNetworkPolicies(api);
    const ownWrites = new OwnWrites();
    const gnpInformer = informer<KubeObject>(gnpRef, {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
      transform: gnpCacheTransform(api, ownWrites),
      watchMetadataOnly: true,
    });
    const gnps = new GnpStore(
      api,
      this.client.resource(gnpRef),
      gnpInformer,
      this.registry,
      wireOptions,
      ownWrites,
    );
    const identity = o.leaderElection?.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    const events: EventRecorder = new KubeEventRecorder({
      events: this.client.resource(EVENTS),
      reportingController: 'calico-vpc.io/operator',
      reportingInstance: identity,
      logger: this.log,
      registry: this.registry,
    });
    const context: ControllerContext = {
      client: this.client,
      options: o,
      gnps,
      gnpInformer,
      events,
      logger: this.log,
      registry: this.registry,
      signal: this.abort.signal,
      informer,
    };
    const controllers = CONTROLLERS.map((setup) => setup(context));
    this.informers = [...informers.values()] as Informer<unknown>[];

    await this.serve();
    for (const informer of this.informers) informer.start();
    const startControllers = (signal: AbortSignal) => {
      this.leading = true;
      this.controllers = controllers;
      // One connection per NetworkPolicy worker, opened while the workers wait for the caches to sync (see
      // Transport.preconnect); a standby replica opens none until it leads.
      void this.client.preconnect(o.concurrency ?? DEFAULT_NETWORK_POLICY_WORKERS, signal);
      for (const controller of this.controllers) {
        controller.start(signal).catch((err: unknown) => {
          if (!signal.aborted) {
            this.log.error({ err, controller: controller.name }, 'controller failed to start');
            void this.stop(1);
          }
        });
      }
    };
    if (!o.leaderElection) {
      startControllers(this.abort.signal);
      return;
    }
    const le = o.leaderElection;
    this.elector = new LeaderElector({
      leases: this.client.resource(LEASES),
      namespace: le.namespace,
      name: le.name,
      identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      logger: this.log,
      registry: this.registry,
      callbacks: {
        onStartedLeading: (signal) => {
          this.log.info({ identity }, 'became leader; starting controllers');
          startControllers(signal);
        },
        onStoppedLeading: () => {
          if (this.abort.signal.aborted) return;
          this.log.error({ identity }, 'lost leadership; stopping writes and exiting');
          void this.stop(1);
        },
        onNewLeader: (holder) => this.log.info({ leader: holder || '(none)' }, 'leader observed'),
      },
    });
    void this.elector.run(this.abort.signal);
  }

  private async serve(): Promise<void> {
    const { metricsAddress, healthAddress } = this.options;
    if (metricsAddress) {
      const metrics = new HealthServer({
        address: metricsAddress,
        registry: this.registry,
        logger: this.log,
      });
      this.servers.push(metrics);
      const a = await metrics.listen();
      this.listening.push({ host: a.address, port: a.port });
    }
    if (healthAddress) {
      const probes = new HealthServer({ address: healthAddress, probes: true, logger: this.log });
      probes.addReadinessCheck('operator', () => this.ready());
      this.servers.push(probes);
      const a = await probes.listen();
      this.listening.push({ host: a.address, port: a.port });
    }
  }

  /** Addresses the servers listen on (port 0 picks a free port), metrics first. */
  addresses(): { host: string; port: number }[] {
    return [...this.listening];
  }

  /**
   * Graceful shutdown: stop taking keys, finish the reconciles in flight (within drainTimeoutMs), hand back the
   * lease, stop the watches and the servers.
   */
  stop(exitCode = 0, drainTimeoutMs = 10_000): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ exitCode }, 'stopping');
      await Promise.all(this.controllers.map((c) => c.stop({ drainTimeoutMs })));
      this.abort.abort();
      await this.elector
        ?.release()
        .catch((err: unknown) => this.log.warn({ err }, 'releasing the lease failed'));
      await Promise.all(this.informers.map((i) => i.stop()));
      await Promise.all(this.servers.map((s) => s.close()));
      this.client.close();
      this.resolveDone(exitCode);
    })();
    return this.stopping;
  }
}
