import type { KubeObject } from '../api/kube.js';
import { cachedGnp, specDigest, type CachedGnp } from '../calico/compare.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, type GlobalNetworkPolicy } from '../calico/types.js';
import type { ResourceClient } from '../kube/resource.js';
import type { InformerEvent } from '../kube/informer.js';
import { HandFedInformer } from '../../test/support/hand-fed-informer.js';
import { Registry } from '../observability/metrics.js';
import { GnpStore, OwnWrites, gnpCacheTransform } from './gnp-store.js';

/** Create and update answer with the stored object and a fresh resourceVersion, as the API server does. */
function resourceClient(): { client: ResourceClient<KubeObject>; stored: KubeObject[]; sent: KubeObject[] } {
  let rv = 100;
  const stored: KubeObject[] = [];
  const sent: KubeObject[] = [];
  const store = async (object: KubeObject) => {
    sent.push(object);
    const result = { ...object, metadata: { ...object.metadata, resourceVersion: String(++rv) } };
    stored.push(result);
    return result;
  };
  const client = { create: store, update: store } as unknown as ResourceClient<KubeObject>;
  return { client, stored, sent };
}

const policy = (selector: string): GlobalNetworkPolicy => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'GlobalNetworkPolicy',
  metadata: { name: 'knp-a-b-0123456789', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
  spec: { tier: 'default', order: 1000, selector, types: ['Ingress'] },
});

function setup() {
  const informer = new HandFedInformer<KubeObject>('gnps', { synced: true });
  const emit = (type: InformerEvent<KubeObject>['type'], object: KubeObject) =>
    informer.emit(type, object.metadata!.name!, object);
  const { client, stored } = resourceClient();
  const gnps = new GnpStore('v3', client, informer, new Registry());
  const mapped: string[] = [];
  /** Keys queued later: of events held while their GNP was being written. */
  const enqueued: string[] = [];
  const map = gnps.ignoringOwnWrites(
    (event) => [`${event.type} ${event.object.metadata?.resourceVersion}`],
    (key) => enqueued.push(key),
  );
  informer.onChange((event) => mapped.push(...map(event)));
  return { emit, gnps, stored, mapped, enqueued };
}

describe('GnpStore.ignoringOwnWrites', () => {
  it("maps the watch echo of the store's own create and update to nothing, and everything else as given", async () => {
    const { emit, gnps, stored, mapped } = setup();
    expect(await gnps.ensure(policy('all()'))).toBe('created');
    emit('added', stored[0]!); // the echo of the create
    expect(mapped).toEqual([]);

    expect(await gnps.ensure(policy("app == 'x'"))).toBe('updated');
    emit('modified', stored[1]!); // the echo of the update
    expect(mapped).toEqual([]);

    // Someone else's edit, a resync of our own version, a deletion: all reach the reconciler.
    const edited = { ...stored[1]!, metadata: { ...stored[1]!.metadata, resourceVersion: '500' } };
    emit('resync', stored[1]!);
    emit('modified', edited);
    emit('deleted', edited);
    expect(mapped).toEqual(['resync 102', 'modified 500', 'deleted 500']);
  });

  it('holds what arrives while a GNP is written: its echo then maps to nothing, any other version to its keys', async () => {
    const { emit, gnps, stored, mapped, enqueued } = setup();
    const creating = gnps.ensure(policy('all()'));
    emit('added', stored[0]!); // the echo beats the answer to the create
    expect(mapped).toEqual([]);
    await creating;
    expect(enqueued).toEqual([]);

    const updating = gnps.ensure(policy("app == 'x'"));
    const foreign = { ...stored[1]!, metadata: { ...stored[1]!.metadata, resourceVersion: '900' } };
    emit('modified', foreign); // someone else's version, while our update is in flight
    emit('deleted', foreign); // a deletion is never held
    expect(mapped).toEqual(['deleted 900']);
    await updating;
    expect(enqueued).toEqual(['modified 900']);
    // Nothing is held once the write has ended.
    emit('modified', { ...foreign, metadata: { ...foreign.metadata, resourceVersion: '901' } });
    expect(mapped).toEqual(['deleted 900', 'modified 901']);
  });

  it('releases what it held when the write fails', async () => {
    const informer = new HandFedInformer<KubeObject>('gnps', { synced: true });
    let fail!: (err: Error) => void;
    const client = {
      create: () => new Promise((_resolve, reject) => (fail = reject)),
    } as unknown as ResourceClient<KubeObject>;
    const gnps = new GnpStore('v3', client, informer, new Registry());
    const enqueued: string[] = [];
    const map = gnps.ignoringOwnWrites(
      (event) => [`${event.type} ${event.object.metadata?.resourceVersion}`],
      (key) => enqueued.push(key),
    );
    informer.onChange((event) => expect(map(event)).toEqual([]));
    const creating = gnps.ensure(policy('all()'));
    const name = policy('all()').metadata.name;
    informer.emit('added', name, { ...policy('all()'), metadata: { name, resourceVersion: '7' } });
    fail(new Error('connection reset'));
    await expect(creating).rejects.toThrow('connection reset');
    expect(enqueued).toEqual(['added 7']);
  });

  it('maps an echo that arrives before the write returns (the usual race), and forgets a version once passed', async () => {
    const { emit, gnps, stored, mapped } = setup();
    await gnps.ensure(policy('all()'));
    const edited = { ...stored[0]!, metadata: { ...stored[0]!.metadata, resourceVersion: '300' } };
    emit('modified', edited); // a newer version than our write: our entry is stale from now on
    emit('modified', stored[0]!); // so even a replay of our version is mapped
    expect(mapped).toEqual(['modified 300', 'modified 101']);
  });
});

describe('GnpStore.ensure against the compact cache (cachedGnp)', () => {
  function cachedSetup() {
    const informer = new HandFedInformer<KubeObject>('gnps', { synced: true });
    const { client, stored, sent } = resourceClient();
    const gnps = new GnpStore('v3', client, informer, new Registry());
    const cache = (object: KubeObject) =>
      informer.emit('added', object.metadata!.name!, cachedGnp(object, 'v3'));
    return { gnps, stored, sent, cache };
  }

  it('writes nothing when the cached digest matches, and updates from the cached resourceVersion when not', async () => {
    const { gnps, stored, sent, cache } = cachedSetup();
    expect(await gnps.ensure(policy('all()'))).toBe('created');
    cache(stored[0]!);
    expect(await gnps.ensure(policy('all()'))).toBe('unchanged');
    expect(stored).toHaveLength(1);

    // Someone else's edit of the spec reaches the cache only as a digest: still drift, still repaired.
    const edited = { ...stored[0]!, metadata: { ...stored[0]!.metadata, resourceVersion: '900' } };
    (edited as GlobalNetworkPolicy).spec = {
      ...(edited as GlobalNetworkPolicy).spec,
      selector: "app == 'x'",
    };
    cache(edited);
    expect(await gnps.ensure(policy('all()'))).toBe('updated');
    expect(sent[1]).toMatchObject({ metadata: { resourceVersion: '900' }, spec: { selector: 'all()' } });
  });
});

/**
 * A fake GNP resource that answers as the API server does for a custom resource: the responses of writes are
 * PartialObjectMetadata when asked for (the store asks), metadata.generation moves only when the spec changes, and
 * `get` returns the stored object in full.
 */
function storingClient() {
  let rv = 100;
  const stored = new Map<string, GlobalNetworkPolicy>();
  const gets: string[] = [];
  const writes: KubeObject[] = [];
  const hooks: { beforeAnswer?: (stored: GlobalNetworkPolicy) => void } = {};
  const metadataOf = (object: GlobalNetworkPolicy): KubeObject => ({
    apiVersion: 'meta.k8s.io/v1',
    kind: 'PartialObjectMetadata',
    metadata: object.metadata,
  });
  const write = (object: KubeObject, options: { metadataOnly?: boolean } = {}) => {
    writes.push(object);
    const gnp = structuredClone(object) as GlobalNetworkPolicy;
    const before = stored.get(gnp.metadata.name);
    const specChanged = JSON.stringify(before?.spec) !== JSON.stringify(gnp.spec);
    gnp.metadata.resourceVersion = String(++rv);
    gnp.metadata.generation = (before?.metadata.generation ?? 0) + (specChanged ? 1 : 0);
    stored.set(gnp.metadata.name, gnp);
    hooks.beforeAnswer?.(gnp);
    return Promise.resolve(options.metadataOnly ? metadataOf(gnp) : gnp);
  };
  const client = {
    create: write,
    update: write,
    get: (name: string) => {
      gets.push(name);
      return Promise.resolve(structuredClone(stored.get(name)));
    },
  } as unknown as ResourceClient<KubeObject>;
  /** Someone else's write of the stored object; returns the watch event's object (metadata only). */
  const foreignEdit = (name: string, edit: (gnp: GlobalNetworkPolicy) => void): KubeObject => {
    const gnp = structuredClone(stored.get(name)!);
    edit(gnp);
    void write(gnp);
    return metadataOf(stored.get(name)!);
  };
  return { client, stored, gets, writes, metadataOf, foreignEdit, hooks };
}

describe('GnpStore with a metadata-only watch (gnpCacheTransform)', () => {
  function metadataSetup() {
    const informer = new HandFedInformer<KubeObject>('gnps', { synced: true });
    const fake = storingClient();
    const ownWrites = new OwnWrites();
    const transform = gnpCacheTransform('v3', ownWrites);
    const gnps = new GnpStore('v3', fake.client, informer, new Registry(), {}, ownWrites);
    const name = policy('all()').metadata.name;
    /** The watch delivers `object` (metadata only, or in full as a list does) through the transform. */
    const watch = (type: 'added' | 'modified', object: KubeObject) =>
      informer.emit(type, name, transform(object, informer.get(name)));
    const echo = (type: 'added' | 'modified') => watch(type, fake.metadataOf(fake.stored.get(name)!));
    const cached = () => informer.get(name) as CachedGnp;
    // What a controller watching the GNPs would enqueue.
    const mapped: string[] = [];
    const map = gnps.ignoringOwnWrites(
      (event) => [`${event.type} ${event.object.metadata?.resourceVersion}`],
      (key) => mapped.push(key),
    );
    informer.onChange((event) => mapped.push(...map(event)));
    return { gnps, fake, watch, echo, cached, name, ownWrites, mapped };
  }

  it('knows the spec of its own write from the echo of its version, without reading it', async () => {
    const { gnps, fake, echo, cached } = metadataSetup();
    expect(await gnps.ensure(policy('all()'))).toBe('created');
    echo('added');
    expect(cached().specDigest).toBe(specDigest(fake.stored.get(cached().metadata.name!)!.spec, 'v3'));
    expect(await gnps.ensure(policy('all()'))).toBe('unchanged');
    expect(fake.gets).toEqual([]);
    expect(fake.writes).toHaveLength(1);
  });

  it('keeps no record of its write once the echo has reached every handler', async () => {
    const { gnps, echo, name, ownWrites, mapped } = metadataSetup();
    await gnps.ensure(policy('all()'));
    expect(ownWrites.get(name)).toBeDefined();
    echo('added');
    expect(mapped).toEqual([]); // recognised by the handler after the store's own
    await Promise.resolve();
    expect(ownWrites.get(name)).toBeUndefined();
    expect(await gnps.ensure(policy('all()'))).toBe('unchanged');
  });

  it('keeps the digest across a change of metadata only (same generation)', async () => {
    const { gnps, fake, watch, echo, cached, name } = metadataSetup();
    await gnps.ensure(policy('all()'));
    echo('added');
    const digest = cached().specDigest;
    watch(
      'modified',
      fake.foreignEdit(name, (g) => (g.metadata.labels = { ...g.metadata.labels, team: 'net' })),
    );
    expect(cached().metadata.labels).toMatchObject({ team: 'net' });
    expect(cached().specDigest).toBe(digest);
    expect(await gnps.ensure(policy('all()'))).toBe('unchanged');
    expect(fake.gets).toEqual([]);
  });

  it('reads the object in full when someone else moved the generation, and repairs a real drift', async () => {
    const { gnps, fake, watch, echo, cached, name } = metadataSetup();
    await gnps.ensure(policy('all()'));
    echo('added');
    watch(
      'modified',
      fake.foreignEdit(name, (g) => (g.spec.selector = "app == 'other'")),
    );
    expect(cached().specDigest).toBeNull();
    expect(await gnps.ensure(policy('all()'))).toBe('updated');
    expect(fake.gets).toEqual([name]);
    expect(fake.stored.get(name)!.spec.selector).toBe('all()');
    echo('modified');
    expect(await gnps.ensure(policy('all()'))).toBe('unchanged');
    expect(fake.gets).toEqual([name]);
  });

  it('writes nothing when a foreign edit moved the generation but not what the spec means', async () => {
    const { gnps, fake, watch, echo, cached, name } = metadataSetup();
    await gnps.ensure(policy('all()'));
    echo('added');
    // An explicit `doNotTrack: false` is the default spelled out: a new generation, the same policy.
    watch(
      'modified',
      fake.foreignEdit(name, (g) => (g.spec.doNotTrack = false)),
    );
    expect(cached().specDigest).toBeNull();
    expect(await gnps.ensure(policy('all()'))).toBe('unchanged');
    expect(fake.gets).toEqual([name]);
    expect(fake.writes).toHaveLength(2); // our create and the foreign edit
  });

  it('takes the digest of a version listed in full from its spec', async () => {
    const { gnps, fake, watch, cached, name } = metadataSetup();
    await gnps.ensure(policy('all()'));
    const full = structuredClone(fake.stored.get(name)!);
    full.spec.selector = "app == 'listed'";
    full.metadata.resourceVersion = '999';
    watch('modified', full);
    expect(cached().specDigest).toBe(specDigest(full.spec, 'v3'));
    expect(await gnps.ensure(policy('all()'))).toBe('updated');
    expect(fake.gets).toEqual([]);
  });

  it('learns the digest of its own version when the echo arrived before the answer to the write', async () => {
    const { gnps, fake, watch, cached, name, ownWrites } = metadataSetup();
    fake.hooks.beforeAnswer = (stored) => watch('added', fake.metadataOf(stored));
    expect(await gnps.ensure(policy('all()'))).toBe('created');
    expect(cached().specDigest).toBe(specDigest(policy('all()').spec, 'v3'));
    expect(ownWrites.get(name)).toBeUndefined(); // no echo left to come
    expect(await gnps.ensure(policy('all()'))).toBe('unchanged');
    expect(fake.gets).toEqual([]);
  });
});
