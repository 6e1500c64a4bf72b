// SPDX-License-Identifier: Apache-2.0
//
// The install as a platform team runs it, against real kube-apiservers (test/harness): apply the
// kustomize bases with the real kubectl, check Pod Security `restricted` admits the controller Pod,
// check the bound identities can do what deploy/RBAC.md says and nothing it rules out, and mint a
// member kubeconfig with deploy/scripts/member-kubeconfig.sh (TokenRequest) that works.

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startFleet, type ClusterHandle, type Fleet, type Identity } from '../harness/fleet.ts';
import {
  CONTROLLER_USER,
  applyBase,
  canI,
  installAndMintControllerIdentities,
  registerMember,
  kubectl,
  kubectlOk,
  mintControllerIdentity,
  repoRoot,
  type AccessQuery,
} from './deploy-identity.ts';

const NS = 'fleet-ilb-system';

let fleet: Fleet;
let config: ClusterHandle;
let member: ClusterHandle;

beforeAll(async () => {
  fleet = await startFleet({ members: 1 });
  config = fleet.config;
  member = fleet.members[0]!;
});

afterAll(async () => {
  await fleet?.stop();
});

/** Lines kubectl printed as API warnings (Pod Security `warn`, deprecations, ...). */
function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^Warning:/i.test(l.trim()));
}

describe('kubectl apply -k', () => {
  it('installs deploy/config in the config cluster with no error and no warning, and re-applies cleanly as a server dry-run', async () => {
    const applied = await applyBase(config, 'deploy/config');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/deployment\.apps\/fleet-ilb-controller serverside-applied/);
    expect(applied.stdout).toMatch(/customresourcedefinition\.apiextensions\.k8s\.io\/fleetmembers\.fleetilb\.io serverside-applied/);
    const dry = await applyBase(config, 'deploy/config', { dryRun: true });
    expect(dry.code, dry.stderr).toBe(0);
    expect(warnings(dry.stderr)).toEqual([]);
    const got = await kubectlOk(config.kubeconfigPath, ['-n', NS, 'get', 'deployment/fleet-ilb-controller', '-o', 'jsonpath={.spec.replicas}']);
    expect(got.stdout).toBe('2');
  });

  it('installs deploy/member in a member cluster, admission policies included', async () => {
    const applied = await applyBase(member, 'deploy/member');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    for (const p of ['fleet-ilb-vip-guard', 'fleet-ilb-vip-neighbours', 'fleet-ilb-vip-registry', 'fleet-ilb-member-scope-services', 'fleet-ilb-member-scope-endpointslices']) {
      expect(applied.stdout).toContain(`validatingadmissionpolicy.admissionregistration.k8s.io/${p} serverside-applied`);
      expect(applied.stdout).toContain(`validatingadmissionpolicybinding.admissionregistration.k8s.io/${p} serverside-applied`);
    }
    const dry = await applyBase(member, 'deploy/member', { dryRun: true });
    expect(dry.code, dry.stderr).toBe(0);
  });
});

describe('Pod Security restricted', () => {
  interface PodSpec {
    containers: { securityContext: Record<string, unknown> }[];
  }
  interface Pod {
    apiVersion: string;
    kind: string;
    metadata: Record<string, unknown>;
    spec: PodSpec;
  }
  async function podFromDeployment(mutate?: (pod: Pod) => void): Promise<string> {
    const r = await kubectlOk(config.kubeconfigPath, ['-n', NS, 'get', 'deployment/fleet-ilb-controller', '-o', 'json']);
    const d = JSON.parse(r.stdout) as { spec: { template: { metadata: Record<string, unknown>; spec: PodSpec } } };
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'fleet-ilb-psa-check', namespace: NS, labels: d.spec.template.metadata['labels'] },
      spec: d.spec.template.spec,
    };
    mutate?.(pod);
    return JSON.stringify(pod);
  }

  it('labels the namespace enforce=restricted', async () => {
    const r = await kubectlOk(config.kubeconfigPath, ['get', 'namespace', NS, '-o', 'jsonpath={.metadata.labels}']);
    const labels = JSON.parse(r.stdout) as Record<string, string>;
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('admits the controller Pod (the Deployment template) with no warning', async () => {
    const r = await kubectl(config.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], await podFromDeployment());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pod\/fleet-ilb-psa-check created \(server dry run\)/);
  });

  it('rejects the same Pod once it may escalate privileges (the check is live)', async () => {
    const r = await kubectl(
      config.kubeconfigPath,
      ['create', '--dry-run=server', '-f', '-'],
      await podFromDeployment((pod) => {
        pod.spec.containers[0]!.securityContext['allowPrivilegeEscalation'] = true;
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });
});

describe('RBAC as the controller identity', () => {
  let cfgId: Identity;
  let memId: Identity;
  beforeAll(async () => {
    // Both bases applied above (describe blocks run in order).
    cfgId = await mintControllerIdentity(fleet, config);
    memId = await mintControllerIdentity(fleet, member);
  });

  const q = (verb: string, resource: string, more: Partial<AccessQuery> = {}): AccessQuery => ({ verb, resource, ...more });

  it('may do, in the config cluster, what deploy/RBAC.md lists', async () => {
    const allowed: AccessQuery[] = [
      q('watch', 'gateways.gateway.networking.k8s.io'),
      q('list', 'tcproutes.gateway.networking.k8s.io'),
      q('list', 'udproutes.gateway.networking.k8s.io'),
      q('list', 'referencegrants.gateway.networking.k8s.io'),
      q('patch', 'gateways.gateway.networking.k8s.io', { subresource: 'status', namespace: 'shop' }),
      q('patch', 'gatewayclasses.gateway.networking.k8s.io', { subresource: 'status' }),
      q('patch', 'tcproutes.gateway.networking.k8s.io', { subresource: 'status', namespace: 'shop' }),
      q('patch', 'gateways.gateway.networking.k8s.io', { namespace: 'shop' }),
      q('get', 'namespaces', { name: 'kube-system' }),
      q('watch', 'fleetmembers.fleetilb.io'),
      q('patch', 'fleetmembers.fleetilb.io', { subresource: 'status' }),
      q('list', 'ilbconfigs.fleetilb.io'),
      q('create', 'serviceimports.multicluster.x-k8s.io', { namespace: 'shop' }),
      q('delete', 'serviceimports.multicluster.x-k8s.io', { namespace: 'shop' }),
      q('watch', 'serviceimports.net.gke.io'),
      q('watch', 'customresourcedefinitions.apiextensions.k8s.io', { name: 'gateways.gateway.networking.k8s.io' }), // C11
      q('create', 'events.events.k8s.io', { namespace: 'shop' }),
      q('create', 'leases.coordination.k8s.io', { namespace: NS }),
      q('update', 'leases.coordination.k8s.io', { namespace: NS, name: 'fleet-ilb-controller' }),
      q('watch', 'secrets', { namespace: NS }),
    ];
    for (const a of allowed) expect(await canI(cfgId, a), JSON.stringify(a)).toBe(true);
  });

  it('may not, in the config cluster, read Secrets elsewhere, take other Leases, exec, or touch workloads', async () => {
    const denied: AccessQuery[] = [
      q('get', 'secrets', { namespace: 'default' }),
      q('list', 'secrets'),
      q('get', 'secrets', { namespace: 'kube-system' }),
      q('update', 'leases.coordination.k8s.io', { namespace: NS, name: 'someone-else' }),
      q('update', 'leases.coordination.k8s.io', { namespace: 'kube-system', name: 'fleet-ilb-controller' }),
      q('create', 'pods', { subresource: 'exec', namespace: 'kube-system' }),
      q('create', 'pods', { namespace: NS }),
      q('create', 'services', { namespace: 'shop' }),
      q('delete', 'gateways.gateway.networking.k8s.io', { namespace: 'shop' }),
      q('update', 'tcproutes.gateway.networking.k8s.io', { namespace: 'shop' }),
      q('create', 'serviceimports.net.gke.io', { namespace: 'shop' }),
      q('delete', 'fleetmembers.fleetilb.io'),
      q('update', 'namespaces', { name: 'kube-system' }),
      q('get', 'customresourcedefinitions.apiextensions.k8s.io', { name: 'tcproutes.gateway.networking.k8s.io' }), // C11: only the Gateway CRD
      q('list', 'customresourcedefinitions.apiextensions.k8s.io'),
      q('create', 'clusterrolebindings.rbac.authorization.k8s.io'),
      q('impersonate', 'users'),
      q('create', 'events', { namespace: 'shop' }), // core/v1 Events: fleet-ilb uses events.k8s.io/v1
      q('update', 'gateways.gateway.networking.k8s.io', { subresource: 'status', namespace: 'shop' }), // status is patched
      q('update', 'gateways.gateway.networking.k8s.io', { namespace: 'shop' }), // finalizer/annotations are patched (no PUT)
      q('update', 'serviceimports.multicluster.x-k8s.io', { namespace: 'shop' }),
    ];
    for (const d of denied) expect(await canI(cfgId, d), JSON.stringify(d)).toBe(false);
  });

  it('may do, in a member, what deploy/RBAC.md lists, and nothing it rules out', async () => {
    const allowed: AccessQuery[] = [
      q('watch', 'nodes'),
      q('create', 'services', { namespace: 'shop' }),
      q('delete', 'services', { namespace: 'shop' }),
      q('patch', 'services', { subresource: 'status', namespace: 'shop' }),
      q('create', 'endpointslices.discovery.k8s.io', { namespace: 'shop' }),
      q('watch', 'serviceexports.multicluster.x-k8s.io'),
      q('patch', 'serviceexports.multicluster.x-k8s.io', { subresource: 'status', namespace: 'shop' }),
      q('watch', 'serviceexports.net.gke.io'), // M7: GKE MCS exports are read
      q('get', 'configmaps', { namespace: NS, name: 'fleet-ilb-vips' }), // M8: the VIP registry
      q('patch', 'configmaps', { namespace: NS, name: 'fleet-ilb-vips' }),
    ];
    for (const a of allowed) expect(await canI(memId, a), JSON.stringify(a)).toBe(true);
    const denied: AccessQuery[] = [
      q('get', 'secrets', { namespace: NS }),
      q('list', 'secrets'),
      q('list', 'configmaps'),
      q('get', 'configmaps', { namespace: NS, name: 'other' }), // M8 is that one name only
      q('create', 'configmaps', { namespace: NS }), // the install creates the registry
      q('delete', 'configmaps', { namespace: NS, name: 'fleet-ilb-vips' }),
      q('create', 'pods', { subresource: 'exec', namespace: 'kube-system' }),
      q('list', 'pods'),
      q('delete', 'nodes'),
      q('patch', 'nodes'),
      q('create', 'serviceexports.multicluster.x-k8s.io', { namespace: 'shop' }),
      q('patch', 'serviceexports.net.gke.io', { subresource: 'status', namespace: 'shop' }),
      q('create', 'serviceexports.net.gke.io', { namespace: 'shop' }), // GKE's objects: read only
      q('update', 'services', { namespace: 'shop' }), // server-side apply is patch (+ create)
      q('update', 'endpointslices.discovery.k8s.io', { namespace: 'shop' }),
      q('list', 'namespaces'),
    ];
    for (const d of denied) expect(await canI(memId, d), JSON.stringify(d)).toBe(false);
  });
});

describe('deploy/scripts/member-kubeconfig.sh', () => {
  it('mints a TokenRequest kubeconfig that authenticates as fleet-ilb and carries the member RBAC', async () => {
    const script = join(repoRoot, 'deploy', 'scripts', 'member-kubeconfig.sh');
    const out = await promisify(execFile)('bash', [script, '--duration', '1h'], {
      env: { ...process.env, KUBECONFIG: member.kubeconfigPath },
      timeout: 60_000,
    });
    const kc = parseAllDocuments(out.stdout)[0]!.toJS() as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { user: { token: string } }[];
    };
    expect(kc.clusters[0]!.cluster.server).toBe(member.server);
    expect(kc.clusters[0]!.cluster['certificate-authority-data'].length).toBeGreaterThan(100);
    // A bound ServiceAccount token (JWT) with an expiry about 1h away.
    const payload = JSON.parse(Buffer.from(kc.users[0]!.user.token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
    expect(payload.exp - payload.iat).toBe(3600);

    const path = join(fleet.dir, 'member-fleet-ilb.kubeconfig');
    await writeFile(path, out.stdout, { mode: 0o600 });
    const who = await kubectlOk(path, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect(who.stdout).toBe(CONTROLLER_USER);
    const yes = await kubectl(path, ['auth', 'can-i', 'patch', 'services', '--subresource=status', '-n', 'shop']);
    expect(yes.stdout.trim()).toBe('yes');
    const no = await kubectl(path, ['auth', 'can-i', 'get', 'secrets', '-n', NS]);
    expect(no.stdout.trim()).toBe('no');
  });
});

describe('member registration (deploy/README.md §5) as the controller will use it', () => {
  it('lets the controller identity read the member kubeconfig Secret and reach the member as fleet-ilb', async () => {
    const ids = await installAndMintControllerIdentities(fleet);
    const { secretName } = await registerMember(fleet, member, ids.members.get(member.name)!, 'member-a');
    // As the controller in the config cluster: the FleetMember and its Secret (N3, C5).
    const fm = await kubectlOk(ids.config.kubeconfigPath, ['get', 'fleetmember', 'member-a', '-o', 'jsonpath={.spec.kubeconfigSecretRef.name}']);
    expect(fm.stdout).toBe(secretName);
    const sec = await kubectlOk(ids.config.kubeconfigPath, ['-n', NS, 'get', 'secret', secretName, '-o', 'jsonpath={.data.kubeconfig}']);
    const path = join(fleet.dir, 'from-secret.kubeconfig');
    await writeFile(path, Buffer.from(sec.stdout, 'base64'), { mode: 0o600 });
    // With that kubeconfig, in the member: fleet-ilb's user, the member RBAC and nothing more.
    const who = await kubectlOk(path, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect(who.stdout).toBe(CONTROLLER_USER);
    expect((await kubectl(path, ['get', 'nodes'])).code).toBe(0);
    const secrets = await kubectl(path, ['-n', NS, 'get', 'secrets']);
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toMatch(/forbidden/);
  });
});
