// SPDX-License-Identifier: Apache-2.0
//
// The reflector on a real kube-apiserver (battery E2/E3, docs/failure-rules.md): it lists and watches
// built-ins and CRDs, survives the apiserver being stopped and started, relists after a REAL 410
// Gone (etcd compaction) and synthesizes the deletes it missed, keeps a quiet watch open past
// client-node's 30 s inactivity abort (bookmarks arrive every ~60 s), and stop() is final.
//
// The config apiserver runs with `--watch-cache-sizes=configmaps#0 --etcd-compaction-interval=3s`:
// ConfigMap watches are served straight from etcd, so a watch from a compacted resourceVersion
// gets the genuine "410 Expired" a production reflector sees after a long disconnect.
import { ApiException, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient } from '../../controller/clusters/client.ts';
import { isGone } from '../../controller/clusters/errors.ts';
import { Reflector, type ReflectorTransport, type StoredObject, kubeTransport } from '../../controller/runtime/reflector.ts';
import { type Fleet, startFleet } from '../harness/fleet.ts';

let fleet: Fleet;
let client: ClusterClient;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let quietStartedAt = 0;
let quiet: Reflector | undefined;

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function ensureNamespace(name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  }
}

const fmBody = (name: string, clusterID = name) => ({
  apiVersion: 'fleetilb.io/v1alpha1',
  kind: 'FleetMember',
  metadata: { name },
  spec: { clusterID, kubeconfigSecretRef: { name: `${name}-kubeconfig` } },
});
const FM = { group: 'fleetilb.io', version: 'v1alpha1', plural: 'fleetmembers' };

async function serverFleetMembers(): Promise<string[]> {
  const l = (await custom.listClusterCustomObject(FM)) as { items: StoredObject[] };
  return l.items.map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`).sort();
}
const storeOf = (r: Reflector): string[] => r.list().map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`).sort();

function recorder(r: Reflector): string[] {
  const log: string[] = [];
  r.on('add', (o, m) => log.push(`add ${o.metadata?.name}${m.relist ? ' (relist)' : ''}`));
  r.on('update', (_a, b, m) => log.push(`update ${b.metadata?.name}${m.relist ? ' (relist)' : ''}`));
  r.on('delete', (o, m) => log.push(`delete ${o.metadata?.name}${m.relist ? ' (relist)' : ''}`));
  return log;
}

// Kept for the whole file: ClusterHandle.start() reads the flags again when it restarts the apiserver.
const savedFlags = process.env.FLEET_ILB_APISERVER_FLAGS;

beforeAll(async () => {
  process.env.FLEET_ILB_APISERVER_FLAGS = '--watch-cache-sizes=configmaps#0 --etcd-compaction-interval=3s';
  fleet = await startFleet({ members: 0 });
  client = ClusterClient.fromKubeConfig('config', fleet.config.kubeConfig());
  core = client.api(CoreV1Api);
  custom = client.api(CustomObjectsApi);
  await ensureNamespace('quiet');
  // A watch on a collection nobody touches: must stay open past client-node's 30 s abort.
  quiet = new Reflector({ transport: kubeTransport(client.kubeConfig, { clientTimeoutMs: 80_000 }), path: '/api/v1/namespaces/quiet/services', cluster: 'config' });
  quiet.start();
  quietStartedAt = Date.now();
});

afterAll(async () => {
  quiet?.stop();
  await fleet?.stop();
  if (savedFlags === undefined) delete process.env.FLEET_ILB_APISERVER_FLAGS;
  else process.env.FLEET_ILB_APISERVER_FLAGS = savedFlags;
});

describe('Reflector on a real apiserver', () => {
  it('lists and watches a CRD: every change reaches the store exactly once, managedFields stripped', async () => {
    await custom.createClusterCustomObject({ ...FM, body: fmBody('pre-1') });
    await custom.createClusterCustomObject({ ...FM, body: fmBody('pre-2') });
    const r = new Reflector({ transport: kubeTransport(client.kubeConfig), path: '/apis/fleetilb.io/v1alpha1/fleetmembers', cluster: 'config', pageSize: 1 });
    const log = recorder(r);
    r.start();
    expect(await r.waitForSync(30_000)).toBe(true);
    expect(log).toEqual(['add pre-1 (relist)', 'add pre-2 (relist)']); // two pages of one
    await until('watch open', () => r.openWatches() === 1);
    await custom.createClusterCustomObject({ ...FM, body: fmBody('w-1') });
    await custom.patchClusterCustomObject(
      { ...FM, name: 'pre-1', body: [{ op: 'add', path: '/spec/gcp', value: { project: 'my-project-1' } }] },
    );
    await custom.deleteClusterCustomObject({ ...FM, name: 'pre-2' });
    await until('store = server', async () => JSON.stringify(storeOf(r)) === JSON.stringify(await serverFleetMembers()));
    expect(log).toEqual(['add pre-1 (relist)', 'add pre-2 (relist)', 'add w-1', 'update pre-1', 'delete pre-2']);
    expect(r.get('pre-1')?.metadata && 'managedFields' in r.get('pre-1')!.metadata!).toBe(false);
    expect((r.get('pre-1') as { spec?: { gcp?: unknown } }).spec?.gcp).toMatchObject({ project: 'my-project-1' });
    expect(r.state()).toEqual({ phase: 'connected' });
    r.stop();
  });

  it('a quiet watch outlives client-node 2.0.1 own 30 s inactivity abort (bookmarks every ~60 s)', async () => {
    const q = quiet!;
    const wait = 40_000 - (Date.now() - quietStartedAt);
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    expect(q.hasSynced()).toBe(true);
    expect(q.watchesOpened()).toBe(1);
    expect(q.openWatches()).toBe(1);
    expect(q.state()).toEqual({ phase: 'connected' });
  });

  it('survives the apiserver being stopped and started: frozen while down, converges after, no duplicates', async () => {
    const r = new Reflector({
      transport: kubeTransport(client.kubeConfig),
      path: '/apis/fleetilb.io/v1alpha1/fleetmembers',
      cluster: 'config',
      backoffMaxMs: 5_000,
    });
    const log = recorder(r);
    const phases: string[] = [];
    r.on('state', (s) => phases.push(s.phase));
    r.start();
    expect(await r.waitForSync(30_000)).toBe(true);
    const before = storeOf(r);
    log.length = 0;

    await fleet.config.stop();
    const tDown = await until('failing', () => r.state().phase === 'failing', 30_000);
    const s = r.state();
    expect(s.phase === 'failing' && s.error.kind).toBe('Unreachable');
    expect(storeOf(r)).toEqual(before); // the last known contents stay
    expect(r.hasSynced()).toBe(true);

    await fleet.config.start();
    await custom.createClusterCustomObject({ ...FM, body: fmBody('after-restart') });
    await custom.deleteClusterCustomObject({ ...FM, name: 'w-1' });
    const tUp = await until('store = server after restart', async () => JSON.stringify(storeOf(r)) === JSON.stringify(await serverFleetMembers()), 60_000);
    expect(r.state()).toEqual({ phase: 'connected' });
    // Each change once; objects that did not change produce no event, even if a relist happened.
    const counts = new Map<string, number>();
    for (const l of log) counts.set(l.replace(' (relist)', ''), (counts.get(l.replace(' (relist)', '')) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ 'add after-restart': 1, 'delete w-1': 1 });
    expect(phases).toContain('failing');
    // `connected` comes with the relist, before the watch's 200: wait for it (seen at 0 under load), then exactly one.
    await until('the watch open', () => r.openWatches() > 0, 10_000);
    expect(r.openWatches()).toBe(1);
    console.log(`reflector: failing ${tDown} ms after stop; converged ${tUp} ms after start`);
    r.stop();
  });

  it('relists after a real 410 Gone (etcd compaction) and synthesizes the deletes it missed', async () => {
    await ensureNamespace('gone');
    for (const n of ['cm-keep', 'cm-change', 'cm-vanish']) {
      await core.createNamespacedConfigMap({ namespace: 'gone', body: { metadata: { name: n }, data: { v: '1' } } });
    }
    // A transport we can cut, as a network partition would, and that records what the server said.
    const real = kubeTransport(client.kubeConfig);
    let partitioned = false;
    const gone: string[] = [];
    const transport: ReflectorTransport = {
      list: (p, q, o) => (partitioned ? Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })) : real.list(p, q, o)),
      watch: (p, q, onEvent, onDone) => {
        if (partitioned) {
          onDone(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }));
          return Promise.resolve({ abort: () => {} });
        }
        return real.watch(
          p,
          q,
          (type, obj) => {
            if (type === 'ERROR' && (obj as { code?: number }).code === 410) gone.push(`ERROR event 410 at rv ${String(q.resourceVersion)}`);
            onEvent(type, obj);
          },
          (err) => {
            if (isGone(err)) gone.push(`HTTP 410 at rv ${String(q.resourceVersion)}`);
            onDone(err);
          },
        );
      },
    };
    let h: { abort(): void } | undefined;
    const wrapped: ReflectorTransport = {
      list: (p, q, o) => transport.list(p, q, o),
      watch: async (p, q, e, d) => (h = await transport.watch(p, q, e, d)),
    };
    const r = new Reflector({ transport: wrapped, path: '/api/v1/namespaces/gone/configmaps', cluster: 'config', pageSize: 2, backoffMaxMs: 2_000 });
    const log = recorder(r);
    r.start();
    expect(await r.waitForSync(30_000)).toBe(true);
    await until('watch open', () => r.openWatches() === 1);
    const staleRv = r.resourceVersion();
    log.length = 0;

    partitioned = true;
    h?.abort();
    await until('failing', () => r.state().phase === 'failing', 10_000);
    await core.deleteNamespacedConfigMap({ name: 'cm-vanish', namespace: 'gone' });
    await core.patchNamespacedConfigMap({ name: 'cm-change', namespace: 'gone', body: [{ op: 'replace', path: '/data/v', value: '2' }] });
    await core.createNamespacedConfigMap({ namespace: 'gone', body: { metadata: { name: 'cm-new' } } });
    // Let the apiserver compact etcd past the reflector's resourceVersion (interval 3 s; it
    // compacts to the revision of its previous tick, so keep revisions moving), until the server
    // itself confirms that resourceVersion is gone.
    await until(
      `etcd compacted past rv ${staleRv}`,
      async () => {
        await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'churn-' } } });
        try {
          await client.getJson('/api/v1/namespaces/gone/configmaps', { query: { resourceVersion: staleRv, resourceVersionMatch: 'Exact' } });
          await new Promise((res) => setTimeout(res, 1_000));
          return false;
        } catch (e) {
          if (isGone(e)) return true;
          throw e;
        }
      },
      60_000,
    );
    partitioned = false;

    await until('relisted', () => log.length >= 3, 30_000);
    expect(gone.length).toBeGreaterThanOrEqual(1);
    expect(gone[0]).toContain(`rv ${staleRv}`);
    expect(log.sort()).toEqual(['add cm-new (relist)', 'delete cm-vanish (relist)', 'update cm-change (relist)']);
    expect(r.list().map((o) => o.metadata?.name).sort()).toEqual(['cm-change', 'cm-keep', 'cm-new']);
    expect(r.state()).toEqual({ phase: 'connected' });
    console.log(`410: ${gone.join('; ')}`);
    r.stop();
  });

  it('the inactivity watchdog reconnects a silent watch, and changes still arrive once', async () => {
    await ensureNamespace('idle');
    const r = new Reflector({ transport: kubeTransport(client.kubeConfig), path: '/api/v1/namespaces/idle/secrets', cluster: 'config', idleTimeoutMs: 2_000 });
    const log = recorder(r);
    r.start();
    expect(await r.waitForSync(30_000)).toBe(true);
    await until('two watchdog reconnects', () => r.watchesOpened() >= 3, 20_000);
    expect(r.openWatches()).toBeLessThanOrEqual(1);
    await core.createNamespacedSecret({ namespace: 'idle', body: { metadata: { name: 's1' }, stringData: { a: 'b' } } });
    await until('seen', () => r.size() === 1, 20_000);
    await new Promise((res) => setTimeout(res, 3_000)); // another reconnect: no duplicate add
    expect(log).toEqual(['add s1']);
    r.stop();
  });

  it('stop() is final: after 20 start/stop cycles nothing is open and no event arrives', async () => {
    await ensureNamespace('cycles');
    const events: string[] = [];
    const rs: Reflector[] = [];
    for (let i = 0; i < 20; i++) {
      const r = new Reflector({ transport: kubeTransport(client.kubeConfig), path: '/api/v1/namespaces/cycles/configmaps', cluster: 'config' });
      r.on('add', (o) => events.push(`${i} ${o.metadata?.name}`));
      r.start();
      await new Promise((res) => setTimeout(res, (i % 4) * 25));
      r.stop();
      rs.push(r);
    }
    await new Promise((res) => setTimeout(res, 1_000));
    await core.createNamespacedConfigMap({ namespace: 'cycles', body: { metadata: { name: 'after-stop' } } });
    await new Promise((res) => setTimeout(res, 2_000));
    expect(events).toEqual([]);
    expect(rs.map((r) => r.openWatches()).reduce((a, b) => a + b, 0)).toBe(0);
    expect(rs.every((r) => r.state().phase === 'stopped')).toBe(true);
  });

});
