// SPDX-License-Identifier: Apache-2.0
//
// Every request to one cluster goes through one undici dispatcher (clusterDispatcher): client-node
// builds a new Agent per request, i.e. a new TLS connection each (deploy/README.md "Memory").
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterDispatcher } from './http.ts';

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function authenticated(kc: KubeConfig): Promise<RequestContext> {
  const ctx = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx;
}

describe('clusterDispatcher', () => {
  it('gives every request of one KubeConfig the same dispatcher, and another KubeConfig its own', async () => {
    const a = kubeConfig('https://127.0.0.1:6443');
    const b = kubeConfig('https://127.0.0.1:6444');
    const [a1, a2, b1] = [await authenticated(a), await authenticated(a), await authenticated(b)];
    // client-node itself builds a new one per request: that is what this avoids.
    expect(a1.getDispatcher()).toBeDefined();
    expect(a1.getDispatcher()).not.toBe(a2.getDispatcher());
    const d = clusterDispatcher(a, a1);
    expect(clusterDispatcher(a, a2)).toBe(d);
    expect(clusterDispatcher(b, b1)).not.toBe(d);
    // The headers still come from each request's own authentication.
    expect(a2.getHeaders()['Authorization']).toBe('Bearer t');
  });
});
