/**
 * The raw REST client, discovery and the Event recorder against the run's real kube-apiserver.
 */
import type { KubeObject } from '../../src/api/kube.js';
import { KubeClient } from '../../src/kube/client.js';
import { isAlreadyExists, isConflict, isInvalid, isNotFound } from '../../src/kube/errors.js';
import { EVENTS } from '../../src/kube/resources.js';
import { KubeEventRecorder, type KubeEvent } from '../../src/kube/events.js';
import type { Agent } from 'node:https';
import type { ApiError } from '../../src/kube/errors.js';
import { Registry } from '../../src/observability/metrics.js';
import {
  createTestNamespace,
  deleteTestNamespace,
  eventually,
  integrationState,
  testKubeConfig,
  uniqueName,
} from './harness.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 60_000;

interface ConfigMap extends KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
  };
  data?: Record<string, string>;
}

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };

describe('KubeClient against a real API server', () => {
  const kc = testKubeConfig();
  const registry = new Registry();
  const client = new KubeClient(kc, { registry, fieldManager: 'runtime-test' });
  const cms = client.resource<ConfigMap>(CONFIGMAPS);
  let ns: string;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'rt-client');
  });

  afterAll(async () => {
    await deleteTestNamespace(kc, ns);
    client.close();
  });

  it(
    'reports the server version and the served API groups',
    async () => {
      const version = await client.discovery.serverVersion();
      expect(version.gitVersion).toBe(integrationState().serverVersion);
      const groups = await client.discovery.apiGroups();
      expect(groups[0]).toMatchObject({ name: '', versions: ['v1'] });
      expect(groups.map((g) => g.name)).toEqual(
        expect.arrayContaining(['coordination.k8s.io', 'events.k8s.io']),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'discovers both Calico API groups and our CRD, and says no for what is not served',
    async () => {
      expect(await client.discovery.hasResource('projectcalico.org', 'v3', 'globalnetworkpolicies')).toBe(
        true,
      );
      expect(await client.discovery.hasResource('crd.projectcalico.org', 'v1', 'globalnetworkpolicies')).toBe(
        true,
      );
      expect(await client.discovery.hasResource('calico-vpc.io', 'v1alpha1', 'vpcegressprofiles')).toBe(true);
      expect(await client.discovery.hasResource('crd.projectcalico.org', 'v1', 'nosuchthings')).toBe(false);
      expect(await client.discovery.hasResource('nosuch.example.com', 'v1', 'things')).toBe(false);
    },
    TIMEOUT_MS,
  );

  it(
    'creates, reads, updates with optimistic concurrency, patches, applies and deletes, returning wire JSON',
    async () => {
      const name = uniqueName('cm');
      const created = await cms.create({ metadata: { name, namespace: ns }, data: { a: '1' } });
      expect(created).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', data: { a: '1' } });
      expect(Object.getPrototypeOf(created)).toBe(Object.prototype);

      const updated = await cms.update({ ...created, data: { a: '2' } });
      expect(updated.data).toEqual({ a: '2' });
      // The first object's resourceVersion is stale now: the server refuses to lose the update in between.
      const stale = await cms.update({ ...created, data: { a: '3' } }).catch((err: unknown) => err);
      expect(isConflict(stale)).toBe(true);
      expect(stale).toMatchObject({ status: 409, reason: 'Conflict' });

      const patched = await cms.patch(name, { data: { b: 'x' } }, { type: 'merge', namespace: ns });
      expect(patched.data).toEqual({ a: '2', b: 'x' });
      const applied = await cms.apply(
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { c: 'ssa' } },
        { fieldManager: 'runtime-test-apply', force: true },
      );
      expect(applied.data).toMatchObject({ c: 'ssa' });

      const twice = await cms.create({ metadata: { name, namespace: ns } }).catch((err: unknown) => err);
      expect(isAlreadyExists(twice)).toBe(true);

      await cms.delete(name, { namespace: ns, preconditions: { uid: created.metadata.uid } });
      const gone = await cms.get(name, { namespace: ns }).catch((err: unknown) => err);
      expect(isNotFound(gone)).toBe(true);
    },
    TIMEOUT_MS,
  );

  it(
    'reports an invalid object as 422 with the offending field',
    async () => {
      const err = await cms
        .create({ metadata: { name: 'Not_A_Valid_Name', namespace: ns } })
        .catch((e: unknown) => e as ApiError);
      expect(isInvalid(err)).toBe(true);
      expect((err as ApiError).causes.map((c) => c.field)).toContain('metadata.name');
    },
    TIMEOUT_MS,
  );

  it(
    'lists page by page with limit and continue',
    async () => {
      const names = Array.from({ length: 5 }, () => uniqueName('page'));
      for (const name of names)
        await cms.create({ metadata: { name, namespace: ns, labels: { page: 'yes' } } });
      const first = await cms.list({ namespace: ns, labelSelector: 'page=yes', limit: 2 });
      expect(first.items).toHaveLength(2);
      expect(first.metadata.continue).toBeTruthy();
      const all = await cms.listAll({ namespace: ns, labelSelector: 'page=yes', limit: 2 });
      expect(all.items.map((i) => i.metadata.name).sort()).toEqual([...names].sort());
      expect(all.items.every((i) => i.kind === 'ConfigMap' && i.apiVersion === 'v1')).toBe(true);
    },
    TIMEOUT_MS,
  );

  it(
    'reuses kept-alive connections: far fewer connections than requests',
    async () => {
      const local = new KubeClient(kc, { registry: new Registry() });
      for (let i = 0; i < 20; i++) await local.discovery.serverVersion();
      // Reach into the agent for the evidence: one socket pooled, not twenty created.
      const agent = (local as unknown as { agent: Agent }).agent;
      const pooled =
        Object.values(agent.freeSockets).flat().length + Object.values(agent.sockets).flat().length;
      expect(pooled).toBe(1);
      local.close();
    },
    TIMEOUT_MS,
  );

  it(
    'records events.k8s.io Events and aggregates repeats into a series',
    async () => {
      const cm = await cms.create({ metadata: { name: uniqueName('evt'), namespace: ns } });
      const recorder = new KubeEventRecorder({
        events: client.resource<KubeEvent>(EVENTS),
        reportingController: 'calico-vpc.io/operator',
        reportingInstance: 'runtime-test',
        seriesFlushMs: 10,
        registry,
      });
      const regarding = { ...cm, apiVersion: 'v1', kind: 'ConfigMap' };
      recorder.event(regarding, {
        type: 'Warning',
        reason: 'TranslationFailed',
        action: 'Reconcile',
        note: 'bad cidr 10.0.0.0/33',
      });
      await recorder.flush();
      recorder.event(regarding, {
        type: 'Warning',
        reason: 'TranslationFailed',
        action: 'Reconcile',
        note: 'bad cidr 10.0.0.0/33',
      });
      recorder.event(regarding, {
        type: 'Warning',
        reason: 'TranslationFailed',
        action: 'Reconcile',
        note: 'bad cidr 10.0.0.0/33',
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await recorder.flush();

      const events = client.resource<KubeEvent>(EVENTS);
      const ours = await eventually('the event with its series', async () => {
        const list = await events.list({ namespace: ns });
        const found = list.items.filter((e) => e.regarding?.uid === cm.metadata.uid);
        return found.length === 1 && found[0]?.series?.count === 3 ? found : undefined;
      });
      expect(ours[0]).toMatchObject({
        type: 'Warning',
        reason: 'TranslationFailed',
        action: 'Reconcile',
        note: 'bad cidr 10.0.0.0/33',
        reportingController: 'calico-vpc.io/operator',
        regarding: { kind: 'ConfigMap', name: cm.metadata.name, namespace: ns },
      });
    },
    TIMEOUT_MS,
  );
});
