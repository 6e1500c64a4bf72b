// SPDX-License-Identifier: Apache-2.0
//
// What a platform team reviews before installing, checked on the rendered manifests (the real
// kubectl's built-in kustomize) and the image recipe: no wildcard RBAC, Secrets only in
// fleet-ilb-system, a Pod that fits Pod Security `restricted`, a distroless non-root image, and a GCP
// role that is exactly the permissions of the Compute methods fleet-ilb calls. No cluster needed;
// deploy.test.ts checks the same manifests against real apiservers.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { routesOf } from '../emulator/proto.ts';
import { repoRoot } from './deploy-identity.ts';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered YAML, asserted field by field
  [k: string]: any;
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

function render(base: string): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', join(repoRoot, base)], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as Obj);
}
function one(objs: Obj[], kind: string, name: string): Obj {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0]!;
}
/** Every (group, resource, verb) a set of rules grants, as "group/resource:verb" (+ "@name" when limited). */
function grants(rules: Rule[]): string[] {
  const g: string[] = [];
  for (const r of rules) {
    for (const group of r.apiGroups ?? [])
      for (const res of r.resources ?? [])
        for (const verb of r.verbs) {
          const names = r.resourceNames ?? [];
          if (names.length === 0) g.push(`${group}/${res}:${verb}`);
          else for (const n of names) g.push(`${group}/${res}:${verb}@${n}`);
        }
  }
  return g;
}

const config = render('deploy/config');
const member = render('deploy/member');
const roleRules = (objs: Obj[]) => objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');

describe('RBAC shape (deploy/config, deploy/member)', () => {
  it('has no wildcard, no escalate/bind/impersonate, no pods/exec, no non-resource URLs', () => {
    for (const role of [...roleRules(config), ...roleRules(member)]) {
      for (const r of role.rules as Rule[]) {
        const all = [...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs];
        expect(all, `${role.kind}/${role.metadata.name}`).not.toContain('*');
        expect(r.verbs.filter((v) => ['escalate', 'bind', 'impersonate', 'deletecollection'].includes(v))).toEqual([]);
        expect((r.resources ?? []).filter((x) => x.startsWith('pods'))).toEqual([]);
        expect(r.nonResourceURLs).toBeUndefined();
      }
    }
  });

  it('reads Secrets only through a Role in fleet-ilb-system, and never in members', () => {
    for (const role of [...roleRules(config), ...roleRules(member)]) {
      const secretGrants = grants(role.rules as Rule[]).filter((g) => g.startsWith('/secrets:'));
      if (role.kind === 'ClusterRole') expect(secretGrants, role.metadata.name).toEqual([]);
      else expect(role.metadata.namespace).toBe('fleet-ilb-system');
    }
    expect(roleRules(member).flatMap((r) => grants(r.rules as Rule[])).filter((g) => g.includes('secrets'))).toEqual([]);
  });

  it('limits lease writes to the one Lease named fleet-ilb-controller', () => {
    const role = one(config, 'Role', 'fleet-ilb-controller');
    const leases = grants(role.rules as Rule[]).filter((g) => g.startsWith('coordination.k8s.io/leases:')).sort();
    expect(leases).toEqual([
      'coordination.k8s.io/leases:create',
      'coordination.k8s.io/leases:get@fleet-ilb-controller',
      'coordination.k8s.io/leases:update@fleet-ilb-controller',
    ]);
    const deploy = one(config, 'Deployment', 'fleet-ilb-controller');
    expect(deploy.spec.template.spec.containers[0].args).toContain('--lease-name=fleet-ilb-controller');
  });

  it('writes Service status only in members, and ServiceImports only in multicluster.x-k8s.io', () => {
    const cfg = roleRules(config).flatMap((r) => grants(r.rules as Rule[]));
    expect(cfg.filter((g) => g.startsWith('/services'))).toEqual([]);
    const writes = (g: string) => /:(create|update|patch|delete)$/.test(g);
    expect(cfg.filter((g) => g.startsWith('net.gke.io/') && writes(g))).toEqual([]);
    const mem = roleRules(member).flatMap((r) => grants(r.rules as Rule[]));
    expect(mem).toContain('/services/status:patch');
    expect(mem.filter((g) => g.startsWith('net.gke.io/') && writes(g))).toEqual([]);
  });

  it('binds each role to the fleet-ilb ServiceAccount only', () => {
    for (const objs of [config, member]) {
      for (const b of objs.filter((o) => o.kind.endsWith('Binding') && o.kind !== 'ValidatingAdmissionPolicyBinding')) {
        expect(b.subjects, b.metadata.name).toEqual([{ kind: 'ServiceAccount', name: 'fleet-ilb', namespace: 'fleet-ilb-system' }]);
      }
    }
  });
});

describe('controller Deployment (deploy/config)', () => {
  const deploy = one(config, 'Deployment', 'fleet-ilb-controller');
  const pod = deploy.spec.template.spec;
  const c = pod.containers[0];

  it('runs 2 replicas with leader election, spread over nodes and zones, kept by a PDB', () => {
    expect(deploy.spec.replicas).toBe(2);
    expect(c.args).toEqual(
      expect.arrayContaining(['--leader-elect=true', '--namespace=fleet-ilb-system', '--metrics-addr=:8080']),
    );
    expect((pod.topologySpreadConstraints as { topologyKey: string }[]).map((t) => t.topologyKey).sort()).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    const pdb = one(config, 'PodDisruptionBudget', 'fleet-ilb-controller');
    expect(pdb.spec.minAvailable).toBe(1);
    const labels = deploy.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels as Record<string, string>)) expect(labels[k]).toBe(v);
    const svc = one(config, 'Service', 'fleet-ilb-metrics');
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(labels[k]).toBe(v);
    expect(svc.spec.ports[0].targetPort).toBe('metrics');
  });

  it('probes /healthz and /readyz on the metrics port, and sets resources', () => {
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.requests.memory).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
  });

  it('has the restricted-profile security context and a read-only root filesystem', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.securityContext.capabilities.add).toBeUndefined();
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.serviceAccountName).toBe('fleet-ilb');
    const ns = one(config, 'Namespace', 'fleet-ilb-system');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });
});

describe('image recipe (Dockerfile)', () => {
  const lines = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map(
    lines.filter((l) => l.startsWith('ARG ')).map((l) => l.slice(4).split('=') as [string, string]),
  );
  const stages = lines.filter((l) => l.startsWith('FROM '));
  const finalStart = lines.lastIndexOf(stages[stages.length - 1]!);
  const final = lines.slice(finalStart);

  it('builds production dependencies from the lockfile, on Node 24', () => {
    expect(args.get('BUILD_IMAGE')).toMatch(/^node:24-/);
    expect(lines.some((l) => /npm ci --omit=dev\b/.test(l))).toBe(true);
    expect(lines.some((l) => /npm (install|i) /.test(l))).toBe(false);
  });

  it('runs on distroless Node 24 as uid/gid 65532 with the controller entrypoint', () => {
    expect(stages[stages.length - 1]).toBe('FROM ${RUNTIME_IMAGE}');
    expect(args.get('RUNTIME_IMAGE')).toMatch(/^gcr\.io\/distroless\/nodejs24-debian\d+:nonroot$/);
    expect(final).toContain('USER 65532:65532');
    expect(final[final.length - 1]).toBe('ENTRYPOINT ["/nodejs/bin/node", "controller/cli.ts", "controller"]');
    expect(final.some((l) => l.startsWith('RUN '))).toBe(false); // no shell in distroless
  });

  it('caps the V8 heap (NODE_OPTIONS), below the Deployment memory limit, which does not override it', () => {
    // deploy/README.md "Memory": without the caps Node sizes the heap from the machine's memory.
    const env = final.find((l) => l.startsWith('ENV NODE_OPTIONS='));
    expect(env).toBeDefined();
    const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(env!)?.[1]);
    const semiSpace = Number(/--max-semi-space-size=(\d+)/.exec(env!)?.[1]);
    expect(oldSpace).toBeGreaterThan(0);
    expect(semiSpace).toBeGreaterThan(0);
    const config = render('deploy/config');
    const c = one(config, 'Deployment', 'fleet-ilb-controller').spec.template.spec.containers[0];
    expect((c.env as Array<{ name: string }>).map((e) => e.name)).not.toContain('NODE_OPTIONS');
    const mib = (q: string): number => Number(/^(\d+)Mi$/.exec(q)?.[1] ?? /^(\d+)Gi$/.exec(q)?.[1]) * (q.endsWith('Gi') ? 1024 : 1);
    // Old space + the young generation (3 semi-spaces) + ~256 MiB outside the V8 heap (node's code,
    // malloc, stacks; measured by bench:scale) must fit under the limit: a heap error, not an OOM kill.
    expect(mib(c.resources.limits.memory as string)).toBeGreaterThanOrEqual(oldSpace + 3 * semiSpace + 256);
    // glibc's malloc arenas capped at 2 (~20 MiB less RSS in bench:scale, which reads this line), and
    // the Pod spec does not override it.
    expect(final).toContain('ENV MALLOC_ARENA_MAX=2');
    expect((c.env as Array<{ name: string }>).map((e) => e.name)).not.toContain('MALLOC_ARENA_MAX');
  });

  it('copies only package files, controller/ and crds/ into the runtime image', () => {
    const copies = final.filter((l) => l.startsWith('COPY ')).map((l) => l.replace(/\s+/g, ' '));
    expect(copies).toEqual([
      'COPY --from=deps /app/node_modules ./node_modules',
      'COPY package.json package-lock.json ./',
      'COPY controller/ ./controller/',
      'COPY crds/ ./crds/',
    ]);
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignore).toContain('**');
    expect(ignore).toContain('controller/**/*.test.ts');
  });

  it('lists every crds/*.yaml in crds/Kustomization, so deploy/config installs all our CRDs', () => {
    const files = readdirSync(join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    const k = parse(readFileSync(join(repoRoot, 'crds', 'Kustomization'), 'utf8')) as { resources: string[] };
    expect([...k.resources].sort()).toEqual(files);
    expect(config.filter((o) => o.kind === 'CustomResourceDefinition')).toHaveLength(files.length);
  });
});

describe('Google Cloud IAM (deploy/gcp)', () => {
  const methods = (parse(readFileSync(join(repoRoot, 'deploy/gcp/methods.yaml'), 'utf8')) as {
    methods: Record<string, { why: string; permissions: string[] }>;
  }).methods;
  const role = parse(readFileSync(join(repoRoot, 'deploy/gcp/fleet-ilb-role.yaml'), 'utf8')) as {
    title: string;
    stage: string;
    includedPermissions: string[];
  };

  it('grants exactly the permissions of the methods fleet-ilb calls', () => {
    const union = [...new Set(Object.values(methods).flatMap((m) => m.permissions))].sort();
    expect(role.includedPermissions).toEqual(union);
    expect(role.stage).toBe('GA');
  });

  it('names each method and permission in the Compute form, with a reason', () => {
    for (const [name, m] of Object.entries(methods)) {
      expect(name).toMatch(/^[a-z][A-Za-z]+\.[a-z][A-Za-z]+$/);
      expect(m.why.length, name).toBeGreaterThan(3);
      expect(m.permissions.length, name).toBeGreaterThan(0);
      for (const p of m.permissions) expect(p).toMatch(/^compute\.[a-z][A-Za-z]+\.[a-z][A-Za-z]+$/);
    }
  });

  it('contains nothing a load-balancer controller should not hold', () => {
    const forbidden = role.includedPermissions.filter(
      (p) =>
        !p.startsWith('compute.') ||
        /setIamPolicy|setMetadata|\.networks\.delete|\.subnetworks\.(delete|update|create)|\.instances\.(create|delete|update|set)/.test(p) ||
        /\.addresses\.(create|delete)$/.test(p), // external addresses
    );
    expect(forbidden).toEqual([]);
  });

  it('names real Compute API methods (the names the emulator audit log uses, from compute.proto)', () => {
    const services = [...new Set(Object.keys(methods).map((m) => m.split('.')[0]!))].map((c) => c.charAt(0).toUpperCase() + c.slice(1));
    const known = new Set(routesOf(services).map((r) => r.method));
    expect(Object.keys(methods).filter((m) => !known.has(m))).toEqual([]);
  });

  it('covers the Compute clients the GCE layer uses (every kind it manages has insert/get/delete)', () => {
    for (const collection of ['addresses', 'regionHealthChecks', 'regionBackendServices', 'networkEndpointGroups', 'forwardingRules', 'firewalls']) {
      for (const verb of ['insert', 'get', 'delete']) expect(methods, `${collection}.${verb}`).toHaveProperty([`${collection}.${verb}`]);
    }
    for (const scope of ['zone', 'region', 'global']) expect(methods).toHaveProperty([`${scope}Operations.wait`]);
  });
});
