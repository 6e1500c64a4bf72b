// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb demo` (`npm run demo`): the whole product on one machine. A local fleet of real
// kube-apiservers (config + members), the Compute API emulator seeded with the members' node VMs, the
// controller running against both, and the example (examples/store by default) applied. Once every
// Gateway is Programmed it prints what a user would look at: the Gateway's status, the routes'
// conditions, the VIP Services in the members and the Google Cloud resources the controller created
// (read back from the emulator); then how to look at them with kubectl and gcloud. It keeps running
// (try `kubectl apply` on the clusters) until Ctrl-C, and tears everything down.
//
//   fleet-ilb demo [--members N] [--dir D] [--example NAME] [--operation-latency-ms N]
//                  [--timeout-seconds N] [--exit-after-ready]
//
// stdout: the report, then, as its last line, one JSON object (kubeconfigs, emulator URL, controller
// health/metrics URLs, each Gateway's VIP). Progress and controller logs: stderr.

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Emulator } from '../emulator/index.ts';
import { FLEETILB_API, type FleetMemberObject } from '../fixtures/members.ts';
import { findCondition, GATEWAY_API, gatewayCondition, routeCondition, waitGatewayCondition, type GatewayObject, type RouteObject } from '../fixtures/conditions.ts';
import { ofKind } from '../fixtures/example.ts';
import type { KObject } from '../fixtures/kube.ts';
import { startScenario, type Scenario } from '../fixtures/scenario.ts';
import { startDataPath, type DataPath } from '../datapath/harness.ts';
import { dataPathUnavailable } from '../datapath/netns.ts';
import { BACKENDS_SERVING } from '../../controller/translate/serving.ts';

const USAGE = `usage: fleet-ilb demo [flags]

  --members N                 member clusters (default 2; members the example lacks get a generated copy)
  --dir D                     fleet directory (default: a new temp dir, removed at exit)
  --example NAME|DIR          example under examples/ (default store)
  --operation-latency-ms N    emulator: time each GCE operation takes (default 0)
  --timeout-seconds N         give up when the Gateways are not Programmed by then (default 300)
  --exit-after-ready          tear down and exit 0 once every Gateway is Programmed (CI smoke test; no traffic)
  --no-traffic                do not start the data path (as root, the demo otherwise sends traffic
                              through the VIP from a client network namespace: docs/datapath.md)
  --log-level LEVEL           controller log level on stderr (default warn)
  --member-identity ID        least-privilege: install deploy/member in each member (kubectl apply -k) and
                              register the identity it grants; admin: the cluster admin's kubeconfig.
                              Default: least-privilege when kubectl is on PATH, else admin
`;

/** What the last stdout line holds. */
export interface DemoInfo {
  dir: string;
  kubeconfigs: Record<string, string>;
  emulator: string;
  controller: { health: string; metrics: string };
  gateways: Array<{ namespace: string; name: string; vip: string | undefined; programmed: boolean }>;
}

/** Entry point of `fleet-ilb demo`. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        members: { type: 'string' },
        dir: { type: 'string' },
        example: { type: 'string' },
        'operation-latency-ms': { type: 'string' },
        'timeout-seconds': { type: 'string' },
        'exit-after-ready': { type: 'boolean' },
        'no-traffic': { type: 'boolean' },
        'log-level': { type: 'string' },
        'member-identity': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const int = (v: string | undefined, def: number, min: number, max: number, flag: string): number => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${flag} must be an integer between ${min} and ${max}`);
    return n;
  };
  let members: number | undefined, latency: number, timeoutS: number;
  try {
    members = values.members === undefined ? undefined : int(values.members, 2, 1, 25, 'members');
    latency = int(values['operation-latency-ms'], 0, 0, 600_000, 'operation-latency-ms');
    timeoutS = int(values['timeout-seconds'], 300, 1, 86_400, 'timeout-seconds');
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const logLevel = values['log-level'] ?? 'warn';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'silent'].includes(logLevel)) {
    process.stderr.write(`--log-level must be trace, debug, info, warn, error or silent\n\n${USAGE}`);
    return 2;
  }

  const identityFlag = values['member-identity'];
  if (identityFlag !== undefined && identityFlag !== 'admin' && identityFlag !== 'least-privilege') {
    process.stderr.write(`--member-identity must be admin or least-privilege\n\n${USAGE}`);
    return 2;
  }
  const memberIdentity = identityFlag ?? (onPath('kubectl') ? 'least-privilege' : 'admin');

  const t0 = performance.now();
  const progress = (m: string): void => {
    process.stderr.write(`[demo ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${m}\n`);
  };

  // Ctrl-C at any time: stop what runs, in order. The fleet harness also stops its fleets on the
  // signal; both stops are idempotent.
  let interrupted = false;
  let wake: () => void = () => {};
  const interruptedP = new Promise<void>((r) => (wake = r));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    progress(`${sig}: shutting down`);
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let scenario: Scenario | undefined;
  let dataPath: DataPath | undefined;
  let code = 0;
  try {
    progress('starting (the first run builds the test control plane from Go sources: several minutes, once)');
    progress(
      memberIdentity === 'least-privilege'
        ? 'member kubeconfigs: the identity deploy/member grants (RBAC + admission policies, installed with kubectl)'
        : 'member kubeconfigs: cluster admin (--member-identity least-privilege needs kubectl)',
    );
    const starting = startScenario({
      ...(members === undefined ? {} : { members }),
      ...(values.dir === undefined ? {} : { dir: values.dir }),
      ...(values.example === undefined ? {} : { example: values.example }),
      operationLatencyMs: latency,
      memberIdentity,
      controller: { logLevel: logLevel as 'warn', healthPeriodMs: 10_000 },
      log: progress,
    });
    const first = await Promise.race([starting, interruptedP.then(() => undefined)]);
    if (first === undefined) {
      // Interrupted while starting: startScenario cleans up after itself only on failure, so wait for
      // it and stop what it started.
      scenario = await starting.catch(() => undefined);
      return 130;
    }
    scenario = first;
    const s = scenario;
    const gateways = ofKind(s.objects['config'] ?? [], 'Gateway');
    if (gateways.length === 0) throw new Error('the example has no Gateway in config/');
    progress(`waiting for ${gateways.map((g) => `Gateway ${g.metadata.namespace ?? 'default'}/${g.metadata.name}`).join(', ')} to be Programmed`);
    const ready = await Promise.race([
      // Programmed alone can be True before the route attaches (an empty backend service is a
      // programmed load balancer); the report is about serving, so wait for the Gateway's
      // fleetilb.io/BackendsServing too: it is written with Programmed after the apply that made
      // the VIP Services and NEGs.
      Promise.all(
        gateways.map(async (g) => {
          const ns = g.metadata.namespace ?? 'default';
          await waitGatewayCondition(s.kube('config'), ns, g.metadata.name, 'Programmed', timeoutS * 1000);
          return waitGatewayCondition(s.kube('config'), ns, g.metadata.name, BACKENDS_SERVING, timeoutS * 1000);
        }),
      ),
      interruptedP.then(() => undefined),
    ]);
    if (ready === undefined) return 130;
    progress(`every Gateway is Programmed (${((performance.now() - t0) / 1000).toFixed(1)} s after start)`);

    const out = await report(s, ready);
    process.stdout.write(out.text);
    process.stdout.write(`${JSON.stringify(out.info)}\n`);
    if (values['exit-after-ready'] === true) return 0;

    if (values['no-traffic'] !== true) {
      dataPath = await showTraffic(s, ready, progress).catch((e: unknown) => {
        progress(`data path failed (the rest keeps running): ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      });
    }

    progress('running; Ctrl-C stops and removes everything');
    // Nodes the user adds get a VM in the emulator (on GCE the VM exists before its Node).
    const sync = setInterval(() => {
      s.syncInstances().then(
        (n) => {
          if (n > 0) progress(`seeded ${n} VM(s) in the emulator for new Nodes`);
        },
        (e: unknown) => progress(`VM sync: ${e instanceof Error ? e.message : String(e)}`),
      );
    }, 2_000);
    await interruptedP;
    clearInterval(sync);
    return 0;
  } catch (e) {
    progress(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    code = 1;
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (dataPath !== undefined) {
      progress('stopping the data path (namespaces, kube-proxy, pods)');
      const left = await dataPath.stop();
      if (left.leftoverNamespaces.length > 0) progress(`left behind: ${left.leftoverNamespaces.join(' ')}`);
    }
    if (scenario !== undefined) {
      progress('stopping the controller, the emulator and the fleet');
      await scenario.stop();
    }
    progress('stopped');
    // The fleet harness may still hold timers of its stop path; they must not delay the exit.
    setTimeout(() => process.exit(process.exitCode ?? code), 1_000).unref();
  }
}

/**
 * The data path (docs/datapath.md): every member Node a network namespace with a real kube-proxy,
 * every pod a namespace with an echo server, a vpc namespace playing Google Cloud's load balancer from
 * the emulator's state. Ten connections (or datagrams) per listener from a client namespace show
 * which pod of which member answered and the client address it saw. Skipped, saying why, when the
 * machine cannot create network namespaces (not root, not Linux, tools missing).
 */
async function showTraffic(s: Scenario, gateways: GatewayObject[], progress: (m: string) => void): Promise<DataPath | undefined> {
  const why = dataPathUnavailable();
  if (why !== undefined) {
    progress(`no traffic shown: ${why}`);
    return undefined;
  }
  progress('starting the data path: node and pod network namespaces, kube-proxy per node, the simulated VPC');
  const dp = await startDataPath(s, { log: progress, ...healthPorts(s) });
  const lines: string[] = ['', 'Traffic through the VIP from a client VM (network namespace, IP ' + dp.client.ip + '):'];
  for (const gw of gateways) {
    const vip = gw.status?.addresses?.[0]?.value;
    if (vip === undefined) continue;
    await dp.waitProgrammed(vip);
    // Health checks take healthyThreshold x checkIntervalSec; until then GCE spreads over all backends.
    await new Promise<void>((resolve) => {
      const end = performance.now() + 30_000;
      const check = (): void => {
        const h = [...dp.health().values()];
        if ((h.length > 0 && h.every((x) => x === 'HEALTHY')) || performance.now() > end) resolve();
        else setTimeout(check, 250);
      };
      check();
    });
    for (const l of (gw.spec as { listeners?: Array<{ name: string; protocol: string; port: number }> }).listeners ?? []) {
      const as = l.protocol === 'UDP' ? await dp.sendUdp(vip, l.port, { count: 10, timeoutMs: 1000 }) : await dp.connectTcp(vip, l.port, { count: 10, timeoutMs: 1000 });
      lines.push(`  Gateway ${gw.metadata.namespace ?? 'default'}/${gw.metadata.name} listener ${l.name} (${l.protocol} ${vip}:${l.port}): ${as.filter((a) => a.ok).length}/${as.length} answered`);
      for (const a of as) {
        const pod = dp.pods().find((p) => p.name === a.pod);
        lines.push(a.ok ? `    ${a.pod ?? '?'} in ${pod?.member ?? '?'} on ${pod?.node ?? '?'} saw client ${a.peer ?? '?'}` : `    no answer: ${a.err ?? ''}`);
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return dp;
}

/** True when `cmd` is an executable file in a PATH directory. */
function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The human report and the machine-readable line. */
async function report(s: Scenario, gateways: GatewayObject[]): Promise<{ text: string; info: DemoInfo }> {
  const lines: string[] = [];
  const say = (l = ''): void => {
    lines.push(l);
  };
  const config = s.kube('config');
  const routeKinds = ['TCPRoute', 'UDPRoute'];
  const routes: RouteObject[] = [];
  for (const kind of routeKinds) {
    const declared = ofKind(s.objects['config'] ?? [], kind);
    for (const r of declared) {
      const live = await config.get<RouteObject>(GATEWAY_API, kind, r.metadata.name, r.metadata.namespace);
      if (live !== undefined) routes.push(live);
    }
  }

  say('');
  say('==================================================================================');
  say(' fleet-ilb demo: one internal passthrough load balancer for the fleet');
  say('==================================================================================');
  for (const gw of gateways) {
    const key = `${gw.metadata.namespace}/${gw.metadata.name}`;
    say('');
    say(`Gateway ${key} (class ${gw.spec.gatewayClassName}), config cluster`);
    say(`  addresses: ${(gw.status?.addresses ?? []).map((a) => `${a.value} (${a.type ?? 'IPAddress'})`).join(', ') || '(none)'}`);
    for (const c of gw.status?.conditions ?? []) say(`  condition ${c.type}=${c.status} reason=${c.reason}${c.message ? `: ${c.message}` : ''}`);
    for (const l of gw.status?.listeners ?? []) {
      const spec = gw.spec.listeners.find((x) => x.name === l.name);
      const conds = (l.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(' ');
      say(`  listener ${l.name} ${spec?.protocol ?? ''}/${spec?.port ?? ''}: attachedRoutes=${l.attachedRoutes} ${conds}`);
    }
    for (const r of routes) {
      const acc = routeCondition(r, key, 'Accepted');
      const res = routeCondition(r, key, 'ResolvedRefs');
      if (acc === undefined && res === undefined) continue;
      say(`  route ${r.kind} ${r.metadata.namespace}/${r.metadata.name}: Accepted=${acc?.status ?? '?'} (${acc?.reason ?? ''}) ResolvedRefs=${res?.status ?? '?'} (${res?.reason ?? ''})`);
    }
    if (gatewayCondition(gw, 'Programmed')?.status !== 'True') say('  NOT programmed');
  }

  say('');
  say('FleetMembers (config cluster)');
  for (const fm of await config.list<FleetMemberObject>(FLEETILB_API, 'FleetMember')) {
    const ready = findCondition(fm.status?.conditions, 'Ready');
    say(
      `  ${fm.metadata.name}: Ready=${ready?.status ?? '?'} (${ready?.reason ?? ''}) nodes=${fm.status?.nodeCount ?? '?'} zones=${(fm.status?.zones ?? []).join(',')} exports=${fm.status?.exportCount ?? '?'}`,
    );
  }

  // Member side: the VIP Services fleet-ilb created next to each exported Service.
  say('');
  say('VIP Services in the members (what Cilium / kube-proxy program: VIP -> local pods)');
  for (const m of s.fleet.members) {
    const svcs = (await s.kube(m.name).list<KObject & { spec?: Record<string, unknown>; status?: { loadBalancer?: { ingress?: Array<{ ip?: string; ipMode?: string }> } } }>('v1', 'Service')).filter(
      (x) => x.spec?.['loadBalancerClass'] === 'fleetilb.io/vip',
    );
    if (svcs.length === 0) say(`  ${m.name}: (none)`);
    for (const v of svcs) {
      const ports = ((v.spec?.['ports'] ?? []) as Array<{ port: number; protocol?: string; targetPort?: unknown }>).map((p) => `${p.protocol ?? 'TCP'}/${p.port}->${String(p.targetPort)}`).join(',');
      const ingress = (v.status?.loadBalancer?.ingress ?? []).map((i) => `${i.ip ?? '?'}${i.ipMode ? ` (ipMode ${i.ipMode})` : ''}`).join(', ') || '(no ingress yet)';
      say(`  ${m.name}: ${v.metadata.namespace}/${v.metadata.name} ${ports} externalTrafficPolicy=${String(v.spec?.['externalTrafficPolicy'])} ingress=${ingress}`);
    }
  }

  say('');
  say(`Google Cloud resources (Compute API emulator, project ${s.gcp.project}, region ${s.gcp.region})`);
  for (const l of gceReport(s.emulator)) say(`  ${l}`);

  const kubeconfigs: Record<string, string> = { config: s.fleet.config.kubeconfigPath };
  for (const m of s.fleet.members) kubeconfigs[m.name] = m.kubeconfigPath;
  const health = s.controller?.healthUrl ?? '';
  const gcloudEnv = `CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=${s.emulator.url}/compute/v1/ CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true CLOUDSDK_CORE_PROJECT=${s.gcp.project}`;
  const first = gateways[0]!;
  const m0 = s.fleet.members[0];
  say('');
  say('Try it (while this runs):');
  say(`  kubectl --kubeconfig ${kubeconfigs['config']} get gateway,tcproute,serviceimport -A`);
  say(`  kubectl --kubeconfig ${kubeconfigs['config']} -n ${first.metadata.namespace} get gateway ${first.metadata.name} -o yaml`);
  say(`  kubectl --kubeconfig ${kubeconfigs['config']} get fleetmembers`);
  if (m0 !== undefined) {
    say(`  kubectl --kubeconfig ${m0.kubeconfigPath} get nodes,services,endpointslices,serviceexports -A`);
    say(`  # move a pod: edit the EndpointSlice (nodeName), watch the NEG endpoints follow`);
    say(`  kubectl --kubeconfig ${m0.kubeconfigPath} -n store edit endpointslice`);
  }
  say(`  export ${gcloudEnv}`);
  say(`  gcloud compute forwarding-rules list`);
  say(`  gcloud compute network-endpoint-groups list`);
  for (const bs of s.emulator.inventory().backendServices) say(`  gcloud compute backend-services get-health ${String(bs['name'])} --region ${s.gcp.region}`);
  say(`  curl -s ${health}/metrics | grep ^fleetilb_`);
  say(`  (new Nodes get a VM in the emulator within 2 s; Ctrl-C stops everything)`);
  say('');

  const info: DemoInfo = {
    dir: s.fleet.dir,
    kubeconfigs,
    emulator: s.emulator.url,
    controller: { health: `${health}/healthz`, metrics: `${health}/metrics` },
    gateways: gateways.map((g) => ({
      namespace: g.metadata.namespace ?? 'default',
      name: g.metadata.name,
      vip: g.status?.addresses?.[0]?.value,
      programmed: gatewayCondition(g, 'Programmed')?.status === 'True',
    })),
  };
  return { text: `${lines.join('\n')}\n`, info };
}

/** The emulator's inventory, as a user would list it with gcloud. */
export function gceReport(emulator: Emulator): string[] {
  const inv = emulator.inventory();
  const last = (u: unknown): string => (typeof u === 'string' ? (u.split('/').pop() ?? u) : '');
  const zoneOf = (u: unknown): string => (typeof u === 'string' ? (/\/zones\/([^/]+)\//.exec(u)?.[1] ?? '') : '');
  const out: string[] = [];
  const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));
  for (const a of inv.addresses) out.push(`address          ${str(a['name'])}: ${str(a['address'])} ${str(a['addressType'])} purpose=${str(a['purpose'])} subnetwork=${last(a['subnetwork'])}`);
  for (const h of inv.healthChecks) {
    const type = str(h['type']);
    const spec = (h[`${type.toLowerCase()}HealthCheck`] ?? {}) as Record<string, unknown>;
    out.push(`health check     ${str(h['name'])}: ${type} port=${str(spec['port'] ?? spec['portSpecification'])}${spec['requestPath'] !== undefined ? ` path=${str(spec['requestPath'])}` : ''} every ${str(h['checkIntervalSec'])}s`);
  }
  for (const b of inv.backendServices) {
    out.push(`backend service  ${str(b['name'])}: ${str(b['loadBalancingScheme'])} ${str(b['protocol'])} health check ${((b['healthChecks'] ?? []) as unknown[]).map(last).join(',')}`);
    for (const be of (b['backends'] ?? []) as Array<Record<string, unknown>>) out.push(`                   backend NEG ${zoneOf(be['group'])}/${last(be['group'])} (${str(be['balancingMode'])})`);
  }
  for (const f of inv.forwardingRules) {
    out.push(`forwarding rule  ${str(f['name'])}: ${str(f['IPAddress'])} ${str(f['IPProtocol'])} ports=${((f['ports'] ?? []) as unknown[]).map(str).join(',')} -> ${last(f['backendService'])}`);
  }
  for (const n of [...inv.networkEndpointGroups].sort((x, y) => `${zoneOf(x['selfLink'])}/${str(x['name'])}`.localeCompare(`${zoneOf(y['selfLink'])}/${str(y['name'])}`))) {
    const eps = n.endpoints.map((e) => `${last(e.instance)} ${e.ipAddress}`).join(', ') || '(no endpoints)';
    out.push(`NEG              ${zoneOf(n['selfLink'])}/${str(n['name'])}: ${str(n['networkEndpointType'])} [${eps}]`);
  }
  for (const f of inv.firewalls) {
    const allowed = ((f['allowed'] ?? []) as Array<{ IPProtocol?: string; ports?: string[] }>).map((a) => `${a.IPProtocol ?? ''}:${(a.ports ?? []).join(',')}`).join(' ');
    const src = ((f['sourceRanges'] ?? []) as string[]).join(',');
    const dst = ((f['destinationRanges'] ?? []) as string[]).join(',');
    const tags = ((f['targetTags'] ?? []) as string[]).join(',');
    out.push(`firewall         ${str(f['name'])}: allow ${allowed} from ${src} to ${dst || 'any'} on tags ${tags || '(all)'}`);
  }
  if (out.length === 0) out.push('(none)');
  return out;
}

/**
 * The pod ports UDP health checks go through (docs/datapath.md "Health checks of UDP listeners"):
 * the member Services' `fleetilb.io/health-check-port` names a container port of the example's
 * Deployments; the data-path pods must serve it (HTTP answers any TCP probe) under that name.
 */
function healthPorts(s: Scenario): { podHttpPorts?: number[]; podPortNames?: Record<string, number> } {
  const members = Object.entries(s.objects).filter(([cluster]) => cluster !== 'config').flatMap(([, objs]) => objs);
  const wanted = new Set(
    ofKind(members, 'Service')
      .map((svc) => svc.metadata.annotations?.['fleetilb.io/health-check-port'])
      .filter((v): v is string => v !== undefined),
  );
  if (wanted.size === 0) return {};
  const names: Record<string, number> = {};
  const ports = new Set<number>();
  for (const d of ofKind(members, 'Deployment')) {
    const containers = ((d as KObject & { spec?: { template?: { spec?: { containers?: Array<{ ports?: Array<{ name?: string; containerPort: number; protocol?: string }> }> } } } }).spec?.template?.spec?.containers ?? []);
    for (const p of containers.flatMap((c) => c.ports ?? [])) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue;
      if ((p.name !== undefined && wanted.has(p.name)) || wanted.has(String(p.containerPort))) {
        ports.add(p.containerPort);
        if (p.name !== undefined) names[p.name] = p.containerPort;
      }
    }
  }
  return { podHttpPorts: [...ports], podPortNames: names };
}
