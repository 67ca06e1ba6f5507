import { inspect } from 'node:util';
import {
  FakeIbmCloud,
  FIXTURE_REGION,
  FIXTURE_VPC_ID,
  loadFixture,
  type WirePage,
} from '../../test/fixtures/ibm/fake-ibm-cloud.js';
import type { IbmCloudError } from './errors.js';
import type { FetchFunction } from './http.js';
import { IamTokenSource } from './iam.js';
import {
  defaultIamEndpointFor,
  defaultVpcEndpoint,
  fetchAllAddressPrefixes,
  listAddressPrefixes,
  VPC_API_VERSION,
  type ListAddressPrefixesOptions,
} from './vpc.js';

function manualClock(start = Date.parse('2025-06-01T12:00:00Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

/** Real fetch, with every URL it was asked for written down (a spy, not a mock: the request still goes out). */
function spiedFetch() {
  const urls: string[] = [];
  const fetch: FetchFunction = (input, init) => {
    urls.push(input instanceof URL ? input.href : typeof input === 'string' ? input : input.url);
    return globalThis.fetch(input, init);
  };
  return { urls, fetch };
}

async function caught(promise: Promise<unknown>): Promise<IbmCloudError> {
  try {
    await promise;
  } catch (error) {
    return error as IbmCloudError;
  }
  throw new Error('expected the promise to reject');
}

function assertNoSecret(error: Error, secret: string): void {
  for (const text of [
    error.message,
    error.stack ?? '',
    JSON.stringify(error),
    inspect(error, { depth: 10 }),
  ]) {
    expect(text).not.toContain(secret);
  }
}

describe('listing address prefixes from a local VPC API', () => {
  let cloud: FakeIbmCloud;
  const clock = manualClock();
  let sleeper: ReturnType<typeof recordingSleep>;

  beforeEach(async () => {
    cloud = await FakeIbmCloud.start({ now: clock.now });
    sleeper = recordingSleep();
  });
  afterEach(async () => {
    await cloud.close();
  });

  function options(overrides: Partial<ListAddressPrefixesOptions> = {}): ListAddressPrefixesOptions {
    return {
      region: FIXTURE_REGION,
      vpcId: FIXTURE_VPC_ID,
      endpoint: cloud.vpcEndpoint,
      apiKey: cloud.apiKey,
      iamEndpoint: cloud.iamEndpoint,
      now: clock.now,
      sleep: sleeper.sleep,
      random: () => 0.5,
      ...overrides,
    } as ListAddressPrefixesOptions;
  }

  it('reads every page, with the pinned version, generation 2 and the bearer token on each request', async () => {
    const prefixes = await fetchAllAddressPrefixes(options({ pageLimit: 2 }));

    expect(prefixes.map((prefix) => [prefix.zone.name, prefix.cidr])).toEqual([
      ['us-south-1', '10.240.0.0/18'],
      ['us-south-2', '10.240.64.0/18'],
      ['us-south-3', '10.240.128.0/18'],
      ['us-south-1', '172.16.0.0/22'],
    ]);
    expect(prefixes[3]).toMatchObject({ name: 'zone1-extra-prefix', isDefault: false });
    const pages = cloud.requestsTo('vpc');
    expect(pages).toHaveLength(2);
    for (const page of pages) {
      expect(page.path).toBe(`/v1/vpcs/${FIXTURE_VPC_ID}/address_prefixes`);
      expect(page.query.get('version')).toBe(VPC_API_VERSION);
      expect(page.query.get('generation')).toBe('2');
      expect(page.query.get('limit')).toBe('2');
      expect(page.headers.authorization).toMatch(/^Bearer fake-iam-token-1-/);
      expect(page.headers.accept).toBe('application/json');
    }
    expect(pages[1]?.query.get('start')).toBe('2');
    expect(cloud.requestsTo('iam')).toHaveLength(1);
  });

  it('groups the prefixes by zone, zones by name and prefixes in address order', async () => {
    await expect(listAddressPrefixes(options({ pageLimit: 3 }))).resolves.toEqual([
      { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18', '172.16.0.0/22'] },
      { name: 'us-south-2', addressPrefixes: ['10.240.64.0/18'] },
      { name: 'us-south-3', addressPrefixes: ['10.240.128.0/18'] },
    ]);
  });

  it('follows the documented paged envelope (reference page 1 of 2, then the rest)', async () => {
    const page1 = loadFixture<WirePage>('address_prefixes.page1-of-2.example.json');
    const all = loadFixture<WirePage>('address_prefixes.example.json');
    const localNext = page1.next!.href.replace('https://us-south.iaas.cloud.ibm.com', cloud.origin);
    cloud.script(
      'vpc',
      { body: { ...page1, next: { href: localNext } } },
      { body: { ...all, address_prefixes: all.address_prefixes.slice(2), limit: 2 } },
    );
    const prefixes = await fetchAllAddressPrefixes(options());
    expect(prefixes.map((prefix) => prefix.cidr)).toEqual(all.address_prefixes.map((prefix) => prefix.cidr));
    const second = cloud.requestsTo('vpc')[1];
    expect(second?.query.get('start')).toBe('9d5a91a3e2cbd233b5a5b33436855ed1');
    expect(second?.query.get('version')).toBe(VPC_API_VERSION);
  });

  it('refuses a next.href on another origin and never sends the token there', async () => {
    const spy = spiedFetch();
    // The reference page as IBM wrote it: its next.href points to us-south.iaas.cloud.ibm.com, not to us.
    cloud.script('vpc', { body: loadFixture<WirePage>('address_prefixes.page1-of-2.example.json') });
    const error = await caught(fetchAllAddressPrefixes(options({ fetch: spy.fetch })));
    expect(error.kind).toBe('BadResponse');
    expect(error.message).toContain('points to https://us-south.iaas.cloud.ibm.com');
    expect(error.message).toContain('refusing to send the IAM token to another origin');
    expect(spy.urls.filter((url) => !url.startsWith(cloud.origin))).toEqual([]);
    expect(cloud.requestsTo('vpc')).toHaveLength(1);
  });

  it('refuses a next.href that leaves the collection path on the same origin', async () => {
    cloud.script('vpc', {
      body: {
        address_prefixes: [],
        next: { href: `${cloud.origin}/v1/vpcs/other/address_prefixes?start=x` },
      },
    });
    await expect(fetchAllAddressPrefixes(options())).rejects.toThrow('refusing to follow it');
  });

  it('stops when next.href repeats a page instead of looping', async () => {
    const self = `${cloud.origin}/v1/vpcs/${FIXTURE_VPC_ID}/address_prefixes?limit=50&start=a`;
    cloud.script(
      'vpc',
      { body: { address_prefixes: [], next: { href: self } } },
      { body: { address_prefixes: [], next: { href: self } } },
    );
    await expect(fetchAllAddressPrefixes(options())).rejects.toThrow('repeats a page already read');
  });

  it('reuses a shared token source across refreshes until the token nears expiry', async () => {
    const tokens = new IamTokenSource({
      apiKey: cloud.apiKey,
      iamEndpoint: cloud.iamEndpoint,
      now: clock.now,
    });
    const shared = {
      ...options(),
      apiKey: undefined,
      iamEndpoint: undefined,
      tokens,
    } as ListAddressPrefixesOptions;
    await fetchAllAddressPrefixes(shared);
    clock.advance(10 * 60_000);
    await fetchAllAddressPrefixes(shared);
    expect(cloud.requestsTo('iam')).toHaveLength(1);

    clock.advance(50 * 60_000); // past the 54-minute refresh point of a one-hour token
    await fetchAllAddressPrefixes(shared);
    expect(cloud.requestsTo('iam')).toHaveLength(2);
    const [, , third] = cloud.requestsTo('vpc');
    expect(third?.headers.authorization).toMatch(/^Bearer fake-iam-token-2-/);
  });

  it('gets a fresh token once when the VPC API says 401, then succeeds', async () => {
    const tokens = new IamTokenSource({
      apiKey: cloud.apiKey,
      iamEndpoint: cloud.iamEndpoint,
      now: clock.now,
    });
    const shared = {
      ...options(),
      apiKey: undefined,
      iamEndpoint: undefined,
      tokens,
    } as ListAddressPrefixesOptions;
    await fetchAllAddressPrefixes(shared);
    cloud.revokeTokens();
    await expect(fetchAllAddressPrefixes(shared)).resolves.toHaveLength(4);
    expect(cloud.requestsTo('iam')).toHaveLength(2);
  });

  it('reports a token the VPC API keeps refusing as Unauthorized', async () => {
    const unauthorized = {
      status: 401,
      body: { errors: [{ code: 'not_authenticated', message: 'Bad token' }] },
    };
    cloud.script('vpc', unauthorized, unauthorized);
    const error = await caught(fetchAllAddressPrefixes(options()));
    expect(error.kind).toBe('Unauthorized');
    expect(error.message).toContain('(401, not_authenticated: Bad token)');
    expect(error.message).toContain('check that the API key is valid');
    expect(cloud.requestsTo('iam')).toHaveLength(2);
    assertNoSecret(error, cloud.apiKey);
  });

  it('reports a wrong API key from IAM before calling the VPC API', async () => {
    const error = await caught(fetchAllAddressPrefixes(options({ apiKey: 'not-the-key-7f3a9c' })));
    expect(error.kind).toBe('InvalidApiKey');
    expect(error.message).toContain('the API key is invalid or was deleted');
    assertNoSecret(error, 'not-the-key-7f3a9c');
    expect(cloud.requestsTo('vpc')).toHaveLength(0);
  });

  it('names the missing IAM role on 403', async () => {
    cloud.forbiddenVpcs.add(FIXTURE_VPC_ID);
    const error = await caught(fetchAllAddressPrefixes(options()));
    expect(error.kind).toBe('Forbidden');
    expect(error.status).toBe(403);
    expect(error.message).toContain(
      `the API key's identity lacks the Viewer role on VPC Infrastructure Services for VPC ${FIXTURE_VPC_ID}`,
    );
    expect(error.message).toMatch(/not_authorized: Unauthorized, trace [0-9a-f]+/);
    expect(cloud.requestsTo('vpc')).toHaveLength(1); // not retried: waiting will not grant a role
    assertNoSecret(error, cloud.apiKey);
  });

  it('says which VPC and region on 404', async () => {
    const error = await caught(fetchAllAddressPrefixes(options({ vpcId: 'r006-does-not-exist' })));
    expect(error.kind).toBe('VpcNotFound');
    expect(error.transient).toBe(false);
    expect(error.message).toContain('VPC r006-does-not-exist not found in region us-south');
    expect(error.message).toContain('not_found: VPC not found.');
  });

  it('waits as long as Retry-After says on 429, then succeeds', async () => {
    cloud.script('vpc', {
      status: 429,
      headers: { 'Retry-After': '2' },
      body: { errors: [{ code: 'rate_limited' }] },
    });
    await expect(fetchAllAddressPrefixes(options())).resolves.toHaveLength(4);
    expect(sleeper.waits).toEqual([2000]);
    expect(cloud.requestsTo('vpc')).toHaveLength(2);
  });

  it('does not sit out a Retry-After longer than a minute: it fails and passes the delay on', async () => {
    cloud.script('vpc', { status: 429, headers: { 'Retry-After': '3600' } });
    const error = await caught(fetchAllAddressPrefixes(options()));
    expect(error.kind).toBe('RateLimited');
    expect(error.transient).toBe(true);
    expect(error.retryAfterMs).toBe(3_600_000);
    expect(sleeper.waits).toEqual([]);
  });

  it('retries a 500 and succeeds', async () => {
    cloud.script('vpc', { status: 500, body: { errors: [{ code: 'internal_error', message: 'boom' }] } });
    await expect(fetchAllAddressPrefixes(options())).resolves.toHaveLength(4);
    expect(sleeper.waits).toEqual([625]);
  });

  it('gives up on 5xx after the bounded attempts with a transient ServerError', async () => {
    cloud.script('vpc', { status: 503 }, { status: 502 }, { status: 500, body: { trace: 'abc123' } });
    const error = await caught(fetchAllAddressPrefixes(options({ retry: { maxAttempts: 3 } })));
    expect(error.kind).toBe('ServerError');
    expect(error.transient).toBe(true);
    expect(error.message).toBe(
      `the VPC API at ${cloud.origin} kept failing after 3 attempts (500, trace abc123)`,
    );
    // 500ms doubling, jitter 0.5 at random()=0.5: x1.25.
    expect(sleeper.waits).toEqual([625, 1250]);
  });

  it('times out a response slower than the per-request timeout', async () => {
    cloud.script('vpc', { delayMs: 10_000 }, { delayMs: 10_000 });
    const error = await caught(
      fetchAllAddressPrefixes(options({ requestTimeoutMs: 100, retry: { maxAttempts: 2 } })),
    );
    expect(error.kind).toBe('Timeout');
    expect(error.message).toBe(`the VPC API at ${cloud.origin} did not answer within 0.1s`);
    expect(cloud.requestsTo('vpc')).toHaveLength(2);
  });

  it('times out a response whose headers arrive but whose body stalls, then retries and succeeds', async () => {
    cloud.script('vpc', { stallBodyMs: 10_000, body: { address_prefixes: [] } });
    await expect(fetchAllAddressPrefixes(options({ requestTimeoutMs: 100 }))).resolves.toHaveLength(4);
    expect(cloud.requestsTo('vpc')).toHaveLength(2);
  });

  it('stops at once, without retrying, when the caller aborts', async () => {
    const controller = new AbortController();
    cloud.script('vpc', { delayMs: 10_000 });
    const listing = fetchAllAddressPrefixes(options({ signal: controller.signal }));
    setImmediate(() => controller.abort(new Error('operator shutting down')));
    await expect(listing).rejects.toThrow('operator shutting down');
    expect(sleeper.waits).toEqual([]);
  });

  it('refuses to follow a redirect with the token', async () => {
    cloud.script('vpc', { status: 302, headers: { Location: 'https://elsewhere.example.com/steal' } });
    const error = await caught(fetchAllAddressPrefixes(options()));
    expect(error.kind).toBe('BadResponse');
    expect(error.message).toContain('refusing to follow a redirect');
  });

  it('rejects a body that is not the documented envelope, naming the page and the entry', async () => {
    cloud.script('vpc', { body: 'not json' });
    await expect(fetchAllAddressPrefixes(options())).rejects.toThrow('not a JSON object');
    cloud.script('vpc', { body: { address_prefixes: [{ cidr: '10.0.0.0/18' }] } });
    await expect(fetchAllAddressPrefixes(options())).rejects.toThrow(
      'address_prefixes[0] (10.0.0.0/18) has no zone.name',
    );
    cloud.script('vpc', { body: { prefixes: [] } });
    await expect(fetchAllAddressPrefixes(options())).rejects.toThrow('without an address_prefixes array');
  });

  it('rejects settings that could send the token somewhere unintended', async () => {
    await expect(fetchAllAddressPrefixes(options({ region: 'us-south.evil.example' }))).rejects.toThrow(
      'is not an IBM Cloud region name',
    );
    await expect(fetchAllAddressPrefixes(options({ endpoint: 'http://vpc.example.com/v1' }))).rejects.toThrow(
      'must use https',
    );
    await expect(fetchAllAddressPrefixes(options({ vpcId: '../../iam' }))).rejects.toThrow('is not a VPC ID');
    expect(cloud.requests).toHaveLength(0);
  });
});

describe('endpoints', () => {
  it('builds the public and private regional VPC endpoints', () => {
    expect(defaultVpcEndpoint('eu-de')).toBe('https://eu-de.iaas.cloud.ibm.com/v1');
    expect(defaultVpcEndpoint('eu-de', 'private')).toBe('https://eu-de.private.iaas.cloud.ibm.com/v1');
  });

  it('pairs the private VPC endpoint with private IAM', () => {
    expect(defaultIamEndpointFor('https://jp-tok.private.iaas.cloud.ibm.com/v1')).toBe(
      'https://private.iam.cloud.ibm.com',
    );
    expect(defaultIamEndpointFor('https://jp-tok.iaas.cloud.ibm.com/v1')).toBe('https://iam.cloud.ibm.com');
  });
});
