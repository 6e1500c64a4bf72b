// SPDX-License-Identifier: Apache-2.0
//
// The store scenario (examples/store) under exactly the install's permissions, never as admin:
// * config cluster: `kubectl apply -k deploy/config` (ClusterRole + Role + bindings), and the
//   controller's client is the ServiceAccount identity those bind
//   (system:serviceaccount:fleet-ilb-system:fleet-ilb with its ServiceAccount groups);
// * members: `kubectl apply -k deploy/member` (ClusterRole + the three admission policies), and
//   each FleetMember Secret holds an inline-credential kubeconfig of that member's fleet-ilb
//   identity (deploy/README.md §5);
// * leader election on, with the Lease name the Role allows; no --fleet-id (the default reads the
//   kube-system namespace, as a fresh install does).
// It must converge with no authorization failure anywhere in the controller's log: every object a
// user looks at is written (Gateway/route/class status, finalizer, FleetMember status, ServiceImport
// and its status, ServiceExport conditions, VIP Services and their status, the members' VIP
// registry, Events, the Lease), and deleting the Gateway tears everything down (the VIP leaves the
// registries).
//
// The same run checks the Compute side of least privilege: every method in the emulator's audit log
// (create, resync, sweep, delete) is listed in deploy/gcp/methods.yaml, from which the custom IAM
// role deploy/gcp/fleet-ilb-role.yaml is built (deploy-static.test.ts checks role = union of
// methods.yaml). A method missing there would be a 403 on a real project.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { RunningController } from '../../controller/main.ts';
import { findCondition, gatewayCondition, getGateway, routeCondition, waitGatewayCondition, GATEWAY_API, type Condition, type GatewayObject, type RouteObject } from '../fixtures/conditions.ts';
import { waitFor, type KObject } from '../fixtures/kube.ts';
import { waitMembersReady } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import type { Identity } from '../harness/fleet.ts';
import { applyBase, CONTROLLER_NAMESPACE, CONTROLLER_USER, kubectl, kubectlOk, mintControllerIdentity, repoRoot } from './deploy-identity.ts';
import { LogCapture, startControllerAs } from './least-privilege.fixture.ts';

const CONVERGE_MS = 90_000;
const IDENTITY = 'fleet-ilb-lp-0';

interface ServiceObj extends KObject {
  spec?: { loadBalancerClass?: string };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; ipMode?: string }> } };
}
interface EventObj extends KObject {
  regarding?: { kind?: string; name?: string; namespace?: string };
  reason?: string;
  reportingController?: string;
  type?: string;
}

describe('the store scenario under exactly the deploy/ roles (no admin anywhere in the controller)', () => {
  let s: Scenario;
  let id: Identity;
  let ctl: RunningController | undefined;
  const capture = new LogCapture();
  let members: string[];
  let gw: GatewayObject;
  let vip: string;

  beforeAll(async () => {
    // Members: deploy/member applied with kubectl and the member identities registered by the
    // scenario (memberIdentity: least-privilege). The controller is started below, not by it.
    // Operations take a little time, as on real GCE, so the controller also waits on them (and
    // the methods check below sees the *Operations.wait calls).
    s = await startScenario({ memberIdentity: 'least-privilege', controller: false, operationLatencyMs: 150 });
    members = s.fleet.members.map((m) => m.name);
    const applied = await applyBase(s.fleet.config, 'deploy/config');
    if (applied.code !== 0) throw new Error(`apply deploy/config: ${applied.stderr}`);
    id = await mintControllerIdentity(s.fleet, s.fleet.config);
    expect(id.user).toBe(CONTROLLER_USER);
    s.emulator.resetAudit();
    ({ ctl } = await startControllerAs(s, id, {
      capture,
      leaderElect: true,
      identity: IDENTITY,
      namespace: CONTROLLER_NAMESPACE,
      leaseName: 'fleet-ilb-controller',
      // Short lease timings only to keep the test quick; the verbs used are the same.
      leaseDurationMs: 6_000,
      renewDeadlineMs: 4_000,
      retryPeriodMs: 500,
    }));
    gw = await waitGatewayCondition(s.kube('config'), 'store', 'store', 'Programmed', CONVERGE_MS).catch((e: unknown) => {
      throw new Error(`${String(e)}\ncontroller log (warnings):\n${capture.summary()}`, { cause: e });
    });
    vip = gw.status?.addresses?.[0]?.value ?? '';
  });

  afterAll(async () => {
    await ctl?.stop();
    await s?.stop();
  });

  it('the controller’s client really is the ServiceAccount identity, and it cannot do what the roles leave out', async () => {
    // Not admin: the same credential is refused a Secret outside fleet-ilb-system.
    const kc = id.kubeConfig();
    const { CoreV1Api } = await import('@kubernetes/client-node');
    await expect(kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'kube-system' })).rejects.toThrow(/403|forbidden/i);
    expect(ctl?.fleetId).toMatch(/^[0-9a-f-]{36}$/); // the kube-system UID, read with C4's get
  });

  it('holds the Lease (create once, then get/update on the one name the Role allows)', async () => {
    const lease = await s.kube('config').get<KObject & { spec?: { holderIdentity?: string } }>('coordination.k8s.io/v1', 'Lease', 'fleet-ilb-controller', CONTROLLER_NAMESPACE);
    expect(lease?.spec?.holderIdentity).toBe(IDENTITY);
    expect(ctl?.isLeader()).toBe(true);
  });

  it('Gateway Programmed with the VIP, route Accepted, class Accepted, finalizer on', async () => {
    expect(gatewayCondition(gw, 'Accepted')?.status).toBe('True');
    expect(vip).toMatch(/^10\.128\.\d+\.\d+$/);
    expect(gw.metadata.finalizers).toContain('fleetilb.io/cleanup');
    const route = await s.kube('config').get<RouteObject>(GATEWAY_API, 'TCPRoute', 'store', 'store');
    expect(routeCondition(route, 'store/store', 'Accepted')?.status).toBe('True');
    expect(routeCondition(route, 'store/store', 'ResolvedRefs')?.status).toBe('True');
    const gc = await s.kube('config').get<KObject & { status?: { conditions?: Condition[] } }>(GATEWAY_API, 'GatewayClass', 'fleet-ilb');
    expect(findCondition(gc?.status?.conditions, 'Accepted')?.status).toBe('True');
  });

  it('FleetMembers Ready (status written) with their node counts', async () => {
    const fms = await waitMembersReady(s.fleet, members, 30_000);
    for (const fm of fms) expect(fm.status?.nodeCount, fm.metadata.name).toBeGreaterThan(0);
  });

  it('VIP Services in every member carry the VIP in status (services + services/status under admission)', async () => {
    for (const m of members) {
      const vipSvcs = await waitFor(
        async () => {
          const l = (await s.kube(m).list<ServiceObj>('v1', 'Service', { namespace: 'store' })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
          return l.length === 1 && l[0]?.status?.loadBalancer?.ingress?.[0]?.ip === vip ? l : undefined;
        },
        30_000,
        `VIP Service with status in ${m}`,
      );
      expect(vipSvcs[0]?.status?.loadBalancer?.ingress).toEqual([{ ip: vip, ipMode: 'VIP' }]);
    }
  });

  it('the VIP registry of every member lists the VIP (its admission policy refuses it to anybody else, in any namespace)', async () => {
    for (const m of members) {
      const data = await waitFor(
        async () => {
          const cm = await s.kube(m).get<KObject & { data?: Record<string, string> }>('v1', 'ConfigMap', 'fleet-ilb-vips', CONTROLLER_NAMESPACE);
          return cm?.data?.[vip] === 'store/store' ? cm.data : undefined;
        },
        30_000,
        `the VIP in ${m}'s fleet-ilb-system/fleet-ilb-vips`,
      );
      expect(data, m).toEqual({ [vip]: 'store/store' });
    }
    // A workload identity of another team, with every Service right in every namespace, tries.
    const member = s.fleet.members[0]!;
    await kubectlOk(member.kubeconfigPath, ['create', 'clusterrole', 'lp-service-admin', '--verb=get,list,create,update,patch', '--resource=services,services/status']);
    await kubectlOk(member.kubeconfigPath, ['create', 'clusterrolebinding', 'lp-mallory', '--clusterrole=lp-service-admin', '--user=system:serviceaccount:other:mallory']);
    await kubectlOk(member.kubeconfigPath, ['create', 'namespace', 'other']);
    const mallory = await s.fleet.mintIdentity(member, 'system:serviceaccount:other:mallory', ['system:serviceaccounts', 'system:serviceaccounts:other', 'system:authenticated']);
    const hijack = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'hijack', namespace: 'other' },
      spec: { type: 'LoadBalancer', selector: { app: 'evil' }, ports: [{ port: 8080 }], externalIPs: [vip] },
    });
    const r = await waitFor(
      async () => {
        const x = await kubectl(mallory.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], hijack);
        return x.code !== 0 ? x : undefined;
      },
      30_000,
      'the hijack refused',
    );
    expect(r.stderr).toContain("ValidatingAdmissionPolicy 'fleet-ilb-vip-registry' with binding 'fleet-ilb-vip-registry' denied request");
    expect(r.stderr).toContain(`only fleet-ilb may put the fleet VIP ${vip} (Gateway store/store)`);
  });

  it('ServiceImport store/store created by fleet-ilb with status.clusters; ServiceExport conditions written in the members', async () => {
    const si = await waitFor(
      async () => {
        const x = await s.kube('config').get<KObject & { status?: { clusters?: Array<{ cluster: string }> } }>('multicluster.x-k8s.io/v1beta1', 'ServiceImport', 'store', 'store');
        return x?.status?.clusters?.length === members.length ? x : undefined;
      },
      30_000,
      'ServiceImport status.clusters',
    );
    expect(si.metadata.labels?.['fleetilb.io/managed-by']).toBe('fleet-ilb');
    for (const m of members) {
      const ex = await waitFor(
        async () => {
          const e = await s.kube(m).get<KObject & { status?: { conditions?: Condition[] } }>('multicluster.x-k8s.io/v1beta1', 'ServiceExport', 'store', 'store');
          return findCondition(e?.status?.conditions, 'Ready')?.status === 'True' ? e : undefined;
        },
        30_000,
        `ServiceExport conditions in ${m}`,
      );
      expect(findCondition(ex.status?.conditions, 'Valid')?.reason, m).toBe('Valid');
    }
  });

  it('Events (events.k8s.io) about the Gateway were created', async () => {
    const evs = await waitFor(
      async () => {
        const l = (await s.kube('config').list<EventObj>('events.k8s.io/v1', 'Event', { namespace: 'store' })).filter(
          (e) => e.regarding?.kind === 'Gateway' && e.regarding.name === 'store' && e.reportingController === 'fleetilb.io/gateway-controller',
        );
        return l.length > 0 ? l : undefined;
      },
      30_000,
      'an Event about Gateway store/store',
    );
    expect(evs.map((e) => e.reason)).toContain('Synced');
  });

  it('a resync and a sweep run, then deleting the Gateway tears everything down', async () => {
    const seen = s.emulator.audit().length;
    await ctl!.resyncAll();
    await waitFor(() => s.emulator.audit().length > seen, 30_000, 'the resync to read GCE');
    await ctl!.reconciler.sweep();
    await s.kube('config').delete(GATEWAY_API, 'Gateway', 'store', 'store');
    await waitFor(async () => (await getGateway(s.kube('config'), 'store', 'store')) === undefined, CONVERGE_MS, 'Gateway gone (finalizer removed)');
    const inv = s.emulator.inventory();
    for (const kind of ['addresses', 'healthChecks', 'backendServices', 'forwardingRules', 'networkEndpointGroups', 'firewalls'] as const) expect(inv[kind], kind).toEqual([]);
    for (const m of members) {
      const svcs = await s.kube(m).list<ServiceObj>('v1', 'Service', { namespace: 'store' });
      expect(svcs.filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip'), m).toEqual([]);
      // The VIP went back to GCE: no member guards it any more.
      await waitFor(
        async () => {
          const cm = await s.kube(m).get<KObject & { data?: Record<string, string> }>('v1', 'ConfigMap', 'fleet-ilb-vips', CONTROLLER_NAMESPACE);
          return cm !== undefined && Object.keys(cm.data ?? {}).length === 0;
        },
        30_000,
        `${m}'s VIP registry empty`,
      );
    }
  });

  it('no authorization failure anywhere in the controller log (config cluster or members)', () => {
    expect(capture.lines().length).toBeGreaterThan(0);
    expect(capture.forbidden()).toEqual([]);
    // The fixture's detector does see a real refusal (so an empty list above means something).
    const probe = new LogCapture();
    probe.write(`${JSON.stringify({ level: 'warn', err: 'User "system:serviceaccount:fleet-ilb-system:fleet-ilb" cannot list resource "secrets" in API group ""' })}\n`);
    expect(probe.forbiddenFor('secrets')).toHaveLength(1);
  });

  it('every Compute method in the emulator audit log (create, resync, sweep, delete) is in deploy/gcp/methods.yaml', () => {
    const methods = (parse(readFileSync(join(repoRoot, 'deploy/gcp/methods.yaml'), 'utf8')) as { methods: Record<string, unknown> }).methods;
    // `admin` entries are the emulator's own test endpoints (seeding), not Compute API calls.
    const called = [...new Set(s.emulator.audit().filter((e) => e.access !== 'admin').map((e) => e.method))].sort();
    // The scenario exercised the main kinds (else this check would be vacuous).
    for (const m of ['addresses.insert', 'regionBackendServices.insert', 'forwardingRules.insert', 'networkEndpointGroups.attachNetworkEndpoints', 'firewalls.insert', 'forwardingRules.delete', 'addresses.delete', 'regionOperations.wait']) {
      expect(called, m).toContain(m);
    }
    expect(called.filter((m) => !(m in methods))).toEqual([]);
    // For the record (not an error: updates, patches and detaches happen only on drift or change).
    process.stderr.write(`[least-privilege] Compute methods called: ${called.join(' ')}\n[least-privilege] in methods.yaml, not called here: ${Object.keys(methods).filter((m) => !called.includes(m)).join(' ')}\n`);
  });
});
