/**
 * Every finding the linter can report, with the help text shown by `calico-vpc lint` consumers (SARIF rule help in
 * code-scanning tools). A rule's severity is fixed: errors are what the API server, Calico or the operator would
 * reject; warnings are likely mistakes in input that is otherwise accepted.
 */
export type Severity = 'error' | 'warning';

export interface LintRule {
  readonly id: string;
  readonly severity: Severity;
  /** One line. */
  readonly summary: string;
  /** Markdown: what is wrong, why it matters, how to fix it. */
  readonly help: string;
}

function rule(id: string, severity: Severity, summary: string, help: string): LintRule {
  return { id, severity, summary, help };
}

export const RULES = {
  yamlSyntax: rule(
    'yaml-syntax',
    'error',
    'The document is not valid YAML or JSON, or is not an object.',
    'kubectl cannot read this document either. Fix the syntax at the reported position; the rest of the file is still checked.',
  ),
  unknownField: rule(
    'unknown-field',
    'error',
    'A field the object’s schema does not have.',
    'Field names are case-sensitive. The API server rejects unknown fields (kubectl validates strictly), and a tool that ignored them would read a different policy: a peer whose only field is `NamespaceSelector` means nothing like a `namespaceSelector` peer. Use the suggested spelling, or move the field to the level it belongs to.',
  ),
  wrongType: rule(
    'wrong-type',
    'error',
    'A field has the wrong shape (a map where a list is expected, a number where a string is).',
    'Example: `ports:` takes a list, so `ports: {port: 3111}` must be written `ports: [{port: 3111}]` (or `- port: 3111` on its own line). Label values must be strings: quote `"1.0"` and `"true"`.',
  ),
  missingField: rule(
    'missing-field',
    'error',
    'A required field is missing.',
    'Add the field. For a NetworkPolicy, `spec.podSelector` is required; `podSelector: {}` selects every pod of the namespace.',
  ),
  invalidValue: rule(
    'invalid-value',
    'error',
    'A field has a value its schema does not allow (an unknown enum value such as protocol `tcp`).',
    'Enum values are case-sensitive: `TCP`, `Ingress`, `In`.',
  ),
  untranslatable: rule(
    'untranslatable',
    'error',
    'The NetworkPolicy is rejected by the API server or cannot be expressed exactly as a Calico policy.',
    'The operator translates each NetworkPolicy into one Calico GlobalNetworkPolicy with exactly the same meaning and refuses policies it cannot translate exactly (invalid label keys or values, invalid CIDRs, selectors on labels Calico owns). The message names the field.',
  ),
  ignoredRules: rule(
    'rules-ignored',
    'warning',
    'Rules of a direction that `policyTypes` does not include: Kubernetes does not enforce them.',
    'Add the direction to `spec.policyTypes`, or delete the rules.',
  ),
  translationWarning: rule(
    'translation-warning',
    'warning',
    'The operator translates the object, with a caveat.',
    'The message says what the operator does differently from what the object seems to ask for.',
  ),
  cidrHostBits: rule(
    'cidr-host-bits',
    'warning',
    'A CIDR has host bits set; it is read as its network.',
    '`10.0.0.1/24` is read as `10.0.0.0/24`. Write the network to say what is meant (or `/32` for a single address).',
  ),
  invalidCalicoPolicy: rule(
    'invalid-calico-policy',
    'error',
    'A Calico GlobalNetworkPolicy that Calico rejects: a `nets` entry that is not a CIDR, a selector that does not parse, ports without a port protocol.',
    "Calico refuses the whole policy. Placeholders copied from documentation (`<entire-vpc-address-prefix-range>`) must be replaced with real prefixes (`ibmcloud is vpc-address-prefixes <vpc>`). Selector syntax: `ibm.role == 'worker_private'`, `has(app) && tier in {'a', 'b'}`.",
  ),
  invalidProfile: rule(
    'invalid-profile',
    'error',
    'A VpcEgressProfile that the operator rejects (no policies are written for it).',
    'The message names the field: invalid or reserved address prefixes, host bits set, prefix lengths outside /9../29 (IBM Cloud VPC address prefixes), duplicate zone names, ports outside 1..65535.',
  ),
  prefixOverlap: rule(
    'prefix-overlap',
    'warning',
    'An address prefix overlaps a prefix of another zone.',
    'A VPC address prefix belongs to exactly one zone. Check the output of `ibmcloud is vpc-address-prefixes <vpc>`; the overlapping range is allowed under both zones.',
  ),
  profileConflict: rule(
    'profile-conflict',
    'warning',
    'Two VpcEgressProfiles write the same GlobalNetworkPolicy (same gateway and zone names).',
    'The operator gives each policy to the oldest profile that claims it and marks the other `Conflict`. Give each zone (or gateway) to one profile.',
  ),
  labelKeyCase: rule(
    'label-key-case',
    'warning',
    'A selector key matches no label in the input, but differs only in case from one that exists.',
    'Label keys are case-sensitive: `Tier: backend` does not match pods labelled `tier: backend`, so the selector selects nothing. Use the key the pods (or namespaces) carry.',
  ),
  selectorMatchesNothing: rule(
    'selector-matches-nothing',
    'warning',
    'A podSelector or namespaceSelector selects no pod or namespace in the input.',
    'Judged only against the pods, workloads and namespaces given to the linter: lint the policies together with the manifests of the workloads they protect. A policy selecting nothing has no effect; a peer selecting nothing allows nothing.',
  ),
  peersOrVsAnd: rule(
    'peers-or-vs-and',
    'warning',
    'A namespaceSelector peer and a podSelector peer as two list items, where one peer with both was probably meant.',
    [
      'Peers in `from`/`to` are ORed. These are two peers:',
      '',
      '```yaml',
      '- namespaceSelector: {matchLabels: {usage: finance}}',
      '- podSelector: {matchLabels: {app: Srv2}}',
      '```',
      '',
      'They allow every pod of the `usage=finance` namespaces, plus the `app=Srv2` pods of the policy’s own namespace. Since Kubernetes 1.11 both selectors can be combined in ONE peer, which allows only the `app=Srv2` pods of the `usage=finance` namespaces:',
      '',
      '```yaml',
      '- namespaceSelector: {matchLabels: {usage: finance}}',
      '  podSelector: {matchLabels: {app: Srv2}}',
      '```',
    ].join('\n'),
  ),
  vpeRuleMissing: rule(
    'vpe-rule-missing',
    'warning',
    'Worker egress is restricted, but the VPE gateway traffic (TCP 443 and 4443 to each zone’s VPC address prefixes) is not allowed.',
    "Since cluster version 1.28, VPC workers pull images through a VPE gateway. A Calico policy that selects the workers’ private host endpoints (`ibm.role == 'worker_private'`) for egress denies everything no rule allows, so each zone of the VPC needs an allow rule for TCP 443 and 4443 to the zone’s entire address prefix range. Declare the zones in a VpcEgressProfile (`calico-vpc import-prefixes`) and the operator writes and maintains those rules.",
  ),
  duplicateObject: rule(
    'duplicate-object',
    'warning',
    'The same object (kind, namespace, name) appears twice; the later one replaces the earlier.',
    'Remove one of them, or rename it.',
  ),
  unrecognizedObject: rule(
    'unrecognized-object',
    'warning',
    'A document looks like a kind the tools read but is not one (misspelled kind, unserved apiVersion, no kind).',
    'Tools skip objects they do not recognise, so such a policy would silently not be checked, translated or enforced.',
  ),
  calicoReservedLabel: rule(
    'calico-reserved-label',
    'warning',
    'A pod label that Calico also derives from the namespace or service account (`pcns.*`, `pcsa.*`, `projectcalico.org/*`).',
    'Calico gives every workload endpoint the labels of its namespace as `pcns.<key>` and of its service account as `pcsa.<key>`, and a label of the pod itself wins over an inherited one. A pod labelled `pcns.kubernetes.io/metadata.name: finance` therefore satisfies a namespaceSelector for the finance namespace in Calico but not in Kubernetes: the pod can reach what only finance may reach. Remove the label; a Kubernetes NetworkPolicy cannot express anything with it.',
  ),
  unevaluatedCalicoMatch: rule(
    'unevaluated-calico-match',
    'warning',
    'A Calico rule matches by HTTP method or path (application layer policy) or by a Service, which lint does not evaluate.',
    "Valid Calico; the policy takes no part in lint's reachability checks (vpe-rule-missing), and `connectivity --mode calico` refuses it. Check its effect on worker egress by hand.",
  ),
} as const satisfies Record<string, LintRule>;

export type RuleKey = keyof typeof RULES;
export const ALL_RULES: readonly LintRule[] = Object.values(RULES);
