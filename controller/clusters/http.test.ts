// SPDX-License-Identifier: Apache-2.0
//
// One keep-alive HTTP/1.1 pool per cluster (pooledConnections): client-node alone builds a new
// undici Agent, i.e. a new TLS connection, for every request, and undici 8 offers h2, which a Go
// apiserver picks (deploy/README.md "Memory"). The server here is node:http2 with HTTP/1.1 allowed,
// so it negotiates h2 like kube-apiserver whenever the client offers it.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpMethod, KubeConfig, RequestContext, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterPki } from '../../test/harness/pki.ts';
import { ClusterClient } from './client.ts';
import { REQUEST_CONNECTIONS, getJson, pooledConnections, watchConfig } from './http.ts';

interface Seen {
  connections: number;
  versions: string[];
}

describe('pooledConnections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetilb-http-test-'));
  let server: Http2SecureServer;
  let url = '';
  let ca = '';
  const seen: Seen = { connections: 0, versions: [] };
  /** Responses held open (a watch, or requests made to wait). */
  const held: Array<() => void> = [];
  let holdRequests = false;

  beforeAll(async () => {
    const pki = await createClusterPki(dir, 'http-test');
    ca = readFileSync(pki.servingCaCert, 'utf8');
    server = createSecureServer({ allowHTTP1: true, cert: readFileSync(pki.servingCert), key: readFileSync(pki.servingKey) }, (req, res) => {
      seen.versions.push(req.httpVersion);
      const send = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"kind":"Status"}');
      };
      if (req.url?.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}\n');
        held.push(() => res.end());
      } else if (holdRequests) held.push(send);
      else send();
    });
    server.on('secureConnection', () => seen.connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const h of held.splice(0)) h();
    server.close();
    await once(server, 'close');
    rmSync(dir, { recursive: true, force: true });
  });

  const reset = (): void => {
    seen.connections = 0;
    seen.versions = [];
  };
  const kubeconfig = (name: string): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: url, 'certificate-authority-data': Buffer.from(ca).toString('base64') } }],
      users: [{ name: 'u', user: { token: `token-${name}` } }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'ctx',
    });

  it("client-node alone: a new h2 connection per request (what the pool replaces)", async () => {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfig('plain'));
    reset();
    for (let i = 0; i < 3; i++) await getJson(kc, '/api/v1/nodes');
    expect(seen.connections).toBe(3);
    expect(seen.versions).toEqual(['2.0', '2.0', '2.0']);
  });

  it('a ClusterClient: the requests of the cluster on kept-alive HTTP/1.1 connections', async () => {
    const c = ClusterClient.fromString('pooled', kubeconfig('pooled'), { source: 'file' });
    reset();
    for (let i = 0; i < 10; i++) await c.getJson('/api/v1/nodes');
    expect(seen.versions).toEqual(Array<string>(10).fill('1.1'));
    // One back-to-back request may start before undici has put the previous one's connection back
    // in the pool, so it opens a second one; from then on the two are reused.
    expect(seen.connections).toBeLessThanOrEqual(2);
    // The credentials still come from each request's own authentication.
    const ctx = new RequestContext(`${url}/api`, HttpMethod.GET);
    await c.kubeConfig.applySecurityAuthentication(ctx);
    expect(ctx.getHeaders()['Authorization']).toBe('Bearer token-pooled');
  });

  it('at most REQUEST_CONNECTIONS connections for requests; a watch has its own, outside that bound', async () => {
    const c = ClusterClient.fromString('bounded', kubeconfig('bounded'), { source: 'file' });
    reset();
    const events: string[] = [];
    const ended = new Promise<unknown>((resolve) => {
      void new Watch(watchConfig(c.kubeConfig)).watch('/api/v1/nodes', {}, (type) => events.push(type), resolve);
    });
    await expect.poll(() => events, { timeout: 10_000 }).toEqual(['BOOKMARK']);
    expect(seen.connections).toBe(1);
    holdRequests = true;
    const n = REQUEST_CONNECTIONS + 8;
    const all = Promise.all(Array.from({ length: n }, () => c.getJson('/api/v1/services')));
    // Every connection of the pool busy, the rest queued in undici, none on the watch's connection.
    await expect.poll(() => held.length, { timeout: 20_000 }).toBe(1 + REQUEST_CONNECTIONS);
    expect(seen.connections).toBe(1 + REQUEST_CONNECTIONS);
    holdRequests = false;
    // The watch's response ends last: the requests never waited for it.
    const watchEnd = held.shift()!;
    for (const h of held.splice(0)) h();
    await all;
    expect(seen.versions).toHaveLength(1 + n);
    expect(seen.connections).toBe(1 + REQUEST_CONNECTIONS);
    watchEnd();
    await ended;
  });

  it('new TLS options (a rotated client certificate) get a new pool; a proxy keeps client-node’s dispatcher', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfig('rotate'));
    expect(pooledConnections(kc)).toBe(true);
    const dispatcherOf = async (k: KubeConfig): Promise<unknown> => {
      const ctx = new RequestContext(`${url}/api`, HttpMethod.GET);
      await k.applySecurityAuthentication(ctx);
      return ctx.getDispatcher();
    };
    const first = await dispatcherOf(kc);
    expect(await dispatcherOf(kc)).toBe(first);
    expect(await dispatcherOf(watchConfig(kc))).not.toBe(first);
    expect(await dispatcherOf(watchConfig(kc))).toBe(await dispatcherOf(watchConfig(kc)));
    // A CA bundle with one more newline: other bytes, another pool.
    (kc.getCurrentCluster() as { caData: string }).caData = Buffer.from(`${ca}\n`).toString('base64');
    expect(await dispatcherOf(kc)).not.toBe(first);

    const proxied = new KubeConfig();
    proxied.loadFromOptions({
      clusters: [{ name: 'c', server: url, caData: Buffer.from(ca).toString('base64'), proxyUrl: 'http://127.0.0.1:3128' }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    expect(pooledConnections(proxied)).toBe(true);
    const p = await dispatcherOf(proxied);
    expect(p).toBeDefined();
    expect(await dispatcherOf(proxied)).not.toBe(p);
  });
});
