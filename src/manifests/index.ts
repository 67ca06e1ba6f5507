/**
 * Manifests in, typed objects out, for every tool that reads files (render, connectivity, lint).
 *
 *   const { inventory, errors } = await loadManifests(options.filename, io.readStdin);
 *   if (errors.length) throw new ManifestErrors(errors);
 */
import type { ManifestError } from './errors.js';
import { buildInventory, latestDefinitions, type Inventory } from './inventory.js';
import { readManifestSources } from './load.js';
import { parseManifests, type ManifestObject, type ManifestSource } from './parse.js';

export * from './errors.js';
export * from './inventory.js';
export * from './load.js';
export * from './parse.js';
export type { FieldPath, PathSegment } from '../api/errors.js';
export * from './schema.js';
export * from './schemas.js';

export interface LoadedManifests {
  readonly sources: readonly ManifestSource[];
  /** Every object read, List items unpacked, whatever its kind. */
  readonly objects: readonly ManifestObject[];
  readonly inventory: Inventory;
  /** Documents that could not be read (YAML syntax, not an object). */
  readonly parseErrors: readonly ManifestError[];
  /** Unreadable documents first, then objects that fail their schema. Empty when the input is sound. */
  readonly errors: readonly ManifestError[];
  /**
   * What the user should hear about but that does not stop a tool: symlinks not followed, an object defined twice
   * (the inventory holds the later definition, as `kubectl apply -f` would leave).
   */
  readonly warnings: readonly ManifestWarning[];
}

export interface ManifestWarning {
  /**
   * `not-read`: a path skipped (a symlink out of the directory); `not-kubernetes`: a document that is no Kubernetes
   * object (a CI config in the directory); `duplicate-object`: a definition replaced; `field`: a field that cannot
   * change a verdict (an unknown field of a pod), read past as kubectl does by default.
   */
  readonly code: 'not-read' | 'not-kubernetes' | 'duplicate-object' | 'field';
  /** The whole sentence, starting with the file. */
  readonly message: string;
}

/** Reads and parses `-f` arguments (files, directories, `-`). The one entry point that touches the file system. */
export async function loadManifests(
  paths: readonly string[],
  readStdin: () => Promise<string>,
): Promise<LoadedManifests> {
  const warnings: ManifestWarning[] = [];
  const sources = await readManifestSources(paths, readStdin, (message) =>
    warnings.push({ code: 'not-read', message }),
  );
  return manifestsFromSources(sources, warnings);
}

/** The pure part of loadManifests, for callers that already hold the texts (tests, the controller's dry runs). */
export function manifestsFromSources(
  sources: readonly ManifestSource[],
  readWarnings: readonly ManifestWarning[] = [],
): LoadedManifests {
  const parsed = parseManifests(sources);
  const latest = latestDefinitions(parsed.objects);
  const inventory = buildInventory(latest.objects);
  return {
    sources,
    objects: parsed.objects,
    inventory,
    parseErrors: parsed.errors,
    errors: [...parsed.errors, ...inventory.errors],
    warnings: [
      ...readWarnings,
      ...parsed.skipped.map((error) => ({ code: 'not-kubernetes' as const, message: error.message })),
      ...latest.warnings.map((message) => ({ code: 'duplicate-object' as const, message })),
      ...inventory.warnings.map((error) => ({ code: 'field' as const, message: error.message })),
    ],
  };
}
