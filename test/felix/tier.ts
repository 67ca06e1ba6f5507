/**
 * How a Felix-tier test file declares its scenarios, once per Calico API:
 *
 *   describeFelix('crd', (felix) => {
 *     felix.scenario('seed example', async (env) => { ...; expectProbes(await env.probe(table)); });
 *   });
 *
 * One environment (control plane + Felix, test/felix/environment.ts) per describeFelix block, started before its
 * first scenario and stopped after its last. When the machine cannot run the tier (no root, no Felix binary, no
 * network namespaces) the block skips with ONE loud line saying why; with REQUIRE_FELIX=1 (CI) that is a failure
 * instead. A scenario that throws marks the environment failed, so its logs (Felix, API server, probe tables) are
 * kept and their place printed.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { CalicoApi } from '../../src/calico/flavour.js';
import { FELIX_RELEASES } from './binaries.js';
import {
  felixAvailability,
  formatProbeTable,
  startFelixEnvironment,
  type FelixEnvironment,
  type ProbeReport,
} from './environment.js';

export interface FelixBlock {
  /** A test that runs `body` on this block's environment; failures keep the environment's logs. */
  scenario(name: string, body: (env: FelixEnvironment) => Promise<void>, timeoutMs?: number): void;
}

/** Whether a skip must fail (CI sets REQUIRE_FELIX=1). */
export const felixRequired = process.env.REQUIRE_FELIX === '1' || process.env.REQUIRE_FELIX === 'true';

const availability = new Map<CalicoApi, Awaited<ReturnType<typeof felixAvailability>>>();
for (const api of Object.keys(FELIX_RELEASES) as CalicoApi[]) {
  availability.set(api, await felixAvailability(api));
}

export function describeFelix(api: CalicoApi, define: (block: FelixBlock) => void): void {
  const release = FELIX_RELEASES[api];
  const title = `Felix ${release.tag} (${release.apiGroup})`;
  const available = availability.get(api)!;
  if (!available.ok) {
    const line = `*** Felix tier ${felixRequired ? 'CANNOT RUN' : 'SKIPPED'}: ${title}: ${available.reason} ***`;
    process.stderr.write(`\n${line}\n`);
    if (felixRequired) {
      describe(title, () => {
        test('can run (REQUIRE_FELIX is set)', () => {
          throw new Error(line);
        });
      });
    } else {
      describe.skip(title, () => define({ scenario: (name) => test(name, () => undefined) }));
    }
    return;
  }
  describe(title, () => {
    let env: FelixEnvironment | undefined;
    let startError: unknown;
    beforeAll(async () => {
      try {
        env = await startFelixEnvironment({ calicoApi: api });
      } catch (err) {
        startError = err;
      }
    }, 300_000);
    afterAll(async () => {
      await env?.stop();
    }, 120_000);
    define({
      scenario(name, body, timeoutMs = 300_000) {
        test(
          name,
          async () => {
            if (!env) throw new Error(`the Felix environment did not start: ${String(startError)}`);
            try {
              await body(env);
            } catch (err) {
              env.noteFailure(`${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
              throw err;
            }
          },
          timeoutMs,
        );
      },
    });
  });
}

/** Asserts a probe report has no mismatch; on failure the message is the disagreeing rows of the table. */
export function expectProbes(report: ProbeReport): void {
  if (report.failed > 0) {
    throw new Error(
      `${report.name}: ${report.failed} of ${report.probes} probes disagree with the expected verdicts:\n` +
        formatProbeTable(report.mismatches),
    );
  }
  expect(report.passed).toBe(report.probes);
  expect(report.probes).toBeGreaterThan(0);
}
