/**
 * Installing CRDs and manifests into a cluster (the local control plane, or a user's cluster for tests):
 * our CRDs from crds/, Calico's CRDs from a local copy or the pinned release, and sample manifests.
 * Server-side apply, so re-running is idempotent.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../api/kube.js';
import { KubeClient } from '../kube/client.js';
import type { ResourceClient } from '../kube/resource.js';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './local.js';

export const FIELD_MANAGER = 'calico-vpc-installer';

/** The Calico release whose CRDs we test against and download for online users. */
export const CALICO_VERSION = 'v3.32.1';
export const CALICO_CRD_V1_VERSION = 'v3.31.7';

/** The two Calico CRD flavours; they live in different API groups, so both can be installed side by side. */
export interface CalicoCrdDirs {
  /** projectcalico.org/v3 native CRDs (Calico 3.32), with admission/ policies. */
  v3: string;
  /** crd.projectcalico.org/v1 CRDs (Calico 3.31: the storage behind calico-apiserver). */
  crdV1: string;
}

/**
 * Finds Calico's CRDs: $CALICO_CRDS_DIR, then ../shared/reference/calico beside the repository, then a
 * download of the pinned release into the cache (for users who are online). No copy lives in this repository.
 */
export async function findCalicoCrds(): Promise<CalicoCrdDirs> {
  const candidates = [process.env.CALICO_CRDS_DIR, resolve(REPO_ROOT, '..', 'shared', 'reference', 'calico')];
  for (const dir of candidates) {
    if (!dir) continue;
    const dirs = {
      v3: join(dir, `projectcalico.org-v3_calico-${CALICO_VERSION}`),
      crdV1: join(dir, `crd.projectcalico.org-v1_calico-${CALICO_CRD_V1_VERSION}`),
    };
    if (existsSync(dirs.v3) && existsSync(dirs.crdV1)) return dirs;
  }
  return downloadCalicoCrds();
}

/** The cache root: $CVO_CACHE_DIR, else $XDG_CACHE_HOME/calico-vpc-operator or ~/.cache/calico-vpc-operator. */
export const CACHE_ROOT =
  process.env.CVO_CACHE_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'calico-vpc-operator');
const CRD_KINDS = [
  'globalnetworkpolicies',
  'globalnetworksets',
  'hostendpoints',
  'networkpolicies',
  'networksets',
  'tiers',
];

async function downloadCalicoCrds(): Promise<CalicoCrdDirs> {
  const root = join(CACHE_ROOT, 'calico');
  const dirs = {
    v3: join(root, `projectcalico.org-v3_calico-${CALICO_VERSION}`),
    crdV1: join(root, `crd.projectcalico.org-v1_calico-${CALICO_CRD_V1_VERSION}`),
  };
  const raw = 'https://raw.githubusercontent.com/projectcalico/calico';
  const files: [string, string][] = [
    ...CRD_KINDS.map((k): [string, string] => [
      `${raw}/${CALICO_VERSION}/api/config/crd/projectcalico.org_${k}.yaml`,
      join(dirs.v3, `projectcalico.org_${k}.yaml`),
    ]),
    ...CRD_KINDS.map((k): [string, string] => [
      `${raw}/${CALICO_CRD_V1_VERSION}/libcalico-go/config/crd/crd.projectcalico.org_${k}.yaml`,
      join(dirs.crdV1, `crd.projectcalico.org_${k}.yaml`),
    ]),
  ];
  for (const [url, file] of files) {
    if (existsSync(file)) continue;
    const resp = await fetch(url).catch((e: unknown) => {
      throw new Error(
        `Calico CRDs not found locally (set CALICO_CRDS_DIR) and the download of ${url} failed: ${String(e)}`,
      );
    });
    if (!resp.ok) throw new Error(`downloading ${url}: HTTP ${resp.status}`);
    mkdirSync(resolve(file, '..'), { recursive: true });
    writeFileSync(file, await resp.text());
  }
  return dirs;
}

/** Every object in the YAML/JSON files of a directory (not recursive) or a file, in name order. */
export function readManifests(path: string): KubeObject[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => /\.(ya?ml|json)$/.test(f) && f !== 'kustomization.yaml')
        .sort()
        .map((f) => join(path, f))
    : [path];
  const out: KubeObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const obj = doc.toJS() as KubeObject | null;
      if (obj && obj.kind) out.push(obj);
    }
  }
  return out;
}

/**
 * The client for an object's kind, found by discovery. Raw JSON all the way: client-node's KubeObjectApi
 * serializes plain objects through its model classes, which silently drop every field whose JSON name differs from
 * the TypeScript property (a NetworkPolicy rule's `from` becomes `_from` and vanishes: "allow from these pods"
 * turns into "allow from anywhere"; CRD validation rules are lost the same way).
 */
export async function resourceFor(
  client: KubeClient,
  object: KubeObject,
): Promise<ResourceClient<KubeObject>> {
  const apiVersion = object.apiVersion ?? '';
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
  const resources = await client.discovery.serverResources(group ?? '', version ?? '');
  const resource = resources?.find((r) => r.kind === object.kind && !r.name.includes('/'));
  if (!resource)
    throw new Error(`the cluster serves no ${object.kind} in ${apiVersion || '(no apiVersion)'}`);
  return client.resource<KubeObject>({
    group: group ?? '',
    version: version ?? '',
    plural: resource.name,
    namespaced: resource.namespaced,
    kind: resource.kind,
  });
}

/** Server-side applies objects in order (namespaces before what lives in them, as the manifests list them). */
export async function applyObjects(kc: KubeConfig, objects: readonly KubeObject[]): Promise<void> {
  const client = new KubeClient(kc, { fieldManager: FIELD_MANAGER });
  try {
    for (const object of objects) {
      const resource = await resourceFor(client, object);
      await resource.apply(object, { fieldManager: FIELD_MANAGER, force: true });
    }
  } finally {
    client.close();
  }
}

/**
 * Applies CRDs and waits until each one's objects can be listed: Established alone is not enough, the API server
 * answers 503 for a new kind until its handler is installed.
 */
export async function installCrds(kc: KubeConfig, crds: KubeObject[], timeoutMs = 60_000): Promise<void> {
  await applyObjects(kc, crds);
  const client = new KubeClient(kc);
  const deadline = Date.now() + timeoutMs;
  try {
    for (const crd of crds) {
      const spec = (
        crd as {
          spec?: {
            group: string;
            names: { plural: string; kind: string };
            scope: string;
            versions: { name: string; served: boolean }[];
          };
        }
      ).spec;
      const version = spec?.versions.find((v) => v.served)?.name;
      if (!spec || !version) continue;
      const resource = client.resource({
        group: spec.group,
        version,
        plural: spec.names.plural,
        namespaced: spec.scope === 'Namespaced',
      });
      for (;;) {
        // A dry-run create: list can succeed before the create path is wired (503 "Resource kind ... not found").
        // Any answer but 404/503 (a 422 for the empty probe object is fine) means the kind is served.
        const ok = await resource
          .create(
            {
              apiVersion: `${spec.group}/${version}`,
              kind: spec.names.kind,
              metadata: {
                name: 'cvo-install-probe',
                namespace: spec.scope === 'Namespaced' ? 'default' : undefined,
              },
            },
            { dryRun: true },
          )
          .then(
            () => true,
            (err: { status?: number }) =>
              err.status !== undefined && err.status !== 404 && err.status !== 503,
          );
        if (ok) break;
        if (Date.now() > deadline)
          throw new Error(`CRD ${crd.metadata?.name} not served after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    client.close();
  }
}

export interface InstallOptions {
  /** Which Calico API groups to install. Default: both (they coexist: different groups). */
  calico?: ('v3' | 'crd')[];
}

/** Our CRDs and Calico's, as the operator expects to find them. */
export async function installAllCrds(kc: KubeConfig, opts: InstallOptions = {}): Promise<void> {
  const flavours = opts.calico ?? ['v3', 'crd'];
  const calico = await findCalicoCrds();
  const crds = [...readManifests(join(REPO_ROOT, 'crds'))];
  if (flavours.includes('v3')) crds.push(...readManifests(calico.v3));
  if (flavours.includes('crd')) crds.push(...readManifests(calico.crdV1));
  await installCrds(kc, crds);
  if (flavours.includes('v3')) {
    const admission = join(calico.v3, 'admission');
    if (existsSync(admission)) {
      // MutatingAdmissionPolicy is v1beta1 in Kubernetes 1.34-1.36 and needs its feature gate; a server without
      // it cannot default `types`/`tier`, which our writer sets explicitly anyway, so this is best effort.
      try {
        await applyObjects(kc, readManifests(admission));
      } catch (err) {
        process.stderr.write(`[install] Calico admission policies not installed: ${String(err)}\n`);
      }
    }
  }
}
