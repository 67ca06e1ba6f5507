/**
 * Where the Felix binaries (and the CRDs of their release) come from, one release per Calico API:
 *   - `crd.projectcalico.org/v1`: Felix v3.31.7; `projectcalico.org/v3`: Felix v3.32.1 with
 *     `CALICO_API_GROUP=projectcalico.org/v3` (its native v3 CRDs).
 * Binary, in this order: `FELIX_BINARY_V3_31` / `FELIX_BINARY_V3_32`, then `FELIX_BINARY` (one binary for both),
 * then the cache (`<cache>/bin/felix-<tag>/calico-felix`), then `../shared/felix/calico-felix-<tag>.xz` beside the
 * repository, unpacked into the cache. `hack/build-felix.sh` fills the cache from Calico's source (online only).
 * CRDs: `../shared/felix/crds-<tag>/`, else `<cache>/bin/felix-<tag>/crds/` (written by hack/build-felix.sh).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { CalicoApi } from '../../src/calico/flavour.js';
import { CACHE_ROOT } from '../../src/controlplane/install.js';
import { REPO_ROOT } from '../../src/controlplane/local.js';

const execFileAsync = promisify(execFile);

export interface FelixRelease {
  /** projectcalico/calico tag. */
  tag: string;
  /** The variable naming a binary of this release. */
  binaryVariable: string;
  /** Extra environment Felix needs for this API. */
  environment: Record<string, string>;
  /** The API group and version Felix reads, as shown in the output. */
  apiGroup: string;
  /** The oldest Felix (major, minor) that reads this API (a FELIX_BINARY may be any release). */
  minimum: [number, number];
}

export const FELIX_RELEASES: Readonly<Record<CalicoApi, FelixRelease>> = Object.freeze({
  crd: {
    tag: 'v3.31.7',
    binaryVariable: 'FELIX_BINARY_V3_31',
    environment: {},
    apiGroup: 'crd.projectcalico.org/v1',
    minimum: [3, 0],
  },
  v3: {
    tag: 'v3.32.1',
    binaryVariable: 'FELIX_BINARY_V3_32',
    environment: { CALICO_API_GROUP: 'projectcalico.org/v3' },
    apiGroup: 'projectcalico.org/v3',
    minimum: [3, 32],
  },
});

export const SHARED_FELIX_DIR = resolve(REPO_ROOT, '..', 'shared', 'felix');

export function felixCacheDir(tag: string): string {
  return join(CACHE_ROOT, 'bin', `felix-${tag}`);
}

export interface ResolvedFelix {
  release: FelixRelease;
  binary: string;
  /** Directory of the release's CRDs (every *.yaml in it is installed). */
  crdsDir: string;
  /** What the binary reports (`calico-felix --version`, first line). */
  version: string;
  /** Where the binary came from, for the output. */
  source: string;
}

export type FelixResolution = { ok: true; felix: ResolvedFelix } | { ok: false; reason: string };

async function unpack(xzFile: string, target: string): Promise<void> {
  mkdirSync(resolve(target, '..'), { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  try {
    await execFileAsync('sh', ['-c', 'xz -dc "$1" > "$2" && chmod 0755 "$2"', 'unpack', xzFile, partial], {
      timeout: 120_000,
    });
    renameSync(partial, target);
  } finally {
    rmSync(partial, { force: true });
  }
}

async function felixVersion(binary: string): Promise<string> {
  const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 30_000 });
  const line = stdout.split('\n').find((l) => /version/i.test(l)) ?? stdout.split('\n')[0] ?? '';
  return line.replace(/^Version:\s*/i, '').trim();
}

function findCrds(tag: string): string | undefined {
  const candidates = [join(SHARED_FELIX_DIR, `crds-${tag}`), join(felixCacheDir(tag), 'crds')];
  return candidates.find((dir) => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.yaml')));
}

/** Finds (unpacking when needed) the Felix binary and CRDs for a Calico API; never builds. */
export async function resolveFelix(api: CalicoApi): Promise<FelixResolution> {
  const release = FELIX_RELEASES[api];
  const cached = join(felixCacheDir(release.tag), 'calico-felix');
  const shared = join(SHARED_FELIX_DIR, `calico-felix-${release.tag}.xz`);
  let binary: string | undefined;
  let source = '';
  const fromVariable = process.env[release.binaryVariable] || process.env.FELIX_BINARY;
  if (fromVariable) {
    if (!existsSync(fromVariable)) {
      return {
        ok: false,
        reason: `${release.binaryVariable}/FELIX_BINARY names ${fromVariable}, which does not exist`,
      };
    }
    binary = fromVariable;
    source = process.env[release.binaryVariable] ? release.binaryVariable : 'FELIX_BINARY';
  } else if (existsSync(cached)) {
    binary = cached;
    source = 'cache';
  } else if (existsSync(shared)) {
    await unpack(shared, cached);
    binary = cached;
    source = `unpacked from ${shared}`;
  } else {
    return {
      ok: false,
      reason:
        `no Felix ${release.tag} binary: set ${release.binaryVariable} (or FELIX_BINARY), put ` +
        `calico-felix-${release.tag}.xz in ${SHARED_FELIX_DIR}, or build it with hack/build-felix.sh (needs network)`,
    };
  }
  const crdsDir = findCrds(release.tag);
  if (!crdsDir) {
    return {
      ok: false,
      reason:
        `no CRDs of Calico ${release.tag}: expected ${join(SHARED_FELIX_DIR, `crds-${release.tag}`)} or ` +
        `${join(felixCacheDir(release.tag), 'crds')} (hack/build-felix.sh writes them)`,
    };
  }
  const version = await felixVersion(binary);
  const [major, minor] = (/^v?(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  const [wantMajor, wantMinor] = release.minimum;
  if (
    major === undefined ||
    minor === undefined ||
    major < wantMajor ||
    (major === wantMajor && minor < wantMinor)
  ) {
    return {
      ok: false,
      reason: `${binary} (${source}) reports version "${version}"; ${release.apiGroup} needs Felix v${wantMajor}.${wantMinor} or later`,
    };
  }
  return { ok: true, felix: { release, binary, crdsDir, version, source } };
}
