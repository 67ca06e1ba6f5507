import type { KubeObject } from '../api/kube.js';
import { cachedGnp } from '../calico/compare.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, type GlobalNetworkPolicy } from '../calico/types.js';
import type { ResourceClient } from '../kube/resource.js';
import type { InformerEvent } from '../kube/informer.js';
import { HandFedInformer } from '../../test/support/hand-fed-informer.js';
import { Registry } from '../observability/metrics.js';
import { GnpStore } from './gnp-store.js';

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
  const map = gnps.ignoringOwnWrites((event) => [`${event.type} ${event.object.metadata?.resourceVersion}`]);
  informer.onChange((event) => mapped.push(...map(event)));
  return { emit, gnps, stored, mapped };
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
