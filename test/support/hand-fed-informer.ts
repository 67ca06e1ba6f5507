/**
 * Test support (not built into dist/): an Informer whose sync and events a unit test drives by hand, for code that
 * consumes informers (controllers, the GNP store). The list-watch side itself is tested in src/kube/informer.test.ts.
 */
import type { KubeObject } from '../../src/api/kube.js';
import type { Informer, InformerEvent, InformerEventHandler } from '../../src/kube/informer.js';

export class HandFedInformer<T extends KubeObject> implements Informer<T> {
  readonly handlers = new Set<InformerEventHandler<T>>();
  readonly objects = new Map<string, T>();
  started = 0;
  private synced: boolean;
  private waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    options: { synced?: boolean } = {},
  ) {
    this.synced = options.synced ?? false;
  }

  start(): void {
    this.started++;
  }
  async stop(): Promise<void> {}
  hasSynced(): boolean {
    return this.synced;
  }
  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
  /** Completes the first list: waitForSync resolves. */
  sync(): void {
    this.synced = true;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
  get(key: string): T | undefined {
    return this.objects.get(key);
  }
  list(): T[] {
    return [...this.objects.values()];
  }
  byIndex(): T[] {
    return [];
  }
  onChange(handler: InformerEventHandler<T>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
  /** Updates the cache as a watch event would ('deleted' removes the key), then tells every handler. */
  emit(type: InformerEvent<T>['type'], key: string, object: T): void {
    if (type === 'deleted') this.objects.delete(key);
    else this.objects.set(key, object);
    for (const handler of this.handlers) handler({ type, key, object });
  }
}
