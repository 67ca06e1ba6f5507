/**
 * config/ and the Dockerfile: the kustomizations build, and what they build is what production needs — least
 * privilege RBAC (pinned rule by rule), a hardened two-replica Deployment with leader election, probes, a PDB —
 * and the pieces agree with each other (selectors, ports, the image's user, the controller's flags).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Container,
  V1CustomResourceDefinition,
  V1Deployment,
  V1Namespace,
  V1PodDisruptionBudget,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Service,
} from '@kubernetes/client-node';
import { captureIO } from '../../src/cli/io.js';
import { buildProgram } from '../../src/cli/program.js';
import { commands } from '../../src/cli/commands/index.js';
import { kustomizeBuild, only, parseManifests, REPO_ROOT, type Manifest } from './kustomize.js';
import { CALICO_APIS } from '../../src/calico/flavour.js';
import {
  NAMESPACES,
  NETWORK_POLICIES,
  VPC_EGRESS_PROFILES,
  globalNetworkPolicies,
} from '../../src/kube/resources.js';

const NAMESPACE = 'calico-vpc-system';
const SERVICE_ACCOUNT = 'calico-vpc-controller-manager';

/** One line per (apiGroup, resource, verb[, resourceName]): rule layout (grouping, order) does not matter. */
function grants(rules: readonly V1PolicyRule[] | undefined): string[] {
  const out = new Set<string>();
  for (const rule of rules ?? []) {
    for (const group of rule.apiGroups ?? ['<none>']) {
      for (const resource of rule.resources ?? ['<none>']) {
        for (const verb of rule.verbs) {
          for (const name of rule.resourceNames ?? ['']) {
            out.add(`${group || 'core'} ${resource} ${verb}${name ? ` ${name}` : ''}`);
          }
        }
      }
    }
  }
  return [...out].sort();
}

function expand(group: string, resources: string[], verbs: string[]): string[] {
  return resources.flatMap((r) => verbs.map((v) => `${group} ${r} ${v}`));
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['get', 'list', 'watch', 'create', 'update', 'delete'];

/**
 * The controller's cluster-wide permissions, exactly: what src/controller and src/kube call (informers list and
 * watch, GNP writes are create/update/delete, profile status is a merge patch, Events are created and patched).
 * Changing config/rbac/role.yaml means changing this.
 */
const EXPECTED_MANAGER_GRANTS = [
  ...expand('networking.k8s.io', ['networkpolicies'], READ),
  ...expand('core', ['namespaces'], READ),
  ...expand('calico-vpc.io', ['vpcegressprofiles'], READ),
  ...expand('calico-vpc.io', ['vpcegressprofiles/status'], ['patch']),
  ...expand('projectcalico.org', ['globalnetworkpolicies', 'tier.globalnetworkpolicies'], WRITE),
  ...expand('crd.projectcalico.org', ['globalnetworkpolicies'], WRITE),
  ...expand('projectcalico.org', ['tiers'], ['get']),
  'crd.projectcalico.org clusterinformations get default',
  ...expand('events.k8s.io', ['events'], ['create', 'patch']),
].sort();

describe('config/default (kubectl kustomize)', () => {
  const manifests = kustomizeBuild('config/default');
  const deployment = only(manifests, 'Deployment') as V1Deployment & Manifest;
  const podSpec = deployment.spec?.template.spec;
  const manager = podSpec?.containers.find((c) => c.name === 'manager') as V1Container;

  it('contains the operator and nothing else, namespaced objects in calico-vpc-system', () => {
    const kinds = manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        `Namespace/${NAMESPACE}`,
        'CustomResourceDefinition/vpcegressprofiles.calico-vpc.io',
        `ServiceAccount/${SERVICE_ACCOUNT}`,
        'ClusterRole/calico-vpc-manager-role',
        'ClusterRoleBinding/calico-vpc-manager-rolebinding',
        'Role/calico-vpc-leader-election-role',
        'RoleBinding/calico-vpc-leader-election-rolebinding',
        'ClusterRole/calico-vpc-vpcegressprofile-editor-role',
        'ClusterRole/calico-vpc-vpcegressprofile-viewer-role',
        'Deployment/calico-vpc-controller-manager',
        'PodDisruptionBudget/calico-vpc-controller-manager',
        'Service/calico-vpc-controller-manager-metrics',
      ].sort(),
    );
    const clusterScoped = new Set([
      'Namespace',
      'CustomResourceDefinition',
      'ClusterRole',
      'ClusterRoleBinding',
    ]);
    for (const m of manifests) {
      expect([`${m.kind}/${m.metadata.name}`, m.metadata.namespace]).toEqual([
        `${m.kind}/${m.metadata.name}`,
        clusterScoped.has(m.kind) ? undefined : NAMESPACE,
      ]);
    }
  });

  it('enforces the restricted Pod Security Standard on its namespace', () => {
    const ns = only(manifests, 'Namespace') as V1Namespace & Manifest;
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('runs two replicas with leader election in its own namespace', () => {
    expect(deployment.spec?.replicas).toBe(2);
    expect(manager.args?.[0]).toBe('run');
    expect(manager.args).toContain('--leader-elect');
    expect(manager.args).toContain('--leader-election-namespace=$(POD_NAMESPACE)');
    const podNamespace = manager.env?.find((e) => e.name === 'POD_NAMESPACE');
    expect(podNamespace?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    // A rolling update never drops below the current replicas, so a standby is always there to take over.
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
  });

  it('runs the default image calico-vpc-operator:dev', () => {
    expect(manager.image).toBe('calico-vpc-operator:dev');
  });

  it('runs as a numeric non-root user with a read-only root, no capabilities and RuntimeDefault seccomp', () => {
    const pod = podSpec?.securityContext;
    expect(pod?.runAsNonRoot).toBe(true);
    expect(Number.isInteger(pod?.runAsUser)).toBe(true);
    expect(pod?.runAsUser).toBeGreaterThan(0);
    expect(pod?.seccompProfile?.type).toBe('RuntimeDefault');
    for (const container of [...(podSpec?.containers ?? []), ...(podSpec?.initContainers ?? [])]) {
      const sc = container.securityContext;
      expect([container.name, sc?.allowPrivilegeEscalation]).toEqual([container.name, false]);
      expect([container.name, sc?.readOnlyRootFilesystem]).toEqual([container.name, true]);
      expect([container.name, sc?.capabilities?.drop]).toEqual([container.name, ['ALL']]);
      expect([container.name, sc?.capabilities?.add ?? []]).toEqual([container.name, []]);
      expect([container.name, sc?.privileged ?? false]).toEqual([container.name, false]);
    }
    expect(podSpec?.hostNetwork ?? false).toBe(false);
    expect(podSpec?.hostPID ?? false).toBe(false);
  });

  it('sets requests and limits for CPU and memory', () => {
    for (const key of ['cpu', 'memory']) {
      expect([key, typeof manager.resources?.requests?.[key]]).toEqual([key, 'string']);
      expect([key, typeof manager.resources?.limits?.[key]]).toEqual([key, 'string']);
    }
  });

  it('probes /healthz and /readyz on the health port 8081 and exposes metrics on 8080', () => {
    const port = (name: string) => manager.ports?.find((p) => p.name === name)?.containerPort;
    expect(port('health')).toBe(8081);
    expect(port('metrics')).toBe(8080);
    expect(manager.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'health' });
    expect(manager.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'health' });
    expect(manager.args).toContain('--health-probe-bind-address=:8081');
    expect(manager.args).toContain('--metrics-bind-address=:8080');
  });

  it('spreads the replicas over nodes', () => {
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    const spread = podSpec?.topologySpreadConstraints?.find(
      (t) => t.topologyKey === 'kubernetes.io/hostname',
    );
    expect(spread?.labelSelector?.matchLabels).toBeDefined();
    expect(podLabels).toMatchObject(spread?.labelSelector?.matchLabels ?? { missing: 'selector' });
  });

  it('selects its own pods in the Deployment, the PodDisruptionBudget and the metrics Service', () => {
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    const pdb = only(manifests, 'PodDisruptionBudget') as V1PodDisruptionBudget & Manifest;
    const service = only(manifests, 'Service') as V1Service & Manifest;
    expect(podLabels).toMatchObject(deployment.spec?.selector.matchLabels ?? { missing: 'selector' });
    expect(podLabels).toMatchObject(pdb.spec?.selector?.matchLabels ?? { missing: 'selector' });
    expect(podLabels).toMatchObject(service.spec?.selector ?? { missing: 'selector' });
    // At least one pod may always be evicted (a drain never blocks), and one always stays.
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(deployment.spec?.replicas).toBeGreaterThan(1);
    expect(service.spec?.ports).toEqual([
      expect.objectContaining({ name: 'metrics', targetPort: 'metrics' }),
    ]);
  });

  it('grants the controller exactly the RBAC it uses, cluster-wide', () => {
    const role = only(manifests, 'ClusterRole', 'calico-vpc-manager-role') as V1ClusterRole & Manifest;
    expect(grants(role.rules)).toEqual(EXPECTED_MANAGER_GRANTS);
  });

  it('lets the controller list and watch every resource its informers watch (src/kube/resources.ts)', () => {
    const role = only(manifests, 'ClusterRole', 'calico-vpc-manager-role') as V1ClusterRole & Manifest;
    const granted = grants(role.rules);
    const watched = [
      NAMESPACES,
      NETWORK_POLICIES,
      VPC_EGRESS_PROFILES,
      ...CALICO_APIS.map(globalNetworkPolicies),
    ];
    for (const ref of watched) {
      for (const verb of ['list', 'watch']) {
        const grant = `${ref.group || 'core'} ${ref.plural} ${verb}`;
        expect([grant, granted.includes(grant)]).toEqual([grant, true]);
      }
    }
  });

  it('never grants Secrets, wildcards or escalation verbs to the controller', () => {
    const controllerRoles = manifests.filter((m) => m.kind === 'ClusterRole' || m.kind === 'Role');
    for (const role of controllerRoles as (V1ClusterRole & Manifest)[]) {
      for (const grant of grants(role.rules)) {
        expect([role.metadata.name, grant]).not.toEqual([role.metadata.name, expect.stringMatching(/\*/)]);
        expect([role.metadata.name, grant]).not.toEqual([
          role.metadata.name,
          expect.stringMatching(/ secrets /),
        ]);
        expect([role.metadata.name, grant]).not.toEqual([
          role.metadata.name,
          expect.stringMatching(/ (escalate|bind|impersonate)$/),
        ]);
      }
    }
  });

  it('holds the leader-election Lease with a Role in its own namespace only', () => {
    const role = only(manifests, 'Role') as V1Role & Manifest;
    expect(role.metadata.namespace).toBe(NAMESPACE);
    // Only the Lease `calico-vpc run` uses by default (the Deployment does not pass --leader-election-id).
    expect(grants(role.rules)).toEqual([
      'coordination.k8s.io leases create',
      'coordination.k8s.io leases get calico-vpc-operator-leader',
      'coordination.k8s.io leases update calico-vpc-operator-leader',
    ]);
    expect(manager.args?.some((a) => a.startsWith('--leader-election-id'))).toBe(false);
  });

  it('binds both roles to the Deployment\u2019s ServiceAccount', () => {
    expect(podSpec?.serviceAccountName).toBe(SERVICE_ACCOUNT);
    const subject = { kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: NAMESPACE };
    const crb = only(manifests, 'ClusterRoleBinding') as V1ClusterRoleBinding & Manifest;
    expect(crb.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'calico-vpc-manager-role',
    });
    expect(crb.subjects).toEqual([subject]);
    const rb = only(manifests, 'RoleBinding') as V1RoleBinding & Manifest;
    expect(rb.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'calico-vpc-leader-election-role',
    });
    expect(rb.subjects).toEqual([subject]);
  });

  it('keeps the CRD name unprefixed (namePrefix must not rename it)', () => {
    const crd = only(manifests, 'CustomResourceDefinition') as V1CustomResourceDefinition & Manifest;
    expect(crd.spec.group).toBe('calico-vpc.io');
    expect(crd.spec.names.plural).toBe('vpcegressprofiles');
  });
});

describe('an overlay on config/default', () => {
  it('replaces the image with kustomize images:', () => {
    // A throw-away overlay beside the others: kustomize loads only relative paths.
    const overlay = mkdtempSync(join(REPO_ROOT, 'config', '.test-overlay-'));
    try {
      writeFileSync(
        join(overlay, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          '  - ../default',
          'images:',
          '  - name: calico-vpc-operator',
          '    newName: registry.example.com/team/calico-vpc-operator',
          '    newTag: v1.2.3',
          '',
        ].join('\n'),
      );
      const deployment = only(kustomizeBuild(relative(REPO_ROOT, overlay)), 'Deployment') as V1Deployment &
        Manifest;
      expect(deployment.spec?.template.spec?.containers.map((c) => c.image)).toEqual([
        'registry.example.com/team/calico-vpc-operator:v1.2.3',
      ]);
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  });
});

describe('the other kustomizations build on their own', () => {
  it('config/crd holds exactly our CRDs', () => {
    const manifests = kustomizeBuild('config/crd');
    expect(manifests.length).toBeGreaterThan(0);
    for (const m of manifests as (V1CustomResourceDefinition & Manifest)[]) {
      expect([m.metadata.name, m.kind, m.spec.group]).toEqual([
        m.metadata.name,
        'CustomResourceDefinition',
        'calico-vpc.io',
      ]);
    }
  });

  it('config/rbac and config/manager build', () => {
    expect(only(kustomizeBuild('config/rbac'), 'ClusterRole', 'manager-role').kind).toBe('ClusterRole');
    expect(only(kustomizeBuild('config/manager'), 'Deployment').metadata.name).toBe('controller-manager');
  });

  it('config/prometheus scrapes the metrics Service by its labels and port name', () => {
    const monitor = only(kustomizeBuild('config/prometheus'), 'ServiceMonitor');
    const service = only(kustomizeBuild('config/manager'), 'Service') as V1Service & Manifest;
    const spec = monitor.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string }[];
    };
    expect(service.metadata.labels).toMatchObject(spec.selector.matchLabels);
    expect(spec.endpoints.map((e) => e.port)).toEqual(service.spec?.ports?.map((p) => p.name));
  });
});

describe('the optional IBM discovery Secret reader (config/rbac/ibm_discovery_secret_reader_role.yaml)', () => {
  const file = join(REPO_ROOT, 'config', 'rbac', 'ibm_discovery_secret_reader_role.yaml');
  const manifests = parseManifests(readFileSync(file, 'utf8'), file);

  it('grants get on one named Secret and nothing else', () => {
    const role = only(manifests, 'Role') as V1Role & Manifest;
    expect(grants(role.rules)).toEqual(['core secrets get ibm-cloud-api-key']);
    const binding = only(manifests, 'RoleBinding') as V1RoleBinding & Manifest;
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'controller-manager', namespace: 'system' },
    ]);
  });

  it('is not installed by default', () => {
    expect(kustomizeBuild('config/default').filter((m) => m.metadata.name.includes('secret'))).toEqual([]);
  });
});

describe('the Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const finalStage = instructions.slice(instructions.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    engines: { node: string };
    bin: Record<string, string>;
  };

  it('pins an exact Node release whose major package.json engines allows', () => {
    const base = /^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.(\d+)-[a-z]+-slim$/m.exec(dockerfile);
    expect(base).not.toBeNull();
    const major = Number(base?.[1]);
    const range = /^>=(\d+)\.\d+(?:\.\d+)? <(\d+)$/.exec(pkg.engines.node);
    expect(range).not.toBeNull();
    expect(major).toBeGreaterThanOrEqual(Number(range?.[1]));
    expect(major).toBeLessThan(Number(range?.[2]));
    for (const from of instructions.filter((l) => l.startsWith('FROM '))) {
      expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}( AS [a-z-]+)?$/);
    }
  });

  it("allows no Node release older than a production dependency's engines ask for", () => {
    const version = (text: string) => text.split('.').map(Number).concat(0, 0).slice(0, 3);
    const compare = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
    const ours = version(/^>=([\d.]+) /.exec(pkg.engines.node)![1]!);
    const { dependencies } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const unmet: string[] = [];
    for (const name of Object.keys(dependencies)) {
      const manifest = join(REPO_ROOT, 'node_modules', name, 'package.json');
      const wanted = (JSON.parse(readFileSync(manifest, 'utf8')) as { engines?: { node?: string } }).engines
        ?.node;
      if (wanted === undefined) continue;
      // The oldest release of our major that some alternative (`>=x.y.z` or `^x`) admits.
      const oldest = wanted
        .split('||')
        .map((alternative) => {
          const match = /^\s*(>=|\^)\s*([\d.]+)\s*$/.exec(alternative);
          if (!match) throw new Error(`${name}: engines.node "${wanted}" is not a form this test reads`);
          const bound = version(match[2]!);
          if (bound[0] === ours[0]) return bound;
          return match[1] === '>=' && bound[0]! < ours[0]! ? [ours[0]!, 0, 0] : undefined;
        })
        .filter((bound) => bound !== undefined)
        .sort(compare)[0];
      if (oldest === undefined || compare(ours, oldest) < 0)
        unmet.push(`${name} wants node ${wanted}; package.json engines allows ${pkg.engines.node}`);
    }
    expect(unmet).toEqual([]);
  });

  it('installs only production dependencies, without install scripts, for the final image', () => {
    expect(dockerfile).toMatch(/RUN npm ci --omit=dev --ignore-scripts/);
    expect(finalStage.filter((l) => l.startsWith('RUN '))).toEqual([]);
  });

  it('runs the CLI entry point as the same numeric non-root user as the Deployment', () => {
    const user = finalStage.find((l) => l.startsWith('USER '));
    const uid = Number(/^USER (\d+)(:\d+)?$/.exec(user ?? '')?.[1]);
    expect(uid).toBeGreaterThan(0);
    const deployment = only(kustomizeBuild('config/manager'), 'Deployment') as V1Deployment & Manifest;
    expect(deployment.spec?.template.spec?.securityContext?.runAsUser).toBe(uid);
    expect(finalStage).toContain(`ENTRYPOINT ["node", "${pkg.bin['calico-vpc']}"]`);
    expect(finalStage).toContain('CMD ["run"]');
  });

  it('keeps the build context to what the image needs', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore[ignore.findIndex((l) => l.trim() && !l.startsWith('#'))]).toBe('*');
    for (const needed of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/',
      'hack/bundle.mjs',
      'crds/',
    ]) {
      expect(ignore).toContain(`!${needed}`);
    }
  });
});

// The Deployment's flags must be ones `calico-vpc run` accepts. Until the run command is registered there is
// nothing to check them against; then this block starts checking without anyone remembering to enable it.
const runCommand = buildProgram(captureIO(), commands).commands.find((c) => c.name() === 'run');
const describeRunFlags = runCommand ? describe : describe.skip;
describeRunFlags(
  `the Deployment's flags${runCommand ? '' : ' (skipped: no `run` command is registered in src/cli/commands yet)'}`,
  () => {
    it('are all options of `calico-vpc run`', () => {
      const deployment = only(kustomizeBuild('config/manager'), 'Deployment') as V1Deployment & Manifest;
      const args = deployment.spec?.template.spec?.containers[0]?.args ?? [];
      const known = new Set(runCommand?.options.map((o) => o.long));
      const flags = args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]);
      expect(flags.filter((f) => !known.has(f))).toEqual([]);
    });

    it('leave the Lease name at the default the leader-election Role is limited to', () => {
      const id = runCommand?.options.find((o) => o.long === '--leader-election-id');
      const role = only(kustomizeBuild('config/rbac'), 'Role') as V1Role & Manifest;
      const names = new Set(role.rules?.flatMap((r) => r.resourceNames ?? []));
      expect([...names]).toEqual([id?.defaultValue]);
    });
  },
);
