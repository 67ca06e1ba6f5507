/**
 * The container image's install, without Docker (no engine on the development machines): the same steps as the
 * Dockerfile's stages — compile src/ with tsconfig.build.json, `npm ci --omit=dev --ignore-scripts` from
 * package.json and package-lock.json alone, bundle (hack/bundle.mjs), add dist/ and crds/ — then run the CLI. Proves that nothing at runtime
 * needs a devDependency or an undeclared package.
 *
 * It compiles into a temporary directory instead of reusing dist/, so a stale or half-written dist/ can neither
 * hide a problem nor be clobbered. Needs no cluster; it lives in the integration project because it takes tens
 * of seconds (a TypeScript build and an npm install from the local cache).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { REPO_ROOT } from '../unit/kustomize.js';

const run = promisify(execFile);

interface PackageJson {
  version: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`; undefined for relative, absolute and built-in imports. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:'))
    return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
  return builtinModules.includes(name) ? undefined : name;
}

/**
 * Every package a compiled module imports (import/export ... from, side-effect imports, literal dynamic
 * import()), found by TypeScript's own pre-processor rather than a regular expression.
 */
function importedPackages(distDir: string): Map<string, string[]> {
  const byPackage = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) {
        const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
        for (const { fileName } of importedFiles) {
          const name = packageOf(fileName);
          if (name) byPackage.set(name, [...(byPackage.get(name) ?? []), path.slice(distDir.length + 1)]);
        }
      }
    }
  };
  walk(distDir);
  return byPackage;
}

/** Packages the lockfile marks as needed only for development: `npm ci --omit=dev` must not install them. */
function devOnlyPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev === true)
    .map(([path]) => path);
}

describe('the production install (what the Dockerfile builds)', () => {
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cvo-production-install-'));
    // The Dockerfile's build stage: `npm run build` is this tsc invocation, then hack/bundle.mjs (below).
    await run(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        join(root, 'dist'),
      ],
      { cwd: REPO_ROOT },
    ).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(
        `tsc -p tsconfig.build.json failed (the image build would too):\n${err.stdout}${err.stderr}`,
      );
    });
    // The production-dependencies and final stages.
    cpSync(join(REPO_ROOT, 'package.json'), join(root, 'package.json'));
    cpSync(join(REPO_ROOT, 'package-lock.json'), join(root, 'package-lock.json'));
    cpSync(join(REPO_ROOT, 'crds'), join(root, 'crds'), { recursive: true });
    await run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'],
      {
        cwd: root,
        env: { ...process.env, NODE_ENV: 'production' },
      },
    ).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`npm ci --omit=dev failed:\n${err.stdout}${err.stderr}`);
    });
    // The rest of `npm run build`: the bundle, made from the production dependencies just installed.
    await run(process.execPath, [join(REPO_ROOT, 'hack', 'bundle.mjs'), join(root, 'dist')], {
      cwd: REPO_ROOT,
    }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`hack/bundle.mjs failed (the image build would too):\n${err.stdout}${err.stderr}`);
    });
  }, 600_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('installs no development-only package', () => {
    const devOnly = devOnlyPackages();
    // The tools themselves are development-only; if the lockfile stopped saying so, this test would prove nothing.
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/jest']));
    expect(devOnly.filter((path) => existsSync(join(root, path, 'package.json')))).toEqual([]);
  });

  it('imports only packages declared in dependencies (and so installed)', () => {
    const imported = importedPackages(join(root, 'dist'));
    expect(imported.size).toBeGreaterThan(0);
    const undeclared = [...imported].filter(([name]) => !(name in pkg.dependencies));
    expect(undeclared).toEqual([]);
    const missing = [...imported.keys()].filter((name) => !existsSync(join(root, 'node_modules', name)));
    expect(missing).toEqual([]);
  });

  it('ships a bundle of Latin-1 characters only, which V8 keeps in one byte per character', () => {
    // One curly quote left in a dependency's comment makes V8 hold the whole source in two bytes per character.
    const bundle = readFileSync(join(root, 'dist', 'bundle', 'calico-vpc.mjs'), 'utf8');
    const wide = [...bundle].filter((char) => char.codePointAt(0)! > 0xff);
    expect(wide).toEqual([]);
  });

  it("loads the controller's modules without Node's fetch (undici: ~22 ms and a few MB of start-up it never uses)", async () => {
    // A preload that reports every read of the globals whose first read makes Node load undici.
    const trap = [
      "for (const name of ['fetch', 'Headers', 'Request', 'Response', 'FormData']) {",
      '  const d = Object.getOwnPropertyDescriptor(globalThis, name);',
      '  Object.defineProperty(globalThis, name, { configurable: true, enumerable: d.enumerable, set: d.set,',
      '    get() { process.stderr.write(`read globalThis.${name}\\n`); return d.get ? d.get.call(globalThis) : d.value; } });',
      '}',
    ].join('\n');
    const entry = pkg.bin['calico-vpc'] as string;
    const missing = join(root, 'no-such-kubeconfig');
    const failed = (await run(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(trap)}`, entry, 'run', '--kubeconfig', missing],
      { cwd: root },
    ).then(
      () => undefined,
      (err: unknown) => err,
    )) as { code?: number; stderr?: string } | undefined;
    // The kubeconfig is read by the controller's modules, so they were loaded by then.
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`cannot read the kubeconfig ${missing} (--kubeconfig): no such file`);
    expect(failed?.stderr).not.toMatch(/read globalThis\./);
  });

  it('runs `calico-vpc --help` with the entry point the image uses', async () => {
    const entry = pkg.bin['calico-vpc'] as string;
    const { stdout } = await run(process.execPath, [entry, '--help'], {
      cwd: root,
      env: { ...process.env, NODE_ENV: 'production' },
    });
    expect(stdout).toMatch(/^Usage: calico-vpc /m);
    expect(stdout).toContain('Reconciles Kubernetes NetworkPolicies');
    // The bundle reads the version from the package.json the image copies beside dist/.
    const version = await run(process.execPath, [entry, '--version'], { cwd: root });
    expect(version.stdout.trim()).toBe(pkg.version);
  });
});
