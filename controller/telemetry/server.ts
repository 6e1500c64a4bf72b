// SPDX-License-Identifier: Apache-2.0
//
// `/healthz`, `/readyz`, `/metrics` on one small node:http server (controller-runtime serves the
// same three from its manager). Output mimics the apiserver's health endpoints: 200 `ok`, or 500
// with one `[+]name ok` / `[-]name failed: detail` line per check (always listed with `?verbose`).
//
// * Liveness: by default nothing but "the event loop answers". Register the leader elector with
//   `registerElector` so a leader that can no longer renew fails liveness and gets restarted
//   (kubernetes-sigs/controller-runtime#3298: a leader stuck retrying the lock after a network cut).
// * Readiness: not ready until every registered reflector has synced (controller-runtime: nothing
//   reconciles before its caches have synced; `CacheSyncTimeout` 2 min). Member reflectors are
//   registered and unregistered as members come and go; an unreachable member that has synced once
//   keeps its store and stays "synced" (docs/failure-rules.md: frozen, not forgotten).
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage } from '../errors/index.ts';
import { type Log, silentLog } from './logger.ts';

/** A health check: true/false, or a result with a detail for the failure line. */
export type HealthCheck = () => boolean | { ok: boolean; detail?: string };

/** Options of {@link HealthServer}. */
export interface HealthServerOptions {
  /** 0 = a random free port. Defaults to 8080. */
  port?: number;
  /** Defaults to 0.0.0.0. */
  host?: string;
  /** Served at /metrics when given. */
  registry?: Registry;
  log?: Log;
}

interface Named {
  name: string;
  check: HealthCheck;
}

/** The probe and metrics endpoint. */
export class HealthServer {
  readonly #liveness = new Map<string, HealthCheck>();
  readonly #readiness = new Map<string, HealthCheck>();
  readonly #opts: HealthServerOptions;
  readonly #log: Log;
  #server: Server | undefined;

  constructor(opts: HealthServerOptions = {}) {
    this.#opts = opts;
    this.#log = (opts.log ?? silentLog).child({ component: 'health-server' });
  }

  /** Add (or replace) a liveness check; returns a function that removes it. */
  addLivenessCheck(name: string, check: HealthCheck): () => void {
    this.#liveness.set(name, check);
    return () => {
      if (this.#liveness.get(name) === check) this.#liveness.delete(name);
    };
  }

  /** Add (or replace) a readiness check; returns a function that removes it. */
  addReadinessCheck(name: string, check: HealthCheck): () => void {
    this.#readiness.set(name, check);
    return () => {
      if (this.#readiness.get(name) === check) this.#readiness.delete(name);
    };
  }

  /** Ready only once `r` has synced. Returns the unregister function. */
  registerReflector(r: { cluster: string; resource: string; hasSynced(): boolean }): () => void {
    return this.addReadinessCheck(`reflector:${r.cluster}/${r.resource}`, () => ({ ok: r.hasSynced(), detail: 'not synced' }));
  }

  /** Live only while the elector is healthy (see LeaderElector.healthy). */
  registerElector(e: { healthy(): boolean; state(): string }): () => void {
    return this.addLivenessCheck('leader-election', () => ({ ok: e.healthy(), detail: `lease not renewed (${e.state()})` }));
  }

  /** Evaluate the readiness checks now (also used by tests and the startup gate). */
  ready(): boolean {
    return run(this.#readiness).ok;
  }

  /** Evaluate the liveness checks now. */
  live(): boolean {
    return run(this.#liveness).ok;
  }

  /** Start listening; resolves the bound port. */
  listen(): Promise<number> {
    if (this.#server) return Promise.resolve((this.#server.address() as AddressInfo).port);
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.error({ err: errorMessage(err), url: req.url }, 'health server handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port ?? 8080, this.#opts.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        const port = (server.address() as AddressInfo).port;
        this.#log.info({ port }, 'serving /healthz /readyz /metrics');
        resolve(port);
      });
    });
  }

  /** Stop listening (open keep-alive connections are closed too). */
  close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
      res.end('method not allowed\n');
      return;
    }
    const verbose = url.searchParams.has('verbose');
    switch (url.pathname) {
      case '/healthz':
      case '/livez':
        return respond(res, run(this.#liveness), verbose);
      case '/readyz':
        return respond(res, run(this.#readiness), verbose);
      case '/metrics': {
        const reg = this.#opts.registry;
        if (!reg) break;
        const body = await reg.metrics();
        res.writeHead(200, { 'content-type': reg.contentType });
        res.end(body);
        return;
      }
      default:
        break;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
}

function run(checks: Map<string, HealthCheck>): { ok: boolean; lines: string[] } {
  let ok = true;
  const lines: string[] = [];
  const all: Named[] = [...checks].map(([name, check]) => ({ name, check }));
  all.sort((a, b) => a.name.localeCompare(b.name));
  for (const { name, check } of all) {
    let pass: boolean;
    let detail: string | undefined;
    try {
      const r = check();
      pass = typeof r === 'boolean' ? r : r.ok;
      detail = typeof r === 'boolean' ? undefined : r.detail;
    } catch (err) {
      pass = false;
      detail = errorMessage(err);
    }
    ok &&= pass;
    lines.push(pass ? `[+]${name} ok` : `[-]${name} failed${detail ? `: ${detail}` : ''}`);
  }
  return { ok, lines };
}

function respond(res: ServerResponse, r: { ok: boolean; lines: string[] }, verbose: boolean): void {
  res.writeHead(r.ok ? 200 : 500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  if (r.ok && !verbose) {
    res.end('ok\n');
    return;
  }
  res.end(`${r.lines.join('\n')}${r.lines.length ? '\n' : ''}${r.ok ? 'ok' : 'check failed'}\n`);
}
