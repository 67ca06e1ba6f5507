import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifests } from './index.js';
import { readManifestSources, STDIN_NAME } from './load.js';

describe('readManifestSources', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'manifests-'));
    await mkdir(join(dir, 'b', 'nested'), { recursive: true });
    await mkdir(join(dir, '.git'));
    await mkdir(join(dir, 'empty'));
    await writeFile(join(dir, 'b', 'nested', 'z.yml'), 'kind: Z');
    await writeFile(join(dir, 'b', 'a.JSON'), '{"kind": "A"}');
    await writeFile(join(dir, 'c.yaml'), 'kind: C');
    await writeFile(join(dir, 'README.md'), '# not a manifest');
    await writeFile(join(dir, '.git', 'x.yaml'), 'kind: Hidden');
    await writeFile(join(dir, 'notes.txt'), 'kind: Txt');
    await symlink(dir, join(dir, 'b', 'loop'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const noStdin = () => Promise.reject(new Error('stdin not expected'));

  it('walks directories recursively in name order, for .yaml/.yml/.json only, skipping hidden entries and loops', async () => {
    const sources = await readManifestSources([dir], noStdin);
    expect(sources.map((s) => s.file.slice(dir.length + 1))).toEqual([
      'b/a.JSON',
      'b/nested/z.yml',
      'c.yaml',
    ]);
  });

  it('does not leave the directory through symlinks, and says which it did not follow', async () => {
    const outer = await mkdtemp(join(tmpdir(), 'manifests-outer-'));
    try {
      await mkdir(join(outer, 'input', 'sub'), { recursive: true });
      await writeFile(join(outer, 'secret.yaml'), 'kind: Outside');
      await writeFile(join(outer, 'input', 'sub', 'in.yaml'), 'kind: Inside');
      await symlink('..', join(outer, 'input', 'up'));
      await symlink(join(outer, 'secret.yaml'), join(outer, 'input', 'link.yaml'));
      await symlink('sub/in.yaml', join(outer, 'input', 'alias.yaml'));
      const warnings: string[] = [];
      const sources = await readManifestSources([join(outer, 'input')], noStdin, (w) => warnings.push(w));
      expect(sources.map((s) => s.file.slice(outer.length + 1))).toEqual([
        'input/alias.yaml',
        'input/sub/in.yaml',
      ]);
      expect(warnings).toEqual([
        `${join(outer, 'input', 'link.yaml')}: a symlink to ${join(outer, 'secret.yaml')}, outside ${join(outer, 'input')}: not followed`,
        `${join(outer, 'input', 'up')}: a symlink to ${outer}, outside ${join(outer, 'input')}: not followed`,
      ]);
    } finally {
      await rm(outer, { recursive: true, force: true });
    }
  });

  it('reads a named file whatever its extension, and stdin once', async () => {
    const sources = await readManifestSources([join(dir, 'notes.txt'), '-', '-'], async () => 'kind: S');
    expect(sources.map((s) => [s.file.endsWith('notes.txt') || s.file, s.text])).toEqual([
      [true, 'kind: Txt'],
      [STDIN_NAME, 'kind: S'],
    ]);
  });

  it('names the path it cannot read, and a directory without manifests', async () => {
    await expect(readManifestSources([join(dir, 'missing.yaml')], noStdin)).rejects.toThrow(
      `cannot read ${join(dir, 'missing.yaml')}: no such file or directory`,
    );
    await expect(readManifestSources([join(dir, 'empty')], noStdin)).rejects.toThrow(
      'no .yaml, .yml or .json files in this directory',
    );
  });

  it('loads everything into one inventory', async () => {
    const loaded = await loadManifests(
      [join(dir, 'c.yaml'), '-'],
      async () => 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}',
    );
    expect(loaded.objects.map((o) => [o.source.file.endsWith('c.yaml') || o.source.file, o.kind])).toEqual([
      [true, 'C'],
      [STDIN_NAME, 'Namespace'],
    ]);
    expect(loaded.inventory.namespaces.map((n) => n.name)).toEqual(['ns1']);
  });
});
