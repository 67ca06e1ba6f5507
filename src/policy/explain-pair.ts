/**
 * `connectivity --explain --from X --to Y [--port P]`: the explanation of one pair without listing every pair.
 * X and Y are workloads (`NAME`, `NAMESPACE/NAME` or `NAMESPACE/NAME[Kind]`, as --focus-workload) or an outside
 * IPv4 address (which stands for the outside range holding it); P is a port number, `PROTOCOL/NUMBER`
 * (`udp/53`), or a named port of the destination (`http`, resolved as Kubernetes and Calico resolve it).
 *
 * Pure: it reads a report analysed with `explain` and `focusWorkload` set to the workload side
 * (pairSpecFocus says which), finds the pair and narrows it to the port.
 */
import type { Protocol } from '../api/kube.js';
import { parseIp } from '../util/cidr.js';
import {
  formatPortSet,
  PORT_PROTOCOLS,
  type ConnectivityPeer,
  type ConnectivityReport,
  type PairConnectivity,
  type PortSegment,
} from './connectivity.js';
import { explainOnePair } from './explain.js';

export type PeerSpec =
  | {
      readonly kind: 'workload';
      readonly text: string;
      readonly namespace?: string;
      readonly name: string;
      readonly workloadKind?: string;
    }
  | { readonly kind: 'address'; readonly text: string; readonly address: bigint };

export type PortSpec =
  | { readonly kind: 'number'; readonly protocol: Protocol; readonly port: number }
  | { readonly kind: 'named'; readonly name: string; readonly protocol?: Protocol };

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

export function parsePeerSpec(text: string): Parsed<PeerSpec> {
  const trimmed = text.trim();
  const ip = parseIp(trimmed);
  if (ip.ok) {
    if (ip.value.family !== 4)
      return {
        ok: false,
        message: `${trimmed}: outside addresses are analysed as IPv4 ranges; give an IPv4 address`,
      };
    return { ok: true, value: { kind: 'address', text: trimmed, address: ip.value.value } };
  }
  const match = /^(?:([^/]+)\/)?([^/[\]]+)(?:\[([^\]]+)\])?$/.exec(trimmed);
  if (!match) return { ok: false, message: `${trimmed}: expected NAMESPACE/NAME, NAME or an IPv4 address` };
  return {
    ok: true,
    value: {
      kind: 'workload',
      text: trimmed,
      name: match[2] as string,
      ...(match[1] !== undefined ? { namespace: match[1] } : {}),
      ...(match[3] !== undefined ? { workloadKind: match[3] } : {}),
    },
  };
}

export function parsePortSpec(text: string): Parsed<PortSpec> {
  const match = /^(?:([A-Za-z]+)\/)?([^/]+)$/.exec(text.trim());
  const protocol = match?.[1]?.toUpperCase();
  if (!match || (protocol !== undefined && !(PORT_PROTOCOLS as readonly string[]).includes(protocol))) {
    return { ok: false, message: `${text}: expected PORT, PROTOCOL/PORT (TCP, UDP or SCTP) or a port name` };
  }
  const port = match[2] as string;
  if (/^\d+$/.test(port)) {
    const number = Number(port);
    if (number < 1 || number > 65535) return { ok: false, message: `${text}: a port is 1 to 65535` };
    return { ok: true, value: { kind: 'number', protocol: (protocol ?? 'TCP') as Protocol, port: number } };
  }
  return {
    ok: true,
    value: {
      kind: 'named',
      name: port,
      ...(protocol !== undefined ? { protocol: protocol as Protocol } : {}),
    },
  };
}

/** The workload to focus the analysis on (the source when both sides are workloads), or a message. */
export function pairSpecFocus(from: PeerSpec, to: PeerSpec): Parsed<string> {
  if (from.kind === 'workload') return { ok: true, value: from.text };
  if (to.kind === 'workload') return { ok: true, value: to.text };
  return { ok: false, message: 'policies restrict pods only: one of --from and --to must be a workload' };
}

/** The explanation of the pair (narrowed to the port when given), or why there is no such pair. */
export function explainSinglePair(
  report: ConnectivityReport,
  from: PeerSpec,
  to: PeerSpec,
  port?: PortSpec,
): Parsed<string> {
  const sources = matching(report, from, 'source');
  if (!sources.ok) return sources;
  const destinations = matching(report, to, 'destination');
  if (!destinations.ok) return destinations;
  if (sources.value.id === destinations.value.id)
    return {
      ok: false,
      message: `--from and --to are both ${sources.value.id}: a workload is not analysed with itself`,
    };
  const pair = report.pairs.find((p) => p.src.id === sources.value.id && p.dst.id === destinations.value.id);
  if (pair === undefined) {
    // The report was focused on one of the two, so every pair with it is there; only outside to outside is not.
    return { ok: false, message: `${sources.value.id} => ${destinations.value.id} is not analysed` };
  }
  if (port === undefined) return { ok: true, value: explainOnePair(report, pair) };
  const narrowed = narrowToPort(pair, port);
  return narrowed.ok ? { ok: true, value: explainOnePair(report, narrowed.value) } : narrowed;
}

function matching(
  report: ConnectivityReport,
  spec: PeerSpec,
  side: 'source' | 'destination',
): Parsed<ConnectivityPeer> {
  if (spec.kind === 'address') {
    const ranges = side === 'source' ? report.externalSources : report.externalDestinations;
    const found = ranges.find((peer) => peer.range.first <= spec.address && spec.address <= peer.range.last);
    return found ? { ok: true, value: found } : { ok: false, message: `${spec.text}: in no outside range` };
  }
  const found = report.workloads.filter(
    (peer) =>
      (spec.namespace === undefined || peer.namespace === spec.namespace) &&
      peer.name === spec.name &&
      (spec.workloadKind === undefined || peer.workloadKind === spec.workloadKind),
  );
  if (found.length === 1) return { ok: true, value: found[0] as ConnectivityPeer };
  const known = (found.length > 1 ? found : report.workloads).map((peer) => peer.id).join(', ');
  return {
    ok: false,
    message:
      found.length > 1
        ? `${spec.text} names several workloads (${known}); add the namespace or [Kind]`
        : `${spec.text}: no workload or pod of that name in the input${known ? ` (there are: ${known})` : ''}`,
  };
}

/** The pair with only the port's segment, cut to that one port (a named port: each port it names). */
function narrowToPort(pair: PairConnectivity, spec: PortSpec): Parsed<PairConnectivity> {
  const ports: { protocol: Protocol; port: number }[] = [];
  if (spec.kind === 'number') ports.push({ protocol: spec.protocol, port: spec.port });
  else {
    const named = pair.dst.kind === 'workload' ? pair.dst.pod.namedPorts : [];
    for (const port of named) {
      if (port.name === spec.name && (spec.protocol === undefined || port.protocol === spec.protocol))
        ports.push({ protocol: port.protocol, port: port.port });
    }
    if (ports.length === 0) {
      return {
        ok: false,
        message: `${pair.dst.id} has no port named ${spec.name}${spec.protocol ? ` in ${spec.protocol}` : ''}`,
      };
    }
  }
  const segments: PortSegment[] = [];
  const allowed: Record<Protocol, { first: number; last: number }[]> = { SCTP: [], TCP: [], UDP: [] };
  for (const { protocol, port } of ports) {
    const segment = pair.segments?.find((s) => s.protocol === protocol && s.first <= port && port <= s.last);
    if (segment === undefined)
      throw new Error('explainSinglePair needs a report analysed with explain: true');
    segments.push({ ...segment, first: port, last: port });
    if (segment.allowed) allowed[protocol].push({ first: port, last: port });
  }
  return { ok: true, value: { ...pair, segments, allowed, conn: formatPortSet(allowed) } };
}
