// SPDX-License-Identifier: Apache-2.0
//
// Loopback proxies for the deposed-leader items (battery C1/C2, test/battery/README.md). Every
// connection starts and ends on 127.0.0.1.
// * GceCallerProxy: in front of the Compute API emulator for ONE controller replica. It names the
//   caller (`x-emulator-caller`, the emulator audit's `caller`) and can hold every write for a while
//   before forwarding it, so writes are in flight when the replica's write fence closes. A write the
//   replica aborts while held is never forwarded: the proxy logs when each request came, when it was
//   forwarded and when the client gave up on it.
// * TcpPartitionProxy: a plain TCP relay in front of an apiserver (TLS passes through untouched, the
//   kubeconfig keeps its CA and credentials, only the port changes). `partition()` stops forwarding
//   in both directions at once — bytes in flight are dropped, new connections are accepted and never
//   connected — like a network partition between the replica and the config cluster.
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** One request through a {@link GceCallerProxy}. */
export interface ProxiedCall {
  method: string;
  path: string;
  write: boolean;
  /** ms since the epoch: request received from the replica. */
  at: number;
  /** Forwarded to the emulator (after the hold). */
  forwardedAt?: number;
  /** The replica closed the request before it was answered. */
  abortedAt?: number;
  /** Answered to the replica. */
  doneAt?: number;
}

export class GceCallerProxy {
  readonly calls: ProxiedCall[] = [];
  readonly #server: Server;
  readonly #target: URL;
  readonly #caller: string;
  /** Writes are held this long before they are forwarded (0 = not held). */
  holdWritesMs = 0;
  url = '';

  constructor(target: string, caller: string) {
    this.#target = new URL(target);
    this.#caller = caller;
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    // listNetworkEndpoints and getHealth are reads sent as POST (Compute API reference).
    const read = method === 'GET' || method === 'HEAD' || /\/(listNetworkEndpoints|getHealth)(\?|$)/.test(req.url ?? '');
    const call: ProxiedCall = { method, path: req.url ?? '/', write: !read, at: Date.now() };
    this.calls.push(call);
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    // 'close' on the response before it finished = the client went away (aborted the call).
    res.on('finish', () => {
      call.doneAt ??= Date.now();
    });
    res.on('close', () => {
      if (call.doneAt === undefined) call.abortedAt ??= Date.now();
    });
    req.on('end', () => {
      const go = (): void => {
        if (call.abortedAt !== undefined) return; // aborted while held: never forwarded
        call.forwardedAt = Date.now();
        const up = httpRequest(
          { host: this.#target.hostname, port: this.#target.port, method, path: req.url, headers: { ...req.headers, 'x-emulator-caller': this.#caller } },
          (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        res.on('close', () => up.destroy());
        up.end(Buffer.concat(body));
      };
      if (call.write && this.holdWritesMs > 0) setTimeout(go, this.holdWritesMs);
      else go();
    });
  }
}

export class TcpPartitionProxy {
  readonly #server: TcpServer;
  readonly #pairs = new Set<{ client: Socket; upstream?: Socket }>();
  readonly #host: string;
  readonly #port: number;
  #partitioned = false;
  port = 0;

  constructor(target: URL) {
    this.#host = target.hostname;
    this.#port = Number(target.port || 443);
    this.#server = createTcpServer((client) => this.#accept(client));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** From now on nothing is forwarded, either way, on any connection. */
  partition(): void {
    this.#partitioned = true;
  }

  async stop(): Promise<void> {
    for (const p of this.#pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.#pairs.clear();
    await new Promise((r) => this.#server.close(r));
  }

  #accept(client: Socket): void {
    const pair: { client: Socket; upstream?: Socket } = { client };
    this.#pairs.add(pair);
    const end = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    };
    client.on('error', end);
    client.on('close', end);
    if (this.#partitioned) return; // accepted, never connected: a black hole
    const upstream = connect(this.#port, this.#host);
    pair.upstream = upstream;
    upstream.on('error', end);
    upstream.on('close', end);
    // Forward chunk by chunk, each direction checking the partition: nothing crosses once it holds.
    client.on('data', (d: Buffer) => {
      if (!this.#partitioned) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!this.#partitioned) client.write(d);
    });
  }
}
