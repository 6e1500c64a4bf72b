// SPDX-License-Identifier: Apache-2.0
//
// Helpers for tests that run fleet-ilb under exactly the install's RBAC (deploy/config and
// deploy/member): apply the kustomize bases with the real kubectl, mint the controller's identity
// (the ServiceAccount user and groups the apiserver would give its token), and register members the
// way deploy/README.md §5 does (kubeconfig Secret in fleet-ilb-system + FleetMember). Used by
// deploy*.test.ts and admission*.test.ts now, and by the controller's RBAC-minimality tests later.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterHandle, Fleet, Identity } from '../harness/fleet.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The namespace of fleet-ilb's Deployment, Lease and member kubeconfig Secrets. */
export const CONTROLLER_NAMESPACE = 'fleet-ilb-system';
/** The controller's user, in the config cluster and (by default) in every member. */
export const CONTROLLER_USER = `system:serviceaccount:${CONTROLLER_NAMESPACE}:fleet-ilb`;
/** The groups the ServiceAccount token authenticator adds to that user. */
export const CONTROLLER_GROUPS: readonly string[] = [
  'system:serviceaccounts',
  `system:serviceaccounts:${CONTROLLER_NAMESPACE}`,
  'system:authenticated',
];

/** The two kustomize bases a platform team applies. */
export type Base = 'deploy/config' | 'deploy/member';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real kubectl (never throws on a non-zero exit: callers assert on the result). */
export function kubectl(kubeconfigPath: string, args: readonly string[], stdin?: string): Promise<KubectlResult> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', kubeconfigPath, ...args],
      { cwd: repoRoot, maxBuffer: 32 * 1024 * 1024, timeout: 120_000, env: { ...process.env, KUBECONFIG: '' } },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(new Error(`kubectl: ${err.message}`));
          return;
        }
        resolvePromise({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

/** kubectl, failing with its stderr when it exits non-zero. */
export async function kubectlOk(kubeconfigPath: string, args: readonly string[], stdin?: string): Promise<KubectlResult> {
  const r = await kubectl(kubeconfigPath, args, stdin);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r;
}

/**
 * `kubectl apply --server-side -k <base>` as the cluster admin, the way deploy/README.md installs.
 * `dryRun` adds `--dry-run=server` (everything validated and admitted, nothing stored).
 */
export function applyBase(cluster: ClusterHandle, base: Base, opts: { dryRun?: boolean } = {}): Promise<KubectlResult> {
  const args = ['apply', '--server-side', '--field-manager=fleet-ilb-install', '-k', join(repoRoot, base)];
  if (opts.dryRun === true) args.push('--dry-run=server');
  return kubectl(cluster.kubeconfigPath, args);
}

/** The controller's identity in one cluster (apply the matching base first: RBAC is real). */
export function mintControllerIdentity(fleet: Fleet, cluster: ClusterHandle): Promise<Identity> {
  return fleet.mintIdentity(cluster, CONTROLLER_USER, [...CONTROLLER_GROUPS]);
}

export interface ControllerIdentities {
  /** Use for the controller's own (in-cluster) client. */
  config: Identity;
  /** Per member name: the identity fleet-ilb's FleetMember kubeconfig carries. */
  members: Map<string, Identity>;
}

/**
 * Installs deploy/config in the config cluster and deploy/member in every member (real apply), then
 * mints the controller's identity in each. The result is what a controller under test should use:
 * the least-privilege install, nothing more.
 */
export async function installAndMintControllerIdentities(fleet: Fleet): Promise<ControllerIdentities> {
  const applied = await applyBase(fleet.config, 'deploy/config');
  if (applied.code !== 0) throw new Error(`apply deploy/config: ${applied.stderr}`);
  const members = new Map<string, Identity>();
  for (const m of fleet.members) {
    const r = await applyBase(m, 'deploy/member');
    if (r.code !== 0) throw new Error(`apply deploy/member on ${m.name}: ${r.stderr}`);
    members.set(m.name, await mintControllerIdentity(fleet, m));
  }
  return { config: await mintControllerIdentity(fleet, fleet.config), members };
}

/**
 * Registers a member as deploy/README.md §5 does: its kubeconfig (for fleet-ilb's member identity)
 * in a Secret in fleet-ilb-system of the config cluster, and a FleetMember pointing at it.
 */
export async function registerMember(
  fleet: Fleet,
  member: ClusterHandle,
  memberIdentity: Identity,
  clusterID: string = member.name,
): Promise<{ secretName: string }> {
  const secretName = `member-${clusterID}`;
  const kubeconfig = await readFile(memberIdentity.kubeconfigPath, 'utf8');
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName, namespace: CONTROLLER_NAMESPACE },
    type: 'Opaque',
    stringData: { kubeconfig },
  };
  const fleetMember = {
    apiVersion: 'fleetilb.io/v1alpha1',
    kind: 'FleetMember',
    metadata: { name: clusterID },
    spec: { clusterID, kubeconfigSecretRef: { name: secretName, key: 'kubeconfig' } },
  };
  const docs = [secret, fleetMember].map((o) => JSON.stringify(o)).join('\n');
  await kubectlOk(fleet.config.kubeconfigPath, ['apply', '--server-side', '--field-manager=fleet-ilb-install', '-f', '-'], docs);
  return { secretName };
}

/** One access question (a SelfSubjectAccessReview's resourceAttributes). */
export interface AccessQuery {
  verb: string;
  /** `resource[.group]`, e.g. `services`, `leases.coordination.k8s.io`, `serviceimports.net.gke.io`. */
  resource: string;
  subresource?: string;
  /** A resourceName (for rules limited by resourceNames). */
  name?: string;
  /** Omitted: cluster-wide (all namespaces, or a cluster-scoped resource). */
  namespace?: string;
}

/**
 * Asks the real apiserver whether an identity may do something: a SelfSubjectAccessReview created
 * with kubectl as that identity (what `kubectl auth can-i` sends, but with the API group spelled out,
 * so it also works for groups whose CRDs are not installed, such as net.gke.io).
 */
export async function canI(identity: Identity, q: AccessQuery): Promise<boolean> {
  const dot = q.resource.indexOf('.');
  const resourceAttributes = {
    verb: q.verb,
    resource: dot < 0 ? q.resource : q.resource.slice(0, dot),
    group: dot < 0 ? '' : q.resource.slice(dot + 1),
    ...(q.subresource === undefined ? {} : { subresource: q.subresource }),
    ...(q.name === undefined ? {} : { name: q.name }),
    ...(q.namespace === undefined ? {} : { namespace: q.namespace }),
  };
  const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } };
  const r = await kubectlOk(identity.kubeconfigPath, ['create', '--validate=false', '-o', 'json', '-f', '-'], JSON.stringify(review));
  return (JSON.parse(r.stdout) as { status: { allowed: boolean } }).status.allowed;
}
