/**
 * Differential test: for random clusters, NetworkPolicies and connections, the Kubernetes verdict (kube-eval on
 * the NetworkPolicies) must equal the Calico verdict (calico-eval on their translations), per direction.
 *
 * Reproduce a failure with the seed fast-check prints: `FC_SEED=<seed> npx jest src/policy/differential`.
 * Run more cases with `FC_NUM_RUNS=20000`.
 *
 * The test can fail: the mutation tests below break the translation in ways a careless implementation could,
 * and check that the same property catches each of them.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { NetworkPolicy } from '../api/kube.js';
import type { GlobalNetworkPolicy } from '../calico/types.js';
import { formatIp } from '../util/cidr.js';
import { formatFieldError } from '../api/errors.js';
import { translateNetworkPolicy, type NetworkPolicyTranslation } from '../translate/networkpolicy.js';
import {
  policyScenarioArbitrary,
  scenarioCluster,
  type PolicyScenario,
} from '../../test/support/policy-arbitraries.js';
import {
  calicoPolicySet,
  calicoVerdict,
  compileCalicoPolicy,
  type CompiledCalicoPolicy,
} from './calico-eval.js';
import { compileNetworkPolicy, kubeVerdict, type CompiledNetworkPolicy } from './kube-eval.js';
import { clusterModel, namespaceModel, resolveConnection, type PodModel } from './model.js';

type Translate = (np: NetworkPolicy) => NetworkPolicyTranslation;

interface Tally {
  scenarios: number;
  connections: number;
  untranslatable: number;
  /** Per-direction outcomes on the Kubernetes side, to prove the generator is not vacuous. */
  outcomes: Record<string, number>;
}

const newTally = (): Tally => ({ scenarios: 0, connections: 0, untranslatable: 0, outcomes: {} });

/** Compares both evaluators on one scenario; returns a readable report of the first disagreement. */
function firstDisagreement(scenario: PolicyScenario, translate: Translate, tally: Tally): string | undefined {
  tally.scenarios++;
  const cluster = scenarioCluster(scenario);
  const kube: CompiledNetworkPolicy[] = [];
  const calico: CompiledCalicoPolicy[] = [];
  const gnps: GlobalNetworkPolicy[] = [];
  for (const np of scenario.policies) {
    const translation = translate(np);
    if (!translation.ok) {
      // The only policies the generator makes that may not translate are those selecting on Calico's own labels.
      const unexpected = translation.errors.filter(
        (error) => !error.message.includes('Calico sets or inherits'),
      );
      if (unexpected.length > 0)
        throw new Error(`unexpected translation failure: ${unexpected.map(formatFieldError).join('; ')}`);
      tally.untranslatable++;
      continue;
    }
    const compiledKube = compileNetworkPolicy(np);
    if (!compiledKube.ok)
      throw new Error(
        `generated an invalid NetworkPolicy: ${compiledKube.errors.map(formatFieldError).join('; ')}`,
      );
    const compiledCalico = compileCalicoPolicy(translation.policy);
    if (!compiledCalico.ok) {
      throw new Error(
        `the translation is not a valid Calico policy: ${compiledCalico.errors.map(formatFieldError).join('; ')}`,
      );
    }
    kube.push(compiledKube.value);
    calico.push(compiledCalico.value);
    gnps.push(translation.policy);
  }
  const policySet = calicoPolicySet(calico);
  for (const connection of scenario.connections) {
    const resolved = resolveConnection(cluster, connection);
    if (!resolved.ok)
      throw new Error(`generated an invalid connection: ${resolved.errors.map(formatFieldError).join('; ')}`);
    tally.connections++;
    const expected = kubeVerdict(kube, resolved.value);
    const actual = calicoVerdict(policySet, resolved.value);
    for (const direction of ['ingress', 'egress'] as const) {
      const key = `${direction}:${expected[direction].outcome}`;
      tally.outcomes[key] = (tally.outcomes[key] ?? 0) + 1;
    }
    if (
      expected.ingress.allowed !== actual.ingress.allowed ||
      expected.egress.allowed !== actual.egress.allowed
    ) {
      return [
        `Kubernetes and Calico disagree on ${expected.connection}:`,
        `  Kubernetes: egress ${expected.egress.outcome}, ingress ${expected.ingress.outcome}`,
        `  Calico:     egress ${actual.egress.outcome}, ingress ${actual.ingress.outcome}`,
        '--- Kubernetes explanation',
        stringify({ egress: expected.egress, ingress: expected.ingress }),
        '--- Calico explanation',
        stringify({ egress: actual.egress, ingress: actual.ingress }),
        '--- NetworkPolicies',
        stringify(scenario.policies),
        '--- GlobalNetworkPolicies',
        stringify(gnps),
        '--- pods',
        stringify(scenario.pods.map(describePod)),
        '--- namespaces',
        stringify(scenario.namespaces),
      ].join('\n');
    }
  }
  return undefined;
}

function describePod(pod: PodModel): object {
  return { ...pod, ips: pod.ips.map(formatIp) };
}

function agreementProperty(translate: Translate, tally: Tally): fc.IProperty<[PolicyScenario]> {
  return fc.property(policyScenarioArbitrary, (scenario) => {
    const disagreement = firstDisagreement(scenario, translate, tally);
    if (disagreement !== undefined) throw new Error(disagreement);
  });
}

const envNumber = (name: string): number | undefined => {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : Number(value);
};

describe('Kubernetes semantics == Calico semantics of the translation', () => {
  it('agrees on random clusters, policies and connections', () => {
    const tally = newTally();
    fc.assert(agreementProperty(translateNetworkPolicy, tally), {
      numRuns: envNumber('FC_NUM_RUNS') ?? 1000,
      seed: envNumber('FC_SEED'),
    });
    // Not vacuous: every kind of outcome occurs, isolation and denial included, and some policies were refused.
    const share = (key: string): number => (tally.outcomes[key] ?? 0) / tally.connections;
    expect(tally.connections).toBeGreaterThan(5000);
    for (const direction of ['ingress', 'egress']) {
      expect(share(`${direction}:allowed-by-rule`)).toBeGreaterThan(0.03);
      expect(share(`${direction}:no-rule-allows`)).toBeGreaterThan(0.03);
      expect(share(`${direction}:no-policy-selects`)).toBeGreaterThan(0.03);
      expect(share(`${direction}:not-applicable`)).toBeGreaterThan(0.03);
    }
    expect(tally.untranslatable).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The property can fail: known-wrong translations are caught.

function mutateRules(translate: Translate, mutate: (policy: GlobalNetworkPolicy) => void): Translate {
  return (np) => {
    const translation = translate(np);
    if (translation.ok) mutate(translation.policy);
    return translation;
  };
}

const forEachEntity = (
  policy: GlobalNetworkPolicy,
  visit: (entity: NonNullable<NonNullable<GlobalNetworkPolicy['spec']['ingress']>[number]['source']>) => void,
): void => {
  for (const rule of [...(policy.spec.ingress ?? []), ...(policy.spec.egress ?? [])]) {
    if (rule.source) visit(rule.source);
    if (rule.destination) visit(rule.destination);
  }
};

const MUTATIONS: Record<string, Translate> = {
  // The classic GNP mistake: a podSelector peer left cluster-wide.
  'podSelector peers not scoped to the namespace': mutateRules(translateNetworkPolicy, (policy) =>
    forEachEntity(policy, (entity) => {
      if (entity.selector)
        entity.selector = entity.selector.replace(/ && projectcalico\.org\/namespace == '[^']*'/, '');
    }),
  ),
  'ipBlock except ignored': mutateRules(translateNetworkPolicy, (policy) =>
    forEachEntity(policy, (entity) => {
      delete entity.notNets;
    }),
  ),
  'endPort ignored': mutateRules(translateNetworkPolicy, (policy) =>
    forEachEntity(policy, (entity) => {
      if (entity.ports)
        entity.ports = entity.ports.map((port) =>
          typeof port === 'string' && port.includes(':') ? Number(port.split(':')[0]) : port,
        );
    }),
  ),
  'policy types not written (Calico v3 defaulting instead of the API server’s)': mutateRules(
    translateNetworkPolicy,
    (policy) => {
      delete policy.spec.types;
    },
  ),
  'namespaceSelector dropped from peers that also have a podSelector': mutateRules(
    translateNetworkPolicy,
    (policy) =>
      forEachEntity(policy, (entity) => {
        if (entity.namespaceSelector && entity.selector !== "projectcalico.org/orchestrator == 'k8s'")
          delete entity.namespaceSelector;
      }),
  ),
  'named ports widened to every port': mutateRules(translateNetworkPolicy, (policy) =>
    forEachEntity(policy, (entity) => {
      if (!entity.ports) return;
      const numeric = entity.ports.filter((port) => typeof port === 'number' || /^[0-9]/.test(port));
      if (numeric.length > 0) entity.ports = numeric;
      else delete entity.ports;
    }),
  ),
  'NotIn written as a negated In that is false for absent labels': mutateRules(
    translateNetworkPolicy,
    (policy) => {
      const mutate = (selector: string): string =>
        selector.replace(/([A-Za-z0-9_./-]+) not in (\{[^}]*\})/g, 'has($1) && $1 not in $2');
      policy.spec.selector = mutate(policy.spec.selector ?? '');
      forEachEntity(policy, (entity) => {
        if (entity.selector) entity.selector = mutate(entity.selector);
        if (entity.namespaceSelector) entity.namespaceSelector = mutate(entity.namespaceSelector);
      });
    },
  ),
  'SCTP rules written as TCP': mutateRules(translateNetworkPolicy, (policy) => {
    for (const rule of [...(policy.spec.ingress ?? []), ...(policy.spec.egress ?? [])]) {
      if (rule.protocol === 'SCTP') rule.protocol = 'TCP';
    }
  }),
};

describe('the differential property detects wrong translations', () => {
  it.each(Object.entries(MUTATIONS))('%s', (_name, mutated) => {
    const result = fc.check(agreementProperty(mutated, newTally()), {
      numRuns: 1000,
      seed: 4242,
      endOnFailure: true,
    });
    expect(result.failed).toBe(true);
  });

  it('a concrete case: an unscoped podSelector peer lets another namespace in', () => {
    // ns-a/web allows ingress from pods labelled app=client "in its namespace"; ns-b/client must stay out.
    const cluster = clusterModel(
      [namespaceModel('ns-a'), namespaceModel('ns-b')],
      [
        {
          namespace: 'ns-a',
          name: 'web',
          labels: { app: 'web' },
          namedPorts: [],
          ips: [],
          hostNetwork: false,
        },
        {
          namespace: 'ns-b',
          name: 'client',
          labels: { app: 'client' },
          namedPorts: [],
          ips: [],
          hostNetwork: false,
        },
      ],
    );
    const np: NetworkPolicy = {
      metadata: { name: 'allow-clients', namespace: 'ns-a' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
      },
    };
    const connection = resolveConnection(cluster, {
      src: { kind: 'pod', namespace: 'ns-b', name: 'client' },
      dst: { kind: 'pod', namespace: 'ns-a', name: 'web' },
      protocol: 'TCP',
      port: 80,
    });
    if (!connection.ok) throw new Error('bad connection');
    const verdictWith = (translate: Translate): boolean => {
      const translation = translate(np);
      if (!translation.ok) throw new Error('untranslatable');
      const compiled = compileCalicoPolicy(translation.policy);
      if (!compiled.ok) throw new Error('invalid GNP');
      return calicoVerdict(calicoPolicySet([compiled.value]), connection.value).allowed;
    };
    const kube = compileNetworkPolicy(np);
    if (!kube.ok) throw new Error('invalid NP');

    expect(kubeVerdict([kube.value], connection.value).allowed).toBe(false);
    expect(verdictWith(translateNetworkPolicy)).toBe(false);
    expect(verdictWith(MUTATIONS['podSelector peers not scoped to the namespace'] as Translate)).toBe(true);
  });
});
