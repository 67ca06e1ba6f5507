/**
 * IBM Cloud calls (IAM, the VPC API) through an HTTPS proxy, as an operator written with Go's net/http would make
 * them: HTTPS_PROXY (or https_proxy) names the proxy for https URLs, NO_PROXY (or no_proxy) the hosts reached
 * directly. Node 20's fetch ignores both, so when an https proxy is set these requests go through undici's fetch
 * with its EnvHttpProxyAgent (a CONNECT tunnel; credentials in the proxy URL become Proxy-Authorization). undici is
 * imported only then: a cluster without a proxy never loads it.
 *
 * Plain http is only ever used for loopback URLs (parseServiceUrl), which Go never proxies either, so http URLs
 * and HTTP_PROXY are left alone. The Kubernetes API server is not reached through here: the kubeconfig says how
 * (its cluster's proxy-url).
 */
import { parseUrl } from '../util/url.js';
import type { FetchFunction } from './http.js';

export interface ProxySettings {
  /** The proxy for https URLs, as given, with http:// in front when it names no scheme. */
  httpsProxy: string;
  /** NO_PROXY as given: comma-separated hosts, domains (".example.com" or "example.com"), host:port, or "*". */
  noProxy: string | undefined;
}

/** TLS options for the tunnelled connection (tests pass their own CA; production uses Node's). */
export interface ProxyTlsOptions {
  ca?: string | Buffer;
}

/**
 * The proxy settings in `env`, upper case first like Go's httpproxy.FromEnvironment; undefined when no https proxy
 * is set (an empty value counts as unset).
 */
export function proxySettingsFrom(env: NodeJS.ProcessEnv): ProxySettings | undefined {
  const httpsProxy = firstSet(env, 'HTTPS_PROXY', 'https_proxy');
  if (httpsProxy === undefined) return undefined;
  // "proxy.corp:3128" means http://proxy.corp:3128, as Go reads it.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(httpsProxy) ? httpsProxy : `http://${httpsProxy}`;
  return { httpsProxy: withScheme, noProxy: firstSet(env, 'NO_PROXY', 'no_proxy') };
}

/** The proxy URL for logs and errors: scheme, host and port, never the credentials (nor text that is not a URL). */
export function describeProxy(proxy: string): string {
  const url = parseUrl(proxy);
  return url ? `${url.protocol}//${url.host}` : '(not a URL)';
}

const nodeFetch: FetchFunction = (input, init) => globalThis.fetch(input, init);

/**
 * A fetch that sends https requests through `settings.httpsProxy` unless NO_PROXY exempts their host, and
 * everything else with Node's fetch. The agent (and its pooled tunnels) lives as long as the returned function.
 */
export function proxiedFetch(settings: ProxySettings, tls: ProxyTlsOptions = {}): FetchFunction {
  let proxied: Promise<FetchFunction> | undefined;
  const viaProxy = async (): Promise<FetchFunction> => {
    if (!/^https?:$/.test(parseUrl(settings.httpsProxy)?.protocol ?? ''))
      throw new Error(
        `HTTPS_PROXY ${describeProxy(settings.httpsProxy)} is not an http:// or https:// proxy`,
      );
    const undici = await import('undici');
    const dispatcher = new undici.EnvHttpProxyAgent({
      httpsProxy: settings.httpsProxy,
      // Never used (http URLs do not come here), but EnvHttpProxyAgent would otherwise build an agent from
      // HTTP_PROXY, which need not even parse.
      httpProxy: settings.httpsProxy,
      noProxy: settings.noProxy ?? '',
      // The target's TLS: inside the tunnel (requestTls), or direct for a NO_PROXY host (connect).
      ...(tls.ca !== undefined && { requestTls: { ca: tls.ca }, connect: { ca: tls.ca } }),
    });
    // undici's fetch takes the same arguments and answers the same Response interface as Node's (whose fetch is
    // undici too), plus the dispatcher.
    return ((input, init) =>
      undici.fetch(input as Parameters<typeof undici.fetch>[0], {
        ...(init as Parameters<typeof undici.fetch>[1]),
        dispatcher,
      }) as unknown as Promise<Response>) as FetchFunction;
  };
  return async (input, init) => {
    if (urlOf(input).protocol !== 'https:') return nodeFetch(input, init);
    if (!proxied) {
      const loading = viaProxy();
      // A failed load (undici missing from node_modules) fails this request, and the next one tries again.
      loading.catch(() => {
        if (proxied === loading) proxied = undefined;
      });
      proxied = loading;
    }
    return (await proxied)(input, init);
  };
}

/** The proxied fetch of the settings last seen: one agent, and its pooled tunnels, per process. */
let shared: { key: string; fetch: FetchFunction } | undefined;

/**
 * Node's fetch, or proxiedFetch when `env` names an https proxy: what the IAM and VPC clients use unless a test
 * injects its own. Every client built while the settings stay the same shares one proxied fetch.
 */
export function fetchFromEnvironment(env: NodeJS.ProcessEnv = process.env): FetchFunction {
  const settings = proxySettingsFrom(env);
  if (!settings) return nodeFetch;
  const key = `${settings.httpsProxy}\n${settings.noProxy ?? ''}`;
  if (shared?.key !== key) shared = { key, fetch: proxiedFetch(settings) };
  return shared.fetch;
}

function firstSet(env: NodeJS.ProcessEnv, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

function urlOf(input: Parameters<FetchFunction>[0]): URL {
  if (input instanceof URL) return input;
  return new URL(typeof input === 'string' ? input : input.url);
}
