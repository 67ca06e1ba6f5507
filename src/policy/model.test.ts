import { formatPath } from '../api/errors.js';
import type { Pod } from '../api/kube.js';
import { formatIp } from '../util/cidr.js';
import {
  buildClusterModel,
  calicoEndpointLabels,
  clusterModel,
  describeConnection,
  namespaceModel,
  podModel,
  resolveConnection,
  type Connection,
} from './model.js';

const wirePod = (pod: Partial<Pod> & { metadata: Pod['metadata'] }): Pod => ({
  spec: { containers: [] },
  ...pod,
});

describe('buildClusterModel', () => {
  it('reads labels, named ports of containers and init containers, IPs, service account, host network', () => {
    const result = buildClusterModel({
      namespaces: [
        { metadata: { name: 'shop', labels: { team: 'web', 'kubernetes.io/metadata.name': 'wrong' } } },
      ],
      pods: [
        wirePod({
          metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
          spec: {
            serviceAccountName: 'web-sa',
            containers: [
              { name: 'c', ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9999 }] },
            ],
            initContainers: [{ name: 'i', ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] }],
          },
          status: { podIPs: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }] },
        }),
        wirePod({
          metadata: { name: 'agent', namespace: 'kube-system' },
          spec: { containers: [], hostNetwork: true },
          status: { podIP: '192.168.0.9' },
        }),
      ],
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const model = result.value;
    expect(model.namespaces.get('shop')?.labels).toEqual({
      team: 'web',
      'kubernetes.io/metadata.name': 'shop',
    });
    expect(model.implicitNamespaces).toEqual(['kube-system']);
    expect(model.namespaces.get('kube-system')?.labels).toEqual({
      'kubernetes.io/metadata.name': 'kube-system',
    });
    const web = model.pod('shop', 'web');
    expect(web?.namedPorts).toEqual([
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ]);
    expect(web?.ips.map(formatIp)).toEqual(['10.0.0.1', 'fd00::1']);
    expect(web?.serviceAccountName).toBe('web-sa');
    expect(model.pod('kube-system', 'agent')?.hostNetwork).toBe(true);
  });

  it('reports bad IPs and missing namespaces with paths', () => {
    const result = buildClusterModel({
      pods: [
        wirePod({ metadata: { name: 'a' } }),
        wirePod({ metadata: { name: 'b', namespace: 'x' }, status: { podIP: '10.0.0.300' } }),
      ],
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => formatPath(error.path))).toEqual([
      'pods[0].metadata.namespace',
      'pods[1].status.podIPs[0]',
    ]);
  });
});

describe('calicoEndpointLabels', () => {
  it('adds Calico labels over pod labels, and the namespace profile labels under them', () => {
    const pod = podModel({
      namespace: 'shop',
      name: 'web',
      labels: { app: 'web', 'projectcalico.org/namespace': 'spoofed', 'pcns.team': 'own' },
      serviceAccountName: 'web-sa',
    });
    expect(calicoEndpointLabels(pod, namespaceModel('shop', { team: 'web', env: 'prod' }))).toEqual({
      app: 'web',
      'projectcalico.org/namespace': 'shop',
      'projectcalico.org/orchestrator': 'k8s',
      'projectcalico.org/serviceaccount': 'web-sa',
      'pcns.team': 'own',
      'pcns.env': 'prod',
      'pcns.kubernetes.io/metadata.name': 'shop',
      'pcns.projectcalico.org/name': 'shop',
      'pcsa.projectcalico.org/name': 'web-sa',
    });
  });

  it('omits the service account label for names of 63 characters or more, as Calico does', () => {
    const pod = podModel({ namespace: 'shop', name: 'web', serviceAccountName: 's'.repeat(63) });
    expect(
      calicoEndpointLabels(pod, namespaceModel('shop'))['projectcalico.org/serviceaccount'],
    ).toBeUndefined();
  });
});

describe('resolveConnection', () => {
  const cluster = clusterModel(
    [namespaceModel('a')],
    [
      podModel({ namespace: 'a', name: 'dual', ips: ['10.0.0.1', 'fd00::1'] }),
      podModel({ namespace: 'a', name: 'v6', ips: ['fd00::2'] }),
      podModel({ namespace: 'a', name: 'none' }),
      podModel({ namespace: 'a', name: 'host', ips: ['192.168.0.1'], hostNetwork: true }),
    ],
  );
  const pod = (name: string) => ({ kind: 'pod' as const, namespace: 'a', name });
  const resolve = (connection: Partial<Connection>) =>
    resolveConnection(cluster, {
      src: pod('dual'),
      dst: pod('none'),
      protocol: 'TCP',
      port: 80,
      ...connection,
    });

  it('picks the family both pods have, else IPv4, or the external side’s', () => {
    const both6 = resolve({ dst: pod('v6') });
    expect(both6.ok && both6.value.family).toBe(6);
    const noAddress = resolve({});
    expect(noAddress.ok && noAddress.value.family).toBe(4);
    expect(noAddress.ok && noAddress.value.dst.kind === 'pod' && noAddress.value.dst.address).toBeUndefined();
    const external = resolve({ dst: { kind: 'external', ip: '2001:db8::1' } });
    expect(external.ok && external.value.family).toBe(6);
    expect(external.ok && describeConnection(external.value)).toBe('a/dual -> 2001:db8::1 TCP/80 (IPv6)');
  });

  it('treats a host-network pod as its address', () => {
    const result = resolve({ src: pod('host') });
    expect(result.ok && result.value.src).toMatchObject({
      kind: 'external',
      hostNetworkPod: { name: 'host' },
    });
  });

  it.each([
    [{ port: undefined }, 'port'],
    [{ protocol: 'ICMP' as const }, 'port'],
    [{ protocol: 'GRE' as never }, 'protocol'],
    [{ dst: pod('missing') }, 'dst'],
    [{ dst: { kind: 'external' as const, ip: 'not-an-ip' } }, 'dst.ip'],
    [{ dst: { kind: 'external' as const, ip: '2001:db8::1' }, ipFamily: 4 as const }, 'ipFamily'],
    [{ protocol: 'ICMPv6' as const, port: undefined }, 'protocol'],
  ])('rejects %j at %s', (connection, path) => {
    const result = resolve(connection);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => formatPath(error.path))).toContain(path);
  });
});
