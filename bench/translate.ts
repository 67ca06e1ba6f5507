/**
 * `translate.per_second`: NetworkPolicies the pure translator turns into GNPs per second, on the generated mix.
 * One warm-up pass lets V8 optimise before the timed passes; every result must be a successful translation, so a
 * generator drift into invalid policies cannot inflate the figure by taking the cheap error path.
 *
 * It times the compiled translator in dist/ (what the controller runs), not the TypeScript source as tsx
 * transpiles it (esbuild adds a `__name` call to every function it creates, a few percent in this hot path).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../src/controlplane/local.js';
import { formatFieldError } from '../src/api/errors.js';
import type * as Translator from '../src/translate/networkpolicy.js';
import { generateNetworkPolicies } from './generate.js';
import { median } from './stats.js';

const COMPILED_TRANSLATOR = join(REPO_ROOT, 'dist', 'translate', 'networkpolicy.js');

export interface TranslateResult {
  per_second: number;
  policies: number;
  runs_per_second: number[];
  /** The median of each process (benchTranslateInProcesses); per_second is their median. */
  processes_per_second?: number[];
  /** The slowest process's median: the target holds in every process, not only the median one. */
  min_per_second?: number;
  /** Rules per policy in the mix, to compare runs made with different generators. */
  mean_rules_per_gnp: number;
}

export async function benchTranslate(options: {
  policies: number;
  runs: number;
  seed: number;
}): Promise<TranslateResult> {
  if (!existsSync(COMPILED_TRANSLATOR))
    throw new Error(`${COMPILED_TRANSLATOR} does not exist: run npm run build`);
  const { translateNetworkPolicy } = (await import(
    pathToFileURL(COMPILED_TRANSLATOR).href
  )) as typeof Translator;
  const policies = generateNetworkPolicies({
    count: options.policies,
    namespaces: Math.max(1, Math.round(options.policies / 10)),
    seed: options.seed,
  });
  let rules = 0;
  for (const np of policies) {
    const result = translateNetworkPolicy(np);
    if (!result.ok) {
      throw new Error(
        `generated policy ${np.metadata.namespace}/${np.metadata.name} does not translate: ` +
          result.errors.map(formatFieldError).join('; '),
      );
    }
    rules += (result.policy.spec.ingress?.length ?? 0) + (result.policy.spec.egress?.length ?? 0);
  }

  const runs: number[] = [];
  let sink = 0;
  for (let run = 0; run < options.runs; run++) {
    const started = performance.now();
    for (const np of policies) {
      const result = translateNetworkPolicy(np);
      // Keeps the work observable, so no engine can prove the calls dead.
      if (result.ok) sink += result.policy.metadata.name.length;
    }
    runs.push(policies.length / ((performance.now() - started) / 1000));
  }
  if (sink === 0) throw new Error('translation produced nothing');
  return {
    per_second: median(runs),
    policies: policies.length,
    runs_per_second: runs,
    mean_rules_per_gnp: rules / policies.length,
  };
}

/**
 * benchTranslate in `processes` fresh Node processes, one after the other; the figure is the median of their
 * medians. On a 2-core VM one process can run a steady ~40% slower than the next for its whole life (V8's
 * parallel GC helper threads contending for the cores), so passes inside one process cannot show that variance.
 */
export async function benchTranslateInProcesses(options: {
  policies: number;
  runs: number;
  seed: number;
  processes: number;
}): Promise<TranslateResult> {
  const self = fileURLToPath(import.meta.url);
  const results: TranslateResult[] = [];
  for (let i = 0; i < options.processes; i++) {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [...process.execArgv, self, String(options.policies), String(options.runs), String(options.seed)],
      { maxBuffer: 1 << 20 },
    );
    results.push(JSON.parse(stdout) as TranslateResult);
  }
  const perProcess = results.map((r) => r.per_second);
  return {
    per_second: median(perProcess),
    policies: options.policies,
    runs_per_second: results.flatMap((r) => r.runs_per_second),
    processes_per_second: perProcess,
    min_per_second: Math.min(...perProcess),
    mean_rules_per_gnp: results[0]?.mean_rules_per_gnp ?? 0,
  };
}

// The child of benchTranslateInProcesses: `node --import tsx bench/translate.ts POLICIES RUNS SEED` prints JSON.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [policies, runs, seed] = process.argv.slice(2).map(Number);
  const result = await benchTranslate({ policies: policies!, runs: runs!, seed: seed! });
  process.stdout.write(JSON.stringify(result));
}
