/**
 * The only file I/O of the core: turns `-f` arguments into manifest texts. Everything after this is pure.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { ManifestSource } from './parse.js';

/** The `-f` argument that means standard input, and the name its documents carry in messages. */
export const STDIN_ARG = '-';
export const STDIN_NAME = '<stdin>';
const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

/**
 * Reads every manifest named by `paths`: a file is read whatever its extension (the user named it); a directory is
 * walked recursively for .yaml/.yml/.json files, in name order so output never depends on the file system, skipping
 * hidden entries (`.git`) and symlinks that lead out of the directory (`warn` says which, as a user of a recursive
 * scan expects it to stay inside); `-` reads standard input once.
 */
export async function readManifestSources(
  paths: readonly string[],
  readStdin: () => Promise<string>,
  warn: (message: string) => void = () => undefined,
): Promise<ManifestSource[]> {
  const sources: ManifestSource[] = [];
  let stdinRead = false;
  for (const path of paths) {
    if (path === STDIN_ARG) {
      if (stdinRead) continue;
      stdinRead = true;
      sources.push({ file: STDIN_NAME, text: await readStdin() });
      continue;
    }
    const info = await stat(path).catch((e: NodeJS.ErrnoException) => {
      throw new Error(
        `cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`,
      );
    });
    if (info.isDirectory()) {
      const root = { given: path, real: await realpath(path) };
      const files = await manifestFilesUnder(path, root, new Set(), warn);
      if (files.length === 0) throw new Error(`${path}: no .yaml, .yml or .json files in this directory`);
      for (const file of files) sources.push({ file, text: await readFile(file, 'utf8') });
    } else {
      sources.push({ file: path, text: await readFile(path, 'utf8') });
    }
  }
  return sources;
}

/** Where a directory walk started: the path as the user gave it, and its real path. */
interface WalkRoot {
  readonly given: string;
  readonly real: string;
}

/**
 * A symlink is followed only when its target is inside the directory the user named. `visited` holds real paths
 * so a symlink pointing back into the tree is walked once, not forever.
 */
async function manifestFilesUnder(
  dir: string,
  root: WalkRoot,
  visited: Set<string>,
  warn: (message: string) => void,
): Promise<string[]> {
  const real = await realpath(dir);
  if (visited.has(real)) return [];
  visited.add(real);
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    const isManifest = MANIFEST_EXTENSIONS.some((ext) => entry.name.toLowerCase().endsWith(ext));
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      const target = await realpath(path).catch(() => undefined);
      isDir = target !== undefined && (await stat(target)).isDirectory();
      if (!isDir && !isManifest) continue;
      if (target === undefined) {
        warn(`${path}: a symlink to nothing: skipped`);
        continue;
      }
      const inside = relative(root.real, target);
      if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
        warn(`${path}: a symlink to ${target}, outside ${root.given}: not followed`);
        continue;
      }
    }
    if (isDir) files.push(...(await manifestFilesUnder(path, root, visited, warn)));
    else if (isManifest) files.push(path);
  }
  return files;
}
