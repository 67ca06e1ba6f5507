/**
 * Reads a VPC's address prefixes from the IBM Cloud VPC API (`GET /vpcs/{id}/address_prefixes`), every page, and
 * groups them by zone. The bearer token is only ever sent to the endpoint's own origin: a `next.href` elsewhere is
 * refused, and redirects are not followed.
 */
import type { VpcZone } from '../api/v1alpha1.js';
import { REGION_PATTERN, VPC_ID_PATTERN } from '../api/vpc-egress-profile.js';
import { parseUrl } from '../util/url.js';
import { groupPrefixesByZone } from './address-prefixes.js';
import { IbmCloudError, redact } from './errors.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  httpDependencies,
  joinUrl,
  parseJson,
  parseServiceUrl,
  requestWithRetry,
  retryPolicy,
  type HttpAnswer,
  type HttpDependencies,
  type InjectableDependencies,
  type RetryPolicy,
} from './http.js';
import { DEFAULT_IAM_ENDPOINT, IamTokenSource, type TokenProvider } from './iam.js';

/**
 * The VPC API's `version` query parameter: the date whose API behaviour we expect. Pinned, so that an incompatible
 * change IBM ships later cannot alter responses under us; the address-prefix shape has not changed across versions.
 */
export const VPC_API_VERSION = '2025-04-08';
export const DEFAULT_PAGE_LIMIT = 50;
/** A VPC has at most a few hundred prefixes; this bounds the walk if a server keeps answering with new pages. */
export const DEFAULT_MAX_PAGES = 100;
/** Private IAM, reachable from IBM Cloud networks without public internet access (like the private VPC endpoint). */
export const PRIVATE_IAM_ENDPOINT = 'https://private.iam.cloud.ibm.com';

export type VpcEndpointVisibility = 'public' | 'private';

/** An address prefix as the API reports it, reduced to what we use. */
export interface AddressPrefix {
  cidr: string;
  zone: { name: string };
  id?: string;
  name?: string;
  isDefault?: boolean;
}

interface Settings extends InjectableDependencies {
  /** IBM Cloud region of the VPC, e.g. "us-south". */
  region: string;
  vpcId: string;
  /** Full VPC API base URL; overrides `visibility`. */
  endpoint?: string;
  /** Which regional endpoint to use when `endpoint` is not given; default public. */
  visibility?: VpcEndpointVisibility;
  /** Page size, 1-100 (the API's maximum); default 50. */
  pageLimit?: number;
  maxPages?: number;
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
}

/**
 * Either an API key (a token source is made for this one call) or a shared TokenProvider, which lets repeated
 * refreshes reuse IAM's token for its whole life instead of asking IAM every time.
 */
type Credentials =
  | { apiKey: string; iamEndpoint?: string; tokens?: undefined }
  | { tokens: TokenProvider; apiKey?: undefined; iamEndpoint?: undefined };

export type ListAddressPrefixesOptions = Settings & Credentials;

/** `https://<region>.iaas.cloud.ibm.com/v1`, or `https://<region>.private.iaas.cloud.ibm.com/v1`. */
export function defaultVpcEndpoint(region: string, visibility: VpcEndpointVisibility = 'public'): string {
  assertRegion(region);
  return visibility === 'private'
    ? `https://${region}.private.iaas.cloud.ibm.com/v1`
    : `https://${region}.iaas.cloud.ibm.com/v1`;
}

/**
 * The IAM endpoint that goes with a VPC endpoint: private IAM for a private VPC endpoint (a cluster that reaches the
 * VPC API privately usually cannot reach public IAM), public IAM otherwise.
 */
export function defaultIamEndpointFor(vpcEndpoint: string): string {
  const host = safeHostname(vpcEndpoint);
  return host?.endsWith('.private.iaas.cloud.ibm.com') ? PRIVATE_IAM_ENDPOINT : DEFAULT_IAM_ENDPOINT;
}

/** Every address prefix of the VPC, grouped by zone with `groupPrefixesByZone`. */
export async function listAddressPrefixes(options: ListAddressPrefixesOptions): Promise<VpcZone[]> {
  return groupPrefixesByZone(await fetchAllAddressPrefixes(options));
}

/** Every address prefix of the VPC, all pages, in the API's order. */
export async function fetchAllAddressPrefixes(options: ListAddressPrefixesOptions): Promise<AddressPrefix[]> {
  assertRegion(options.region);
  assertVpcId(options.vpcId);
  const pageLimit = options.pageLimit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(pageLimit) || pageLimit < 1 || pageLimit > 100) {
    throw new IbmCloudError('InvalidConfig', `pageLimit must be an integer from 1 to 100 (got ${pageLimit})`);
  }
  const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
  const endpointText = options.endpoint ?? defaultVpcEndpoint(options.region, options.visibility);
  const base = parseServiceUrl(endpointText, 'endpoint');
  const deps = httpDependencies(options);
  const retry = retryPolicy(options.retry);
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const tokens =
    options.tokens ??
    new IamTokenSource({
      apiKey: options.apiKey,
      iamEndpoint: options.iamEndpoint ?? defaultIamEndpointFor(base.href),
      requestTimeoutMs: timeoutMs,
      retry,
      ...deps,
    });

  const firstPage = joinUrl(base, `vpcs/${encodeURIComponent(options.vpcId)}/address_prefixes`);
  firstPage.searchParams.set('version', VPC_API_VERSION);
  firstPage.searchParams.set('generation', '2');
  firstPage.searchParams.set('limit', String(pageLimit));

  const context: PageContext = { vpcId: options.vpcId, region: options.region, origin: base.origin };
  const prefixes: AddressPrefix[] = [];
  const visited = new Set<string>();
  let pageUrl: URL | undefined = firstPage;
  while (pageUrl) {
    if (visited.size >= maxPages) {
      throw new IbmCloudError(
        'BadResponse',
        `the VPC API at ${base.origin} returned more than ${maxPages} pages of address prefixes for VPC ` +
          `${options.vpcId}; stopped reading`,
      );
    }
    visited.add(pageUrl.href);
    const answer = await getPage(pageUrl, tokens, { deps, retry, timeoutMs, signal: options.signal });
    if (answer.status !== 200) throw vpcFailure(answer, context);
    const page = parsePage(answer.body, context, visited.size);
    prefixes.push(...page.prefixes);
    pageUrl =
      page.nextHref === undefined ? undefined : nextPageUrl(page.nextHref, firstPage, visited, context);
  }
  return prefixes;
}

interface PageContext {
  vpcId: string;
  region: string;
  origin: string;
}

async function getPage(
  url: URL,
  tokens: TokenProvider,
  http: { deps: HttpDependencies; retry: RetryPolicy; timeoutMs: number; signal: AbortSignal | undefined },
): Promise<HttpAnswer> {
  // A 401 can mean the cached token was revoked or expired early; one fresh token is worth a second try.
  for (let tokenAttempt = 1; ; tokenAttempt++) {
    const token = await tokens.getToken(http.signal);
    const answer = await requestWithRetry(
      {
        service: 'the VPC API',
        url,
        method: 'GET',
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
        secrets: [token],
      },
      http,
    );
    // Error bodies end up in status messages; a server echoing the token must not put it there.
    if (answer.status !== 200) answer.body = redact(answer.body, [token]);
    if (answer.status !== 401 || tokenAttempt >= 2) return answer;
    tokens.invalidate();
  }
}

/** The VPC API's error envelope: {"errors":[{"code":"not_found","message":"..."}],"trace":"..."}. */
interface VpcErrorResponse {
  errors?: unknown;
  trace?: unknown;
}

function vpcFailure(answer: HttpAnswer, context: PageContext): IbmCloudError {
  const { status } = answer;
  // "(404, not_found: VPC not found, trace 6b5a...)": the trace lets IBM support find the request.
  const detail = `(${[String(status), ...describeVpcError(answer.body)].join(', ')})`;
  const where = `the VPC API at ${context.origin}`;
  switch (status) {
    case 401:
      return new IbmCloudError(
        'Unauthorized',
        `${where} rejected the IAM token made from the API key ${detail}; check that the API key is valid, ` +
          'and that the VPC endpoint and the IAM endpoint belong to the same IBM Cloud (public or private)',
        { status },
      );
    case 403:
      return new IbmCloudError(
        'Forbidden',
        `the API key's identity lacks the Viewer role on VPC Infrastructure Services for VPC ${context.vpcId} ` +
          `${detail}; grant its user or service ID the Viewer platform role on VPC Infrastructure ` +
          'Services (or on that VPC)',
        { status },
      );
    case 404:
      return new IbmCloudError(
        'VpcNotFound',
        `VPC ${context.vpcId} not found in region ${context.region} ${detail}; check the VPC ID and the ` +
          `region (${where} only knows that region's VPCs), and that the API key belongs to the VPC's account`,
        { status },
      );
    case 429:
      return new IbmCloudError('RateLimited', `${where} kept answering 429 Too Many Requests ${detail}`, {
        status,
        ...(answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {}),
      });
    default:
      if (status >= 500) {
        const tries = answer.attempts === 1 ? '' : ` after ${answer.attempts} attempts`;
        return new IbmCloudError('ServerError', `${where} kept failing${tries} ${detail}`, { status });
      }
      return new IbmCloudError(
        'BadResponse',
        `${where} could not list the address prefixes of VPC ${context.vpcId} ${detail}`,
        { status },
      );
  }
}

/** ["code: message", ..., "trace <id>"] from the error envelope; empty when there is none. */
function describeVpcError(body: string): string[] {
  const parsed = parseJson<VpcErrorResponse>(body);
  if (!parsed) return [];
  const parts: string[] = [];
  if (Array.isArray(parsed.errors)) {
    for (const entry of parsed.errors.slice(0, 3)) {
      if (typeof entry !== 'object' || entry === null) continue;
      const { code, message } = entry as { code?: unknown; message?: unknown };
      const text = [code, message].filter((part): part is string => typeof part === 'string').join(': ');
      if (text !== '') parts.push(text);
    }
  }
  if (typeof parsed.trace === 'string' && parsed.trace !== '') parts.push(`trace ${parsed.trace}`);
  return parts;
}

interface ParsedPage {
  prefixes: AddressPrefix[];
  nextHref: string | undefined;
}

function parsePage(body: string, context: PageContext, pageNumber: number): ParsedPage {
  const where = `the VPC API at ${context.origin} (page ${pageNumber} of the address prefixes of VPC ${context.vpcId})`;
  const parsed = parseJson<{ address_prefixes?: unknown; next?: unknown }>(body);
  if (!parsed)
    throw new IbmCloudError('BadResponse', `${where} answered 200 with a body that is not a JSON object`);
  if (!Array.isArray(parsed.address_prefixes)) {
    throw new IbmCloudError('BadResponse', `${where} answered without an address_prefixes array`);
  }
  const prefixes = parsed.address_prefixes.map((item: unknown, index): AddressPrefix => {
    const entry = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const zone = entry['zone'] as { name?: unknown } | undefined;
    const cidr = entry['cidr'];
    if (typeof cidr !== 'string' || cidr === '') {
      throw new IbmCloudError('BadResponse', `${where}: address_prefixes[${index}] has no cidr`);
    }
    if (typeof zone !== 'object' || zone === null || typeof zone.name !== 'string' || zone.name === '') {
      throw new IbmCloudError(
        'BadResponse',
        `${where}: address_prefixes[${index}] (${cidr}) has no zone.name`,
      );
    }
    const prefix: AddressPrefix = { cidr, zone: { name: zone.name } };
    if (typeof entry['id'] === 'string') prefix.id = entry['id'];
    if (typeof entry['name'] === 'string') prefix.name = entry['name'];
    if (typeof entry['is_default'] === 'boolean') prefix.isDefault = entry['is_default'];
    return prefix;
  });
  let nextHref: string | undefined;
  if (parsed.next !== undefined && parsed.next !== null) {
    const href = (parsed.next as { href?: unknown }).href;
    if (typeof href !== 'string' || href === '') {
      throw new IbmCloudError('BadResponse', `${where} has a "next" without an href`);
    }
    nextHref = href;
  }
  return { prefixes, nextHref };
}

/**
 * The next page's URL, only if it stays on the first page's origin and path: the request carries our bearer token,
 * and a response must not be able to send it anywhere else. The pinned version and generation are put back if the
 * href dropped them (IBM's next.href carries only limit and start).
 */
function nextPageUrl(href: string, firstPage: URL, visited: ReadonlySet<string>, context: PageContext): URL {
  let next: URL;
  try {
    next = new URL(href, firstPage);
  } catch {
    throw new IbmCloudError('BadResponse', `the VPC API's next.href "${href}" is not a URL`);
  }
  if (next.origin !== firstPage.origin || next.username !== '' || next.password !== '') {
    throw new IbmCloudError(
      'BadResponse',
      `the VPC API's next.href points to ${next.origin}, not ${firstPage.origin}; refusing to send the IAM token ` +
        'to another origin',
    );
  }
  if (next.pathname !== firstPage.pathname) {
    throw new IbmCloudError(
      'BadResponse',
      `the VPC API's next.href leaves ${firstPage.pathname} (it points to ${next.pathname}); refusing to follow it`,
    );
  }
  if (!next.searchParams.has('version')) next.searchParams.set('version', VPC_API_VERSION);
  if (!next.searchParams.has('generation')) next.searchParams.set('generation', '2');
  if (visited.has(next.href)) {
    throw new IbmCloudError(
      'BadResponse',
      `the VPC API's next.href for VPC ${context.vpcId} repeats a page already read; stopped to avoid a loop`,
    );
  }
  return next;
}

const REGION = new RegExp(REGION_PATTERN);
const VPC_ID = new RegExp(VPC_ID_PATTERN);

/** A plain region name ("us-south", "eu-de"): it becomes part of a host name, so nothing else may pass. */
export function isRegionName(region: unknown): region is string {
  return typeof region === 'string' && REGION.test(region);
}

/** IBM VPC IDs are like r006-2f8b7c4e-8a1d-4b9e-9f3a-6c2d1e0b5a71: one path segment, no dots or slashes. */
export function isVpcId(vpcId: unknown): vpcId is string {
  return typeof vpcId === 'string' && VPC_ID.test(vpcId);
}

function assertRegion(region: string): void {
  if (!isRegionName(region)) {
    throw new IbmCloudError(
      'InvalidConfig',
      `region "${String(region)}" is not an IBM Cloud region name like us-south`,
    );
  }
}

function assertVpcId(vpcId: string): void {
  if (!isVpcId(vpcId)) {
    throw new IbmCloudError(
      'InvalidConfig',
      `vpcId "${String(vpcId)}" is not a VPC ID like r006-2f8b7c4e-8a1d-4b9e-9f3a-6c2d1e0b5a71`,
    );
  }
}

function safeHostname(url: string): string | undefined {
  return parseUrl(url)?.hostname;
}
