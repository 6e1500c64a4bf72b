// SPDX-License-Identifier: Apache-2.0
//
// A fault proxy between the controller and one member's kube-apiserver (test/battery/README.md:
// partitions and bad answers are injected between the controller and a cluster). Plain HTTP on 127.0.0.1 (the
// member's kubeconfig Secret is pointed at it), forwarding to the real apiserver with the admin
// credentials. It can answer the next LIST of a collection with a successful EMPTY list (the real
// list's resourceVersion, no items: what a restored etcd, a proxy or an apiserver mid-restart can
// answer — battery D2), and end open watches with a 410 Gone event so the controller relists
// (battery E2). It can also go DOWN (every connection reset: an apiserver that is unreachable —
// battery D1), SILENCE open watches (half-open TCP: the connection stays open and nothing more
// arrives, no RST — battery E1), and FAIL open watches (an ERROR event or a reset connection —
// battery E3); it counts the watches open right now per path. A watch's response headers reach the
// controller with its first event (node's http server sends them with the first body write; the
// apiserver flushes them at once), as through an intermediary that buffers: the controller's watch
// requests often stay unanswered for a while, which is how E3 found stopped reflectors leaving
// theirs open. Only loopback: every connection starts and ends on 127.0.0.1.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';

/** Counters of what went through the proxy, per collection path regex given to {@link KubeFaultProxy.count}. */
export interface ProxyCounts {
  lists: number;
  emptyLists: number;
  watches: number;
}

/** One open watch through the proxy. */
interface Watch {
  path: string;
  res: http.ServerResponse;
  upstream: http.ClientRequest;
  up: http.IncomingMessage;
  /** Silenced: kept open, nothing forwarded ({@link KubeFaultProxy.silence}). */
  silent: boolean;
  /** When the apiserver answered (ms since epoch). */
  since: number;
}

/** The running proxy. */
export class KubeFaultProxy {
  readonly #kc: KubeConfig;
  readonly #server: http.Server;
  readonly #target: URL;
  #tls: https.RequestOptions = {};
  readonly #emptyNext = new Set<RegExp>();
  readonly #watches = new Set<Watch>();
  #down = false;
  readonly #log: Array<{ path: string; watch: boolean; empty: boolean }> = [];
  port = 0;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    const server = kc.getCurrentCluster()?.server;
    if (server === undefined) throw new Error('kubeconfig has no current cluster');
    this.#target = new URL(server);
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
  }

  async start(): Promise<void> {
    const opts: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(opts);
    this.#tls = opts;
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  /** A kubeconfig for the proxy (no credentials: the proxy holds them). */
  kubeconfig(): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses a plain-http server unless TLS verification is (vacuously) skipped.
      clusters: [{ name: 'proxy', cluster: { server: `http://127.0.0.1:${this.port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'proxy', user: {} }],
      contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'proxy' } }],
      'current-context': 'proxy',
    });
  }

  /** The next LIST whose path matches `re` is answered with zero items (real resourceVersion). */
  emptyNextList(re: RegExp): void {
    this.#emptyNext.add(re);
  }

  /** Ends every open watch whose path matches `re` with a 410 Gone ERROR event. */
  gone(re: RegExp): number {
    let n = 0;
    for (const w of [...this.#watches]) {
      if (!re.test(w.path)) continue;
      n++;
      this.#endWithError(w, 410, 'Expired', 'too old resource version: injected by the battery proxy');
    }
    return n;
  }

  /** From now on every request is answered by a reset connection, and every open watch is reset too. */
  down(): void {
    this.#down = true;
    for (const w of [...this.#watches]) this.#drop(w);
  }

  /** Requests are forwarded again. */
  up(): void {
    this.#down = false;
  }

  /**
   * Open watches whose path matches `re` go silent: nothing more from the apiserver reaches the
   * controller, and the connection stays open (no FIN, no RST) — what a dropped NAT/conntrack entry
   * or a dead peer looks like. New requests are forwarded as usual. Returns how many.
   */
  silence(re: RegExp): number {
    let n = 0;
    for (const w of this.#watches) {
      if (!re.test(w.path) || w.silent) continue;
      n++;
      w.silent = true;
      w.up.unpipe(w.res);
      w.up.resume(); // what the apiserver still sends is lost
    }
    return n;
  }

  /** Ends every open watch whose path matches `re` with an error: an ERROR event (HTTP 500 Status) or, with `reset`, a reset connection. */
  fail(re: RegExp, how: 'error-event' | 'reset'): number {
    let n = 0;
    for (const w of [...this.#watches]) {
      if (!re.test(w.path) || w.silent) continue;
      n++;
      if (how === 'reset') this.#drop(w);
      else this.#endWithError(w, 500, 'InternalError', 'internal error: injected by the battery proxy');
    }
    return n;
  }

  /** Every watch the proxy holds for paths matching `re`: path, age, the client's port and whether its side is still open (diagnostics). */
  describeWatches(re: RegExp): Array<{ path: string; ageMs: number; clientPort: number | undefined; clientOpen: boolean; upstreamOpen: boolean; silent: boolean }> {
    return [...this.#watches]
      .filter((w) => re.test(w.path))
      .map((w) => ({
        path: w.path,
        ageMs: Date.now() - w.since,
        clientPort: w.res.socket?.remotePort,
        clientOpen: !w.res.destroyed && w.res.socket?.destroyed === false,
        upstreamOpen: !w.up.destroyed && !w.up.complete,
        silent: w.silent,
      }));
  }

  /** Watches open right now (not silenced) per path, for paths matching `re`. */
  openWatches(re: RegExp): Map<string, number> {
    const out = new Map<string, number>();
    for (const w of this.#watches) if (re.test(w.path) && !w.silent) out.set(w.path, (out.get(w.path) ?? 0) + 1);
    return out;
  }

  #endWithError(w: Watch, code: number, reason: string, message: string): void {
    this.#watches.delete(w);
    w.up.unpipe(w.res);
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
    w.res.write(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
    w.res.end();
    w.upstream.destroy();
  }

  #drop(w: Watch): void {
    this.#watches.delete(w);
    w.upstream.destroy();
    w.res.socket?.destroy();
    w.res.destroy();
  }

  /** What went through for paths matching `re`. */
  count(re: RegExp): ProxyCounts {
    const m = this.#log.filter((l) => re.test(l.path));
    return { lists: m.filter((l) => !l.watch).length, emptyLists: m.filter((l) => l.empty).length, watches: m.filter((l) => l.watch).length };
  }

  async stop(): Promise<void> {
    for (const w of this.#watches) {
      w.upstream.destroy();
      w.res.destroy();
    }
    this.#watches.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.#down) {
      req.socket.destroy();
      return;
    }
    // The controller may give up on a request before the apiserver answered: a watch whose client
    // is already gone must not be counted as open.
    let clientGone = false;
    res.on('close', () => {
      clientGone = true;
    });
    const url = new URL(req.url ?? '/', 'http://x');
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const isList = req.method === 'GET' && !watch;
    const empty = isList && [...this.#emptyNext].some((re) => re.test(url.pathname));
    const body: Buffer[] = [];
    for await (const c of req) body.push(c as Buffer);
    const headers = { ...req.headers, ...(this.#tls.headers ?? {}) } as http.OutgoingHttpHeaders;
    delete headers['host'];
    if (empty) delete headers['accept-encoding'];
    const upstream = https.request({
      ...this.#tls,
      protocol: this.#target.protocol,
      hostname: this.#target.hostname,
      port: this.#target.port,
      method: req.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      headers,
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    upstream.on('response', (up) => {
      if (empty && up.statusCode === 200) {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          for (const re of this.#emptyNext) if (re.test(url.pathname)) this.#emptyNext.delete(re);
          const real = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items?: unknown[]; metadata?: { continue?: string } };
          real.items = [];
          if (real.metadata) delete real.metadata.continue;
          const text = JSON.stringify(real);
          this.#log.push({ path: url.pathname, watch: false, empty: true });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        });
        return;
      }
      this.#log.push({ path: url.pathname, watch, empty: false });
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (watch && clientGone) {
        upstream.destroy();
        return;
      }
      if (watch) {
        const w: Watch = { path: url.pathname, res, upstream, up, silent: false, since: Date.now() };
        this.#watches.add(w);
        const drop = (): void => {
          this.#watches.delete(w);
        };
        up.on('end', drop);
        res.on('close', () => {
          drop();
          upstream.destroy();
        });
      }
      up.pipe(res);
    });
    upstream.end(Buffer.concat(body));
  }
}
