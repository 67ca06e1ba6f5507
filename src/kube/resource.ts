/**
 * One resource of the API (a group, version and plural): get, list, watch, create, update, patch, apply, delete,
 * on wire JSON. Requests go through the shared Transport.
 */
import type { KubeObject } from '../api/kube.js';
import { ApiError, type Status } from './errors.js';
import type { Query, Transport } from './transport.js';

export interface ResourceRef {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  /** Used for list items when the list response does not say (e.g. 'ConfigMap'). */
  kind?: string;
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: T[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

/** A watch event. ERROR events are not yielded: the watch throws them as ApiError. */
export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

/**
 * The Accept header that asks for objects as metav1.PartialObjectMetadata (metadata only, no spec): honoured by
 * every API server since 1.15 for get, list, watch and the responses of writes (controller-runtime's metadata-only
 * informers use it).
 */
export const PARTIAL_OBJECT_METADATA =
  'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export function groupVersionPath(group: string, version: string): string {
  return group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
}

export function apiVersionOf(ref: Pick<ResourceRef, 'group' | 'version'>): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

export interface ListOptions {
  /** Omit for all namespaces (namespaced resources only). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the response's metadata.continue fetches the next page. */
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** The server ends the watch after this long (a clean end, not an error). */
  timeoutSeconds?: number;
  /** Events carry PartialObjectMetadata (kind, apiVersion meta.k8s.io/v1, metadata) instead of the object. */
  metadataOnly?: boolean;
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** Defaults to the object's metadata.namespace. */
  namespace?: string;
  fieldManager?: string;
  dryRun?: boolean;
  /** The response is the stored object's PartialObjectMetadata (name, resourceVersion, generation...) only. */
  metadataOnly?: boolean;
  signal?: AbortSignal;
}

export type PatchType = 'merge' | 'json' | 'strategic';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface PatchOptions extends WriteOptions {
  type: PatchType;
  subresource?: 'status';
}

export interface ApplyOptions extends WriteOptions {
  /** Required by server-side apply: the owner of the fields this object sets. */
  fieldManager: string;
  /** Take over fields owned by other managers instead of failing with a 409 conflict. */
  force?: boolean;
  subresource?: 'status';
}

export interface DeleteOptions {
  namespace?: string;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Delete only if the object still has this uid / resourceVersion (409 otherwise). */
  preconditions?: { uid?: string; resourceVersion?: string };
  gracePeriodSeconds?: number;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export class ResourceClient<T extends KubeObject> {
  readonly ref: ResourceRef;
  readonly apiVersion: string;
  private readonly client: Transport;

  constructor(client: Transport, ref: ResourceRef) {
    this.client = client;
    this.ref = ref;
    this.apiVersion = apiVersionOf(ref);
  }

  /** The collection or object path; namespace is required for namespaced objects, rejected for cluster-scoped. */
  path(namespace: string | undefined, name?: string, subresource?: string): string {
    const { group, version, plural, namespaced } = this.ref;
    if (!namespaced && namespace) {
      throw new Error(`${plural}.${group || 'core'} is cluster-scoped: got namespace "${namespace}"`);
    }
    if (namespaced && name !== undefined && !namespace) {
      throw new Error(
        `${plural}.${group || 'core'} is namespaced: metadata.namespace is required for "${name}"`,
      );
    }
    let path = groupVersionPath(group, version);
    if (namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
    path += `/${plural}`;
    if (name !== undefined) {
      if (!name) throw new Error(`${plural}: metadata.name is required`);
      path += `/${encodeURIComponent(name)}`;
    }
    if (subresource) path += `/${subresource}`;
    return path;
  }

  get(name: string, options: { namespace?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.client.request<T>({
      method: 'GET',
      path: this.path(options.namespace, name),
      signal: options.signal,
    });
  }

  /** One page. Items get apiVersion/kind filled in (the server omits them in lists of built-in types). */
  async list(options: ListOptions = {}): Promise<KubeList<T>> {
    const list = await this.client.request<KubeList<T>>({
      method: 'GET',
      path: this.path(options.namespace),
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit,
        continue: options.continue,
        resourceVersion: options.resourceVersion,
      },
      signal: options.signal,
    });
    const kind = list.kind?.replace(/List$/, '') || this.ref.kind;
    list.items = (list.items ?? []).map((item) => ({ apiVersion: this.apiVersion, kind, ...item }));
    list.metadata ??= {};
    return list;
  }

  /** Every page (default 500 a page); the resourceVersion is the list's, to start a watch from. */
  async listAll(
    options: Omit<ListOptions, 'continue'> = {},
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.list({ limit: 500, ...options, continue: continueToken });
      items.push(...page.items);
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? resourceVersion;
    } while (continueToken);
    return { items, resourceVersion };
  }

  create(object: T, options: WriteOptions = {}): Promise<T> {
    return this.client.request<T>({
      method: 'POST',
      path: this.path(this.namespaceOf(object, options)),
      query: this.writeQuery(options),
      body: this.withTypeMeta(object),
      accept: options.metadataOnly ? PARTIAL_OBJECT_METADATA : undefined,
      signal: options.signal,
    });
  }

  /** PUT; with metadata.resourceVersion set, a concurrent change fails with 409 Conflict instead of being lost. */
  update(object: T, options: WriteOptions = {}): Promise<T> {
    return this.put(object, options, undefined);
  }

  updateStatus(object: T, options: WriteOptions = {}): Promise<T> {
    return this.put(object, options, 'status');
  }

  patch(name: string, patch: unknown, options: PatchOptions): Promise<T> {
    return this.client.request<T>({
      method: 'PATCH',
      path: this.path(options.namespace, name, options.subresource),
      query: this.writeQuery(options),
      body: patch,
      contentType: PATCH_CONTENT_TYPES[options.type],
      signal: options.signal,
    });
  }

  /** Server-side apply (the body is JSON, which is YAML). */
  apply(object: T, options: ApplyOptions): Promise<T> {
    return this.client.request<T>({
      method: 'PATCH',
      path: this.path(this.namespaceOf(object, options), object.metadata?.name ?? '', options.subresource),
      query: { ...this.writeQuery(options), force: options.force ? true : undefined },
      body: this.withTypeMeta(object),
      contentType: 'application/apply-patch+yaml',
      signal: options.signal,
    });
  }

  async delete(name: string, options: DeleteOptions = {}): Promise<void> {
    const { preconditions, propagationPolicy, gracePeriodSeconds, dryRun } = options;
    await this.client.request<unknown>({
      method: 'DELETE',
      path: this.path(options.namespace, name),
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(preconditions ? { preconditions } : {}),
        ...(propagationPolicy ? { propagationPolicy } : {}),
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        ...(dryRun ? { dryRun: ['All'] } : {}),
      },
      signal: options.signal,
    });
  }

  /**
   * A watch as an async iterable. It ends when the server ends the stream (timeoutSeconds); an ERROR event
   * (e.g. 410 Expired) throws ApiError; aborting `signal` or leaving the loop closes the connection.
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const response = await this.client.openStream(
      this.path(options.namespace),
      {
        watch: true,
        resourceVersion: options.resourceVersion,
        allowWatchBookmarks: options.allowWatchBookmarks,
        timeoutSeconds: options.timeoutSeconds,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
      options.signal,
      options.metadataOnly ? PARTIAL_OBJECT_METADATA : undefined,
    );
    response.setEncoding('utf8');
    let buffered = '';
    try {
      for await (const chunk of response) {
        buffered += chunk as string;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
          if (line) yield this.parseWatchLine(line);
        }
      }
      if (buffered.trim()) yield this.parseWatchLine(buffered.trim());
    } finally {
      response.destroy();
    }
  }

  private parseWatchLine(line: string): WatchEvent<T> {
    const event = JSON.parse(line) as { type: WatchEventType | 'ERROR'; object: unknown };
    if (event.type === 'ERROR')
      throw ApiError.fromStatus(event.object as Status, 500, `WATCH ${this.ref.plural}`);
    return event as WatchEvent<T>;
  }

  private put(object: T, options: WriteOptions, subresource: 'status' | undefined): Promise<T> {
    return this.client.request<T>({
      method: 'PUT',
      path: this.path(this.namespaceOf(object, options), object.metadata?.name ?? '', subresource),
      query: this.writeQuery(options),
      body: this.withTypeMeta(object),
      accept: options.metadataOnly ? PARTIAL_OBJECT_METADATA : undefined,
      signal: options.signal,
    });
  }

  private namespaceOf(object: T, options: WriteOptions): string | undefined {
    return options.namespace ?? object.metadata?.namespace;
  }

  private writeQuery(options: WriteOptions): Query {
    return {
      fieldManager: options.fieldManager ?? this.client.fieldManager,
      dryRun: options.dryRun ? 'All' : undefined,
    };
  }

  private withTypeMeta(object: T): T {
    return {
      ...object,
      apiVersion: object.apiVersion ?? this.apiVersion,
      kind: object.kind ?? this.ref.kind,
    };
  }
}
