/**
 * Builds the kustomizations under config/ the way a user would (`kubectl kustomize` / `kustomize build`) and
 * parses the result. The tool is found in this order: $KUSTOMIZE (a path to a kustomize binary), `kustomize` on
 * PATH, `kubectl` on PATH (its built-in kustomize), then the pinned build hack/install-tools.sh leaves in the tools
 * cache. No tool means a failing test with instructions, never a skip.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** A built object: only what the tests read is typed; the rest is inspected through `unknown`. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface KustomizeTool {
  command: string;
  /** Arguments before the directory: `build` for kustomize, `kustomize` for kubectl. */
  args: string[];
  description: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Where hack/install-tools.sh puts the kustomize it builds (keep the two in step). */
export function cachedKustomizePath(): string {
  const cacheRoot =
    process.env.CVO_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'calico-vpc-operator');
  return join(cacheRoot, 'bin', 'tools', 'kustomize');
}

let found: KustomizeTool | undefined;

export function findKustomize(): KustomizeTool {
  if (found) return found;
  const explicit = process.env.KUSTOMIZE;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`KUSTOMIZE=${explicit} is not an executable file`);
    return (found = { command: explicit, args: ['build'], description: `${explicit} (from $KUSTOMIZE)` });
  }
  const kustomize = onPath('kustomize');
  if (kustomize) return (found = { command: kustomize, args: ['build'], description: kustomize });
  const kubectl = onPath('kubectl');
  if (kubectl)
    return (found = { command: kubectl, args: ['kustomize'], description: `${kubectl} kustomize` });
  const cached = cachedKustomizePath();
  if (isExecutable(cached)) return (found = { command: cached, args: ['build'], description: cached });
  throw new Error(
    'No kustomize to build config/ with: neither kustomize nor kubectl is on PATH and there is no cached build at ' +
      `${cached}. Run \`bash hack/install-tools.sh\` (it builds kustomize with Go), or set KUSTOMIZE to a binary.`,
  );
}

const built = new Map<string, readonly Manifest[]>();

/**
 * Builds a kustomization directory (relative to the repository root) and returns its objects in order. Builds
 * are remembered for the test file's run (the files do not change under a test); callers must not mutate them.
 */
export function kustomizeBuild(dir: string): readonly Manifest[] {
  const cached = built.get(dir);
  if (cached) return cached;
  const tool = findKustomize();
  let output: string;
  try {
    output = execFileSync(tool.command, [...tool.args, resolve(REPO_ROOT, dir)], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`${tool.description} ${dir} failed:\n${stderr || String(err)}`);
  }
  const manifests = parseManifests(output, `${tool.description} ${dir}`);
  built.set(dir, manifests);
  return manifests;
}

export function parseManifests(text: string, source: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: invalid YAML: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const m = value as Partial<Manifest>;
    if (
      typeof m.apiVersion !== 'string' ||
      typeof m.kind !== 'string' ||
      typeof m.metadata?.name !== 'string'
    ) {
      throw new Error(
        `${source}: a document without apiVersion, kind or metadata.name: ${JSON.stringify(value)}`,
      );
    }
    manifests.push(m as Manifest);
  }
  return manifests;
}

/** The one object of a kind (and name, when given); fails naming what is missing or ambiguous. */
export function only(manifests: readonly Manifest[], kind: string, name?: string): Manifest {
  const matches = manifests.filter(
    (m) => m.kind === kind && (name === undefined || m.metadata.name === name),
  );
  if (matches.length !== 1) {
    const present = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ');
    throw new Error(
      `expected exactly one ${kind}${name ? `/${name}` : ''}, found ${matches.length} among: ${present}`,
    );
  }
  return matches[0] as Manifest;
}
