/**
 * The files generated from the API definitions and published schemas, formatted as `prettier --write` would leave
 * them. Shared by hack/generate.ts (writes them) and test/unit/generated.test.ts (fails when a committed one is
 * stale).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { generatedFiles, type GeneratedFile } from '../src/api/generate.js';
import { VPC_EGRESS_PROFILE } from '../src/api/vpc-egress-profile.js';
import { findCalicoCrds } from '../src/controlplane/install.js';
import {
  generateKubernetesSchemaModule,
  trimKubernetesOpenApi,
  type KubernetesOpenApiCopy,
} from '../src/manifests/kubernetes-openapi.js';
import { KUBERNETES_OVERRIDES, KUBERNETES_SCHEMA_ROOTS } from '../src/manifests/kubernetes-overrides.js';
import { generateOpenApiModule } from '../src/manifests/openapi.js';

export const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Calico's schemas come from the projectcalico.org/v3 CRDs we install (the stricter of the two groups: its enums and
 * ranges are what Calico's validator enforces on crd.projectcalico.org/v1 too).
 */
async function calicoSchemaFile(): Promise<GeneratedFile> {
  const { v3 } = await findCalicoCrds();
  const source = (exportName: string, plural: string) => {
    const file = join(v3, `projectcalico.org_${plural}.yaml`);
    return {
      exportName,
      provenance: `${basename(v3)}/${basename(file)}`,
      crdText: readFileSync(file, 'utf8'),
    };
  };
  const text = generateOpenApiModule(
    [
      source('GLOBAL_NETWORK_POLICY_SPEC', 'globalnetworkpolicies'),
      source('NETWORK_POLICY_SPEC', 'networkpolicies'),
      source('TIER_SPEC', 'tiers'),
    ],
    'hack/generated-files.ts',
  );
  return { path: 'src/manifests/calico-openapi.generated.ts', text };
}

/** The Kubernetes version of the local control plane (hack/controlplane/kube/go.mod), whose schema we copy. */
export function kubernetesVersion(): string {
  const goMod = readFileSync(join(REPOSITORY_ROOT, 'hack/controlplane/kube/go.mod'), 'utf8');
  const version = /^\s*(?:require\s+)?k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(goMod)?.[1];
  if (version === undefined)
    throw new Error('hack/controlplane/kube/go.mod requires no k8s.io/kubernetes version');
  return version;
}

export const kubernetesOpenApiCopyPath = (version: string) =>
  `hack/schemas/kubernetes-${version}-openapi.json`;

/**
 * The published OpenAPI v3 documents in the Go module cache, where the control-plane build
 * (hack/build-control-plane.sh) downloads k8s.io/kubernetes; undefined when that module is not there.
 */
export function publishedKubernetesOpenApiDir(version: string): string | undefined {
  const caches = [
    process.env.GOMODCACHE,
    ...(process.env.GOPATH ?? '').split(':').map((p) => p && join(p, 'pkg/mod')),
    join(homedir(), 'go/pkg/mod'),
  ];
  return caches
    .filter((cache): cache is string => Boolean(cache))
    .map((cache) => join(cache, `k8s.io/kubernetes@${version}/api/openapi-spec/v3`))
    .find((dir) => existsSync(dir));
}

/** The copy cut from the published schema when it is at hand; undefined otherwise. */
export function freshKubernetesOpenApiCopy(version: string): KubernetesOpenApiCopy | undefined {
  const dir = publishedKubernetesOpenApiDir(version);
  if (dir === undefined) return undefined;
  const documents = readdirSync(dir)
    .filter((file) => /^apis?__(.+__)?v\d+_openapi\.json$/.test(file))
    .sort()
    .map((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as object);
  return trimKubernetesOpenApi(
    documents,
    `k8s.io/kubernetes@${version} api/openapi-spec/v3`,
    KUBERNETES_SCHEMA_ROOTS,
    KUBERNETES_OVERRIDES,
  );
}

/**
 * The Kubernetes schema module, from the copy cut afresh when the published schema is at hand (then the copy is
 * written too), else from the committed copy: generating never needs the Kubernetes sources.
 */
function kubernetesSchemaFiles(): GeneratedFile[] {
  const version = kubernetesVersion();
  const copyPath = kubernetesOpenApiCopyPath(version);
  const fresh = freshKubernetesOpenApiCopy(version);
  const committed = join(REPOSITORY_ROOT, copyPath);
  if (fresh === undefined && !existsSync(committed)) {
    throw new Error(
      `${copyPath} is missing and the published schema of Kubernetes ${version} is not in the Go module cache: ` +
        'run hack/build-control-plane.sh (it downloads k8s.io/kubernetes), then `npm run generate`',
    );
  }
  const copy = fresh ?? (JSON.parse(readFileSync(committed, 'utf8')) as KubernetesOpenApiCopy);
  const module = {
    path: 'src/manifests/kubernetes-schemas.generated.ts',
    text: generateKubernetesSchemaModule(
      copy,
      copyPath,
      KUBERNETES_SCHEMA_ROOTS,
      KUBERNETES_OVERRIDES,
      'hack/generated-files.ts',
    ),
  };
  return fresh ? [{ path: copyPath, text: JSON.stringify(fresh) }, module] : [module];
}

export async function formattedGeneratedFiles(): Promise<GeneratedFile[]> {
  const files = [
    ...generatedFiles(VPC_EGRESS_PROFILE, 'src/api/vpc-egress-profile.ts'),
    await calicoSchemaFile(),
    ...kubernetesSchemaFiles(),
  ];
  return Promise.all(
    files.map(async ({ path, text }) => {
      const filepath = `${REPOSITORY_ROOT}/${path}`;
      const options = (await resolveConfig(filepath)) ?? {};
      return { path, text: await format(text, { ...options, filepath }) };
    }),
  );
}
