// SPDX-License-Identifier: Apache-2.0
//
// RBAC minimality: every rule of deploy/config/rbac.yaml and deploy/member/rbac.yaml is needed. For
// each rule in turn the test applies the role WITHOUT that rule, restarts the controller (as the
// ServiceAccount identity, as in controller-least-privilege.test.ts) and shows that the behaviour the
// rule exists for (deploy/RBAC.md, "without it") does not happen, while the controller's log shows
// the apiserver refusing exactly that resource. A rule no behaviour needs would fail here: it does
// not belong in deploy/ (and was removed: see RBAC.md).
//
// Each case, on ONE fleet (config + one member, the store example, GKE MCS's net.gke.io CRDs in
// their test-only shape (test/harness/crds.ts) so the GKE MCS reads are exercised too):
//   1. full roles: undo the behaviour (`reset`), start the controller, time until it is back
//      (`done`): the positive control, which also proves the check can pass;
//   2. roles minus the rule (applied, then confirmed with a SelfSubjectAccessReview as the
//      controller): reset again, start the controller, wait for the 403 on the rule's resource, then
//      watch for a bounded window that `done` stays false. The window is max(MIN_WINDOW_MS, 3 x the
//      positive time of step 1): the same controller with the same input did it well within that.
// The controller's periodic resync and sweep are off; every case is one restart, one first
// reconcile. Each case takes about 6 s; the file about 2.5 minutes on a 2-core machine (one line
// per case on stderr: positive time, window, first refused request).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, type YAMLSeq } from 'yaml';
import type { RunningController } from '../../controller/main.ts';
import { findCondition, gatewayCondition, getGateway, waitGatewayCondition, GATEWAY_API, type Condition } from '../fixtures/conditions.ts';
import { Kube, waitFor, type KObject } from '../fixtures/kube.ts';
import { FLEETILB_API, type FleetMemberObject } from '../fixtures/members.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import type { Identity } from '../harness/fleet.ts';
import { applyBase, CONTROLLER_NAMESPACE, mintControllerIdentity, repoRoot } from './deploy-identity.ts';
import { LogCapture, startControllerAs } from './least-privilege.fixture.ts';

const MIN_WINDOW_MS = 5_000;
const POSITIVE_MS = 45_000;
const FORBIDDEN_MS = 20_000;
const FIELD_MANAGER = 'fleet-ilb-install';
const MEMBER = 'member-a';
const MCS = 'multicluster.x-k8s.io/v1beta1';
const LEASE = 'fleet-ilb-controller';

// ---- the roles, rule by rule, with the ids of their YAML comments (C1, N1, M1, ...) ----------

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface RoleDoc extends KObject {
  rules: Rule[];
}
interface RuleRef {
  id: string;
  /** The role document (as in deploy/), and where it goes. */
  role: RoleDoc;
  cluster: 'config' | 'member';
  index: number;
  rule: Rule;
}

/** Roles of one rbac.yaml, each rule tagged with the id that starts its comment (`# C1 ...`). */
function rolesOf(file: string, cluster: 'config' | 'member'): RuleRef[] {
  const out: RuleRef[] = [];
  for (const doc of parseAllDocuments(readFileSync(join(repoRoot, file), 'utf8'))) {
    const obj = doc.toJS() as RoleDoc;
    if (obj.kind !== 'ClusterRole' && obj.kind !== 'Role') continue;
    const seq = doc.getIn(['rules'], true) as YAMLSeq;
    seq.items.forEach((item, index) => {
      // The yaml parser hangs the first item's comment on the sequence itself.
      const comment = (item as { commentBefore?: string | null }).commentBefore ?? (index === 0 ? seq.commentBefore : undefined) ?? '';
      const id = /^\s*([CNM]\d+)\b/.exec(comment)?.[1];
      if (id === undefined) throw new Error(`${file}: ${obj.kind}/${obj.metadata.name} rule ${index} has no id comment`);
      out.push({ id, role: obj, cluster, index, rule: obj.rules[index]! });
    });
  }
  return out;
}

const RULES: RuleRef[] = [...rolesOf('deploy/config/rbac.yaml', 'config'), ...rolesOf('deploy/member/rbac.yaml', 'member')];

/** Rule ids of deploy/RBAC.md's tables. */
const DOC_IDS = [...readFileSync(join(repoRoot, 'deploy/RBAC.md'), 'utf8').matchAll(/^\| ([CNM]\d+) \|/gm)].map((m) => m[1]!);

// ---- the behaviours --------------------------------------------------------------------------

interface Ctx {
  s: Scenario;
  cfg: Kube;
  mem: Kube;
  ctl: RunningController;
  identity: string;
}

/** One behaviour a rule exists for: how to undo it, and how a user sees it done. */
interface Behaviour {
  name: string;
  reset: (c: Omit<Ctx, 'ctl' | 'identity'>) => Promise<void>;
  done: (c: Ctx) => Promise<boolean>;
}

interface ServiceObj extends KObject {
  spec?: { loadBalancerClass?: string };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } };
}

const vipServices = async (mem: Kube): Promise<ServiceObj[]> =>
  (await mem.list<ServiceObj>('v1', 'Service', { namespace: 'store' })).filter((x) => x.spec?.loadBalancerClass === 'fleetilb.io/vip');
const deleteVipServices = async (mem: Kube): Promise<void> => {
  for (const v of await vipServices(mem)) await mem.delete('v1', 'Service', v.metadata.name, 'store');
};
const clearStatus = (k: Kube, apiVersion: string, kind: string, name: string, namespace?: string): Promise<KObject> =>
  k.mergePatch({ apiVersion, kind, name, ...(namespace === undefined ? {} : { namespace }) }, { status: null }, 'status');

const GATEWAY_PROGRAMMED: Behaviour = {
  name: 'the Gateway gets Programmed=True with its VIP in status.addresses',
  reset: async ({ cfg }) => {
    await clearStatus(cfg, GATEWAY_API, 'Gateway', 'store', 'store');
  },
  done: async ({ cfg }) => {
    const gw = await getGateway(cfg, 'store', 'store');
    return gatewayCondition(gw, 'Programmed')?.status === 'True' && (gw?.status?.addresses?.length ?? 0) > 0;
  },
};
const FINALIZER: Behaviour = {
  name: 'the Gateway carries the fleetilb.io/cleanup finalizer (ordered teardown on delete)',
  reset: async ({ cfg }) => {
    const gw = await getGateway(cfg, 'store', 'store');
    const i = gw?.metadata.finalizers?.indexOf('fleetilb.io/cleanup') ?? -1;
    if (i < 0) return;
    const path = await cfg.objectPath(GATEWAY_API, 'Gateway', 'store', 'store');
    await cfg.request('PATCH', path, { body: [{ op: 'remove', path: `/metadata/finalizers/${i}` }], contentType: 'application/json-patch+json' });
  },
  done: async ({ cfg }) => ((await getGateway(cfg, 'store', 'store'))?.metadata.finalizers ?? []).includes('fleetilb.io/cleanup'),
};
const MEMBER_READY: Behaviour = {
  name: `FleetMember ${MEMBER} is Ready=True/Connected with its node count`,
  reset: async ({ cfg }) => {
    await clearStatus(cfg, FLEETILB_API, 'FleetMember', MEMBER);
  },
  done: async ({ cfg }) => {
    const fm = await cfg.get<FleetMemberObject>(FLEETILB_API, 'FleetMember', MEMBER);
    return findCondition(fm?.status?.conditions, 'Ready')?.status === 'True' && (fm?.status?.nodeCount ?? 0) > 0;
  },
};
const SERVICE_IMPORT: Behaviour = {
  name: 'the ServiceImport store/store is created from the members’ exports',
  reset: async ({ cfg }) => {
    await cfg.delete(MCS, 'ServiceImport', 'store', 'store');
  },
  done: async ({ cfg }) => (await cfg.get(MCS, 'ServiceImport', 'store', 'store'))?.metadata.labels?.['fleetilb.io/managed-by'] === 'fleet-ilb',
};
const SERVICE_IMPORT_STATUS: Behaviour = {
  name: 'the ServiceImport reports the clusters that back it (status.clusters)',
  reset: SERVICE_IMPORT.reset,
  done: async ({ cfg }) => ((await cfg.get<KObject & { status?: { clusters?: unknown[] } }>(MCS, 'ServiceImport', 'store', 'store'))?.status?.clusters?.length ?? 0) > 0,
};
const EXPORT_CONDITIONS: Behaviour = {
  name: 'the member’s ServiceExport gets Valid/Ready/Conflict conditions',
  reset: async ({ mem }) => {
    await clearStatus(mem, MCS, 'ServiceExport', 'store', 'store');
  },
  done: async ({ mem }) => {
    const e = await mem.get<KObject & { status?: { conditions?: Condition[] } }>(MCS, 'ServiceExport', 'store', 'store');
    return findCondition(e?.status?.conditions, 'Ready')?.status === 'True' && findCondition(e?.status?.conditions, 'Conflict') !== undefined;
  },
};
const VIP_SERVICE: Behaviour = {
  name: 'the member gets its VIP Service (the datapath translates the VIP)',
  reset: ({ mem }) => deleteVipServices(mem),
  done: async ({ mem }) => (await vipServices(mem)).length === 1,
};
const VIP_STATUS: Behaviour = {
  name: 'the VIP Service carries the VIP in status.loadBalancer.ingress (what Cilium/kube-proxy program)',
  reset: ({ mem }) => deleteVipServices(mem),
  done: async ({ mem }) => (await vipServices(mem)).some((v) => (v.status?.loadBalancer?.ingress?.length ?? 0) > 0),
};
const VIP_REGISTRY: Behaviour = {
  name: 'the member’s VIP registry (fleet-ilb-system/fleet-ilb-vips) lists the VIP (admission guards it in every namespace)',
  // As the install leaves it: present, no data (nobody but fleet-ilb may change its data, admin
  // included; deleting and creating it empty is allowed).
  reset: async ({ mem }) => {
    await mem.delete('v1', 'ConfigMap', 'fleet-ilb-vips', CONTROLLER_NAMESPACE);
    await mem.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fleet-ilb-vips', namespace: CONTROLLER_NAMESPACE } }, FIELD_MANAGER);
  },
  done: async ({ mem }) => Object.keys((await mem.get<KObject & { data?: Record<string, string> }>('v1', 'ConfigMap', 'fleet-ilb-vips', CONTROLLER_NAMESPACE))?.data ?? {}).length > 0,
};
interface EventObj extends KObject {
  regarding?: { kind?: string; name?: string };
  reportingController?: string;
}
const EVENTS: Behaviour = {
  name: 'an Event about the Gateway is recorded (a drifted firewall rule re-created: Synced)',
  reset: async ({ s, cfg }) => {
    for (const e of await cfg.list<EventObj>('events.k8s.io/v1', 'Event', { namespace: 'store' })) await cfg.delete('events.k8s.io/v1', 'Event', e.metadata.name, 'store');
    // Drift the controller must repair on its first reconcile: one of its firewall rules deleted.
    const fw = s.emulator.inventory().firewalls[0];
    if (fw === undefined) throw new Error('no firewall rule to delete');
    const res = await fetch(`${s.emulator.url}/compute/v1/projects/${s.gcp.project}/global/firewalls/${String(fw['name'])}`, { method: 'DELETE' });
    if (!res.ok) throw new Error(`delete firewall: HTTP ${res.status}: ${await res.text()}`);
  },
  done: async ({ cfg }) =>
    (await cfg.list<EventObj>('events.k8s.io/v1', 'Event', { namespace: 'store' })).some((e) => e.regarding?.kind === 'Gateway' && e.reportingController === 'fleetilb.io/gateway-controller'),
};
const LEADER: Behaviour = {
  name: 'the controller acquires the leader Lease (nothing is written without it)',
  reset: async ({ cfg }) => {
    await cfg.delete('coordination.k8s.io/v1', 'Lease', LEASE, CONTROLLER_NAMESPACE);
  },
  done: async ({ cfg, identity, ctl }) =>
    ctl.isLeader() && (await cfg.get<KObject & { spec?: { holderIdentity?: string } }>('coordination.k8s.io/v1', 'Lease', LEASE, CONTROLLER_NAMESPACE))?.spec?.holderIdentity === identity,
};
const SUPPORTED_VERSION: Behaviour = {
  name: 'the GatewayClass reports SupportedVersion=True for the installed Gateway API CRD bundle',
  reset: async ({ cfg }) => {
    await clearStatus(cfg, GATEWAY_API, 'GatewayClass', 'fleet-ilb');
  },
  done: async ({ cfg }) => findCondition((await cfg.get<KObject & { status?: { conditions?: Condition[] } }>(GATEWAY_API, 'GatewayClass', 'fleet-ilb'))?.status?.conditions, 'SupportedVersion')?.status === 'True',
};
const LEADER_RENEW: Behaviour = { ...LEADER, name: 'the controller takes over and renews the existing leader Lease', reset: async () => {} };

/**
 * Rule id -> the behaviour that fails without it, and the resource the apiserver refuses. Every rule
 * of deploy/ must be here (checked below).
 */
const TABLE: Record<string, { behaviour: Behaviour; forbidden: { resource: string; group?: string }; memberFrozen?: true }> = {
  C1: { behaviour: GATEWAY_PROGRAMMED, forbidden: { resource: 'gatewayclasses', group: 'gateway.networking.k8s.io' } },
  C2: { behaviour: GATEWAY_PROGRAMMED, forbidden: { resource: 'gateways/status', group: 'gateway.networking.k8s.io' } },
  C3: { behaviour: FINALIZER, forbidden: { resource: 'gateways', group: 'gateway.networking.k8s.io' } },
  C4: { behaviour: GATEWAY_PROGRAMMED, forbidden: { resource: 'namespaces' } },
  C5: { behaviour: MEMBER_READY, forbidden: { resource: 'fleetmembers', group: 'fleetilb.io' } },
  C6: { behaviour: MEMBER_READY, forbidden: { resource: 'fleetmembers/status', group: 'fleetilb.io' } },
  C7: { behaviour: SERVICE_IMPORT, forbidden: { resource: 'serviceimports', group: 'multicluster.x-k8s.io' } },
  C8: { behaviour: SERVICE_IMPORT_STATUS, forbidden: { resource: 'serviceimports/status', group: 'multicluster.x-k8s.io' } },
  C9: { behaviour: GATEWAY_PROGRAMMED, forbidden: { resource: 'serviceimports', group: 'net.gke.io' } },
  C10: { behaviour: EVENTS, forbidden: { resource: 'events', group: 'events.k8s.io' } },
  C11: { behaviour: SUPPORTED_VERSION, forbidden: { resource: 'customresourcedefinitions', group: 'apiextensions.k8s.io' } },
  N1: { behaviour: LEADER, forbidden: { resource: 'leases', group: 'coordination.k8s.io' } },
  N2: { behaviour: LEADER_RENEW, forbidden: { resource: 'leases', group: 'coordination.k8s.io' } },
  N3: { behaviour: MEMBER_READY, forbidden: { resource: 'secrets' } },
  M1: { behaviour: MEMBER_READY, forbidden: { resource: 'nodes' }, memberFrozen: true },
  M2: { behaviour: VIP_SERVICE, forbidden: { resource: 'services' }, memberFrozen: true },
  M3: { behaviour: VIP_STATUS, forbidden: { resource: 'services/status' } },
  M4: { behaviour: MEMBER_READY, forbidden: { resource: 'endpointslices', group: 'discovery.k8s.io' }, memberFrozen: true },
  M5: { behaviour: MEMBER_READY, forbidden: { resource: 'serviceexports', group: 'multicluster.x-k8s.io' }, memberFrozen: true },
  M6: { behaviour: EXPORT_CONDITIONS, forbidden: { resource: 'serviceexports/status', group: 'multicluster.x-k8s.io' } },
  M7: { behaviour: MEMBER_READY, forbidden: { resource: 'serviceexports', group: 'net.gke.io' }, memberFrozen: true },
  M8: { behaviour: VIP_REGISTRY, forbidden: { resource: 'configmaps' } },
};

describe('RBAC minimality: without any one rule of deploy/, a named behaviour fails', () => {
  let s: Scenario;
  let cfg: Kube;
  let mem: Kube;
  let ctlIdentity: Identity;
  let memberIdentity: Identity;
  let starts = 0;

  /** A SelfSubjectAccessReview as `who` for the first verb/resource of `rule`. */
  const canDo = async (who: Identity, r: RuleRef): Promise<boolean> => {
    const [resource, subresource] = r.rule.resources[0]!.split('/');
    const attrs = {
      verb: r.rule.verbs[0],
      group: r.rule.apiGroups[0],
      resource,
      ...(subresource === undefined ? {} : { subresource }),
      ...(r.rule.resourceNames === undefined ? {} : { name: r.rule.resourceNames[0] }),
      ...(r.role.kind === 'Role' ? { namespace: r.role.metadata.namespace } : {}),
    };
    const k = new Kube(`${who.user}`, who.kubeConfig());
    const res = await k.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } },
    });
    return res.status.allowed;
  };

  /** Applies `role` with `rules` (server-side apply as the installer), then waits until RBAC agrees. */
  const applyRole = async (r: RuleRef, without: boolean): Promise<void> => {
    const rules = without ? r.role.rules.filter((_, i) => i !== r.index) : r.role.rules;
    const k = r.cluster === 'config' ? cfg : mem;
    await k.apply({ ...r.role, metadata: { ...r.role.metadata, labels: { 'app.kubernetes.io/part-of': 'fleet-ilb' } }, rules }, FIELD_MANAGER);
    const who = r.cluster === 'config' ? ctlIdentity : memberIdentity;
    await waitFor(async () => (await canDo(who, r)) === !without, 15_000, `RBAC ${without ? 'without' : 'with'} ${r.id} in effect`);
  };

  const start = async (capture: LogCapture): Promise<{ ctl: RunningController; identity: string }> => {
    const identity = `minimality-${++starts}`;
    const { ctl } = await startControllerAs(s, ctlIdentity, {
      capture,
      fleetId: 'minimality',
      identity,
      leaderElect: true,
      leaseName: LEASE,
      namespace: CONTROLLER_NAMESPACE,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 250,
      // One restart = one first reconcile: no periodic work in the windows.
      resyncPeriodMs: 0,
      sweepPeriodMs: 0,
      memberSyncTimeoutMs: 3_000,
    });
    return { ctl, identity };
  };

  beforeAll(async () => {
    s = await startScenario({ members: 1, memberIdentity: 'least-privilege', controller: false, gkeMcs: true });
    cfg = s.kube('config');
    mem = s.kube(MEMBER);
    memberIdentity = s.registered[0]!.identity!;
    const applied = await applyBase(s.fleet.config, 'deploy/config');
    if (applied.code !== 0) throw new Error(`apply deploy/config: ${applied.stderr}`);
    ctlIdentity = await mintControllerIdentity(s.fleet, s.fleet.config);
    // Converge once with the full roles (GCE resources created; everything below only repairs).
    const capture = new LogCapture();
    const { ctl } = await start(capture);
    try {
      await waitGatewayCondition(cfg, 'store', 'store', 'Programmed', 90_000);
      await waitFor(async () => (await vipServices(mem)).some((v) => (v.status?.loadBalancer?.ingress?.length ?? 0) > 0), 30_000, 'VIP status');
    } catch (e) {
      throw new Error(`${String(e)}\n${capture.summary()}`, { cause: e });
    } finally {
      await ctl.stop();
    }
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('the table covers every rule of deploy/ and of deploy/RBAC.md, and nothing else', () => {
    const yamlIds = RULES.map((r) => r.id);
    expect(new Set(yamlIds).size).toBe(yamlIds.length);
    expect([...yamlIds].sort()).toEqual(Object.keys(TABLE).sort());
    expect([...DOC_IDS].sort()).toEqual([...yamlIds].sort());
  });

  // One `it` per rule, in file order.
  for (const r of RULES) {
    const row = TABLE[r.id];
    it(`${r.id} ${r.rule.apiGroups.join(',') || 'core'}/${r.rule.resources.join(',')} [${r.rule.verbs.join(',')}]: without it, ${row?.behaviour.name ?? '?'} does not happen`, async () => {
      if (row === undefined) throw new Error(`rule ${r.id} is not in the table`);
      const b = row.behaviour;
      const base = { s, cfg, mem };

      // 1. Positive control with the full roles.
      await applyRole(r, false);
      await b.reset(base);
      const posCapture = new LogCapture();
      const t0 = performance.now();
      const pos = await start(posCapture);
      let positiveMs: number;
      try {
        await waitFor(() => b.done({ ...base, ...pos }), POSITIVE_MS, `${r.id} positive control: ${b.name}`).catch((e: unknown) => {
          throw new Error(`${String(e)}\n${posCapture.summary()}`, { cause: e });
        });
        positiveMs = performance.now() - t0;
        expect(posCapture.forbidden(), 'no 403 with the full roles').toEqual([]);
      } finally {
        await pos.ctl.stop();
      }

      // 2. Without the rule.
      await applyRole(r, true);
      try {
        await b.reset(base);
        const capture = new LogCapture();
        const neg = await start(capture);
        try {
          const t1 = performance.now();
          await waitFor(() => capture.forbiddenFor(row.forbidden.resource, row.forbidden.group).length > 0, FORBIDDEN_MS, `a 403 on ${row.forbidden.resource}`).catch((e: unknown) => {
            throw new Error(`${String(e)}\n${capture.summary()}`, { cause: e });
          });
          const windowMs = Math.max(MIN_WINDOW_MS, 3 * positiveMs);
          const deadline = t1 + windowMs;
          while (performance.now() < deadline) {
            expect(await b.done({ ...base, ...neg }), `${b.name} happened without ${r.id} (after ${Math.round(performance.now() - t1)} ms)`).toBe(false);
            await new Promise((res) => setTimeout(res, 200));
          }
          process.stderr.write(
            `[rbac-minimality] ${r.id}: positive ${Math.round(positiveMs)} ms, window ${windowMs} ms, refused: ${(capture.forbiddenFor(row.forbidden.resource, row.forbidden.group)[0]?.msg ?? '?')}\n`,
          );
          if (row.memberFrozen) {
            // What the platform team sees: the member is not usable, and why.
            const fm = await cfg.get<FleetMemberObject>(FLEETILB_API, 'FleetMember', MEMBER);
            expect(findCondition(fm?.status?.conditions, 'Ready'), 'FleetMember Ready').toMatchObject({ status: 'False', reason: 'AuthFailed' });
          }
        } finally {
          await neg.ctl.stop();
        }
      } finally {
        await applyRole(r, false);
      }
    });
  }
});
