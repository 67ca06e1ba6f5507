/**
 * `calico-vpc run`: the controller, against the cluster in --kubeconfig / KUBECONFIG / ~/.kube/config / the pod's
 * service account. A configured cluster that does not answer is an error (exit 1), never a reason to run
 * somewhere else. The local control plane is a development tool started only when asked: `--local` always,
 * `--local-if-no-cluster` (what `npm start` passes) when no cluster is configured at all; it comes with the CRDs
 * and the samples installed, so `npm start` shows the operator working on a fresh machine.
 */
import { Option, type Command } from 'commander';
import { join } from 'node:path';
import v8 from 'node:v8';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LocalControlPlane } from '../../controlplane/local.js';
import type { CalicoApiChoice } from '../../controller/calico-api.js';
import type { Operator } from '../../controller/operator.js';
import { describeProxy, proxySettingsFrom } from '../../ibm/proxy.js';
import { leaderElectionTimingError } from '../../kube/leader.js';
import { parseBindAddress } from '../../observability/health.js';
import { createLogger, parseLogLevel, type Logger } from '../../observability/logger.js';
import { parseDuration } from '../../util/duration.js';
import { CliExit, type CliIO } from '../io.js';
import { packageVersion, type CommandRegistrar } from '../program.js';

export interface RunFlags {
  kubeconfig?: string;
  context?: string;
  local?: boolean;
  localIfNoCluster?: boolean;
  samples: boolean;
  calicoApi: CalicoApiChoice;
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  logLevel: string;
  logPretty?: boolean;
  translateNetworkPolicies: boolean;
  networkPolicyOrder: string;
  tier: string;
  concurrency: string;
  resyncPeriod: string;
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliExit(2, `${flag}: expected a positive integer, got "${value}"`);
  return n;
}

/** A parser's error (it names the flag) as a usage error: exit code 2. */
function asUsageError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new CliExit(2, err instanceof Error ? err.message : String(err));
  }
}

const durationMs = (flag: string, value: string) => asUsageError(() => parseDuration(value, flag));
const bindAddress = (flag: string, value: string) => asUsageError(() => parseBindAddress(value, flag));

function finiteNumber(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new CliExit(2, `${flag}: expected a number, got "${value}"`);
  return n;
}

/** Every flag checked and converted, before anything starts: a bad one must not start (or need) a cluster. */
export function runSettings(flags: RunFlags) {
  const timings = {
    leaseDurationMs: durationMs('--leader-elect-lease-duration', flags.leaderElectLeaseDuration),
    renewDeadlineMs: durationMs('--leader-elect-renew-deadline', flags.leaderElectRenewDeadline),
    retryPeriodMs: durationMs('--leader-elect-retry-period', flags.leaderElectRetryPeriod),
  };
  const timingProblem = leaderElectionTimingError(timings, {
    leaseDurationMs: '--leader-elect-lease-duration',
    renewDeadlineMs: '--leader-elect-renew-deadline',
    retryPeriodMs: '--leader-elect-retry-period',
  });
  if (timingProblem) throw new CliExit(2, timingProblem);
  const translation = {
    order: finiteNumber('--network-policy-order', flags.networkPolicyOrder),
    tier: flags.tier,
  };
  const concurrency = positiveInt('--concurrency', flags.concurrency);
  const resyncPeriodMs = durationMs('--resync-period', flags.resyncPeriod);
  const metricsAddress = bindAddress('--metrics-bind-address', flags.metricsBindAddress);
  const healthAddress = bindAddress('--health-probe-bind-address', flags.healthProbeBindAddress);
  return { timings, translation, concurrency, resyncPeriodMs, metricsAddress, healthAddress };
}

/**
 * The controller's modules, loaded when `run` runs rather than when the CLI starts: they pull in
 * @kubernetes/client-node (about 0.7 s and 75 MB to load), which render, lint and offline connectivity never use.
 */
async function loadRuntime() {
  const [operator, config, local, install] = await Promise.all([
    import('../../controller/operator.js'),
    import('../../kube/config.js'),
    import('../../controlplane/local.js'),
    import('../../controlplane/install.js'),
  ]);
  return { ...operator, ...config, ...local, ...install };
}
type Runtime = Awaited<ReturnType<typeof loadRuntime>>;

/**
 * The API server's version, or undefined when it does not answer within 5 s. Asked on the operator's own client:
 * the connection and TLS session it opens are the ones the operator's first requests and its preconnect reuse,
 * not a handshake thrown away (about 20 ms of start-up).
 */
async function serverVersion(operator: Operator): Promise<string | undefined> {
  try {
    const version = await operator.client.discovery.serverVersion(AbortSignal.timeout(5_000));
    return version?.gitVersion ?? 'unknown';
  } catch {
    return undefined;
  }
}

async function startLocal(
  rt: Runtime,
  io: CliIO,
  log: Logger,
  samples: boolean,
): Promise<{ kc: KubeConfig; cp: LocalControlPlane }> {
  const { LocalControlPlane, loadKubeConfig, installAllCrds, applyObjects, readManifests, REPO_ROOT } = rt;
  io.stderr('Starting a local control plane (etcd + kube-apiserver) for development; Ctrl-C stops it.\n');
  const cp = await LocalControlPlane.start({ log: (line) => io.stderr(`[control-plane] ${line}\n`) });
  const kc = loadKubeConfig({ path: cp.kubeconfigPath });
  try {
    await installAllCrds(kc);
    log.info(
      'installed the VpcEgressProfile CRD and Calico CRDs (projectcalico.org/v3 and crd.projectcalico.org/v1)',
    );
    if (samples) {
      await applyObjects(kc, readManifests(join(REPO_ROOT, 'config', 'samples', 'accounts-finance.yaml')));
      await applyObjects(
        kc,
        readManifests(join(REPO_ROOT, 'config', 'samples', 'vpcegressprofile-us-south.yaml')),
      );
      log.info(
        'applied config/samples: the accounts/finance NetworkPolicies and the us-south VpcEgressProfile',
      );
    }
  } catch (err) {
    await cp.stop();
    throw err;
  }
  io.stderr(
    `\nLocal control plane ${cp.version} is up. In another shell:\n` +
      `  export KUBECONFIG=${cp.kubeconfigPath}\n` +
      `  kubectl get vpcegressprofiles\n` +
      `  kubectl get globalnetworkpolicies.projectcalico.org\n` +
      `Ctrl-C stops the operator and the control plane.\n\n`,
  );
  return { kc, cp };
}

export const registerRun: CommandRegistrar = (program: Command, io: CliIO) => {
  program
    .command('run')
    .description(
      'Run the controller: reconcile NetworkPolicies and VpcEgressProfiles to Calico GlobalNetworkPolicies. ' +
        'With --local, against a local control plane with the samples.',
    )
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option('--local', 'start a local control plane (etcd + kube-apiserver) and run against it')
    .option(
      '--local-if-no-cluster',
      'start a local control plane only when no cluster is configured (npm start)',
    )
    .option('--no-samples', 'with the local control plane: do not apply config/samples')
    .addOption(
      new Option('--calico-api <api>', 'Calico API to write: auto (v3 where served, else crd), v3, crd')
        .choices(['auto', 'v3', 'crd'])
        .default('auto'),
    )
    .option('--leader-elect', 'elect a leader with a Lease before writing (run 2+ replicas)', false)
    .option('--leader-election-namespace <ns>', 'namespace of the Lease (default: the pod namespace)')
    .option('--leader-election-id <name>', 'name of the Lease', 'calico-vpc-operator-leader')
    .option(
      '--leader-elect-lease-duration <duration>',
      'how long a standby waits after the last renewal before taking over',
      '15s',
    )
    .option(
      '--leader-elect-renew-deadline <duration>',
      'how long the leader keeps trying to renew before it stops writing',
      '10s',
    )
    .option('--leader-elect-retry-period <duration>', 'how often to try to acquire or renew', '2s')
    .option('--metrics-bind-address <addr>', 'serve /metrics here; 0 disables', ':8080')
    .option('--health-probe-bind-address <addr>', 'serve /healthz and /readyz here; 0 disables', ':8081')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .option('--log-pretty', 'human-readable logs (needs the pino-pretty dev dependency)')
    .option(
      '--no-translate-network-policies',
      'do not translate NetworkPolicies (removes existing translations)',
    )
    .option('--network-policy-order <n>', 'order of the GNPs translated from NetworkPolicies', '1000')
    .option('--tier <name>', 'Calico tier of the translated GNPs', 'default')
    .option('--concurrency <n>', 'NetworkPolicy reconciles in parallel', '16')
    .option('--resync-period <duration>', 'full re-reconcile period', '10m')
    .action(async (flags: RunFlags) => {
      tuneGarbageCollector();
      const log = createLogger({ level: parseLogLevel(flags.logLevel), pretty: flags.logPretty });
      // First, so every log of a deployed operator says which build wrote it.
      log.info({ version: packageVersion(), node: process.version }, 'calico-vpc-operator starting');
      const proxy = proxySettingsFrom(process.env);
      if (proxy) {
        // Said once, so a discovery that cannot reach IBM Cloud is read against the route it took.
        log.info(
          { httpsProxy: describeProxy(proxy.httpsProxy), noProxy: proxy.noProxy },
          'IBM Cloud requests go through the HTTPS proxy (the API server as the kubeconfig says)',
        );
      }
      const { timings, translation, concurrency, resyncPeriodMs, metricsAddress, healthAddress } =
        runSettings(flags);
      const rt = await loadRuntime();
      const { findDefaultKubeConfig, loadKubeConfig, Operator } = rt;
      let kc: KubeConfig;
      let cp: LocalControlPlane | undefined;
      /** What named the cluster, when it is a configured one (not a local control plane started here). */
      let configuredBy: string | undefined;
      const unreachable = (kc: KubeConfig, source: string) =>
        new CliExit(
          1,
          `cannot reach the API server ${kc.getCurrentCluster()?.server} named by ${source}; ` +
            'fix the kubeconfig or choose another with --kubeconfig / --context ' +
            '(a local control plane starts only with --local)',
        );
      const explicit = flags.kubeconfig || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST;
      const found = flags.local || explicit ? undefined : findDefaultKubeConfig();
      if (flags.local) {
        ({ kc, cp } = await startLocal(rt, io, log, flags.samples));
      } else if (explicit || found) {
        configuredBy =
          flags.kubeconfig || process.env.KUBECONFIG || (found ? '~/.kube/config' : 'the in-cluster config');
        kc =
          found && !flags.context
            ? found
            : loadKubeConfig({ path: flags.kubeconfig, pathOrigin: '--kubeconfig', context: flags.context });
      } else if (flags.localIfNoCluster) {
        ({ kc, cp } = await startLocal(rt, io, log, flags.samples));
      } else {
        throw new CliExit(
          1,
          'no cluster configured: set KUBECONFIG, create ~/.kube/config, pass --kubeconfig, or run in a pod; ' +
            'or pass --local (or --local-if-no-cluster, as npm start does) to start a local control plane',
        );
      }

      const leNamespace =
        flags.leaderElectionNamespace ?? process.env.POD_NAMESPACE ?? rt.currentNamespace(kc);
      const operator = new Operator({
        kubeConfig: kc,
        logger: log,
        calicoApi: flags.calicoApi,
        translateNetworkPolicies: flags.translateNetworkPolicies,
        translation,
        concurrency,
        resyncPeriodMs,
        metricsAddress,
        healthAddress,
        leaderElection: flags.leaderElect
          ? {
              namespace: leNamespace,
              name: flags.leaderElectionId,
              identity: process.env.POD_NAME,
              ...timings,
            }
          : undefined,
      });
      if (configuredBy !== undefined) {
        const version = await serverVersion(operator);
        if (!version) {
          operator.client.close();
          throw unreachable(kc, configuredBy);
        }
        log.info({ server: kc.getCurrentCluster()?.server, version }, `using the cluster of ${configuredBy}`);
      }

      const signals = ['SIGINT', 'SIGTERM'] as const;
      const onSignal = (signal: string) => {
        log.info({ signal }, 'shutting down');
        void operator.stop(0);
      };
      for (const s of signals) process.once(s, onSignal);
      try {
        await operator.start();
      } catch (err) {
        await operator.stop(1);
        await cp?.stop();
        throw new CliExit(1, `cannot start: ${err instanceof Error ? err.message : String(err)}`);
      }
      const code = await operator.done;
      for (const s of signals) process.off(s, onSignal);
      if (cp) {
        io.stderr('stopping the local control plane\n');
        await cp.stop();
      }
      if (code !== 0) throw new CliExit(code);
    });
};

/**
 * How much V8 lets the old generation grow past what the last full collection left alive: 30% instead of V8's
 * default (up to 4x for a small heap). The operator's garbage is short-lived request and watch data, and its
 * live heap is its caches; a run that converges 10,000 NetworkPolicies peaked at about 210 MB of RSS with the
 * default and 161 MB with this and the Deployment's --max-semi-space-size=4, at the price of up to a quarter more
 * controller CPU in that run (more frequent full collections); the metadata-only GNP watch and the one-pass digest
 * paid that back, so CPU per policy stayed where it was (bench/, README).
 * Not settable through NODE_OPTIONS, so the process sets it; V8 reads it whenever it sizes the next limit.
 */
export const HEAP_GROWING_PERCENT = 30;

function tuneGarbageCollector(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
