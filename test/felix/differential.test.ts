/**
 * Scenario 3 of the Felix tier: our translation against Calico's own, on the real dataplane.
 *
 * Per Calico API, one environment with one random world (2-3 namespaces, 6-9 pods, each listening on 2-3 ports for
 * TCP, UDP and SCTP, some of them named), created once. Then seeded random NetworkPolicy sets (the fast-check
 * arbitraries of test/support/, with ipBlocks over this environment's pod addresses), each in two phases:
 *
 *   N  the NetworkPolicies alone: Calico Felix enforces them natively (its own conversion, `knp.default.*`);
 *   G  only the GlobalNetworkPolicies our operator wrote for them: the operator runs until it has written them, is
 *      stopped, and the NetworkPolicies are deleted (with both in force Calico would show the union).
 *
 * Every (source pod, destination pod, protocol, listening port) is probed in both phases; the two tables must be
 * identical, and both must equal our Kubernetes evaluator's verdicts (src/policy/kube-eval.ts, the evaluator of
 * `calico-vpc connectivity` and of the unit differential test). A disagreement is shrunk by fast-check (within a
 * time budget, each attempt being a real run) and reported with the policies as YAML, the pods and namespaces,
 * the disagreeing tuples and which of the three disagreed.
 *
 * FELIX_DIFF_SETS (default 26) sets per run, split between the two APIs; FC_SEED reproduces a run (the seed is
 * printed); FELIX_DIFF_SHRINK_SECONDS (default 180) bounds shrinking.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { KubeObject, NetworkPolicy, Protocol } from '../../src/api/kube.js';
import type { CalicoApi } from '../../src/calico/flavour.js';
import { formatFieldError } from '../../src/api/errors.js';
import { compileNetworkPolicy, kubeVerdict, type CompiledNetworkPolicy } from '../../src/policy/kube-eval.js';
import {
  clusterModel,
  podModel,
  resolveConnection,
  type ClusterModel,
  type NamespaceModel,
  type NamedPort,
} from '../../src/policy/model.js';
import { translateNetworkPolicy } from '../../src/translate/networkpolicy.js';
import { eventually } from '../integration/harness.js';
import { expectedGnp, gnpClient, startOperator } from '../integration/operator.js';
import {
  POD_LABEL_KEYS,
  PORT_NAMES,
  labelsOf,
  namespacesArbitrary,
  networkPoliciesArbitrary,
  type IpBlockChoice,
} from '../support/policy-arbitraries.js';
import {
  PROTOCOLS,
  probeMatrix,
  type Endpoint,
  type FelixEnvironment,
  type Observed,
  type PodPort,
  type ProbeReport,
} from './environment.js';
import { describeFelix } from './tier.js';

const TOTAL_SETS = Math.max(2, Number(process.env.FELIX_DIFF_SETS ?? 26));
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
const SHRINK_BUDGET_MS = Number(process.env.FELIX_DIFF_SHRINK_SECONDS ?? 180) * 1000;
/** Sets per API: the first API gets the odd one. */
const SETS: Record<CalicoApi, number> = { crd: Math.ceil(TOTAL_SETS / 2), v3: Math.floor(TOTAL_SETS / 2) };
/** A deny costs the probe timeout; an allow answers in milliseconds (a late allow is repeated after a settle). */
const PROBE = { timeoutMs: 600, concurrency: 48 };

/** Ports the pods listen on: the policies' vocabulary (PORT_NUMBERS), plus 8085 inside their endPort ranges. */
const LISTEN_PORTS = [53, 80, 443, 8080, 8085, 9090] as const;

/**
 * ipBlocks over this environment's pod addresses (10.65.0.10 upwards, environment.ts), with excepts that cut
 * pods out: each block contains some pods and excludes others, so ipBlock peers decide real probes.
 */
const FELIX_IP_BLOCKS: readonly IpBlockChoice[] = [
  { cidr: '10.65.0.0/16', except: ['10.65.0.12/30', '10.65.0.10/32'] },
  { cidr: '10.65.0.8/29', except: ['10.65.0.14/31', '10.65.0.9/32'] },
  { cidr: '10.65.0.16/28', except: ['10.65.0.17/32'] },
  { cidr: '0.0.0.0/0', except: ['10.65.0.0/28', '192.168.0.0/16'] },
  { cidr: '10.65.0.11/32', except: [] },
  // IPv6 only: matches no pod here (the pods are IPv4-only, Felix runs without IPv6).
  { cidr: '::/0', except: ['fd00::/8'] },
];

interface WorldPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ports: PodPort[];
}

interface World {
  namespaces: NamespaceModel[];
  pods: WorldPod[];
}

/** 2-3 listening ports; each maybe named (names unique in the pod, as Kubernetes requires) with a declared protocol. */
const podPortsArbitrary: fc.Arbitrary<PodPort[]> = fc
  .tuple(
    fc.shuffledSubarray([...LISTEN_PORTS], { minLength: 2, maxLength: 3 }),
    fc.shuffledSubarray([...PORT_NAMES], { minLength: 3, maxLength: 3 }),
    fc.array(fc.record({ named: fc.boolean(), protocol: fc.constantFrom<Protocol>(...PROTOCOLS) }), {
      minLength: 3,
      maxLength: 3,
    }),
  )
  .map(([ports, names, choices]) =>
    ports.map((port, i) => ({
      port,
      protocol: choices[i]!.protocol,
      ...(choices[i]!.named ? { name: names[i]! } : {}),
    })),
  );

const worldArbitrary: fc.Arbitrary<World> = namespacesArbitrary
  .filter((namespaces) => namespaces.length >= 2)
  .chain((namespaces) =>
    fc
      .array(
        fc.record({
          namespace: fc.constantFrom(...namespaces.map((ns) => ns.name)),
          labels: labelsOf(POD_LABEL_KEYS),
          ports: podPortsArbitrary,
        }),
        { minLength: 6, maxLength: 9 },
      )
      // At least two pods per namespace: peers within and across namespaces both decide probes.
      .filter((drafts) => namespaces.every((ns) => drafts.filter((d) => d.namespace === ns.name).length >= 2))
      .map((drafts) => ({
        namespaces,
        pods: drafts.map((draft, index) => ({ ...draft, name: `pod-${index}` })),
      })),
  );

/**
 * The share of probes a set must allow (by the evaluator) to be run: a set that denies or allows (nearly)
 * everything says little about a translation, and random sets are often that (an Egress policy on `{}` isolates
 * its whole namespace). Checked on the pure evaluator before anything touches the dataplane.
 */
const INFORMATIVE = { min: 0.15, max: 0.85 };

/** The verdict of each (from, to, protocol, port) in one phase, by tuple key. */
type Table = Map<string, { observed: Observed; detail: string }>;

interface Tuple {
  from: string;
  to: string;
  protocol: Protocol;
  port: number;
  expect: 'allow' | 'deny';
}

const tupleKey = (t: Pick<Tuple, 'from' | 'to' | 'protocol' | 'port'>) =>
  `${t.from} -> ${t.to} ${t.protocol}/${t.port}`;

function tableOf(report: ProbeReport): Table {
  return new Map(report.results.map((r) => [tupleKey(r), { observed: r.observed, detail: r.detail }]));
}

/** Which of the three disagreed, for a tuple where they do not all agree. */
function culprit(expected: string, native: string, ours: string): string {
  if (native === ours) return 'our Kubernetes evaluator (src/policy/kube-eval.ts) disagrees with Calico';
  if (native === expected) return 'our translation (phase G) disagrees with Calico and the evaluator';
  if (ours === expected) return "Calico's native enforcement (phase N) disagrees with the evaluator";
  return 'all three disagree';
}

interface SetOutcome {
  ok: boolean;
  /** The readable reproducer when not ok. */
  report?: string;
  probes: number;
  allowed: number;
  denied: number;
}

class Differential {
  private readonly networkPolicies;
  private readonly gnps;
  private cluster!: ClusterModel;
  private endpoints: Endpoint[] = [];
  /** Totals over the sets that ran to completion (for the summary line). */
  readonly totals = { sets: 0, probes: 0, allowed: 0, denied: 0, skipped: 0, policies: 0, untranslatable: 0 };

  constructor(
    private readonly env: FelixEnvironment,
    private readonly api: CalicoApi,
    private readonly world: World,
  ) {
    this.networkPolicies = env.client.resource<KubeObject>({
      group: 'networking.k8s.io',
      version: 'v1',
      plural: 'networkpolicies',
      namespaced: true,
      kind: 'NetworkPolicy',
    });
    this.gnps = gnpClient(env.kubeConfig, api);
  }

  async createWorld(): Promise<void> {
    for (const ns of this.world.namespaces) {
      // The model's labels include kubernetes.io/metadata.name, as the API server sets it.
      await this.env.addNamespace(ns.name, ns.labels);
    }
    const pods = [];
    for (const pod of this.world.pods) {
      const endpoint = await this.env.addPod(pod);
      this.endpoints.push(endpoint);
      pods.push(
        podModel({
          namespace: pod.namespace,
          name: pod.name,
          labels: pod.labels,
          namedPorts: pod.ports.flatMap((p): NamedPort[] =>
            p.name ? [{ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' }] : [],
          ),
          ips: [endpoint.address],
        }),
      );
    }
    this.cluster = clusterModel(this.world.namespaces, pods);
    await this.env.waitForDataplaneQuiet();
  }

  close(): void {
    this.gnps.client.close();
  }

  /** The translatable policies of a set, compiled for the evaluator. */
  private compile(generated: readonly NetworkPolicy[]) {
    // Policies on Calico's reserved labels cannot be translated (the operator reports them): leave them out of
    // both phases rather than compare a missing translation.
    const policies = generated.filter((np) => translateNetworkPolicy(np).ok);
    const compiled = policies.map((np) => {
      const c = compileNetworkPolicy(np);
      if (!c.ok)
        throw new Error(`generated an invalid NetworkPolicy: ${c.errors.map(formatFieldError).join('; ')}`);
      return c.value;
    });
    return { policies, compiled };
  }

  /** Whether the evaluator allows a share of the set's probes within INFORMATIVE (see there). */
  informative(generated: readonly NetworkPolicy[]): boolean {
    const table = this.expectedTable(this.compile(generated).compiled).filter((t) => t.protocol !== 'SCTP');
    const allowed = table.filter((t) => t.expect === 'allow').length / table.length;
    return allowed >= INFORMATIVE.min && allowed <= INFORMATIVE.max;
  }

  /** The evaluator's verdict on every probe of the world, under `policies`. */
  private expectedTable(policies: readonly CompiledNetworkPolicy[]): Tuple[] {
    return probeMatrix(this.endpoints, this.endpoints, PROTOCOLS, (src, dst, protocol, port) => {
      const ref = (e: Endpoint) => {
        const [namespace, name] = e.name.split('/') as [string, string];
        return { kind: 'pod' as const, namespace, name };
      };
      const connection = resolveConnection(this.cluster, { src: ref(src), dst: ref(dst), protocol, port });
      if (!connection.ok) throw new Error(connection.errors.map(formatFieldError).join('; '));
      return kubeVerdict(policies, connection.value).allowed ? 'allow' : 'deny';
    }) as Tuple[];
  }

  /** Whether any policy selects a pod (else Felix's dataplane does not change, and there is nothing to wait for). */
  private selectsAPod(policies: readonly CompiledNetworkPolicy[]): boolean {
    return policies.some((p) =>
      this.cluster.pods.some((pod) => pod.namespace === p.namespace && p.podSelector.matches(pod.labels)),
    );
  }

  /** Runs one set through both phases; leaves no policy of either kind behind. */
  async runSet(index: number, generated: readonly NetworkPolicy[]): Promise<SetOutcome> {
    const env = this.env;
    const label = `${this.api} scenario 3 set ${index}`;
    const { policies, compiled } = this.compile(generated);
    const table = this.expectedTable(compiled);
    const changes = this.selectsAPod(compiled);
    const quietAfter = async (act: () => Promise<unknown>) => {
      const before = await env.dataplaneCounters();
      await act();
      await env.waitForDataplaneQuiet(changes ? { since: before, changeTimeoutMs: 3000 } : {});
    };

    // Phase N: the NetworkPolicies alone.
    await quietAfter(() => env.apply(policies));
    const native = await env.probe(table, { ...PROBE, name: `${label} phase N (NetworkPolicies)` });

    // Phase G: the operator translates, is stopped, the NetworkPolicies go; only our GNPs remain.
    const expectedNames = policies.map((np) => expectedGnp(np, this.api).metadata.name);
    let written: KubeObject[] = [];
    await quietAfter(async () => {
      const operator = await startOperator(env.kubeConfig, { calicoApi: this.api });
      try {
        await eventually(`${label}: the operator's GNPs`, async () => {
          const managed = await this.gnps.managed();
          return managed.size === expectedNames.length && expectedNames.every((n) => managed.has(n));
        });
      } finally {
        await operator.stop();
      }
      written = [...(await this.gnps.managed()).values()] as KubeObject[];
      await this.deletePolicies(policies);
    });
    const ours = await env.probe(table, { ...PROBE, name: `${label} phase G (our GNPs)` });

    // Clean slate for the next set.
    await quietAfter(() => Promise.all(written.map((gnp) => this.gnps.resource.delete(gnp.metadata!.name!))));
    await eventually(`${label}: no GNP left`, async () => (await this.gnps.managed()).size === 0);

    const nativeTable = tableOf(native);
    const oursTable = tableOf(ours);
    const disagreeing: string[] = [];
    let allowed = 0;
    let denied = 0;
    let skipped = 0;
    for (const t of table) {
      const key = tupleKey(t);
      const n = nativeTable.get(key)!;
      const g = oursTable.get(key)!;
      if (n.observed === 'skipped') {
        skipped++;
        continue;
      }
      if (t.expect === 'allow') allowed++;
      else denied++;
      if (n.observed !== t.expect || g.observed !== t.expect) {
        disagreeing.push(
          `  ${key}: evaluator ${t.expect}, Calico on the NetworkPolicies ${n.observed}, ` +
            `Calico on our GNPs ${g.observed} -- ${culprit(t.expect, n.observed, g.observed)}` +
            `${n.observed !== t.expect ? ` [N: ${n.detail}]` : ''}${g.observed !== t.expect ? ` [G: ${g.detail}]` : ''}`,
        );
      }
    }
    const probes = allowed + denied;
    env.log(
      `${label}: ${policies.length} NetworkPolicies${generated.length > policies.length ? ` (${generated.length - policies.length} untranslatable left out)` : ''}, ` +
        `${probes} probes per phase (${allowed} allowed, ${denied} denied by the evaluator${skipped ? `, ${skipped} SCTP skipped` : ''}): ` +
        (disagreeing.length === 0 ? 'N = G = evaluator' : `${disagreeing.length} DISAGREE`),
    );
    const totals = this.totals;
    totals.sets++;
    totals.probes += probes;
    totals.allowed += allowed;
    totals.denied += denied;
    totals.skipped += skipped;
    totals.policies += policies.length;
    totals.untranslatable += generated.length - policies.length;
    if (disagreeing.length === 0) return { ok: true, probes, allowed, denied };
    env.noteFailure(`${label}: ${disagreeing.length} tuples disagree`);
    return {
      ok: false,
      probes,
      allowed,
      denied,
      report: [
        `${label}: ${disagreeing.length} of ${probes} tuples disagree (Calico ${env.felix.version}, ${this.api}):`,
        ...disagreeing,
        '--- NetworkPolicies (applied in phase N; translated by the operator for phase G)',
        stringify(policies),
        '--- GlobalNetworkPolicies the operator wrote (alone in force in phase G)',
        stringify(
          written.map((g) => ({
            metadata: { name: g.metadata?.name },
            spec: (g as { spec?: unknown }).spec,
          })),
        ),
        '--- pods (namespace/name, address, labels, ports)',
        stringify(
          this.world.pods.map((p, i) => ({
            pod: `${p.namespace}/${p.name}`,
            address: this.endpoints[i]!.address,
            labels: p.labels,
            ports: p.ports,
          })),
        ),
        '--- namespaces',
        stringify(this.world.namespaces),
      ].join('\n'),
    };
  }

  private async deletePolicies(policies: readonly NetworkPolicy[]) {
    for (const np of policies) {
      await this.networkPolicies.delete(np.metadata!.name!, { namespace: np.metadata!.namespace! });
    }
    await eventually('the NetworkPolicies deleted', async () => {
      for (const ns of this.world.namespaces) {
        if ((await this.networkPolicies.listAll({ namespace: ns.name })).items.length > 0) return false;
      }
      return true;
    });
  }
}

async function translationAgainstCalico(env: FelixEnvironment, api: CalicoApi): Promise<void> {
  const seed = api === 'crd' ? SEED : SEED + 1;
  const [world] = fc.sample(worldArbitrary, { seed, numRuns: 1 });
  const differential = new Differential(env, api, world!);
  const started = Date.now();
  env.log(
    `scenario 3: seed ${seed} (reproduce: FC_SEED=${SEED} FELIX_DIFF_SETS=${TOTAL_SETS}), ${SETS[api]} random ` +
      `NetworkPolicy sets over ${world!.pods.length} pods in ${world!.namespaces.length} namespaces`,
  );
  try {
    await differential.createWorld();
    let setIndex = 0;
    let lastFailure: SetOutcome | undefined;
    let shrinkDeadline = Infinity;
    let harnessError: unknown;
    const property = fc.asyncProperty(
      networkPoliciesArbitrary(
        world!.namespaces.map((ns) => ns.name),
        { ipBlocks: FELIX_IP_BLOCKS, minPolicies: 1, maxPolicies: 4 },
      ).filter((policies) => differential.informative(policies)),
      async (policies) => {
        // Shrinking replays sets on the real dataplane: past its budget, the remaining candidates are not run and
        // the smallest failing set found so far is reported.
        if (Date.now() > shrinkDeadline) return true;
        let outcome: SetOutcome;
        try {
          outcome = await differential.runSet(++setIndex, policies);
        } catch (err) {
          // A harness failure (a wait timed out, an API error) is not a disagreement: no shrinking, report it.
          harnessError ??= err;
          shrinkDeadline = 0;
          return false;
        }
        if (!outcome.ok) {
          lastFailure = outcome;
          if (shrinkDeadline === Infinity) shrinkDeadline = Date.now() + SHRINK_BUDGET_MS;
        }
        return outcome.ok;
      },
    );
    const details = await fc.check(property, { seed, numRuns: SETS[api] });
    if (harnessError) throw harnessError;
    if (details.failed) {
      throw new Error(
        `scenario 3 (${api}, seed ${seed}): our translation, Calico's native enforcement and our evaluator ` +
          `disagree; the smallest failing set found (${details.numShrinks} shrinks):\n${lastFailure?.report ?? String(details.errorInstance)}`,
      );
    }
    const t = differential.totals;
    env.log(
      `scenario 3: ${t.sets} random NetworkPolicy sets (${t.policies} policies${t.untranslatable ? `, ${t.untranslatable} untranslatable left out` : ''}), ` +
        `${t.probes} probes per phase (${t.allowed} allowed, ${t.denied} denied${t.skipped ? `, ${t.skipped} SCTP skipped` : ''}), ` +
        `phase N = phase G = evaluator, in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    // Not vacuous: the sets must have denied and allowed real traffic.
    if (t.allowed === 0 || t.denied === 0)
      throw new Error('scenario 3 probed only one verdict: the generator is vacuous');
  } finally {
    differential.close();
  }
}

for (const api of ['crd', 'v3'] as const) {
  describeFelix(api, (felix) => {
    felix.scenario(
      `scenario 3: our translation against Calico's own (${SETS[api]} random NetworkPolicy sets, phase N = phase G = evaluator)`,
      (env) => translationAgainstCalico(env, api),
      // A bound, not a timing assertion: the sets, plus shrinking a failure.
      SETS[api] * 60_000 + SHRINK_BUDGET_MS + 120_000,
    );
  });
}
