/**
 * Network namespaces and veth pairs for the Felix tier, with `ip` (iproute2) and `sysctl` run against a named
 * namespace. Nothing here touches the host's own network namespace: every device is created inside a namespace
 * of the harness (`ip -n NS link add ... peer ... netns OTHER`), and every sysctl is written inside one.
 *
 * Namespace names are `cvo-<pid>-<env>-<role>`: the pid of the test process that made them, so a later run can
 * sweep what a killed run left behind (`sweepStaleNamespaces`) without touching a run that is still alive.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isAlive } from '../../src/controlplane/local.js';

const execFileAsync = promisify(execFile);

export const NETNS_PREFIX = 'cvo-';

export async function run(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, [...args], { timeout: timeoutMs });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message || String(err)).trim()}`);
  }
}

/** `ip -n NS ...` */
export function ipIn(netns: string, ...args: string[]): Promise<string> {
  return run('ip', ['-n', netns, ...args]);
}

/** Runs a command inside a namespace (`ip netns exec`). */
export function execIn(netns: string, cmd: string, ...args: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', netns, cmd, ...args]);
}

/** Writes sysctls inside a namespace (net.* sysctls are per namespace). */
export async function sysctlIn(netns: string, settings: Record<string, string | number>): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  if (args.length) await execIn(netns, 'sysctl', '-q', '-w', ...args);
}

export async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

export async function createNamespace(name: string): Promise<void> {
  await run('ip', ['netns', 'add', name]);
  await ipIn(name, 'link', 'set', 'lo', 'up');
}

/** The pids of processes living in a namespace (`ip netns pids`). */
export async function pidsIn(netns: string): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', netns]).catch(() => '');
  return out
    .split(/\s+/)
    .filter(Boolean)
    .map((p) => Number(p));
}

export async function deleteNamespace(name: string): Promise<void> {
  await run('ip', ['netns', 'del', name]).catch(() => undefined);
}

/**
 * Deletes namespaces (and ends the processes in them, by pid) that an earlier test process made and left behind:
 * those named `cvo-<pid>-...` whose pid is no longer alive. Returns what it removed.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    const match = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    for (const pid of await pidsIn(name)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await deleteNamespace(name);
    removed.push(name);
  }
  return removed;
}

/** A veth pair: `name` in `netns`, its peer `eth0` (or `peerName`) in `peerNetns`; nothing in the host's namespace. */
export async function addVethPair(
  netns: string,
  name: string,
  peerNetns: string,
  peerName = 'eth0',
): Promise<void> {
  await ipIn(netns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', peerName, 'netns', peerNetns);
}

export interface VethLink {
  /** Namespace of the "outer" end (Felix's namespace for a pod, the VPC router for a VPC host). */
  outerNetns: string;
  /** Name of the outer end, e.g. Calico's `cali...` name. */
  outerName: string;
  /** Namespace of the inner end, which is named eth0 there. */
  innerNetns: string;
  /** The inner end's address (a /32, as Calico's CNI assigns it). */
  address: string;
  /** MAC address of the outer end (Calico's CNI uses ee:ee:ee:ee:ee:ee). */
  outerMac?: string;
}

/**
 * Wires a namespace the way Calico's CNI plugin wires a pod: a veth pair, `eth0` inside holding the address as a
 * /32 with `169.254.1.1 dev eth0 scope link` and `default via 169.254.1.1`; the outer end up, with proxy ARP (it
 * answers for 169.254.1.1), no proxy delay, and a /32 route to the address through it.
 */
export async function wireCalicoStyle(link: VethLink): Promise<void> {
  const { outerNetns, outerName, innerNetns, address } = link;
  await addVethPair(outerNetns, outerName, innerNetns);
  if (link.outerMac) await ipIn(outerNetns, 'link', 'set', outerName, 'address', link.outerMac);
  await ipIn(innerNetns, 'addr', 'add', `${address}/32`, 'dev', 'eth0');
  await ipIn(innerNetns, 'link', 'set', 'eth0', 'up');
  await ipIn(innerNetns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
  await ipIn(innerNetns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
  await sysctlIn(outerNetns, {
    [`net.ipv4.conf.${outerName}.proxy_arp`]: 1,
    [`net.ipv4.neigh.${outerName}.proxy_delay`]: 0,
    [`net.ipv4.conf.${outerName}.forwarding`]: 1,
  });
  await ipIn(outerNetns, 'link', 'set', outerName, 'up');
  await ipIn(outerNetns, 'route', 'add', `${address}/32`, 'dev', outerName);
}

/** Removes a veth pair by its outer end (the inner end goes with it). */
export async function unwire(outerNetns: string, outerName: string): Promise<void> {
  await ipIn(outerNetns, 'link', 'del', outerName).catch(() => undefined);
}
