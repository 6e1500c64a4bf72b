// SPDX-License-Identifier: Apache-2.0
//
// The HTTP front end: `/compute/v1/projects/{project}/…` routed from compute.proto's `google.api.http` options,
// `/batch/compute/v1`, and the admin endpoints under `/_emulator/`. Also the audit log and fault injection, which sit
// in front of every Compute call.

import http from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { boundaryOf, formatBatch, parseBatch, type InnerResponse } from './batch.ts';
import { Engine, type OpRecord } from './engine.ts';
import { ApiError } from './errors.ts';
import { Faults, httpFaultError, operationFaultError } from './faults.ts';
import { type Scope, scopePath } from './model.ts';
import { checkBody, normalizeOut, routesOf, type ProtoRoute } from './proto.ts';
import { type Call, type Handler, render } from './kinds/common.ts';
import { ADDRESS, addressHandlers } from './kinds/address.ts';
import { BACKEND_SERVICE, backendServiceHandlers } from './kinds/backendService.ts';
import { FIREWALL, firewallHandlers } from './kinds/firewall.ts';
import { FORWARDING_RULE, forwardingRuleHandlers } from './kinds/forwardingRule.ts';
import { HEALTH_CHECK, healthCheckHandlers } from './kinds/healthCheck.ts';
import { INSTANCE, NETWORK, SUBNETWORK, applySeed, infraHandlers } from './kinds/infra.ts';
import { NEG, negEndpoints, negHandlers } from './kinds/neg.ts';
import { operationHandlers, renderOp } from './kinds/operations.ts';
import type { AuditEntry, FaultState, Inventory, ProberRules, Seed } from './types.ts';

/** The Compute services whose REST routes the emulator serves (methods without a handler answer 501). */
const SERVICES = [
  'Addresses',
  'RegionHealthChecks',
  'HealthChecks',
  'RegionBackendServices',
  'BackendServices',
  'NetworkEndpointGroups',
  'ForwardingRules',
  'Firewalls',
  'Instances',
  'Networks',
  'Subnetworks',
  'Regions',
  'Zones',
  'ZoneOperations',
  'RegionOperations',
  'GlobalOperations',
] as const;

const HANDLERS: Record<string, Handler> = {
  ...addressHandlers,
  ...healthCheckHandlers,
  ...backendServiceHandlers,
  ...negHandlers,
  ...forwardingRuleHandlers,
  ...firewallHandlers,
  ...infraHandlers,
  ...operationHandlers,
};

/** Methods that are reads although they are POSTs. */
const READ_POSTS = new Set([
  'regionBackendServices.getHealth',
  'networkEndpointGroups.listNetworkEndpoints',
  'zoneOperations.wait',
  'regionOperations.wait',
  'globalOperations.wait',
]);

/** A compute request, from the wire or from inside a batch. */
interface ComputeRequest {
  method: string;
  target: string;
  headers: Record<string, string | undefined>;
  body: string;
  batch: boolean;
  signal: AbortSignal;
}

/** What to do with the connection after serving a request. */
interface ComputeResult {
  status: number;
  body: string;
  /** Do not answer: keep the socket open (`hang`) or destroy it (`reset`). */
  drop?: { mode: 'hang' | 'reset'; ms?: number };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The running emulator's server side. */
export class EmulatorServer {
  readonly engine: Engine;
  readonly faults: Faults;
  private readonly routes: ProtoRoute[];
  private auditLog: AuditEntry[] = [];
  private seq = 0;
  private readonly counts = new Map<string, { reads: number; writes: number }>();
  private readonly sockets = new Set<Socket>();
  private readonly hangTimers = new Set<NodeJS.Timeout>();
  private readonly server: http.Server;
  private proberRules: ProberRules = { default: 'HEALTHY' };
  /** Cap on retained audit entries (oldest dropped). */
  auditCap = 200_000;

  constructor(opts: { operationLatencyMs: number; waitTimeoutMs: number; randomSeed: number }) {
    this.engine = new Engine(opts);
    this.faults = new Faults(opts.randomSeed);
    this.routes = routesOf(SERVICES);
    this.server = http.createServer((req, res) => {
      this.onRequest(req, res).catch((e: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(JSON.stringify(new ApiError(500, 'backendError', `emulator bug: ${String(e)}`).toBody()));
        }
      });
    });
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Listens on 127.0.0.1:port (0 = random); resolves with the bound port. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const a = this.server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  /** Closes everything: listener, open and hanging connections, operation timers. */
  async close(): Promise<void> {
    this.engine.stop();
    for (const t of this.hangTimers) clearTimeout(t);
    this.hangTimers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // ---- audit ----

  /** The audit log (copies). */
  audit(): AuditEntry[] {
    return this.auditLog.map((e) => ({ ...e }));
  }

  /** Clears the audit log and the counters. */
  resetAudit(): void {
    this.auditLog = [];
    this.counts.clear();
  }

  /** Reads and writes per method. */
  counters(): Record<string, { reads: number; writes: number }> {
    return Object.fromEntries([...this.counts].map(([k, v]) => [k, { ...v }]));
  }

  private record(entry: Omit<AuditEntry, 'seq'>): void {
    this.auditLog.push({ seq: ++this.seq, ...entry });
    if (this.auditLog.length > this.auditCap) this.auditLog.splice(0, this.auditLog.length - this.auditCap);
    if (entry.access === 'admin' || entry.method === 'batch') return;
    let c = this.counts.get(entry.method);
    if (c === undefined) this.counts.set(entry.method, (c = { reads: 0, writes: 0 }));
    if (entry.access === 'read') c.reads++;
    else c.writes++;
  }

  // ---- prober ----

  /** Sets static prober rules (admin endpoint / CLI). */
  setProberRules(rules: ProberRules): void {
    this.proberRules = rules;
    this.engine.prober = (t) => {
      for (const r of rules.rules ?? []) {
        const { state, ...match } = r;
        if (Object.entries(match).every(([k, v]) => (t as unknown as Record<string, unknown>)[k] === v)) return state;
      }
      return rules.default ?? 'HEALTHY';
    };
  }

  /** The current static prober rules (undefined after a programmatic `setProber`). */
  proberSettings(): ProberRules {
    return this.proberRules;
  }

  // ---- inventory ----

  /** Every resource by kind, rendered as the API would. */
  inventory(): Inventory {
    const e = this.engine;
    const of = (def: typeof ADDRESS): Array<Record<string, unknown>> =>
      e.all(undefined, def.collection)
        .sort((a, b) => (a.path < b.path ? -1 : 1))
        .map((r) => render(e, def, r));
    return {
      addresses: of(ADDRESS),
      healthChecks: of(HEALTH_CHECK),
      backendServices: of(BACKEND_SERVICE),
      networkEndpointGroups: e
        .all(undefined, 'networkEndpointGroups')
        .sort((a, b) => (a.path < b.path ? -1 : 1))
        .map((r) => ({ ...render(e, NEG, r), endpoints: negEndpoints(r) })),
      forwardingRules: of(FORWARDING_RULE),
      firewalls: of(FIREWALL),
      instances: of(INSTANCE),
      networks: of(NETWORK),
      subnetworks: of(SUBNETWORK),
      operations: [...e.ops.values()].map(renderOp),
    };
  }

  /** Adds seeded infrastructure. */
  seed(s: Seed): void {
    applySeed(this.engine, s);
  }

  // ---- HTTP ----

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = req.url ?? '/';
    const path = target.split('?')[0]!;
    if (path.startsWith('/_emulator/')) return this.admin(req.method ?? 'GET', target, body, res);
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
    if (path.replace(/\/$/, '') === '/batch/compute/v1' && req.method === 'POST') {
      return this.batch(headers, body, res, ac.signal);
    }
    const result = await this.compute({ method: req.method ?? 'GET', target, headers, body, batch: false, signal: ac.signal });
    this.send(res, result);
  }

  private send(res: http.ServerResponse, r: ComputeResult): void {
    if (r.drop !== undefined) {
      const sock = res.socket;
      if (r.drop.mode === 'reset') {
        sock?.destroy();
        return;
      }
      if (r.drop.ms !== undefined) {
        const t = setTimeout(() => {
          this.hangTimers.delete(t);
          sock?.destroy();
        }, r.drop.ms);
        this.hangTimers.add(t);
      }
      return; // hang: never answer; close() destroys the socket.
    }
    res.writeHead(r.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(r.body) });
    res.end(r.body);
  }

  private async batch(
    headers: Record<string, string | undefined>,
    body: string,
    res: http.ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const t0 = Date.now();
    const boundary = boundaryOf(headers['content-type']);
    let parts;
    try {
      if (boundary === undefined) throw new Error('batch: multipart/mixed boundary missing');
      parts = parseBatch(body, boundary);
    } catch (e) {
      const err = new ApiError(400, 'badRequest', String((e as Error).message));
      this.send(res, { status: 400, body: JSON.stringify(err.toBody()) });
      return;
    }
    const responses: InnerResponse[] = [];
    let drop: ComputeResult['drop'];
    for (const p of parts) {
      const r = await this.compute({
        method: p.method,
        target: p.target,
        headers: { ...p.headers, 'user-agent': p.headers['user-agent'] ?? headers['user-agent'], 'x-emulator-caller': p.headers['x-emulator-caller'] ?? headers['x-emulator-caller'] },
        body: p.body,
        batch: true,
        signal,
      });
      drop ??= r.drop;
      responses.push({ contentId: p.contentId, status: r.status, statusText: STATUS_CODES[r.status] ?? '', body: r.body });
    }
    this.record({
      time: t0,
      method: 'batch',
      httpMethod: 'POST',
      path: '/batch/compute/v1',
      status: 200,
      latencyMs: Date.now() - t0,
      caller: headers['x-emulator-caller'] ?? headers['user-agent'] ?? '',
      access: 'read',
    });
    if (drop !== undefined) return this.send(res, { status: 0, body: '', drop });
    const b = `batch_${Math.random().toString(36).slice(2)}`;
    const out = formatBatch(responses, b);
    res.writeHead(200, { 'content-type': `multipart/mixed; boundary=${b}`, 'content-length': Buffer.byteLength(out) });
    res.end(out);
  }

  /** The target (`projects/p/…/name`) of operation `nameOrId`, if the emulator still has it. */
  private operationTarget(project: string, scope: Scope, nameOrId: string): string | undefined {
    try {
      return this.engine.findOp(project, scope, nameOrId).mutation.targetPath;
    } catch {
      return undefined;
    }
  }

  private findRoute(httpMethod: string, path: string): { route: ProtoRoute; values: string[] } | undefined {
    for (const route of this.routes) {
      if (route.httpMethod !== httpMethod) continue;
      const m = route.regex.exec(path);
      if (m !== null) return { route, values: m.slice(1).map((v) => decodeURIComponent(v)) };
    }
    return undefined;
  }

  /** Serves one Compute call (audited, fault-injected). */
  private async compute(r: ComputeRequest): Promise<ComputeResult> {
    const t0 = Date.now();
    const [rawPath, rawQuery = ''] = r.target.split('?', 2) as [string, string?];
    const path = rawPath;
    const query = new URLSearchParams(rawQuery);
    const found = this.findRoute(r.method, path);
    const method = found?.route.method ?? 'unknown';
    const caller = r.headers['x-emulator-caller'] ?? r.headers['user-agent'] ?? '';
    const requestId = query.get('requestId') ?? undefined;
    const access: AuditEntry['access'] =
      found === undefined ? 'read' : r.method === 'GET' || READ_POSTS.has(method) ? 'read' : 'write';
    const entry: Omit<AuditEntry, 'seq'> = {
      time: t0,
      method,
      httpMethod: r.method,
      path,
      ...(rawQuery === '' ? {} : { query: rawQuery }),
      status: 0,
      latencyMs: 0,
      caller,
      ...(r.headers['user-agent'] === undefined ? {} : { userAgent: r.headers['user-agent'] }),
      ...(r.headers['x-goog-api-client'] === undefined ? {} : { apiClient: r.headers['x-goog-api-client'] }),
      ...(requestId === undefined ? {} : { requestId }),
      ...(r.batch ? { batch: true } : {}),
      access,
    };
    const finish = (result: ComputeResult, extra: Partial<AuditEntry> = {}): ComputeResult => {
      this.record({ ...entry, ...extra, status: result.drop !== undefined ? 0 : result.status, latencyMs: Date.now() - t0 });
      return result;
    };
    const errorResult = (e: ApiError): ComputeResult => ({ status: e.status, body: JSON.stringify(e.toBody()) });

    if (found === undefined) {
      const e = new ApiError(404, 'notFound', `The requested URL ${path} was not found on this server.`);
      return finish(errorResult(e), { error: e.reason });
    }
    const { route, values } = found;
    const params = Object.fromEntries(route.params.map((p, i) => [p, values[i]!]));
    const project = params.project ?? '';
    const scope: Scope =
      params.zone !== undefined && !method.startsWith('zones.')
        ? { kind: 'zones', name: params.zone }
        : params.region !== undefined && !method.startsWith('regions.')
          ? { kind: 'regions', name: params.region }
          : { kind: 'global' };
    const resourceName = Object.entries(params).find(([k]) => !['project', 'region', 'zone'].includes(k))?.[1];
    const collection = /\/(global|regions\/[^/]+|zones\/[^/]+)\/([A-Za-z]+)\//.exec(route.template.replace(/\{[a-z_]+\}/g, 'x') + '/')?.[2];
    let resource =
      resourceName !== undefined && collection !== undefined ? `projects/${project}/${scopePath(scope)}/${collection}/${resourceName}` : undefined;
    if (resource === undefined && method.endsWith('.insert')) {
      // An insert names its target in the body.
      const name = bodyName(r.body);
      if (name !== undefined) resource = `projects/${project}/${scopePath(scope)}/${route.template.split('/').pop()!}/${name}`;
    }
    if (resource !== undefined) entry.resource = resource;

    // Faults.
    const callerHeader = r.headers['x-emulator-caller'];
    // An operation call is about the operation's target (a fault rule scoped to some resources
    // also hits the polls of their operations).
    const about = collection === 'operations' && resourceName !== undefined ? this.operationTarget(project, scope, resourceName) : resource;
    const fired = this.faults.fire({
      method,
      path,
      httpMethod: r.method,
      access,
      ...(callerHeader === undefined ? {} : { caller: callerHeader }),
      ...(about === undefined ? {} : { resource: about }),
    });
    if (fired.length > 0) entry.faults = fired.map((f) => f.id);
    const chaos = fired.flatMap((f) => (f.chaosKind === undefined ? [] : [f.chaosKind]));
    if (chaos.length > 0) entry.chaos = chaos;
    const delay = fired.reduce((ms, f) => (f.action.kind === 'latency' ? ms + f.action.ms : ms), 0);
    if (delay > 0) await sleep(delay, r.signal);
    const terminal: FaultState | undefined = fired.find((f) => f.action.kind !== 'latency');
    const target = resource ?? `projects/${project}`;
    if (terminal?.action.kind === 'http' && terminal.action.applied !== true) {
      const e = httpFaultError(terminal.action, target);
      return finish(errorResult(e), { error: e.reason });
    }
    if (terminal?.action.kind === 'timeout' && !terminal.action.applied) {
      return finish({ status: 0, body: '', drop: { mode: terminal.action.mode ?? 'hang', ...(terminal.action.ms === undefined ? {} : { ms: terminal.action.ms }) } });
    }
    const opFault = terminal?.action.kind === 'operationError' ? terminal.action : undefined;

    let result: ComputeResult;
    const extra: Partial<AuditEntry> = {};
    try {
      const handler = HANDLERS[method];
      if (handler === undefined) throw new ApiError(501, 'notImplemented', `emulator: ${method} is not emulated`);
      if (requestId !== undefined && !UUID_RE.test(requestId)) {
        throw ApiError.invalid('requestId', requestId, 'The request ID must be a valid UUID.');
      }
      if (requestId !== undefined && /^[0-]+$/.test(requestId)) {
        // compute.proto requestId: "The request ID must be a valid UUID with the exception that zero UUID is not
        // supported (00000000-0000-0000-0000-000000000000)."
        throw ApiError.invalid('requestId', requestId, 'The zero UUID is not supported.');
      }
      if (!method.startsWith('regions.') && !method.startsWith('zones.')) this.engine.checkScope(project, scope);
      else if (!this.engine.projects.has(project)) throw ApiError.notFound(`projects/${project}`);
      const body = parseJson(r.body);
      const checked = route.bodyType === undefined ? {} : checkBody(route.bodyType, body);
      const call: Call = {
        engine: this.engine,
        method,
        project,
        scope,
        params,
        query,
        body: checked,
        ...(requestId === undefined ? {} : { requestId }),
      };
      const replay = access === 'write' ? this.engine.replay(project, requestId) : undefined;
      let op: OpRecord | undefined;
      if (replay !== undefined) {
        // compute.proto requestId: a retried request with the same id is ignored and the original operation returned.
        op = replay;
      } else {
        const outcome = handler(call);
        if ('mutation' in outcome) {
          const forced = opFault === undefined ? undefined : operationFaultError(opFault, outcome.mutation.targetPath);
          op = this.engine.run(project, outcome.mutation, requestId, forced);
        }
        else if ('waitOp' in outcome) {
          // operations.wait: "returns when the operation is DONE or after the deadline (~2 minutes)" (compute.proto).
          await this.engine.waitFor(outcome.waitOp, this.engine.waitTimeoutMs, r.signal);
          op = outcome.waitOp;
        } else {
          result = { status: 200, body: JSON.stringify(normalizeOut(outcome.type, outcome.value)) };
        }
      }
      if (op !== undefined) {
        extra.operation = String(op.data.name);
        result = { status: 200, body: JSON.stringify(renderOp(op)) };
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      extra.error = e.reason;
      result = errorResult(e);
    }
    if (terminal?.action.kind === 'http') {
      // Served (an insert or delete applied), but the client hears an error: a 409 / 404 as if a
      // retry or another actor had got there first.
      const e = httpFaultError(terminal.action, target);
      return finish(errorResult(e), { ...extra, error: e.reason });
    }
    if (terminal?.action.kind === 'timeout') {
      // The call was served (the mutation is applied) but the client never hears back.
      return finish({ ...result!, drop: { mode: terminal.action.mode ?? 'hang', ...(terminal.action.ms === undefined ? {} : { ms: terminal.action.ms }) } }, extra);
    }
    return finish(result!, extra);
  }

  // ---- admin ----

  private admin(method: string, target: string, body: string, res: http.ServerResponse): void {
    const url = new URL(target, 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).slice(1);
    const reply = (status: number, value: unknown): void => {
      const text = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      const [what, arg] = parts;
      if (what === 'healthz') return reply(200, { ok: true });
      if (what === 'audit' && method === 'GET') {
        const since = Number(url.searchParams.get('since') ?? 0);
        return reply(200, { entries: this.auditLog.filter((e) => e.seq > since) });
      }
      if (what === 'audit' && method === 'DELETE') {
        this.resetAudit();
        return reply(200, {});
      }
      if (what === 'counters' && method === 'GET') return reply(200, this.counters());
      if (what === 'inventory' && method === 'GET') return reply(200, this.inventory());
      if (what === 'faults' && method === 'GET') return reply(200, { faults: this.faults.list() });
      if (what === 'faults' && method === 'POST') return reply(200, { id: this.faults.inject(JSON.parse(body)) });
      if (what === 'faults' && method === 'DELETE') {
        this.faults.clear(arg);
        return reply(200, {});
      }
      if (what === 'seed' && (method === 'POST' || method === 'PUT')) {
        this.seed(parseYaml(body) as Seed);
        return reply(200, {});
      }
      if (what === 'prober' && method === 'GET') return reply(200, this.proberSettings());
      if (what === 'prober' && (method === 'PUT' || method === 'POST')) {
        this.setProberRules(JSON.parse(body) as ProberRules);
        return reply(200, this.proberSettings());
      }
      if (what === 'config' && method === 'GET') {
        return reply(200, { operationLatencyMs: this.engine.latencyMs, waitTimeoutMs: this.engine.waitTimeoutMs });
      }
      if (what === 'config' && (method === 'PUT' || method === 'POST')) {
        const c = JSON.parse(body) as { operationLatencyMs?: number; waitTimeoutMs?: number };
        if (c.operationLatencyMs !== undefined) this.engine.latencyMs = c.operationLatencyMs;
        if (c.waitTimeoutMs !== undefined) this.engine.waitTimeoutMs = c.waitTimeoutMs;
        return reply(200, { operationLatencyMs: this.engine.latencyMs, waitTimeoutMs: this.engine.waitTimeoutMs });
      }
      return reply(404, { error: `unknown admin endpoint ${method} ${url.pathname}` });
    } catch (e) {
      return reply(400, { error: String((e as Error).message) });
    }
  }
}

/**
 * Lenient JSON: an empty body and the JSON string `""` (what the Node client POSTs for `wait` and body-less
 * `listNetworkEndpoints`, docs/compute-api.md "The Node client on the wire" [O]) mean "no body".
 */
function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    // The JSON front end's parse error (reason parseError, status INVALID_ARGUMENT).
    throw new ApiError(400, 'parseError', `Invalid JSON payload received. ${(e as Error).message}`, {
      extra: { status: 'INVALID_ARGUMENT' },
    });
  }
  return v === '' ? {} : v;
}

function bodyName(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as { name?: unknown };
    return typeof v.name === 'string' ? v.name : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
