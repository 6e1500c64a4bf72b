// SPDX-License-Identifier: Apache-2.0
//
// RBAC in the local fleet is real: identities minted after start are authenticated by their client
// certificate, denied without a binding, allowed with one, and only by the cluster that issued them.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ApiException, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../harness/fleet.ts';

const execFileAsync = promisify(execFile);

async function status(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
    return { code: 200, message: '' };
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : (e.body as { message?: string } | undefined);
    return { code: e.code, message: body?.message ?? '' };
  }
}

describe('RBAC in the local fleet', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({ members: 1 });
    const core = fleet.config.kubeConfig().makeApiClient(CoreV1Api);
    for (const name of ['team-a', 'team-b']) await core.createNamespace({ body: { metadata: { name } } });
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('denies an identity without any binding (403), naming the user', async () => {
    const alice = await fleet.mintIdentity(fleet.config, 'alice');
    expect(alice).toMatchObject({ user: 'alice', groups: [] });
    const r = await status(alice.kubeConfig().makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'team-a' }));
    expect(r.code).toBe(403);
    expect(r.message).toContain('User "alice" cannot list resource "pods"');
  });

  it('allows an identity with a RoleBinding, only in that namespace', async () => {
    const bob = await fleet.mintIdentity(fleet.config, 'bob');
    const rbac = fleet.config.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: 'team-a',
      body: { metadata: { name: 'pod-reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'team-a',
      body: {
        metadata: { name: 'bob-reads-pods' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }],
      },
    });
    const core = bob.kubeConfig().makeApiClient(CoreV1Api);
    expect((await status(core.listNamespacedPod({ namespace: 'team-a' }))).code).toBe(200);
    expect((await status(core.listNamespacedPod({ namespace: 'team-b' }))).code).toBe(403);
    expect((await status(core.listNamespacedSecret({ namespace: 'team-a' }))).code).toBe(403);
    // The same through the real kubectl with the minted kubeconfig.
    const ok = await execFileAsync('kubectl', ['--kubeconfig', bob.kubeconfigPath, 'auth', 'can-i', 'list', 'pods', '-n', 'team-a']);
    expect(ok.stdout.trim()).toBe('yes');
    const denied = await execFileAsync('kubectl', ['--kubeconfig', bob.kubeconfigPath, 'get', 'pods', '-n', 'team-b']).then(
      () => '',
      (e: { stderr: string }) => e.stderr,
    );
    expect(denied).toContain('User "bob" cannot list resource "pods" in API group "" in the namespace "team-b"');
  });

  it('allows the members of a group bound by a ClusterRoleBinding, and nobody else', async () => {
    const rbac = fleet.config.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: { metadata: { name: 'fleetmember-reader' }, rules: [{ apiGroups: ['fleetilb.io'], resources: ['fleetmembers'], verbs: ['get', 'list'] }] },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'operators-read-fleetmembers' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'fleetmember-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'fleet-operators' }],
      },
    });
    const list = (id: { kubeConfig(): import('@kubernetes/client-node').KubeConfig }): Promise<{ code: number; message: string }> =>
      status(id.kubeConfig().makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: 'fleetilb.io', version: 'v1alpha1', plural: 'fleetmembers' }));
    const carol = await fleet.mintIdentity(fleet.config, 'carol', ['fleet-operators', 'other']);
    const dave = await fleet.mintIdentity(fleet.config, 'dave', ['other']);
    expect((await list(carol)).code).toBe(200);
    const d = await list(dave);
    expect(d.code).toBe(403);
    expect(d.message).toContain('User "dave" cannot list resource "fleetmembers" in API group "fleetilb.io"');
    // Read-only: the binding grants no create.
    const create = await status(
      carol.kubeConfig().makeApiClient(CustomObjectsApi).createClusterCustomObject({
        group: 'fleetilb.io', version: 'v1alpha1', plural: 'fleetmembers',
        body: { apiVersion: 'fleetilb.io/v1alpha1', kind: 'FleetMember', metadata: { name: 'x' }, spec: { clusterID: 'x', kubeconfigSecretRef: { name: 'x' } } },
      }),
    );
    expect(create.code).toBe(403);
  });

  it('authenticates an identity only on the cluster that minted it (401 elsewhere)', async () => {
    const member = fleet.members[0]!;
    const erin = await fleet.mintIdentity(member, 'erin', ['system:masters']);
    expect((await status(erin.kubeConfig().makeApiClient(CoreV1Api).listNamespace())).code).toBe(200);
    // Same user and groups, but presented to the config cluster: its client CA did not sign it.
    const kc = erin.kubeConfig();
    const cluster = kc.getCurrentCluster()!;
    kc.clusters = [{ ...cluster, server: fleet.config.server, caData: Buffer.from(configCa(fleet)).toString('base64'), caFile: undefined }];
    expect((await status(kc.makeApiClient(CoreV1Api).listNamespace())).code).toBe(401);
  });

  it('the admin identity is in system:masters', async () => {
    const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', fleet.config.kubeconfigPath, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}']);
    expect(stdout).toContain('admin');
    expect(stdout).toContain('system:masters');
  });
});

function configCa(fleet: Fleet): string {
  const kc = fleet.config.kubeConfig();
  return Buffer.from(kc.getCurrentCluster()!.caData!, 'base64').toString();
}
