/**
 * The cluster an e2e file runs against (whatever KUBECONFIG names) and the operator reconciling it.
 *
 * The operator is the one deployed in the cluster (hack/kind-up.sh deploys config/default) when there is one;
 * otherwise this process runs the real Operator itself. E2E_RUN_OPERATOR says which explicitly:
 *   deployed  the Deployment must exist and become available (the suite fails otherwise)
 *   local     run it in-process (the suite refuses if one is deployed too: two writers would race)
 *   (unset)   deployed when the Deployment exists, else local
 * E2E_OPERATOR_NAMESPACE / E2E_OPERATOR_DEPLOYMENT name the Deployment (default calico-vpc-system /
 * calico-vpc-controller-manager, what config/default creates). E2E_LOG_LEVEL turns on the in-process operator's
 * logs (JSON on stdout).
 */
import type { KubeObject } from '../../src/api/kube.js';
import {
  GLOBAL_NETWORK_POLICY_RESOURCES,
  toWire,
  type CalicoApi,
  type WireOptions,
} from '../../src/calico/flavour.js';
import type { GlobalNetworkPolicy } from '../../src/calico/types.js';
import { detectCalicoApi } from '../../src/controller/calico-api.js';
import { Operator } from '../../src/controller/operator.js';
import { KubeClient } from '../../src/kube/client.js';
import { loadKubeConfig, type KubeConfig } from '../../src/kube/config.js';
import type { ResourceClient } from '../../src/kube/resource.js';
import { isNotFound } from '../../src/kube/errors.js';
import { createLogger, parseLogLevel, silentLogger } from '../../src/observability/logger.js';
import { Registry } from '../../src/observability/metrics.js';
import { eventually } from '../../test/integration/harness.js';
import { DEPLOYMENTS, globalNetworkPolicies } from '../../src/kube/resources.js';

export { eventually };

export type OperatorMode = 'deployed' | 'local';

export const OPERATOR_NAMESPACE = process.env.E2E_OPERATOR_NAMESPACE || 'calico-vpc-system';
export const OPERATOR_DEPLOYMENT = process.env.E2E_OPERATOR_DEPLOYMENT || 'calico-vpc-controller-manager';

/** How long the operator (possibly on a busy kind cluster) may take to reflect a change. */
export const CONVERGE_MS = 120_000;

interface Deployment extends KubeObject {
  spec?: { replicas?: number };
  status?: { availableReplicas?: number };
}

export interface E2eCluster {
  kc: KubeConfig;
  client: KubeClient;
  /** The Calico API the operator writes, decided the way the operator decides it (`--calico-api=auto`). */
  api: CalicoApi;
  wireOptions: WireOptions;
  gnps: ResourceClient<GlobalNetworkPolicy & KubeObject>;
  operatorMode: OperatorMode;
  /** The stored form of a logical (v3-shaped) policy in this cluster's Calico API. */
  stored(policy: GlobalNetworkPolicy): GlobalNetworkPolicy;
  /** Stops the in-process operator (if any) and closes connections. */
  close(): Promise<void>;
}

function describeServer(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '(no server)';
}

async function deployedOperator(client: KubeClient): Promise<Deployment | undefined> {
  const deployments = client.resource<Deployment>(DEPLOYMENTS);
  try {
    return await deployments.get(OPERATOR_DEPLOYMENT, { namespace: OPERATOR_NAMESPACE });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function chooseMode(client: KubeClient): Promise<OperatorMode> {
  const wanted = process.env.E2E_RUN_OPERATOR ?? '';
  if (!['', 'local', 'deployed'].includes(wanted)) {
    throw new Error(`E2E_RUN_OPERATOR must be "local", "deployed" or unset, not "${wanted}"`);
  }
  const deployment = await deployedOperator(client);
  const where = `${OPERATOR_NAMESPACE}/${OPERATOR_DEPLOYMENT}`;
  if (wanted === 'local') {
    if (deployment && (deployment.spec?.replicas ?? 1) > 0) {
      throw new Error(
        `E2E_RUN_OPERATOR=local, but the operator is deployed as ${where}: two operators would write the same ` +
          `GNPs. Scale it to 0 (kubectl -n ${OPERATOR_NAMESPACE} scale deploy/${OPERATOR_DEPLOYMENT} --replicas=0) or unset E2E_RUN_OPERATOR.`,
      );
    }
    return 'local';
  }
  if (!deployment) {
    if (wanted === 'deployed')
      throw new Error(`E2E_RUN_OPERATOR=deployed, but there is no Deployment ${where}`);
    return 'local';
  }
  await eventually(
    `the deployed operator ${where} to have an available replica`,
    async () => ((await deployedOperator(client))?.status?.availableReplicas ?? 0) > 0,
    CONVERGE_MS,
    1000,
  );
  return 'deployed';
}

async function startLocalOperator(kc: KubeConfig): Promise<Operator> {
  const level = process.env.E2E_LOG_LEVEL;
  const operator = new Operator({
    kubeConfig: kc,
    logger: level ? createLogger({ level: parseLogLevel(level, 'E2E_LOG_LEVEL') }) : silentLogger,
    registry: new Registry(),
    calicoApi: 'auto',
  });
  await operator.start();
  await eventually('the in-process operator to be ready', () => operator.ready() === true, CONVERGE_MS, 200);
  return operator;
}

export async function connectE2eCluster(): Promise<E2eCluster> {
  if (!process.env.KUBECONFIG) {
    throw new Error(
      'KUBECONFIG is not set: point it at the cluster to test (hack/kind-up.sh or hack/e2e-local.sh print it)',
    );
  }
  const kc = loadKubeConfig();
  const client = new KubeClient(kc, { registry: new Registry(), fieldManager: 'calico-vpc-e2e' });
  try {
    await client.discovery.serverVersion();
  } catch (err) {
    client.close();
    throw new Error(`cannot reach the API server ${describeServer(kc)} named by KUBECONFIG: ${String(err)}`);
  }
  try {
    const { api, wireOptions } = await detectCalicoApi(client, 'auto');
    const operatorMode = await chooseMode(client);
    const operator = operatorMode === 'local' ? await startLocalOperator(kc) : undefined;
    const ref = GLOBAL_NETWORK_POLICY_RESOURCES[api];
    process.stderr.write(
      `e2e: ${describeServer(kc)}, GNPs in ${ref.apiVersion}, operator ${
        operatorMode === 'deployed'
          ? `deployed as ${OPERATOR_NAMESPACE}/${OPERATOR_DEPLOYMENT}`
          : 'running in-process'
      }\n`,
    );
    return {
      kc,
      client,
      api,
      wireOptions,
      gnps: client.resource<GlobalNetworkPolicy & KubeObject>(globalNetworkPolicies(api)),
      operatorMode,
      stored: (policy) => toWire(policy, api, wireOptions),
      close: async () => {
        await operator?.stop();
        client.close();
      },
    };
  } catch (err) {
    client.close();
    throw err;
  }
}

/** The object, or undefined when the API server says it does not exist. */
export async function getOrUndefined<T extends KubeObject>(
  resource: ResourceClient<T>,
  name: string,
  namespace?: string,
): Promise<T | undefined> {
  try {
    return await resource.get(name, { namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
