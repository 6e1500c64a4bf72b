// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// VersionApi: any generated API class works with api(); this one is cheap to construct.
import { ApiException, KubeConfig, VersionApi as KubeConfigProbe } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterClient, checkUntrustedKubeconfig } from './client.ts';
import { InvalidKubeconfigError, KubeHttpError, classifyClusterError, isGone } from './errors.ts';

const kubeconfig = (opts: { server?: string; user?: Record<string, unknown>; cluster?: Record<string, unknown>; current?: string | null; extraContext?: boolean } = {}): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: opts.server ?? 'https://10.0.0.1:6443', 'certificate-authority-data': 'Q0E=', ...opts.cluster } }],
    users: [{ name: 'admin', user: opts.user ?? { token: 'secret-token' } }],
    contexts: [
      { name: 'ctx', context: { cluster: 'c', user: 'admin', namespace: 'ns1' } },
      ...(opts.extraContext ? [{ name: 'other', context: { cluster: 'c', user: 'admin' } }] : []),
    ],
    ...(opts.current === null ? {} : { 'current-context': opts.current ?? 'ctx' }),
  });

describe('ClusterClient', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetilb-client-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('isolates one context with a user name unique to the client (client-node #592)', () => {
    const a = ClusterClient.fromString('member-a', kubeconfig());
    const b = ClusterClient.fromString('member-b', kubeconfig({ server: 'https://10.0.0.2:6443' }));
    expect(a.kubeConfig.getCurrentUser()?.name).toBe('fleet-ilb/member-a/admin');
    expect(b.kubeConfig.getCurrentUser()?.name).toBe('fleet-ilb/member-b/admin');
    expect(a.kubeConfig.getCurrentUser()?.token).toBe('secret-token');
    expect(a.kubeConfig.getContexts()).toHaveLength(1);
    expect(a.kubeConfig.getContextObject(a.kubeConfig.getCurrentContext())?.namespace).toBe('ns1');
    expect(a.server).toBe('https://10.0.0.1:6443');
    expect(b.server).toBe('https://10.0.0.2:6443');
    expect(a.api(KubeConfigProbe)).toBe(a.api(KubeConfigProbe)); // API clients are cached per class
  });

  it('copies a KubeConfig: later changes to the source do not leak in', () => {
    const src = new KubeConfig();
    src.loadFromString(kubeconfig({ extraContext: true }));
    const c = ClusterClient.fromKubeConfig('config', src);
    src.setCurrentContext('other');
    src.clusters[0] = { ...src.clusters[0]!, server: 'https://evil:1' };
    expect(c.server).toBe('https://10.0.0.1:6443');
    expect(c.kubeConfig.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
  });

  it('picks the only context when current-context is unset; refuses ambiguity', () => {
    expect(ClusterClient.fromString('m', kubeconfig({ current: null })).server).toBe('https://10.0.0.1:6443');
    expect(() => ClusterClient.fromString('m', kubeconfig({ current: null, extraContext: true }))).toThrow(InvalidKubeconfigError);
    expect(ClusterClient.fromString('m', kubeconfig({ current: null, extraContext: true }), { context: 'other' }).server).toBe('https://10.0.0.1:6443');
  });

  it.each([
    ['not yaml at all: [', /not parsable/],
    ['42', /not a YAML mapping/],
    [kubeconfig({ server: 'ftp://x' }), /no http\(s\) server URL/],
    [kubeconfig({ current: 'missing' }), /no context/],
  ])('rejects an unusable kubeconfig %#', (text, msg) => {
    let err: unknown;
    try {
      ClusterClient.fromString('m', text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidKubeconfigError);
    expect((err as Error).message).toMatch(msg);
    expect(classifyClusterError(err).kind).toBe('InvalidKubeconfig');
  });

  it.each([
    ['exec plugin', { user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', args: ['-c', 'id'] } } }, 'exec'],
    ['token file (the controller SA token)', { user: { 'token-file': '/var/run/secrets/kubernetes.io/serviceaccount/token' } }, 'token-file'],
    ['auth provider', { user: { 'auth-provider': { name: 'gcp' } } }, 'auth-provider'],
    ['client key file', { user: { 'client-certificate': '/etc/passwd', 'client-key': '/etc/shadow' } }, 'client-certificate'],
    ['CA file', { cluster: { 'certificate-authority': '/etc/ssl/x.pem' } }, 'certificate-authority'],
    ['proxy', { cluster: { 'proxy-url': 'http://attacker:3128' } }, 'proxy-url'],
  ])('a Secret kubeconfig with %s is refused before it is parsed by client-node', (_what, opts, field) => {
    const text = kubeconfig(opts);
    expect(() => checkUntrustedKubeconfig(text)).toThrow(new RegExp(`"${field}"`));
    expect(() => ClusterClient.fromString('m', text)).toThrow(InvalidKubeconfigError);
  });

  it('a trusted kubeconfig file may use file paths, resolved against its directory', () => {
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, kubeconfig({ cluster: { 'certificate-authority-data': undefined, 'certificate-authority': 'ca.crt' } }));
    const c = ClusterClient.fromFile('config', path);
    expect(c.kubeConfig.getCurrentCluster()?.caFile).toBe(join(dir, 'ca.crt'));
    expect(c.source).toBe('file');
    expect(() => ClusterClient.fromFile('config', join(dir, 'missing'))).toThrow(/cannot read kubeconfig/);
  });

  it('inCluster outside a pod is an InvalidKubeconfig', () => {
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(() => ClusterClient.inCluster('config')).toThrow(InvalidKubeconfigError);
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
  });
});

describe('classifyClusterError', () => {
  const fetchFailed = (code: string): Error => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`x ${code}`), { code }) });
  it.each([
    ['ECONNREFUSED', fetchFailed('ECONNREFUSED'), 'Unreachable'],
    ['connect timeout', fetchFailed('UND_ERR_CONNECT_TIMEOUT'), 'Unreachable'],
    ['DNS', fetchFailed('ENOTFOUND'), 'Unreachable'],
    ['abort timeout', new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'Unreachable'],
    ['self-signed server', fetchFailed('DEPTH_ZERO_SELF_SIGNED_CERT'), 'AuthFailed'],
    ['wrong CA', fetchFailed('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'AuthFailed'],
    ['bad key material', fetchFailed('ERR_OSSL_PEM_NO_START_LINE'), 'InvalidKubeconfig'],
    ['401 ApiException', new ApiException(401, 'Unauthorized', '{"kind":"Status","reason":"Unauthorized","code":401}', {}), 'AuthFailed'],
    ['403 list', new KubeHttpError(403, { reason: 'Forbidden', message: 'nodes is forbidden' }, 'GET /api/v1/nodes'), 'Forbidden'],
    ['watch 503', Object.assign(new Error('Service Unavailable'), { statusCode: 503 }), 'Unreachable'],
    ['410', new KubeHttpError(410, { reason: 'Expired', code: 410 }, 'LIST'), 'Gone'],
    ['409', new ApiException(409, 'Conflict', '{}', {}), 'Other'],
    ['no cluster', new Error('No currently active cluster'), 'InvalidKubeconfig'],
    ['anything else', new Error('weird'), 'Other'],
  ])('%s → %s', (_name, err, kind) => {
    expect(classifyClusterError(err).kind).toBe(kind);
  });

  it('keeps the HTTP status, Status reason and message', () => {
    const c = classifyClusterError(new ApiException(403, 'x', '{"reason":"Forbidden","message":"leases is forbidden"}', {}));
    expect(c).toEqual({ kind: 'Forbidden', statusCode: 403, reason: 'Forbidden', message: 'HTTP 403: leases is forbidden' });
  });

  it('isGone spots HTTP 410 and Status code 410', () => {
    expect(isGone(new KubeHttpError(410, undefined, 'x'))).toBe(true);
    expect(isGone({ body: '{"code":410}' })).toBe(true);
    expect(isGone(new KubeHttpError(500, undefined, 'x'))).toBe(false);
  });
});
