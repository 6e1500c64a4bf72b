// SPDX-License-Identifier: Apache-2.0
//
// The local fleet is real Kubernetes: a config cluster and two members, each a kube-apiserver with
// etcd, serving the upstream Gateway API and MCS CRDs and ours, validating like a real cluster,
// surviving an outage with its data, and leaving nothing behind.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  VersionApi,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type ClusterHandle, type Fleet } from '../harness/fleet.ts';

const execFileAsync = promisify(execFile);

type Obj = KubernetesObject & Record<string, unknown>;

function objects(c: ClusterHandle): KubernetesObjectApi {
  return KubernetesObjectApi.makeApiClient(c.kubeConfig());
}

async function create<T extends Obj>(c: ClusterHandle, obj: T): Promise<T> {
  return objects(c).create(obj);
}

async function read(c: ClusterHandle, apiVersion: string, kind: string, name: string, namespace?: string): Promise<Obj> {
  return objects(c).read<Obj>({ apiVersion, kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }) } });
}

/** The apiserver's rejection of `obj`: HTTP status and the Status message. */
async function rejection(c: ClusterHandle, obj: Obj, op: 'create' | 'replace' = 'create'): Promise<{ code: number; message: string }> {
  try {
    await (op === 'create' ? objects(c).create(obj) : objects(c).replace(obj));
  } catch (e) {
    if (e instanceof ApiException) {
      const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : (e.body as { message?: string });
      return { code: e.code, message: body.message ?? '' };
    }
    throw e;
  }
  throw new Error(`${obj.kind} ${obj.metadata?.name} was accepted`);
}

async function ensureNamespace(c: ClusterHandle, name: string): Promise<void> {
  try {
    await c.kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  }
}

const GW = 'gateway.networking.k8s.io/v1';
const MCS = 'multicluster.x-k8s.io/v1beta1';
const OURS = 'fleetilb.io/v1alpha1';

function ilbConfig(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: OURS, kind: 'ILBConfig', metadata: { name, namespace: 'fleet-ilb-system' }, spec };
}

function fleetMember(name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: OURS, kind: 'FleetMember', metadata: { name }, spec };
}

const validIlbSpec = { project: 'my-project', region: 'us-central1', network: 'vpc-1', subnetwork: 'subnet-1' };

describe('local fleet (config + 2 members)', () => {
  let fleet: Fleet;
  let all: ClusterHandle[];

  beforeAll(async () => {
    fleet = await startFleet({ members: 2 });
    all = [fleet.config, ...fleet.members];
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('has one admin kubeconfig per cluster in the fleet dir, each a separate kube-apiserver v1.36', async () => {
    expect(all.map((c) => c.name)).toEqual(['config', 'member-a', 'member-b']);
    expect(all.map((c) => c.kubeconfigPath)).toEqual(
      ['config', 'member-a', 'member-b'].map((n) => join(fleet.dir, `${n}.kubeconfig`)),
    );
    expect(new Set(all.map((c) => c.server)).size).toBe(3);
    for (const c of all) {
      expect(c.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const v = await c.kubeConfig().makeApiClient(VersionApi).getCode();
      expect(v.gitVersion).toBe('v1.36.3');
      expect(c.kubeConfig()).not.toBe(c.kubeConfig()); // a new KubeConfig per call
    }
    // The admin kubeconfig works with the real kubectl too.
    const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', fleet.config.kubeconfigPath, 'get', '--raw', '/readyz']);
    expect(stdout.trim()).toBe('ok');
  });

  it('serves the Gateway API v1.6 standard channel, MCS v0.5 and fleet-ilb CRDs in every cluster', async () => {
    for (const c of all) {
      const crds = await c.kubeConfig().makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition();
      const byName = new Map(crds.items.map((d) => [d.metadata?.name, d]));
      for (const name of [
        'gatewayclasses.gateway.networking.k8s.io',
        'gateways.gateway.networking.k8s.io',
        'tcproutes.gateway.networking.k8s.io',
        'udproutes.gateway.networking.k8s.io',
        'referencegrants.gateway.networking.k8s.io',
        'serviceexports.multicluster.x-k8s.io',
        'serviceimports.multicluster.x-k8s.io',
        'fleetmembers.fleetilb.io',
        'ilbconfigs.fleetilb.io',
      ]) {
        const crd = byName.get(name);
        expect(crd, `${c.name}: ${name}`).toBeDefined();
        expect(crd?.status?.conditions?.find((x) => x.type === 'Established')?.status).toBe('True');
      }
      const gw = byName.get('gateways.gateway.networking.k8s.io');
      expect(gw?.metadata?.annotations?.['gateway.networking.k8s.io/channel']).toBe('standard');
      expect(gw?.metadata?.annotations?.['gateway.networking.k8s.io/bundle-version']).toMatch(/^v1\.6\./);
      const served = (n: string): string[] => byName.get(n)?.spec.versions.filter((v) => v.served).map((v) => v.name) ?? [];
      expect(served('tcproutes.gateway.networking.k8s.io')).toEqual(['v1']);
      expect(served('serviceexports.multicluster.x-k8s.io').sort()).toEqual(['v1alpha1', 'v1beta1']);
      expect(served('serviceimports.multicluster.x-k8s.io').sort()).toEqual(['v1alpha1', 'v1beta1']);
      // Experimental-only kinds are absent: exactly one channel is installed.
      expect(byName.has('xlistenersets.gateway.networking.x-k8s.io')).toBe(false);
    }
  });

  it('stores a GatewayClass, Gateway, TCPRoute v1 and ReferenceGrant in the config cluster', async () => {
    const c = fleet.config;
    await ensureNamespace(c, 'app');
    await ensureNamespace(c, 'backend');
    await create(c, {
      apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'fleet-ilb' },
      spec: {
        controllerName: 'fleetilb.io/gateway-controller',
        parametersRef: { group: 'fleetilb.io', kind: 'ILBConfig', name: 'default', namespace: 'fleet-ilb-system' },
      },
    });
    await create(c, {
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'ilb', namespace: 'app' },
      spec: { gatewayClassName: 'fleet-ilb', listeners: [{ name: 'tcp-80', protocol: 'TCP', port: 80, allowedRoutes: { kinds: [{ kind: 'TCPRoute' }] } }] },
    });
    await create(c, {
      apiVersion: GW, kind: 'TCPRoute', metadata: { name: 'web', namespace: 'app' },
      spec: {
        parentRefs: [{ name: 'ilb', sectionName: 'tcp-80' }],
        rules: [{ backendRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'web', namespace: 'backend', port: 8080 }] }],
      },
    });
    await create(c, {
      apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'from-app', namespace: 'backend' },
      spec: {
        from: [{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute', namespace: 'app' }],
        to: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport' }],
      },
    });

    const gc = await read(c, GW, 'GatewayClass', 'fleet-ilb');
    expect((gc.spec as { controllerName: string }).controllerName).toBe('fleetilb.io/gateway-controller');
    const gw = await read(c, GW, 'Gateway', 'ilb', 'app');
    expect((gw.spec as { listeners: { protocol: string; port: number }[] }).listeners[0]).toMatchObject({ protocol: 'TCP', port: 80 });
    // The CRD's defaults apply (an upstream default, not one we wrote).
    expect((gw.status as { conditions: { type: string; reason: string }[] }).conditions.find((x) => x.type === 'Accepted')?.reason).toBe('Pending');
    const route = await read(c, GW, 'TCPRoute', 'web', 'app');
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect((route.spec as { rules: { backendRefs: { kind: string; weight: number }[] }[] }).rules[0]?.backendRefs[0]).toMatchObject({ kind: 'ServiceImport', weight: 1 });
    // ReferenceGrant is served as v1 too, with the same object.
    const grant = await read(c, GW, 'ReferenceGrant', 'from-app', 'backend');
    expect((grant.spec as { to: { kind: string }[] }).to[0]?.kind).toBe('ServiceImport');
  });

  it('rejects a Gateway whose TCP listener has a hostname, with the Gateway API CRD message', async () => {
    const r = await rejection(fleet.config, {
      apiVersion: GW, kind: 'Gateway', metadata: { name: 'bad', namespace: 'app' },
      spec: { gatewayClassName: 'fleet-ilb', listeners: [{ name: 'tcp', protocol: 'TCP', port: 81, hostname: 'a.example.com' }] },
    });
    expect(r.code).toBe(422);
    expect(r.message).toContain("hostname must not be specified for protocols ['TCP', 'UDP']");
  });

  it('stores a Service and ServiceExport in each member and a ServiceImport in the config cluster', async () => {
    for (const m of fleet.members) {
      await ensureNamespace(m, 'backend');
      const svc = await m.kubeConfig().makeApiClient(CoreV1Api).createNamespacedService({
        namespace: 'backend',
        body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'tcp', port: 8080, targetPort: 8080, protocol: 'TCP' }] } },
      });
      // ClusterIP allocation happens inside kube-apiserver: a real one does it.
      expect(svc.spec?.clusterIP).toMatch(/^10\.96\./);
      await create(m, { apiVersion: MCS, kind: 'ServiceExport', metadata: { name: 'web', namespace: 'backend' } });
      const exp = await read(m, 'multicluster.x-k8s.io/v1alpha1', 'ServiceExport', 'web', 'backend');
      expect(exp.metadata?.name).toBe('web'); // v1alpha1 serves the same object
    }
    await create(fleet.config, {
      apiVersion: MCS, kind: 'ServiceImport', metadata: { name: 'web', namespace: 'backend' },
      spec: { type: 'ClusterSetIP', ports: [{ name: 'tcp', port: 8080, protocol: 'TCP' }] },
    });
    const imp = await read(fleet.config, MCS, 'ServiceImport', 'web', 'backend');
    expect((imp.spec as { ports: { port: number }[] }).ports[0]?.port).toBe(8080);
    // A member has no ServiceImport: each cluster is its own apiserver.
    await expect(read(fleet.members[0]!, MCS, 'ServiceImport', 'web', 'backend')).rejects.toMatchObject({ code: 404 });
  });

  it('stores a FleetMember and an ILBConfig with their defaults', async () => {
    const c = fleet.config;
    await ensureNamespace(c, 'fleet-ilb-system');
    await create(c, fleetMember('member-a', { clusterID: 'member-a', kubeconfigSecretRef: { name: 'member-a-kubeconfig' } }));
    const fm = await read(c, OURS, 'FleetMember', 'member-a');
    expect(fm.spec).toEqual({
      clusterID: 'member-a',
      kubeconfigSecretRef: { name: 'member-a-kubeconfig', key: 'kubeconfig' },
      gcp: { nodeMapping: 'Auto' },
    });
    await create(c, ilbConfig('default', { ...validIlbSpec, firewall: { clientSourceRanges: ['10.0.0.0/8', 'fd00::/8'] } }));
    const cfg = await read(c, OURS, 'ILBConfig', 'default', 'fleet-ilb-system');
    expect(cfg.spec).toEqual({
      ...validIlbSpec,
      globalAccess: false,
      firewall: { managed: true, clientSourceRanges: ['10.0.0.0/8', 'fd00::/8'], priority: 1000 },
      healthCheck: { checkIntervalSec: 5, timeoutSec: 5, healthyThreshold: 2, unhealthyThreshold: 2 },
      nodeSubsetSize: 250,
      sessionAffinity: 'NONE',
      connectionDraining: { drainingTimeoutSec: 30 },
    });
    // Printer columns, as `kubectl get` shows them.
    const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', c.kubeconfigPath, 'get', 'ilbconfigs', '-n', 'fleet-ilb-system']);
    expect(stdout).toMatch(/^NAME\s+PROJECT\s+REGION\s+NETWORK\s+AGE/);
    expect(stdout).toMatch(/default\s+my-project\s+us-central1\s+vpc-1/);
    const fms = await execFileAsync('kubectl', ['--kubeconfig', c.kubeconfigPath, 'get', 'fleetmembers']);
    expect(fms.stdout).toMatch(/^NAME\s+CLUSTERID\s+READY\s+REASON\s+NODES\s+EXCLUDED\s+ZONES\s+EXPORTS\s+AGE/);
  });

  it('rejects invalid FleetMembers with the CRD messages', async () => {
    const c = fleet.config;
    const badId = await rejection(c, fleetMember('bad-id', { clusterID: 'Member_A', kubeconfigSecretRef: { name: 's' } }));
    expect(badId.code).toBe(422);
    expect(badId.message).toContain('clusterID must be a DNS label');
    const noSecret = await rejection(c, fleetMember('no-secret', { clusterID: 'x' }));
    expect(noSecret.message).toContain('spec.kubeconfigSecretRef: Required value');
    const badMapping = await rejection(c, fleetMember('bad-map', { clusterID: 'x', kubeconfigSecretRef: { name: 's' }, gcp: { nodeMapping: 'IP' } }));
    expect(badMapping.message).toContain('supported values: "Auto", "ProviderID", "NodeName"');
    const badTag = await rejection(c, fleetMember('bad-tag', { clusterID: 'x', kubeconfigSecretRef: { name: 's' }, gcp: { networkTags: ['Bad_Tag'] } }));
    expect(badTag.message).toContain('must be a Google Cloud network tag');
    // clusterID is immutable once set.
    const fm = await read(c, OURS, 'FleetMember', 'member-a');
    const changed = await rejection(c, { ...fm, spec: { ...(fm.spec as object), clusterID: 'other' } }, 'replace');
    expect(changed.code).toBe(422);
    expect(changed.message).toContain('clusterID is immutable');
  });

  it('rejects invalid ILBConfigs with the CRD messages', async () => {
    const c = fleet.config;
    const cases: [Record<string, unknown>, string][] = [
      [{ ...validIlbSpec, healthCheck: { checkIntervalSec: 5, timeoutSec: 10 } }, 'healthCheck.timeoutSec must be less than or equal to healthCheck.checkIntervalSec'],
      // The default interval (5) applies before validation.
      [{ ...validIlbSpec, healthCheck: { timeoutSec: 6 } }, 'healthCheck.timeoutSec must be less than or equal to healthCheck.checkIntervalSec'],
      [{ ...validIlbSpec, region: 'us central 1' }, 'region must be a Google Cloud region name'],
      [{ ...validIlbSpec, region: 'us-central1-a' }, 'region must be a Google Cloud region name'],
      [{ ...validIlbSpec, project: 'My_Project' }, 'project must be a Google Cloud project ID'],
      [{ ...validIlbSpec, network: 'projects/p/global/networks/n' }, 'network must be a VPC network name'],
      [{ ...validIlbSpec, firewall: { clientSourceRanges: ['10.0.0.0/33'] } }, 'must be a CIDR'],
      [{ ...validIlbSpec, firewall: { priority: 70000 } }, 'should be less than or equal to 65535'],
      [{ ...validIlbSpec, nodeSubsetSize: 251 }, 'should be less than or equal to 250'],
      [{ ...validIlbSpec, healthCheck: { udpHealthCheckNodePort: 8080 } }, 'should be greater than or equal to 30000'],
      [{ ...validIlbSpec, sessionAffinity: 'COOKIE' }, 'supported values: "NONE"'],
      [{ project: 'my-project', region: 'us-central1', network: 'vpc-1' }, 'spec.subnetwork: Required value'],
    ];
    for (const [i, [spec, msg]] of cases.entries()) {
      const r = await rejection(c, ilbConfig(`bad-${i}`, spec));
      expect(r.code, JSON.stringify(spec)).toBe(422);
      expect(r.message, JSON.stringify(spec)).toContain(msg);
    }
  });

  it('survives an outage of a member: same port, same data, CRDs served again', async () => {
    const m = fleet.members[1]!;
    const server = m.server;
    await m.stop();
    await expect(m.kubeConfig().makeApiClient(CoreV1Api).readNamespacedService({ name: 'web', namespace: 'backend' })).rejects.toThrow();
    await m.start();
    expect(m.server).toBe(server);
    const svc = await m.kubeConfig().makeApiClient(CoreV1Api).readNamespacedService({ name: 'web', namespace: 'backend' });
    expect(svc.spec?.ports?.[0]?.port).toBe(8080);
    const exp = await read(m, MCS, 'ServiceExport', 'web', 'backend');
    expect(exp.metadata?.name).toBe('web');
  });

  it('adds a member with the CRDs installed', async () => {
    const c = await fleet.addMember();
    expect(c.name).toBe('member-c');
    expect(fleet.members.map((x) => x.name)).toEqual(['member-a', 'member-b', 'member-c']);
    expect(c.kubeconfigPath).toBe(join(fleet.dir, 'member-c.kubeconfig'));
    await ensureNamespace(c, 'backend');
    await create(c, { apiVersion: MCS, kind: 'ServiceExport', metadata: { name: 'web', namespace: 'backend' } });
    expect((await read(c, MCS, 'ServiceExport', 'web', 'backend')).metadata?.namespace).toBe('backend');
  });

  it('stop() leaves no process, port or directory behind', async () => {
    const state = JSON.parse(readFileSync(join(fleet.dir, 'fleet.json'), 'utf8')) as {
      clusters: Record<string, { server: string; pids: number[] }>;
    };
    // One process per cluster (fleet-apiserver), or two with separate envtest binaries.
    for (const c of Object.values(state.clusters)) expect(c.pids.length).toBeGreaterThanOrEqual(1);
    expect(Object.keys(state.clusters)).toEqual([fleet.config, ...fleet.members].map((c) => c.name));
    const pids = Object.values(state.clusters).flatMap((c) => c.pids);
    const ports = Object.values(state.clusters).map((c) => Number(new URL(c.server).port));
    await fleet.stop();
    for (const p of pids) expect(existsSync(`/proc/${p}`), `pid ${p}`).toBe(false);
    for (const port of ports) expect(await portOpen(port), `port ${port}`).toBe(false);
    expect(existsSync(fleet.dir)).toBe(false);
  });
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}
