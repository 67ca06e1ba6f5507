/**
 * Running the real Operator in-process against a test control plane, and reading what it wrote.
 * Each operator test file uses a dedicated control plane: an operator reconciles every NetworkPolicy and
 * profile of its cluster, so two test files sharing one API server would fight over the same objects.
 */
import { Registry } from 'prom-client';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject, NetworkPolicy } from '../../src/api/kube.js';
import { toWire, type CalicoApi } from '../../src/calico/flavour.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, type GlobalNetworkPolicy } from '../../src/calico/types.js';
import { Operator, type OperatorOptions } from '../../src/controller/operator.js';
import { KubeClient } from '../../src/kube/client.js';
import { silentLogger } from '../../src/observability/logger.js';
import { translateNetworkPolicy } from '../../src/translate/networkpolicy.js';
import { eventually } from './harness.js';
import { globalNetworkPolicies } from '../../src/kube/resources.js';

export interface RunningOperator {
  operator: Operator;
  registry: Registry;
  /** Writes the operator made (calico_vpc_api_writes_total summed over verbs). */
  writes(): Promise<number>;
  stop(): Promise<void>;
}

export async function startOperator(
  kc: KubeConfig,
  options: Partial<Omit<OperatorOptions, 'kubeConfig' | 'logger'>> = {},
): Promise<RunningOperator> {
  const registry = new Registry();
  const operator = new Operator({
    kubeConfig: kc,
    logger: process.env.CVO_TEST_LOGS
      ? (await import('../../src/observability/logger.js')).createLogger({ level: 'debug' })
      : silentLogger,
    registry,
    healthAddress: { host: '127.0.0.1', port: 0 },
    ...options,
  });
  await operator.start();
  await eventually('the operator to be ready', () => operator.ready() === true, 60_000);
  return {
    operator,
    registry,
    writes: async () => {
      const metric = await registry.getSingleMetric('calico_vpc_api_writes_total')?.get();
      return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    },
    stop: () => operator.stop(0),
  };
}

/** Raw access to GNPs of one Calico API, as stored. */
export function gnpClient(kc: KubeConfig, api: CalicoApi) {
  const client = new KubeClient(kc);
  const resource = client.resource<GlobalNetworkPolicy & KubeObject>(globalNetworkPolicies(api));
  return {
    resource,
    client,
    /** Managed GNPs by stored name. */
    async managed(): Promise<Map<string, GlobalNetworkPolicy>> {
      const list = await resource.listAll({ labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` });
      return new Map(list.items.map((o) => [o.metadata.name, o]));
    },
    async get(name: string): Promise<GlobalNetworkPolicy | undefined> {
      return resource.get(name).catch(() => undefined);
    },
  };
}

/** A NetworkPolicy in the test's namespace. */
export function networkPolicy(namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

/** The smallest distinct policy: pods `app=<name>` accept ingress on `port` only. */
export function portPolicy(namespace: string, name: string, port: number): NetworkPolicy {
  return networkPolicy(namespace, name, {
    podSelector: { matchLabels: { app: name } },
    ingress: [{ ports: [{ port }] }],
  });
}

/** What the operator must store for a NetworkPolicy, by the same translation and storage rules it uses. */
export function expectedGnp(np: NetworkPolicy, api: CalicoApi): GlobalNetworkPolicy {
  const translation = translateNetworkPolicy(np);
  if (!translation.ok)
    throw new Error(`the test's policy does not translate: ${JSON.stringify(translation.errors)}`);
  return toWire(translation.policy, api);
}
