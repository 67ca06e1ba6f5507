import { inspect } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeIbmCloud } from '../../test/fixtures/ibm/fake-ibm-cloud.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { IbmCloudError } from './errors.js';
import { IamTokenSource, IAM_APIKEY_GRANT_TYPE, refreshTime } from './iam.js';

/** A clock the test moves by hand, shared by the client and the fake IAM. */
function manualClock(start = Date.parse('2025-06-01T12:00:00Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** Records the waits instead of waiting: backoff is observed, not slept through. */
function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

function assertNoSecret(error: unknown, secret: string): void {
  expect(error).toBeInstanceOf(Error);
  const err = error as Error;
  for (const text of [err.message, err.stack ?? '', JSON.stringify(err), inspect(err, { depth: 10 })]) {
    expect(text).not.toContain(secret);
  }
}

async function caught(promise: Promise<unknown>): Promise<IbmCloudError> {
  try {
    await promise;
  } catch (error) {
    return error as IbmCloudError;
  }
  throw new Error('expected the promise to reject');
}

describe('IamTokenSource against a local IAM', () => {
  let cloud: FakeIbmCloud;
  const clock = manualClock();

  beforeEach(async () => {
    cloud = await FakeIbmCloud.start({ now: clock.now });
  });
  afterEach(async () => {
    await cloud.close();
  });

  function source(overrides: Partial<ConstructorParameters<typeof IamTokenSource>[0]> = {}) {
    return new IamTokenSource({
      apiKey: cloud.apiKey,
      iamEndpoint: cloud.iamEndpoint,
      now: clock.now,
      sleep: recordingSleep().sleep,
      random: () => 0.5,
      ...overrides,
    });
  }

  it('posts the API key grant as a form and returns the access token', async () => {
    const token = await source().getToken();

    const [request] = cloud.requestsTo('iam');
    expect(token).toMatch(/^fake-iam-token-1-/);
    expect(request?.path).toBe('/identity/token');
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request?.headers.accept).toBe('application/json');
    expect(request?.form?.get('grant_type')).toBe(IAM_APIKEY_GRANT_TYPE);
    expect(request?.form?.get('apikey')).toBe(cloud.apiKey);
  });

  it('trims the whitespace a Secret made with echo leaves around the key', async () => {
    await source({ apiKey: `  ${cloud.apiKey}\n` }).getToken();
    expect(cloud.requestsTo('iam')[0]?.form?.get('apikey')).toBe(cloud.apiKey);
  });

  it('reuses the token until 10% of its lifetime before expiry, then asks again', async () => {
    const tokens = source();
    const first = await tokens.getToken();
    clock.advance(3240_000 - 1); // 3600s lifetime, 360s margin
    expect(await tokens.getToken()).toBe(first);
    expect(cloud.requestsTo('iam')).toHaveLength(1);

    clock.advance(1);
    const second = await tokens.getToken();
    expect(second).not.toBe(first);
    expect(cloud.requestsTo('iam')).toHaveLength(2);
  });

  it('trusts the earlier of expires_in and expiration, so a skewed clock cannot keep an expired token', async () => {
    cloud.script('iam', {
      body: {
        access_token: 'short-lived',
        expires_in: 3600,
        expiration: Math.floor(clock.now() / 1000) + 600, // IAM's clock says it dies in 10 minutes
      },
    });
    const tokens = source();
    expect(await tokens.getToken()).toBe('short-lived');
    clock.advance(540_000); // 600s lifetime, 60s margin
    expect(await tokens.getToken()).not.toBe('short-lived');
  });

  it('shares one request among concurrent callers', async () => {
    cloud.script('iam', { delayMs: 50, body: { access_token: 'shared', expires_in: 3600 } });
    const tokens = source();
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => tokens.getToken()));
    expect(results).toEqual(['shared', 'shared', 'shared', 'shared', 'shared']);
    expect(cloud.requestsTo('iam')).toHaveLength(1);
  });

  it('lets one caller give up without failing the others sharing the request', async () => {
    cloud.script('iam', { delayMs: 100, body: { access_token: 'shared', expires_in: 3600 } });
    const tokens = source();
    const impatient = new AbortController();
    const first = tokens.getToken(impatient.signal);
    const second = tokens.getToken();
    impatient.abort(new Error('caller gave up'));
    await expect(first).rejects.toThrow('caller gave up');
    await expect(second).resolves.toBe('shared');
  });

  it('asks again after invalidate()', async () => {
    const tokens = source();
    const first = await tokens.getToken();
    tokens.invalidate();
    expect(await tokens.getToken()).not.toBe(first);
    expect(cloud.requestsTo('iam')).toHaveLength(2);
  });

  it('reports a wrong API key as invalid or deleted, with IAM code, and never shows the key', async () => {
    const wrongKey = 'wrong-key-0123456789abcdef0123456789abcdef';
    const error = await caught(source({ apiKey: wrongKey }).getToken());
    expect(error).toBeInstanceOf(IbmCloudError);
    expect(error.kind).toBe('InvalidApiKey');
    expect(error.status).toBe(400);
    expect(error.transient).toBe(false);
    expect(error.message).toContain('the API key is invalid or was deleted');
    expect(error.message).toContain('BXNIM0415E');
    assertNoSecret(error, wrongKey);
    expect(cloud.requestsTo('iam')).toHaveLength(1); // a refused key is not retried
  });

  it('redacts the key when IAM echoes it back in its error', async () => {
    cloud.script('iam', {
      status: 400,
      body: { errorCode: 'BXNIM0415E', errorMessage: `Provided API key ${cloud.apiKey} could not be found.` },
    });
    const error = await caught(source().getToken());
    expect(error.kind).toBe('InvalidApiKey');
    expect(error.message).toContain('<redacted>');
    assertNoSecret(error, cloud.apiKey);
  });

  it('does not cache a failure: the next call asks IAM again', async () => {
    cloud.script('iam', { status: 400, body: { errorCode: 'BXNIM0415E', errorMessage: 'not found' } });
    const tokens = source();
    await expect(tokens.getToken()).rejects.toThrow('invalid or was deleted');
    await expect(tokens.getToken()).resolves.toMatch(/^fake-iam-token-/);
  });

  it('retries 500 with backoff and then succeeds', async () => {
    const { waits, sleep } = recordingSleep();
    cloud.script('iam', { status: 500, body: 'oops' }, { status: 503, body: 'busy' });
    await expect(source({ sleep }).getToken()).resolves.toMatch(/^fake-iam-token-/);
    expect(cloud.requestsTo('iam')).toHaveLength(3);
    // 500ms doubling, jitter 0.5 at random()=0.5: x1.25.
    expect(waits).toEqual([625, 1250]);
  });

  it('honours Retry-After on 429', async () => {
    const { waits, sleep } = recordingSleep();
    cloud.script('iam', { status: 429, headers: { 'Retry-After': '3' } });
    await expect(source({ sleep }).getToken()).resolves.toMatch(/^fake-iam-token-/);
    expect(waits).toEqual([3000]);
  });

  it('gives up after the bounded attempts with a ServerError that is transient', async () => {
    cloud.script('iam', ...Array.from({ length: 4 }, () => ({ status: 502 })));
    const error = await caught(source({ retry: { maxAttempts: 4 } }).getToken());
    expect(error.kind).toBe('ServerError');
    expect(error.transient).toBe(true);
    expect(error.message).toContain('kept answering 502');
    expect(cloud.requestsTo('iam')).toHaveLength(4);
    assertNoSecret(error, cloud.apiKey);
  });

  it('rejects a 200 without an expiry rather than caching a token forever', async () => {
    cloud.script('iam', { body: { access_token: 'no-expiry' } });
    const error = await caught(source().getToken());
    expect(error.kind).toBe('BadResponse');
    expect(error.message).toContain('expiration');
  });

  it('times out a request that does not answer, and says where', async () => {
    cloud.script('iam', { delayMs: 10_000 }, { delayMs: 10_000 });
    const error = await caught(source({ requestTimeoutMs: 100, retry: { maxAttempts: 2 } }).getToken());
    expect(error.kind).toBe('Timeout');
    expect(error.message).toBe(`IAM at ${cloud.origin} did not answer within 0.1s`);
  });
});

describe("IamTokenSource on the operator's Clock", () => {
  it('reads time and waits for backoff on the injected Clock', async () => {
    const clock = new ManualClock(Date.parse('2025-06-01T12:00:00Z'));
    const cloud = await FakeIbmCloud.start({ now: () => clock.now() });
    try {
      cloud.script('iam', { status: 503 });
      const tokens = new IamTokenSource({
        apiKey: cloud.apiKey,
        iamEndpoint: cloud.iamEndpoint,
        clock,
        random: () => 0,
      });
      const pending = tokens.getToken();
      // The retry waits 500ms on the manual clock; poll until the backoff timer is set, then move time.
      while (clock.pendingTimers === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(clock.nextTimerIn()).toBe(500);
      await clock.advance(500);
      const first = await pending;
      await clock.advance(3_240_000);
      expect(await tokens.getToken()).not.toBe(first);
      expect(cloud.requestsTo('iam')).toHaveLength(3);
    } finally {
      await cloud.close();
    }
  });
});

describe('IamTokenSource without a reachable IAM', () => {
  it('says it cannot reach IAM at the URL, without the key', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const apiKey = 'unreachable-key-fedcba9876543210';
    const { waits, sleep } = recordingSleep();
    const tokens = new IamTokenSource({
      apiKey,
      iamEndpoint: `http://127.0.0.1:${port}`,
      sleep,
      random: () => 0,
    });
    const error = await caught(tokens.getToken());
    expect(error.kind).toBe('Unreachable');
    expect(error.message).toContain(`cannot reach IAM at http://127.0.0.1:${port}`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(waits).toHaveLength(3); // 4 attempts
    assertNoSecret(error, apiKey);
  });

  it('refuses plain http to anything but localhost, and an empty key', () => {
    expect(() => new IamTokenSource({ apiKey: 'k', iamEndpoint: 'http://iam.example.com' })).toThrow(
      'must use https',
    );
    expect(() => new IamTokenSource({ apiKey: ' \n' })).toThrow('API key is empty');
  });
});

describe('refreshTime', () => {
  it('keeps a margin of max(60s, 10%) but at most half the lifetime', () => {
    expect(refreshTime(0, 3_600_000)).toBe(3_240_000);
    expect(refreshTime(0, 300_000)).toBe(240_000);
    expect(refreshTime(0, 60_000)).toBe(30_000);
  });
});
