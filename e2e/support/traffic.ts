/**
 * Real TCP connections between pods, for clusters with nodes and a Calico dataplane (kind from hack/kind-up.sh).
 *
 * Servers are agnhost `porter` pods (an HTTP listener per SERVE_PORT_<n> variable). Each connection attempt is a
 * pod of its own running `agnhost connect <ip>:<port> --timeout=5s`, carrying the labels of the client it stands
 * for, so the policies select it exactly as they would select that client. agnhost prints TIMEOUT when the SYN is
 * dropped (what a Calico deny does) and REFUSED when nothing listens (a broken test, not a verdict).
 */
import type { KubeObject, ObjectMeta } from '../../src/api/kube.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { ResourceClient } from '../../src/kube/resource.js';
import { isNotFound } from '../../src/kube/errors.js';
import { eventually } from './cluster.js';
import { PODS } from '../../src/kube/resources.js';

/** The Kubernetes e2e test image (registry.k8s.io/e2e-test-images), pinned. */
export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.52';
const CONNECT_TIMEOUT_SECONDS = 5;
/** Image pull and scheduling on a fresh kind node take a while. */
const POD_START_MS = 240_000;

interface ContainerState {
  terminated?: { exitCode: number; message?: string; reason?: string };
  waiting?: { reason?: string; message?: string };
}

export interface TrafficPod extends KubeObject {
  metadata: ObjectMeta & { name: string; namespace: string };
  spec?: unknown;
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { state?: ContainerState }[];
  };
}

export type Verdict = 'allowed' | 'denied';

export interface Endpoint {
  namespace: string;
  labels: Record<string, string>;
}

export function podsOf(client: KubeClient): ResourceClient<TrafficPod> {
  return client.resource<TrafficPod>(PODS);
}

const PULL_FAILURES = ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError'];

function stuckReason(pod: TrafficPod): string | undefined {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  return waiting?.reason && PULL_FAILURES.includes(waiting.reason)
    ? `${waiting.reason}: ${waiting.message ?? ''}`
    : undefined;
}

/** Starts a server pod listening on `ports`; resolves with its IP once it is Ready. */
export async function startServer(
  client: KubeClient,
  name: string,
  endpoint: Endpoint,
  ports: readonly number[],
): Promise<string> {
  const pods = podsOf(client);
  await pods.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: endpoint.namespace, labels: endpoint.labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'server',
          image: AGNHOST_IMAGE,
          args: ['porter'],
          env: ports.map((port) => ({ name: `SERVE_PORT_${port}`, value: name })),
          ports: ports.map((port) => ({ containerPort: port, protocol: 'TCP' })),
          // The kubelet probes from the node, which Calico lets reach local pods whatever the policies.
          readinessProbe: { tcpSocket: { port: ports[0] }, periodSeconds: 2 },
        },
      ],
    },
  });
  const ready = await eventually(
    `server pod ${endpoint.namespace}/${name} to be Ready`,
    async () => {
      const pod = await pods.get(name, { namespace: endpoint.namespace });
      const stuck = stuckReason(pod);
      if (stuck) throw new Error(stuck);
      const isReady = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return isReady && pod.status?.podIP ? pod : undefined;
    },
    POD_START_MS,
    1000,
  );
  return ready.status!.podIP!;
}

let probeCounter = 0;

/** One connection attempt from a fresh pod with the client's labels. */
export async function connectOnce(
  client: KubeClient,
  from: Endpoint,
  ip: string,
  port: number,
): Promise<Verdict> {
  const pods = podsOf(client);
  const name = `probe-${process.pid}-${++probeCounter}`;
  const target = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  await pods.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: from.namespace,
      labels: { ...from.labels, 'calico-vpc.io/e2e-probe': 'true' },
    },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'connect',
          image: AGNHOST_IMAGE,
          args: ['connect', target, `--timeout=${CONNECT_TIMEOUT_SECONDS}s`],
          // agnhost writes its verdict to stderr and exits 1: the log tail becomes the termination message.
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
    },
  });
  try {
    const done = await eventually(
      `probe ${from.namespace}/${name} -> ${target} to finish`,
      async () => {
        const pod = await pods.get(name, { namespace: from.namespace });
        const stuck = stuckReason(pod);
        if (stuck) throw new Error(stuck);
        return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' ? pod : undefined;
      },
      POD_START_MS,
      1000,
    );
    if (done.status?.phase === 'Succeeded') return 'allowed';
    const message = done.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '';
    if (message.includes('TIMEOUT')) return 'denied';
    throw new Error(
      `probe ${from.namespace} -> ${target} failed without a verdict (not a timeout): ${message.trim() || '(no message)'}`,
    );
  } finally {
    await pods.delete(name, { namespace: from.namespace, gracePeriodSeconds: 0 }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

/**
 * The verdict for a connection, retried (a new pod each time) while it differs from `expected`: Felix programs
 * a new policy within seconds, not instantly. Returns the last verdict; the caller asserts.
 */
export async function connect(
  client: KubeClient,
  from: Endpoint,
  ip: string,
  port: number,
  expected: Verdict,
  attempts = 3,
): Promise<Verdict> {
  let verdict: Verdict = await connectOnce(client, from, ip, port);
  for (let attempt = 1; attempt < attempts && verdict !== expected; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    verdict = await connectOnce(client, from, ip, port);
  }
  return verdict;
}
