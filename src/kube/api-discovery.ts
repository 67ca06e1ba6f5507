/**
 * API discovery: what the server is and serves (/version, /api, /apis, one group/version's resources), as
 * client-go's discovery client. The controller asks it which Calico API to write; the CLI which kinds to read.
 */
import { ApiError } from './errors.js';
import { groupVersionPath } from './resource.js';
import type { Transport } from './transport.js';

export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
  platform?: string;
  [field: string]: unknown;
}

export interface ApiGroupInfo {
  /** '' for the core group. */
  name: string;
  versions: string[];
  preferredVersion: string | undefined;
}

export interface ApiResourceInfo {
  name: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
}

export class ApiDiscovery {
  constructor(private readonly transport: Transport) {}

  /** GET /version */
  serverVersion(signal?: AbortSignal): Promise<ServerVersion> {
    return this.transport.request<ServerVersion>({ method: 'GET', path: '/version', signal });
  }

  /** Every served API group with its versions, the core group ('') first. */
  async apiGroups(signal?: AbortSignal): Promise<ApiGroupInfo[]> {
    const core = await this.transport.request<{ versions?: string[] }>({
      method: 'GET',
      path: '/api',
      signal,
    });
    const groups = await this.transport.request<{
      groups?: { name: string; versions?: { version: string }[]; preferredVersion?: { version: string } }[];
    }>({ method: 'GET', path: '/apis', signal });
    return [
      { name: '', versions: core.versions ?? [], preferredVersion: core.versions?.[0] },
      ...(groups.groups ?? []).map((group) => ({
        name: group.name,
        versions: (group.versions ?? []).map((v) => v.version),
        preferredVersion: group.preferredVersion?.version,
      })),
    ];
  }

  /** The resources of one group/version, or undefined when the server does not serve that group/version. */
  async serverResources(
    group: string,
    version: string,
    signal?: AbortSignal,
  ): Promise<ApiResourceInfo[] | undefined> {
    try {
      const list = await this.transport.request<{ resources?: ApiResourceInfo[] }>({
        method: 'GET',
        path: groupVersionPath(group, version),
        signal,
      });
      return list.resources ?? [];
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Whether `plural` is served in group/version. Other failures (e.g. an aggregated API that is down) throw. */
  async hasResource(group: string, version: string, plural: string, signal?: AbortSignal): Promise<boolean> {
    const resources = await this.serverResources(group, version, signal);
    return resources?.some((r) => r.name === plural) ?? false;
  }
}
