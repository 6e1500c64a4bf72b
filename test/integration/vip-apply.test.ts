// SPDX-License-Identifier: Apache-2.0
//
// VIP Service apply against real kube-apiservers (config + two members). Desired objects come from
// the real render (renderVip) of a GatewayIR taken from the render goldens, with the test's own
// members, namespaces and listeners. Checked the way a user would, by reading the members back:
// Services in both members with the VIP in `status.loadBalancer.ingress`, the health-check node port
// pinned to the same value everywhere, mirrored EndpointSlices; a re-apply sends no request (with
// the runtime's caches) and no write (without); pruning of a removed listener; look-alike and
// foreign objects untouched; a health-check node port collision surfaced as a UserError naming the
// Service; frozen members (even with their apiserver down) get no call and hold nobody up;
// teardown; the write fence.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSlice, Service } from '../../controller/api/index.ts';
import { ClusterClient } from '../../controller/clusters/client.ts';
import { isFencedError, isUserError } from '../../controller/errors/index.ts';
import { applyVip, deleteVip, vipCacheOf, vipOwnerLabels, type VipDeps, type VipMember } from '../../controller/infra/vip/apply.ts';
import { type DesiredVip, ownerLabels, renderVip } from '../../controller/infra/vip/render.ts';
import type { GatewayIR, VipServiceIR } from '../../controller/ir/types.ts';
import { ENDPOINTSLICE_MANAGED_BY, LABEL_ENDPOINTSLICE_MANAGED_BY, VIP_LOAD_BALANCER_CLASS } from '../../controller/naming/labels.ts';
import { closedFence, openFence } from '../../controller/runtime/fence.ts';
import { Reflector, kubeTransport } from '../../controller/runtime/reflector.ts';
import { KubeApi, type KubeRequestEvent } from '../../controller/status/kube.ts';
import { startFleet, type ClusterHandle, type Fleet } from '../harness/fleet.ts';

const A = 'member-a';
const B = 'member-b';
const BASE_IR = (parse(readFileSync(join(import.meta.dirname, '..', 'golden', 'render', 'design-app-8080-pinned-ip.in.yaml'), 'utf8')) as { ir: GatewayIR }).ir;

let fleet: Fleet;
const handles = new Map<string, ClusterHandle>();
const clients = new Map<string, ClusterClient>();
/** Uncounted, unfenced clients for setup and read-back. */
const admin = new Map<string, KubeApi>();
const reflectors: Reflector[] = [];
let seq = 0;

beforeAll(async () => {
  fleet = await startFleet({ members: 2 });
  for (const h of fleet.members) {
    handles.set(h.name, h);
    const c = ClusterClient.fromKubeConfig(h.name, h.kubeConfig());
    clients.set(h.name, c);
    admin.set(h.name, new KubeApi(c, { fence: openFence }));
  }
});

afterAll(async () => {
  for (const r of reflectors) r.stop();
  await fleet?.stop();
});

interface ListenerSpec {
  name: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  hcNodePort?: number;
  mirrored?: boolean;
}

/** A fresh namespace in both members; returns its name. */
async function namespace(): Promise<string> {
  const ns = `va-${process.pid}-${++seq}`;
  for (const api of admin.values()) await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  return ns;
}

function svcName(gw: string, listener: string): string {
  return `fl-t-${gw}-${listener}`;
}

/** The golden IR, re-targeted at this test's Gateway, members and listeners. */
function irFor(gw: string, ns: string, listeners: ListenerSpec[], opts: { vip?: string; clusters?: string[]; frozen?: string[] } = {}): GatewayIR {
  const vipServices: VipServiceIR[] = [];
  for (const cluster of opts.clusters ?? [A, B]) {
    for (const l of listeners) {
      const v: VipServiceIR = {
        cluster,
        namespace: ns,
        name: svcName(gw, l.name),
        listener: l.name,
        port: l.port,
        protocol: l.protocol,
        sessionAffinity: 'None',
        frozen: (opts.frozen ?? []).includes(cluster),
      };
      if (l.hcNodePort !== undefined) v.healthCheckNodePort = l.hcNodePort;
      if (l.mirrored) {
        v.mirroredSlices = [
          {
            name: `${svcName(gw, l.name)}-ep-1`,
            source: `${ns}/backend-abc`,
            addressType: 'IPv4',
            port: 3000,
            protocol: l.protocol,
            endpoints: [{ addresses: [cluster === A ? '10.9.0.1' : '10.9.1.1'], nodeName: `${cluster}-node-0`, conditions: { ready: true, serving: true, terminating: false } }],
          },
        ];
      } else {
        v.selector = { app: 'app' };
        v.targetPort = 8080;
      }
      vipServices.push(v);
    }
  }
  return {
    ...BASE_IR,
    key: `${ns}/${gw}`,
    gateway: { namespace: ns, name: gw, uid: `uid-${ns}-${gw}`, generation: 1 },
    fleetId: 'fleet-test',
    address: { ...BASE_IR.address, vip: opts.vip ?? '10.128.0.80' },
    vipServices,
  };
}

function memberList(frozen: string[] = []): VipMember[] {
  return [A, B].map((cluster) => ({ cluster, client: clients.get(cluster), frozen: frozen.includes(cluster) }));
}

function deps(reqs: KubeRequestEvent[], extra: Partial<VipDeps> = {}): VipDeps {
  return { fence: openFence, members: memberList(), onRequest: (e) => reqs.push(e), ...extra };
}

async function svc(cluster: string, ns: string, name: string): Promise<Service | undefined> {
  return admin.get(cluster)!.get<Service>(`/api/v1/namespaces/${ns}/services/${name}`);
}

async function ownedIn(cluster: string, labels: Record<string, string>): Promise<{ services: Service[]; slices: EndpointSlice[] }> {
  const sel = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  const api = admin.get(cluster)!;
  return {
    services: await api.list<Service>('/api/v1/services', { labelSelector: sel }),
    slices: await api.list<EndpointSlice>('/apis/discovery.k8s.io/v1/endpointslices', { labelSelector: sel }),
  };
}

/** A node port (and the next one) that no Service in any member uses now. */
async function hcPort(): Promise<number> {
  const used = new Set<number>();
  for (const api of admin.values()) {
    for (const s of await api.list<Service>('/api/v1/services')) {
      if (s.spec.healthCheckNodePort !== undefined) used.add(s.spec.healthCheckNodePort);
      for (const p of s.spec.ports ?? []) if (p.nodePort !== undefined) used.add(p.nodePort);
    }
  }
  for (;;) {
    const p = 30000 + Math.floor(Math.random() * 2700);
    if (!used.has(p) && !used.has(p + 1)) return p;
  }
}

/** The runtime's caches: one reflector per (member, kind), cluster-wide. */
async function caches(): Promise<Map<string, Reflector>> {
  const m = new Map<string, Reflector>();
  for (const cluster of [A, B]) {
    for (const [kind, path] of [
      ['services', '/api/v1/services'],
      ['endpointSlices', '/apis/discovery.k8s.io/v1/endpointslices'],
    ] as const) {
      const r = new Reflector({ transport: kubeTransport(clients.get(cluster)!.kubeConfig), path, cluster });
      reflectors.push(r);
      r.start();
      expect(await r.waitForSync(30_000)).toBe(true);
      m.set(`${cluster}/${kind}`, r);
    }
  }
  return m;
}

/** Wait until every cache holds the live objects with these labels at their current resourceVersion. */
async function caughtUp(cs: Map<string, Reflector>, labels: Record<string, string>): Promise<void> {
  for (const cluster of [A, B]) {
    const live = await ownedIn(cluster, labels);
    for (const [kind, objs] of [
      ['services', live.services],
      ['endpointSlices', live.slices],
    ] as const) {
      const r = cs.get(`${cluster}/${kind}`)!;
      for (const o of objs) {
        const deadline = Date.now() + 20_000;
        while (r.getByName(o.metadata.name, o.metadata.namespace)?.metadata?.resourceVersion !== o.metadata.resourceVersion) {
          if (Date.now() > deadline) throw new Error(`cache ${cluster}/${kind} never caught up with ${o.metadata.name}`);
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    }
  }
}

describe('applyVip', () => {
  it('creates the VIP Services and mirrored slices in both members with the VIP in status; a re-apply sends no request', async () => {
    const ns = await namespace();
    const hc = await hcPort();
    const ir = irFor('web', ns, [
      { name: 'tcp-80', port: 80, protocol: 'TCP' },
      { name: 'udp-53', port: 53, protocol: 'UDP', hcNodePort: hc },
      { name: 'tcp-90', port: 90, protocol: 'TCP', mirrored: true },
    ]);
    const desired = renderVip(ir);
    const reqs: KubeRequestEvent[] = [];
    const r = await applyVip(desired, deps(reqs));
    expect(r.errors).toEqual([]);
    expect(r.members.map((m) => [m.cluster, m.outcome])).toEqual([
      [A, 'applied'],
      [B, 'applied'],
    ]);

    for (const cluster of [A, B]) {
      const tcp = (await svc(cluster, ns, svcName('web', 'tcp-80')))!;
      expect(tcp.spec).toMatchObject({
        type: 'LoadBalancer',
        loadBalancerClass: VIP_LOAD_BALANCER_CLASS,
        externalTrafficPolicy: 'Local',
        allocateLoadBalancerNodePorts: false,
        selector: { app: 'app' },
        ports: [{ name: 'tcp', protocol: 'TCP', port: 80, targetPort: 8080 }],
      });
      expect(tcp.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.128.0.80');
      expect(tcp.status?.loadBalancer?.ingress?.[0]?.ipMode).toBe('VIP');
      expect(tcp.metadata.labels).toMatchObject(ownerLabels(ir));
      // ETP=Local without a pin: the apiserver allocates a health-check node port itself.
      expect(tcp.spec.healthCheckNodePort).toBeGreaterThanOrEqual(30000);

      const udp = (await svc(cluster, ns, svcName('web', 'udp-53')))!;
      expect(udp.spec.healthCheckNodePort).toBe(hc); // pinned: the same port in every member
      expect(udp.status?.loadBalancer?.ingress).toEqual([{ ip: '10.128.0.80', ipMode: 'VIP' }]);

      const mirrored = (await svc(cluster, ns, svcName('web', 'tcp-90')))!;
      expect(mirrored.spec.selector).toBeUndefined();
      const slice = (await admin.get(cluster)!.get<EndpointSlice>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${svcName('web', 'tcp-90')}-ep-1`))!;
      expect(slice.metadata.labels?.['kubernetes.io/service-name']).toBe(svcName('web', 'tcp-90'));
      expect(slice.metadata.labels?.[LABEL_ENDPOINTSLICE_MANAGED_BY]).toBe(ENDPOINTSLICE_MANAGED_BY);
      expect(slice.endpoints[0]?.addresses).toEqual([cluster === A ? '10.9.0.1' : '10.9.1.1']);
      expect(slice.ports).toEqual([{ name: 'tcp', protocol: 'TCP', port: 3000 }]);
    }
    // 3 Services (SSA + status) and 1 slice per member.
    expect(reqs.filter((e) => e.write).length).toBe(2 * (3 * 2 + 1));

    // Without caches: reads only (one LIST per kind per member).
    reqs.length = 0;
    const again = await applyVip(desired, deps(reqs));
    expect(again.errors).toEqual([]);
    expect(reqs.filter((e) => e.write)).toEqual([]);
    expect(reqs.length).toBe(4);

    // With the runtime's caches: no request at all.
    const cs = await caches();
    await caughtUp(cs, desired.ownerLabels);
    reqs.length = 0;
    const cached = await applyVip(desired, deps(reqs, { lister: (cluster, kind) => {
      const l = cs.get(`${cluster}/${kind}`)?.list();
      return l === undefined ? undefined : vipCacheOf(l);
    } }));
    expect(cached.errors).toEqual([]);
    expect(reqs).toEqual([]);

    // Someone strips the status (as Cilium LB-IPAM may do) and edits the selector: both come back.
    await admin.get(A)!.mergePatch(`/api/v1/namespaces/${ns}/services/${svcName('web', 'tcp-80')}/status`, { status: { loadBalancer: { ingress: null } } });
    await admin.get(A)!.mergePatch(`/api/v1/namespaces/${ns}/services/${svcName('web', 'tcp-80')}`, { spec: { selector: { app: 'other' } } });
    reqs.length = 0;
    const healed = await applyVip(desired, deps(reqs));
    expect(healed.members.find((m) => m.cluster === A)?.applied).toEqual([`Service ${ns}/${svcName('web', 'tcp-80')}`, `Service ${ns}/${svcName('web', 'tcp-80')} status`]);
    expect(healed.members.find((m) => m.cluster === B)?.applied).toEqual([]);
    const back = (await svc(A, ns, svcName('web', 'tcp-80')))!;
    expect(back.spec.selector).toEqual({ app: 'app' });
    expect(back.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.128.0.80');
  });

  it('prunes a removed listener and never touches objects without its owner labels', async () => {
    const ns = await namespace();
    const two = irFor('shop', ns, [
      { name: 'tcp-80', port: 80, protocol: 'TCP' },
      { name: 'tcp-81', port: 81, protocol: 'TCP', mirrored: true },
    ]);
    expect((await applyVip(renderVip(two), deps([]))).errors).toEqual([]);
    // Look-alikes: our name pattern, no owner labels; one of them holds a name the next apply wants.
    for (const name of [svcName('shop', 'tcp-99'), svcName('shop', 'tcp-82')]) {
      await admin.get(A)!.create(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, labels: { 'fleetilb.io/listener': 'tcp-82' } },
        spec: { ports: [{ port: 82 }], selector: { app: 'mine' } },
      });
    }
    const before = await Promise.all([svcName('shop', 'tcp-99'), svcName('shop', 'tcp-82')].map((n) => svc(A, ns, n)));

    const next = irFor('shop', ns, [
      { name: 'tcp-80', port: 80, protocol: 'TCP' },
      { name: 'tcp-82', port: 82, protocol: 'TCP' },
    ]);
    const reqs: KubeRequestEvent[] = [];
    const r = await applyVip(renderVip(next), deps(reqs));
    for (const cluster of [A, B]) {
      const m = r.members.find((x) => x.cluster === cluster)!;
      expect(m.pruned.sort()).toEqual([`EndpointSlice ${ns}/${svcName('shop', 'tcp-81')}-ep-1`, `Service ${ns}/${svcName('shop', 'tcp-81')}`]);
      expect(await svc(cluster, ns, svcName('shop', 'tcp-81'))).toBeUndefined();
      expect((await svc(cluster, ns, svcName('shop', 'tcp-80')))?.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.128.0.80');
    }
    // member-b had no foreign object: its tcp-82 Service exists; member-a's foreign one was not taken over.
    expect((await svc(B, ns, svcName('shop', 'tcp-82')))?.spec.loadBalancerClass).toBe(VIP_LOAD_BALANCER_CLASS);
    const a = r.members.find((x) => x.cluster === A)!;
    expect(a.outcome).toBe('error');
    expect(a.errors).toHaveLength(1);
    expect(isUserError(a.errors[0]?.error)).toBe(true);
    expect((a.errors[0]?.error as Error).message).toContain(`Service ${ns}/${svcName('shop', 'tcp-82')} in member cluster ${A}`);
    const after = await Promise.all([svcName('shop', 'tcp-99'), svcName('shop', 'tcp-82')].map((n) => svc(A, ns, n)));
    expect(after.map((s) => s?.metadata.resourceVersion)).toEqual(before.map((s) => s?.metadata.resourceVersion));
    expect(after[1]?.spec.type).toBe('ClusterIP');
    expect(reqs.filter((e) => e.write && e.method === 'PATCH' && e.path.endsWith(svcName('shop', 'tcp-82')) && e.cluster === A)).toEqual([]);
  });

  it('a health-check node port another Gateway holds is a UserError naming the Service; a new pin re-creates the Service', async () => {
    const ns = await namespace();
    const port = await hcPort();
    const first = renderVip(irFor('one', ns, [{ name: 'udp-53', port: 53, protocol: 'UDP', hcNodePort: port }], { clusters: [A] }));
    expect((await applyVip(first, deps([]))).errors).toEqual([]);
    const second = renderVip(irFor('two', ns, [{ name: 'udp-53', port: 53, protocol: 'UDP', hcNodePort: port }], { clusters: [A] }));
    const r = await applyVip(second, deps([]));
    expect(r.errors).toHaveLength(1);
    const err = r.errors[0]!.error as Error & { reason?: string };
    expect(isUserError(err)).toBe(true);
    expect(err.reason).toBe('PortUnavailable');
    expect(err.message).toContain(`Service ${ns}/${svcName('two', 'udp-53')} in member cluster ${A}`);
    expect(err.message).toContain(`${port}`);
    expect(await svc(A, ns, svcName('two', 'udp-53'))).toBeUndefined();
    expect((await svc(A, ns, svcName('one', 'udp-53')))?.spec.healthCheckNodePort).toBe(port);

    // healthCheckNodePort is immutable: moving the pin re-creates the Service with the new port.
    const moved = port + 1;
    const old = (await svc(A, ns, svcName('one', 'udp-53')))!;
    const r2 = await applyVip(renderVip(irFor('one', ns, [{ name: 'udp-53', port: 53, protocol: 'UDP', hcNodePort: moved }], { clusters: [A] })), deps([]));
    expect(r2.errors).toEqual([]);
    const now = (await svc(A, ns, svcName('one', 'udp-53')))!;
    expect(now.spec.healthCheckNodePort).toBe(moved);
    expect(now.metadata.uid).not.toBe(old.metadata.uid);
    expect(now.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.128.0.80');
    // The freed port is usable by the other Gateway now.
    expect((await applyVip(second, deps([]))).errors).toEqual([]);
  });

  it('a closed fence stops the apply before its first write', async () => {
    const ns = await namespace();
    const reqs: KubeRequestEvent[] = [];
    await expect(applyVip(renderVip(irFor('fenced', ns, [{ name: 'tcp-80', port: 80, protocol: 'TCP' }])), deps(reqs, { fence: closedFence }))).rejects.toSatisfy(isFencedError);
    expect(reqs.filter((e) => e.write)).toEqual([]);
    expect(await svc(A, ns, svcName('fenced', 'tcp-80'))).toBeUndefined();
  });
});

describe('deleteVip and frozen members', () => {
  it('teardown deletes everything with the owner labels in reachable members; a frozen one is pending until it answers', async () => {
    const ns = await namespace();
    const ir = irFor('bye', ns, [
      { name: 'tcp-80', port: 80, protocol: 'TCP' },
      { name: 'tcp-81', port: 81, protocol: 'TCP', mirrored: true },
    ]);
    expect((await applyVip(renderVip(ir), deps([]))).errors).toEqual([]);
    await admin.get(A)!.create(`/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svcName('bye', 'tcp-99') },
      spec: { ports: [{ port: 99 }] },
    });
    const labels = vipOwnerLabels(ir.fleetId, ir.gateway.uid);
    expect(labels).toEqual(ownerLabels(ir));

    const reqs: KubeRequestEvent[] = [];
    const partial = await deleteVip(labels, deps(reqs, { members: memberList([B]) }));
    expect(partial.done).toBe(false);
    expect(partial.pending).toEqual([B]);
    expect(partial.deleted).toHaveLength(3);
    expect(reqs.every((e) => e.cluster === A)).toBe(true);
    expect((await ownedIn(A, labels)).services).toEqual([]);
    expect((await ownedIn(B, labels)).services).toHaveLength(2);

    const full = await deleteVip(labels, deps([]));
    expect(full.done).toBe(true);
    expect(full.deleted.every((d) => d.startsWith(`${B}:`))).toBe(true);
    for (const cluster of [A, B]) {
      const left = await ownedIn(cluster, labels);
      expect(left.services).toEqual([]);
      expect(left.slices).toEqual([]);
    }
    expect(await svc(A, ns, svcName('bye', 'tcp-99'))).toBeDefined();
  });

  it('a frozen member gets no call even while its apiserver is down; an unreachable one fails alone and fast', async () => {
    const ns = await namespace();
    const v1 = renderVip(irFor('frz', ns, [{ name: 'tcp-80', port: 80, protocol: 'TCP' }], { vip: '10.128.0.81' }));
    expect((await applyVip(v1, deps([]))).errors).toEqual([]);
    const beforeB = (await svc(B, ns, svcName('frz', 'tcp-80')))!;
    const v2: DesiredVip = renderVip(
      irFor('frz', ns, [
        { name: 'tcp-80', port: 80, protocol: 'TCP' },
        { name: 'tcp-81', port: 81, protocol: 'TCP' },
      ], { vip: '10.128.0.82' }),
    );
    await handles.get(B)!.stop();
    try {
      // Frozen (by the runtime's reachability): no request to member-b at all, no wait.
      const reqs: KubeRequestEvent[] = [];
      let t = performance.now();
      const r = await applyVip(v2, deps(reqs, { members: memberList([B]) }));
      const frozenMs = performance.now() - t;
      expect(r.errors).toEqual([]);
      expect(r.frozen).toEqual([B]);
      expect(reqs.filter((e) => e.cluster === B)).toEqual([]);
      expect(frozenMs).toBeLessThan(3000);
      expect((await svc(A, ns, svcName('frz', 'tcp-81')))?.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.128.0.82');

      // Frozen in the IR (translate's view) works the same way.
      const v2FrozenInIr = renderVip(
        irFor('frz', ns, [
          { name: 'tcp-80', port: 80, protocol: 'TCP' },
          { name: 'tcp-81', port: 81, protocol: 'TCP' },
        ], { vip: '10.128.0.82', frozen: [B] }),
      );
      reqs.length = 0;
      const r2 = await applyVip(v2FrozenInIr, deps(reqs));
      expect(r2.frozen).toEqual([B]);
      expect(reqs.filter((e) => e.cluster === B)).toEqual([]);

      // Not yet marked frozen but down: member-b fails (connection refused), member-a is unaffected.
      reqs.length = 0;
      t = performance.now();
      const r3 = await applyVip(v2, deps(reqs, { timeoutMs: 3000 }));
      expect(performance.now() - t).toBeLessThan(10_000);
      expect(r3.members.find((m) => m.cluster === A)?.outcome).toBe('applied');
      expect(r3.members.find((m) => m.cluster === B)?.outcome).toBe('error');
      expect(r3.errors.map((e) => e.cluster)).toEqual([B]);
      expect(reqs.filter((e) => e.cluster === B).length).toBe(1); // one failed LIST, then it stops
    } finally {
      await handles.get(B)!.start();
    }
    // member-b kept its objects as they were through the outage ...
    const duringB = (await svc(B, ns, svcName('frz', 'tcp-80')))!;
    expect(duringB.metadata.resourceVersion).toBe(beforeB.metadata.resourceVersion);
    expect(duringB.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.128.0.81');
    // ... and converges once it answers again.
    const back = await applyVip(v2, deps([]));
    expect(back.errors).toEqual([]);
    expect((await svc(B, ns, svcName('frz', 'tcp-80')))?.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.128.0.82');
    expect(await svc(B, ns, svcName('frz', 'tcp-81'))).toBeDefined();
  });
});
