/**
 * The VpcEgressProfile API (calico-vpc.io/v1alpha1), defined once. `npm run generate` writes from it the CRD
 * (crds/calico-vpc.io_vpcegressprofiles.yaml) and the TypeScript types (src/api/v1alpha1.generated.ts); render
 * and lint derive their schema from it at runtime (src/manifests/from-definition.ts). To add a field, add it here
 * and run `npm run generate`. Checks a schema cannot express (what needs the whole profile) live in src/vpe/rules.ts,
 * which takes its limits from the constants below.
 */
import type { ResourceDefinition, StringNode } from './definition.js';

/** IBM Cloud VPC address prefixes are IPv4 with a prefix length from 9 to 29. */
export const VPC_PREFIX_MIN_LENGTH = 9;
export const VPC_PREFIX_MAX_LENGTH = 29;

/** Ranges IBM Cloud VPC does not allow as address prefixes; a prefix overlapping one is rejected. */
export const RESERVED_RANGES: readonly { cidr: string; use: string }[] = Object.freeze([
  { cidr: '127.0.0.0/8', use: 'loopback' },
  { cidr: '161.26.0.0/16', use: 'IBM Cloud infrastructure service endpoints' },
  { cidr: '166.8.0.0/14', use: 'IBM Cloud private service endpoints' },
  { cidr: '169.254.0.0/16', use: 'link-local' },
  { cidr: '224.0.0.0/4', use: 'multicast' },
]);

// DNS-1123 label: what a Kubernetes name segment and (a subset of) a label value may be.
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const MAX_LABEL_LENGTH = 63;
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const REGION_PATTERN = '^[a-z]{2,}(-[a-z0-9]+)+$';
export const VPC_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$';
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
const GO_DURATION = "'^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+$'";

const reservedList = `[${RESERVED_RANGES.map((r) => `'${r.cidr}'`).join(', ')}]`;
// Two CIDRs overlap exactly when one contains the other.
const overlapsReserved = `${reservedList}.exists(r, cidr(r).containsCIDR(cidr(self)) || cidr(self).containsCIDR(cidr(r)))`;

function dnsLabel(description?: string): StringNode {
  return {
    ...(description ? { description } : {}),
    type: 'string',
    minLength: 1,
    maxLength: MAX_LABEL_LENGTH,
    pattern: DNS_LABEL_PATTERN,
  };
}

function httpsUrl(description: string, example: string): StringNode {
  return {
    description,
    type: 'string',
    maxLength: 2048,
    'x-kubernetes-validations': [
      {
        rule: "isURL(self) && url(self).getScheme() == 'https'",
        message: `must be an https URL, e.g. ${example}`,
        reason: 'FieldValueInvalid',
      },
    ],
  };
}

const zoneStatus = {
  type: 'object',
  tsName: 'ZoneStatus',
  tsRequired: ['name', 'addressPrefixes'],
  properties: {
    name: { type: 'string' },
    addressPrefixes: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const VPC_EGRESS_PROFILE: ResourceDefinition = {
  group: 'calico-vpc.io',
  version: 'v1alpha1',
  scope: 'Cluster',
  names: {
    kind: 'VpcEgressProfile',
    listKind: 'VpcEgressProfileList',
    plural: 'vpcegressprofiles',
    singular: 'vpcegressprofile',
    shortNames: ['vep'],
    categories: ['calico-vpc'],
  },
  crdComment: [
    'VpcEgressProfile: per-zone VPE gateway egress rules for IBM Cloud VPC clusters.',
    'src/vpe/rules.ts applies the same rules, with the same wording where CEL allows, to files given to the CLI,',
    'which no API server has checked. Admission rejects what it can check on one object; what needs the whole',
    'profile (a policy name made twice, a prefix in two zones) is reported by the controller in status.',
  ],
  printerColumns: [
    { name: 'VPC', type: 'string', jsonPath: '.spec.vpc' },
    {
      name: 'Zones',
      type: 'integer',
      description:
        "How many zones the profile's policies cover (from status, so discovered zones are included; a printer " +
        'column would show only the first name of a list).',
      jsonPath: '.status.zoneCount',
    },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    {
      name: 'Reason',
      type: 'string',
      priority: 1,
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  schema: {
    description:
      "Allows cluster workers to reach VPE gateways (by default the IBM Cloud Container Registry's, TCP 443 and " +
      '4443) in every zone of the VPC: one Calico GlobalNetworkPolicy allow-vpe-gateway-<gateway>-<zone> per ' +
      "gateway and zone, whose destination is the zone's entire VPC address prefix range.",
    type: 'object',
    required: ['spec'],
    'x-kubernetes-validations': [
      {
        rule: `size(self.metadata.name) <= ${MAX_LABEL_LENGTH}`,
        message:
          `metadata.name must be at most ${MAX_LABEL_LENGTH} characters: it is the value of label ` +
          'calico-vpc.io/profile on every policy the profile writes',
        reason: 'FieldValueInvalid',
      },
    ],
    properties: {
      spec: {
        type: 'object',
        tsName: 'VpcEgressProfileSpec',
        'x-kubernetes-validations': [
          {
            rule: 'has(self.discovery) || (has(self.zones) && size(self.zones) > 0)',
            message: 'at least one zone is required, unless spec.discovery reads the zones from the VPC',
            fieldPath: '.zones',
            reason: 'FieldValueRequired',
          },
        ],
        properties: {
          vpc: { description: "The VPC's name or ID. Informational.", type: 'string', maxLength: 128 },
          zones: {
            description:
              "The VPC's zones with their address prefixes (`ibmcloud is vpc-address-prefixes VPC`, or " +
              '`calico-vpc import-prefixes`). Required unless spec.discovery is set.',
            type: 'array',
            maxItems: 16,
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['name'],
            items: {
              type: 'object',
              tsName: 'VpcZone',
              required: ['name', 'addressPrefixes'],
              properties: {
                name: dnsLabel(
                  "The zone's name, e.g. us-south-1. Part of the policy name and the value of label " +
                    'calico-vpc.io/zone.',
                ),
                addressPrefixes: {
                  description:
                    `The zone's VPC address prefixes: IPv4 CIDRs, /${VPC_PREFIX_MIN_LENGTH} to ` +
                    `/${VPC_PREFIX_MAX_LENGTH}, without host bits. Overlapping and adjacent prefixes are ` +
                    'aggregated in the policy.',
                  type: 'array',
                  minItems: 1,
                  maxItems: 64,
                  items: {
                    type: 'string',
                    maxLength: 18,
                    'x-kubernetes-validations': [
                      {
                        rule: 'isCIDR(self)',
                        messageExpression: "self + ' is not a valid CIDR, e.g. 10.240.0.0/18'",
                        reason: 'FieldValueInvalid',
                      },
                      {
                        rule: '!isCIDR(self) || cidr(self).ip().family() == 4',
                        messageExpression: "self + ' is IPv6; VPC address prefixes are IPv4'",
                        reason: 'FieldValueInvalid',
                      },
                      {
                        // Naming the network address here (string(cidr(self).masked())) exceeds the CEL cost
                        // budget; the reconciler's message names it.
                        rule: '!isCIDR(self) || cidr(self).masked() == cidr(self)',
                        messageExpression:
                          "self + ' has host bits set; write the network address of the prefix'",
                        reason: 'FieldValueInvalid',
                      },
                      {
                        rule:
                          '!isCIDR(self) || cidr(self).ip().family() != 4 || ' +
                          `(cidr(self).prefixLength() >= ${VPC_PREFIX_MIN_LENGTH} && ` +
                          `cidr(self).prefixLength() <= ${VPC_PREFIX_MAX_LENGTH})`,
                        messageExpression:
                          `self + ' has a prefix length outside /${VPC_PREFIX_MIN_LENGTH} to ` +
                          `/${VPC_PREFIX_MAX_LENGTH}, the VPC address prefix lengths'`,
                        reason: 'FieldValueInvalid',
                      },
                      {
                        rule: `!isCIDR(self) || cidr(self).ip().family() != 4 || !${overlapsReserved}`,
                        messageExpression:
                          `self + ' overlaps ' + ${reservedList}.filter(r, cidr(r).containsCIDR(cidr(self)) || ` +
                          "cidr(self).containsCIDR(cidr(r)))[0] + ', which cannot be a VPC address prefix " +
                          "(reserved by IBM Cloud)'",
                        reason: 'FieldValueInvalid',
                      },
                    ],
                  },
                },
              },
            },
          },
          gateways: {
            description:
              'The VPE gateways to allow. Default: [{name: registry, protocol: TCP, ports: [443, 4443]}], the ' +
              'IBM Cloud Container Registry.',
            type: 'array',
            minItems: 1,
            maxItems: 16,
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['name'],
            items: {
              type: 'object',
              tsName: 'VpeGateway',
              required: ['name', 'ports'],
              properties: {
                name: dnsLabel('Part of the policy name and the value of label calico-vpc.io/gateway.'),
                protocol: { description: 'TCP (default) or UDP.', type: 'string', enum: ['TCP', 'UDP'] },
                ports: {
                  description:
                    'Destination ports, 1 to 65535. At least one (no ports would mean every port).',
                  type: 'array',
                  minItems: 1,
                  maxItems: 32,
                  items: { type: 'integer', minimum: 1, maximum: 65535 },
                },
              },
            },
          },
          selector: {
            description:
              "Calico selector of the endpoints the policies apply to. Default: ibm.role == 'worker_private' " +
              "(the workers' private host endpoints).",
            type: 'string',
            minLength: 1,
            maxLength: 1024,
            'x-kubernetes-validations': [
              {
                rule: "!self.matches('^[ \\t]*$')",
                message:
                  'must not be blank (Calico reads an empty selector as all()); omit it for the default ' +
                  "ibm.role == 'worker_private'",
                reason: 'FieldValueInvalid',
              },
            ],
          },
          order: {
            description: "The policies' Calico order (lower applies first). Default 500.",
            type: 'number',
          },
          discovery: {
            description: 'Read the zones and their address prefixes from the IBM Cloud VPC API.',
            type: 'object',
            tsName: 'VpcDiscovery',
            required: ['ibmCloud'],
            properties: {
              ibmCloud: {
                type: 'object',
                tsName: 'IbmCloudDiscovery',
                required: ['region', 'vpcId', 'apiKeySecretRef'],
                properties: {
                  region: {
                    description: "The VPC's region, e.g. us-south.",
                    type: 'string',
                    maxLength: 32,
                    pattern: REGION_PATTERN,
                  },
                  vpcId: {
                    description: "The VPC's ID, e.g. r006-2f8b7c4e-8a1d-4b9e-9f3a-6c2d1e0b5a71.",
                    type: 'string',
                    maxLength: 128,
                    pattern: VPC_ID_PATTERN,
                  },
                  apiKeySecretRef: {
                    description:
                      'The Secret key holding an IBM Cloud API key with the VPC Infrastructure Services Viewer ' +
                      'role. The operator reads only this Secret.',
                    type: 'object',
                    tsName: 'SecretKeyRef',
                    required: ['namespace', 'name', 'key'],
                    properties: {
                      namespace: dnsLabel(),
                      name: { type: 'string', minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN },
                      key: { type: 'string', minLength: 1, maxLength: 253, pattern: SECRET_KEY_PATTERN },
                    },
                  },
                  endpoint: httpsUrl(
                    'The VPC API base URL. Default https://<region>.iaas.cloud.ibm.com/v1; the private ' +
                      'endpoint is https://<region>.private.iaas.cloud.ibm.com/v1.',
                    'https://us-south.private.iaas.cloud.ibm.com/v1',
                  ),
                  iamEndpoint: httpsUrl(
                    'The IAM base URL. Default https://iam.cloud.ibm.com, or https://private.iam.cloud.ibm.com ' +
                      'with a private VPC endpoint.',
                    'https://private.iam.cloud.ibm.com',
                  ),
                  refreshInterval: {
                    description: 'How often to read the prefixes, a Go duration from 1m to 24h. Default 10m.',
                    type: 'string',
                    maxLength: 32,
                    'x-kubernetes-validations': [
                      {
                        rule: `self.matches(${GO_DURATION})`,
                        messageExpression: "self + ' is not a duration like 10m or 1h30m'",
                        reason: 'FieldValueInvalid',
                      },
                      {
                        rule:
                          `!self.matches(${GO_DURATION}) || ` +
                          "(duration(self) >= duration('1m') && duration(self) <= duration('24h'))",
                        messageExpression: "self + ' is not from 1m to 24h'",
                        reason: 'FieldValueInvalid',
                      },
                    ],
                  },
                },
              },
            },
          },
        },
      },
      status: {
        type: 'object',
        tsName: 'VpcEgressProfileStatus',
        properties: {
          observedGeneration: { type: 'integer', format: 'int64' },
          conditions: {
            type: 'array',
            maxItems: 16,
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['type'],
            items: {
              type: 'object',
              tsRef: { name: 'Condition', from: './kube.js' },
              required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
              properties: {
                type: { type: 'string', maxLength: 316 },
                status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
                reason: { type: 'string', maxLength: 1024 },
                message: { type: 'string', maxLength: 32768 },
                lastTransitionTime: { type: 'string', format: 'date-time' },
                observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
              },
            },
          },
          policies: {
            description: 'The GlobalNetworkPolicies this profile owns (their v3 names).',
            type: 'array',
            items: { type: 'string' },
          },
          zones: {
            description: "Every zone's address prefixes as written into the policies, aggregated and sorted.",
            type: 'array',
            items: zoneStatus,
          },
          zoneCount: {
            description: "How many zones `zones` lists (kubectl's ZONES column).",
            type: 'integer',
            minimum: 0,
          },
          discoveredZones: {
            description: 'The zones and prefixes last read from the VPC API.',
            type: 'array',
            items: zoneStatus,
          },
          lastDiscoveryTime: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
};
