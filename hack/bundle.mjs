#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/cli/main.js, from tsc) into one ES module, dist/bundle/calico-vpc.mjs: what the
 * image, `npm start` and the `calico-vpc` bin run.
 *
 * Why: @kubernetes/client-node's config module imports every generated API model, about a thousand files. Loading
 * them took 0.75 s and ~50 MB of the controller's start-up; bundled, esbuild keeps only what KubeConfig needs and
 * the controller loads in under 0.2 s (bench/, README "Measured numbers").
 *
 * pino stays external: its transports (pino-pretty, a dev option) start worker threads by file path. The bundle
 * sits two directories below the repository root, like dist/controlplane/local.js, so REPO_ROOT still resolves.
 *
 * Usage: node hack/bundle.mjs [DIST] (default dist). Packages resolve from DIST's location upwards, so
 * test/integration/production-install.test.ts bundles against a production-only node_modules.
 */
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const dist = process.argv[2] ?? 'dist';
const outfile = join(dist, 'bundle', 'calico-vpc.mjs');
await build({
  entryPoints: [join(dist, 'cli', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['pino', 'pino-pretty'],
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
