#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/cli/main.js, from tsc) into one ES module, dist/bundle/calico-vpc.mjs: what the
 * image, `npm start` and the `calico-vpc` bin run.
 *
 * Why: @kubernetes/client-node's config module imports every generated API model, about a thousand files. Loading
 * them took 0.75 s and ~50 MB of the controller's start-up; bundled, esbuild keeps only what KubeConfig needs and
 * the controller loads in under 0.2 s (bench/, README "Measured numbers").
 *
 * Only KubeConfig of @kubernetes/client-node goes in (the plugin below): the package's index pulls in its watch,
 * informer and generated API client (every model, ~1.2 MB of the bundle and ~60 ms of the controller's start-up),
 * none of which the CLI calls; src/kube/transport.ts talks to the API server.
 *
 * pino stays external: its transports (pino-pretty, a dev option) start worker threads by file path. undici stays
 * external too: src/ibm/proxy.ts imports it only when HTTPS_PROXY is set, and bundled it would add about 1 MB of
 * source for every start to compile. The bundle sits two directories below the repository root, like
 * dist/controlplane/local.js, so REPO_ROOT still resolves.
 *
 * Usage: node hack/bundle.mjs [DIST] (default dist). Packages resolve from DIST's location upwards, so
 * test/integration/production-install.test.ts bundles against a production-only node_modules.
 */
import { build } from 'esbuild';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';

/**
 * `@kubernetes/client-node` resolves to its config module (KubeConfig and its auth providers); an import of any other
 * value from the package then fails the build ("No matching export"), loudly. config.js imports the generated client
 * only for KubeConfig.makeApiClient, which gets a stub that says so if it is ever called. Its one import of node-fetch
 * (the Headers of applyToFetchOptions, which only the generated client calls) is Node's own Headers: node-fetch 2
 * loads whatwg-url and tr46, whose Unicode mapping table held 2.3 MB of the controller's heap for nothing.
 */
function kubeConfigOnly(dist) {
  const clientNodeDir = dirname(createRequire(resolve(dist, 'x.js')).resolve('@kubernetes/client-node'));
  const configModule = join(clientNodeDir, 'config.js');
  return {
    name: 'kubeconfig-only',
    setup(b) {
      b.onResolve({ filter: /^@kubernetes\/client-node$/ }, () => ({ path: configModule }));
      b.onResolve({ filter: /^\.\/gen\/index\.js$/ }, (args) =>
        args.importer === configModule
          ? { path: 'generated-client', namespace: 'kubeconfig-only' }
          : undefined,
      );
      b.onResolve({ filter: /^node-fetch$/ }, (args) =>
        args.importer === configModule ? { path: 'fetch-headers', namespace: 'kubeconfig-only' } : undefined,
      );
      // Node loads its fetch implementation (undici) on the first read of globalThis.Headers: about 22 ms and 3.5 MB
      // of RSS at the controller's start, for a class only applyToFetchOptions constructs. So it is read on
      // construction.
      b.onLoad({ filter: /^fetch-headers$/, namespace: 'kubeconfig-only' }, () => ({
        contents: 'export class Headers { constructor(init) { return new globalThis.Headers(init); } }',
        loader: 'js',
      }));
      b.onLoad({ filter: /^generated-client$/, namespace: 'kubeconfig-only' }, () => ({
        contents: [
          "const absent = () => { throw new Error('KubeConfig.makeApiClient: the generated API client is not in this bundle (hack/bundle.mjs)'); };",
          'export const createConfiguration = absent;',
          'export class ServerConfiguration { constructor() { absent(); } }',
        ].join('\n'),
        loader: 'js',
      }));
    },
  };
}

/**
 * The bundle's text with every character Latin-1. V8 keeps a module's source for as long as the module lives (lazy
 * compilation, Function#toString), in one byte per character only when every character fits: a few curly quotes
 * and emoji in dependencies' comments made the controller hold the 2.2 MB bundle as 4.4 MB. With charset 'ascii'
 * esbuild escapes non-ASCII characters everywhere but in comments, so what is left is comment text: each UTF-16
 * unit of it becomes '?', which keeps every column of the source map where it was.
 */
function oneByteSource(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[^\u0000-\u00ff]/g, '?');
}

const dist = process.argv[2] ?? 'dist';
const outfile = join(dist, 'bundle', 'calico-vpc.mjs');
await build({
  entryPoints: [join(dist, 'cli', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['pino', 'pino-pretty', 'undici'],
  plugins: [kubeConfigOnly(dist)],
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  // Non-ASCII characters in code are escaped (esbuild's default, pinned): see oneByteSource.
  charset: 'ascii',
  logLevel: 'warning',
});
writeFileSync(outfile, oneByteSource(readFileSync(outfile, 'utf8')));
chmodSync(outfile, 0o755);
