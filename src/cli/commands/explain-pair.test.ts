/**
 * `connectivity --explain --from X --to Y [--port P]`: golden explanations of one pair (read over by hand against
 * the policies) in both modes, with workloads, outside addresses, numbered, protocol-qualified and named ports, a
 * Calico tier's Deny; and the flag errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureIO } from '../io.js';
import { runCli } from '../program.js';
import { registerConnectivity } from './connectivity.js';

const FIXTURES = 'test/fixtures/connectivity';
const SEED_FIXED = 'test/fixtures/seed-fixed';

async function run(args: string[]) {
  const io = captureIO();
  const code = await runCli(['connectivity', ...args], io, [registerConnectivity]);
  return { code, out: io.out(), err: io.err() };
}

const CALICO_FIXTURE_WARNING =
  'warning: GlobalNetworkPolicy cart-ingress (crd.projectcalico.org/v1) has no spec.types: Felix applies it to Ingress and Egress\n';

describe('one pair, explained', () => {
  const cases: { name: string; args: string[]; expected: string; err?: string }[] = [
    {
      name: 'the seed: finance front end to the accounts back end, every port',
      args: ['-f', SEED_FIXED, '--from', 'finance/srv2-frontend', '--to', 'srv1-backend'],
      expected: 'seed-finance-to-backend.txt',
    },
    {
      name: 'the same pair on its named port http, in Calico terms',
      args: [
        '-f',
        SEED_FIXED,
        '--from',
        'finance/srv2-frontend',
        '--to',
        'srv1-backend',
        '--port',
        'http',
        '--mode',
        'calico',
      ],
      expected: 'seed-finance-to-backend-http-calico.txt',
    },
    {
      name: 'a pair no policy touches, still in full',
      args: ['-f', SEED_FIXED, '--from', 'srv1-backend', '--to', 'srv1-frontend'],
      expected: 'seed-backend-to-frontend-open.txt',
    },
    {
      name: 'from an outside address, which stands for its range',
      args: [
        '-f',
        `${FIXTURES}/ipblocks/input`,
        '--from',
        '172.16.5.5',
        '--to',
        'web/frontend',
        '--port',
        '8080',
      ],
      expected: 'ipblocks-address-to-frontend.txt',
    },
    {
      name: 'to an outside address in an ipBlock except',
      args: [
        '-f',
        `${FIXTURES}/ipblocks/input`,
        '--from',
        'web/api',
        '--to',
        '192.168.10.200',
        '--port',
        'tcp/5432',
      ],
      expected: 'ipblocks-api-to-address.txt',
    },
    {
      name: 'a named UDP port',
      args: ['-f', `${FIXTURES}/ports/input`, '--from', 'indexer', '--to', 'streamer', '--port', 'rtp'],
      expected: 'ports-named-rtp.txt',
    },
    {
      name: "a Calico tier's Deny rule",
      args: [
        '-f',
        `${FIXTURES}/calico/input`,
        '--from',
        'tools/scanner',
        '--to',
        'shop/cart',
        '--port',
        '8080',
      ],
      expected: 'calico-tier.txt',
      err: CALICO_FIXTURE_WARNING,
    },
  ];

  it.each(cases)('$name', async ({ args, expected, err }) => {
    const result = await run([...args, '--explain']);
    expect(result.err).toBe(err ?? '');
    expect(result.out).toBe(readFileSync(join(FIXTURES, 'pairs', expected), 'utf8'));
    expect(result.code).toBe(0);
  });
});

describe('flag errors', () => {
  it.each([
    [
      ['--from', 'srv1-backend', '--to', 'srv1-db'],
      'error: --from and --to explain one pair: give both, with --explain',
    ],
    [
      ['--explain', '--from', 'srv1-backend'],
      'error: --from and --to explain one pair: give both, with --explain',
    ],
    [['--port', '80'], 'error: --port selects a port of --from and --to; give them too'],
    [
      ['--explain', '--from', 'srv1-backend', '--to', 'srv1-db', '--focus-workload', 'srv1-db'],
      'error: --focus-workload and --from/--to cannot be combined',
    ],
    [['--explain', '--from', '1.2.3.4', '--to', '5.6.7.8'], 'error: policies restrict pods only'],
    [
      ['--explain', '--from', 'srv1-backend', '--to', 'srv1-backend'],
      'a workload is not analysed with itself',
    ],
    [
      ['--explain', '--from', 'srv1-backend', '--to', 'srv1-db', '--port', 'icmp/8'],
      'error: --port icmp/8: expected',
    ],
    [['--explain', '--from', 'srv1-backend', '--to', 'srv1-db', '--port', '70000'], 'a port is 1 to 65535'],
    [
      ['--explain', '--from', 'srv1-backend', '--to', 'srv1-db', '--port', 'http'],
      'accounts/srv1-db[Deployment] has no port named http',
    ],
    [['--explain', '--from', 'srv1-backend', '--to', 'nope'], 'error: nope: no workload or pod of that name'],
    [['--explain', '--from', 'nope', '--to', 'srv1-db'], 'error: nope: no workload or pod of that name'],
    [['--explain', '--from', '2001:db8::1', '--to', 'srv1-db'], 'give an IPv4 address'],
  ])('%j', async (args, message) => {
    const result = await run(['-f', SEED_FIXED, ...args]);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toContain(message);
  });
});
