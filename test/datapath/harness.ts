// SPDX-License-Identifier: Apache-2.0
//
// The data-path harness (docs/datapath.md): real packets through the local fleet.
//
//   client ns ──veth── vpc ns ──veth── node ns (kube-proxy) ──veth── pod ns (fleet-datapath echo)
//                       │ nftables rebuilt from the Compute API emulator's state: forwarding rule ->
//                       │ backend service -> healthy NEG endpoints (5-tuple hash, no DNAT), firewall
//                       │ rules, health probes from GCE's probe ranges (results -> emulator getHealth)
//
// Every member Node becomes a namespace holding its InternalIP and running the upstream kube-proxy
// (built from the same k8s.io/kubernetes module as the test apiserver) against its member's
// apiserver through a loopback relay; every pod is a namespace behind its node running a TCP/UDP/HTTP
// echo server that answers with its name and the peer address it saw. The harness plays the
// EndpointSlice controller of the member clusters (there is no kube-controller-manager): every
// Service with a selector gets the harness pods its selector matches.
//
// Safety: traffic only starts in namespaces this harness created (client, vpc) and ends in them
// (nodes, pods); the test process itself never sends a packet to a non-loopback address.

import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { Emulator, ProbeTarget as EmulatorProbe } from '../emulator/index.ts';
import { buildTestBinaries, type TestBinaries } from '../harness/binaries.ts';
import type { ClusterHandle, Fleet } from '../harness/fleet.ts';
import { Kube, type KObject } from '../fixtures/kube.ts';
import { cleanupSync, createNs, dataPathUnavailable, deleteNs, inNs, namespacesOf, NS_PREFIX, p2p, sh, startProc, sweepStale, veth, type Proc } from './netns.ts';
import { directSource, HealthState, markOf, planVpc, probeId, probeSources, tableOf, vpcIfOf, vpcRuleset, type ProbeTarget, type VpcNode, type VpcPlan } from './vpc.ts';

export type ProxyMode = 'iptables' | 'nftables';

/** Options of {@link startDataPath}. */
export interface DataPathOptions {
  /** kube-proxy mode, for every member or per member name (default iptables). */
  proxyMode?: ProxyMode | Record<string, ProxyMode>;
  /** Add the guest agent's local route for every forwarding-rule IP a node serves (default false: GKE's nodes). */
  guestAgentRoute?: boolean;
  /** The client VM's IP (default 10.30.0.2; inside the default ILBConfig client range 10.0.0.0/8). */
  clientIp?: string;
  /** HTTP ports every pod also serves (GET answers 200 with the pod's name). */
  podHttpPorts?: number[];
  /**
   * Named container ports of every pod (name -> one of its TCP/HTTP ports), written on the Pod
   * objects; a Service `targetPort` naming one resolves to it, as the EndpointSlice controller does.
   */
  podPortNames?: Record<string, number>;
  /** Create pods for the endpoints of the members' existing EndpointSlices (default true). */
  podsFromSlices?: boolean;
  /** Period of the vpc and EndpointSlice reconcile loops (default 250 ms). */
  syncIntervalMs?: number;
  log?: (msg: string) => void;
  /** Lines of kube-proxy/echo/prober output (default: none). */
  verbose?: (line: string) => void;
}

/** A pod to run. */
export interface PodSpec {
  member: string;
  namespace: string;
  /** Unique in the harness (default generated). */
  name?: string;
  node: string;
  /** Default: the next free address of the node's pod range. */
  ip?: string;
  labels?: Record<string, string>;
  ready?: boolean;
  tcp?: number[];
  udp?: number[];
  http?: number[];
  /**
   * Run this instead of the echo server (e.g. the Gateway API conformance suite's echo-basic), with
   * `env` added to the harness's environment. The pod counts as started once every `tcp` port
   * listens inside its namespace.
   */
  command?: string[];
  env?: Record<string, string>;
}

export interface PodInfo {
  member: string;
  namespace: string;
  name: string;
  node: string;
  ip: string;
  labels: Record<string, string>;
  ready: boolean;
  tcp: number[];
  udp: number[];
  http: number[];
  ns: string;
}

export interface NodeInfo extends VpcNode {
  member: string;
  zone: string;
  ns: string;
  mode: ProxyMode;
}

/** One attempt of the client: a connection (TCP) or a datagram (UDP). */
export interface Attempt {
  i: number;
  /** ms since the client started. */
  t: number;
  ok: boolean;
  ms: number;
  pod?: string;
  peer?: string;
  err?: string;
}

export interface TrafficOptions {
  count?: number;
  concurrency?: number;
  timeoutMs?: number;
  intervalMs?: number;
  durationMs?: number;
  /** UDP: all datagrams from one socket (one 5-tuple). */
  flow?: boolean;
}

/** A client running in the background. */
export interface Traffic {
  attempts(): Attempt[];
  /** A performance.now() instant on the client's clock (the `t` of its attempts). */
  clientTime(now: number): number;
  /** Resolves when the client ends by itself (count/duration reached). */
  done: Promise<Attempt[]>;
  stop(): Promise<Attempt[]>;
}

export interface CleanupReport {
  /** Namespaces of this harness still present after stop (must be empty). */
  leftoverNamespaces: string[];
  /** Processes the harness started that are still alive (must be empty). */
  leftoverPids: number[];
}

export interface DataPath {
  binaries: TestBinaries;
  client: { ns: string; ip: string };
  vpcNs: string;
  nodes: NodeInfo[];
  pods(): PodInfo[];
  pod(name: string): PodInfo;
  addPod(spec: PodSpec): Promise<PodInfo>;
  /** The pod's process and namespace go, then its Pod object and endpoint. Resolves with when it died (performance.now()). */
  killPod(name: string): Promise<number>;
  /** Readiness as the kubelet would report it (EndpointSlice `ready`/`serving`, Pod Ready condition). */
  setReady(name: string, ready: boolean): Promise<void>;
  /** Kills the pod and starts it again (same name, new IP) on another node. */
  movePod(name: string, node: string): Promise<PodInfo>;
  /** Runs a command inside the client namespace (every cluster's apiserver is on its loopback, same port as in the kubeconfigs). */
  runInClient(cmd: string, args: string[]): Promise<string>;
  /** Starts a long-running command inside the client namespace (stopped with the harness at the latest). */
  spawnInClient(cmd: string, args: string[]): Proc;
  connectTcp(ip: string, port: number, opts?: TrafficOptions): Promise<Attempt[]>;
  sendUdp(ip: string, port: number, opts?: TrafficOptions): Promise<Attempt[]>;
  startTraffic(proto: 'tcp' | 'udp', ip: string, port: number, opts?: TrafficOptions): Traffic;
  /** One connection from the vpc to `ip:port` delivered to this node only (as the load balancer would), from a client-range source. */
  connectViaNode(node: string, proto: 'tcp' | 'udp', ip: string, port: number, timeoutMs?: number): Promise<Attempt>;
  /** Health of every probe stream: `nodeIp|vip|port` -> state. */
  health(): Map<string, 'HEALTHY' | 'UNHEALTHY'>;
  /** The vpc plan in force (forwarding rules and their backends). */
  plan(): VpcPlan | undefined;
  /** Resolves after a complete vpc/EndpointSlice sync that started after the call. */
  sync(): Promise<void>;
  /** Waits until every node's kube-proxy of `member` (default all) has rules for `ip`. */
  waitProgrammed(ip: string, opts?: { member?: string; timeoutMs?: number }): Promise<void>;
  /** The kube-proxy rules of a node (iptables-save -t nat / nft list table ip kube-proxy). */
  proxyRules(node: string): Promise<string>;
  /** Stops everything and removes every namespace; reports anything left. Idempotent. */
  stop(): Promise<CleanupReport>;
}

const VPC_GW = '169.254.1.1';
const POD_GW = '169.254.2.1';
const ZONE_LABEL = 'topology.kubernetes.io/zone';
const SLICE_MANAGER = 'fleet-ilb-datapath';
/** kube-controller-manager's EndpointSlice controller, with per-controller credentials. */
const ENDPOINTSLICE_CONTROLLER = 'system:serviceaccount:kube-system:endpointslice-controller';

interface SvcObj extends KObject {
  spec?: { selector?: Record<string, string>; ports?: Array<{ name?: string; protocol?: string; port: number; targetPort?: number | string }> };
}
interface SliceObj extends KObject {
  endpoints?: Array<{ addresses: string[]; nodeName?: string; conditions?: { ready?: boolean }; targetRef?: { name?: string } }>;
  ports?: Array<{ name?: string; protocol?: string; port?: number }>;
}
interface NodeObj extends KObject {
  spec?: { podCIDR?: string };
  status?: { addresses?: Array<{ type: string; address: string }> };
}

/**
 * Starts the data path for a running fleet and emulator: namespaces for the client, the vpc, every
 * member Node and (by default) every endpoint of the members' EndpointSlices; kube-proxy per node;
 * the vpc loop. Throws (after removing what it made) when the machine cannot run it
 * ({@link dataPathUnavailable}).
 */
export async function startDataPath(env: { fleet: Fleet; emulator: Emulator }, opts: DataPathOptions = {}): Promise<DataPath> {
  const why = dataPathUnavailable();
  if (why !== undefined) throw new Error(why);
  const log = opts.log ?? (() => {});
  const verbose = opts.verbose;
  const swept = await sweepStale();
  if (swept.length > 0) log(`removed ${swept.length} namespaces left by earlier runs`);
  const binaries = await buildTestBinaries(log);
  const dp = binaries.datapath;

  const procs = new Set<Proc>();
  const track = (p: Proc): Proc => {
    procs.add(p);
    void p.exited.then(() => procs.delete(p));
    return p;
  };
  const exitHandler = (): void => cleanupSync();
  process.once('exit', exitHandler);

  const members = new Map<string, ClusterHandle>(env.fleet.members.map((m) => [m.name, m]));
  const kubes = new Map<string, Kube>([...members].map(([n, c]) => [n, Kube.of(c)]));
  const kube = (m: string): Kube => {
    const k = kubes.get(m);
    if (k === undefined) throw new Error(`no member ${m}`);
    return k;
  };
  // EndpointSlices are written as the real EndpointSlice controller (impersonated by the admin), so
  // member admission policies see the identity they must let through (deploy/member/admission.yaml).
  const sliceKubes = new Map<string, Kube>(
    [...members].map(([n, c]) => {
      const kc = c.kubeConfig();
      const user = kc.getCurrentUser();
      if (user === null) return [n, Kube.of(c)];
      const users = kc.users.map((u) => (u.name === user.name ? { ...u, impersonateUser: ENDPOINTSLICE_CONTROLLER } : u));
      kc.loadFromOptions({ clusters: kc.clusters, contexts: kc.contexts, currentContext: kc.currentContext, users });
      return [n, new Kube(n, kc)];
    }),
  );
  const sliceKube = (m: string): Kube => sliceKubes.get(m) ?? kube(m);
  const modeOf = (member: string): ProxyMode => (typeof opts.proxyMode === 'string' ? opts.proxyMode : (opts.proxyMode?.[member] ?? 'iptables'));

  const vpcNs = `${NS_PREFIX}vpc`;
  const clientNs = `${NS_PREFIX}client`;
  const clientIp = opts.clientIp ?? '10.30.0.2';
  const nodes: NodeInfo[] = [];
  const pods = new Map<string, PodInfo & { proc: Proc }>();
  const podCidrs = new Map<string, { base: number[]; next: number }>();
  let podSeq = 0;
  let stopped: Promise<CleanupReport> | undefined;
  let loop: NodeJS.Timeout | undefined;
  let prober: Proc | undefined;
  const states = new Map<string, HealthState>();
  let lastPlan: VpcPlan | undefined;

  let running: Promise<void> | undefined;
  let again = false;
  let lastRuleset = '';
  let lastTargets = '';
  const localRoutes = new Map<number, Set<string>>();
  const lastSlices = new Map<string, string>();
  let slicesAt = 0;

  const stopAll = (): Promise<CleanupReport> =>
    (stopped ??= (async () => {
      if (loop !== undefined) clearInterval(loop);
      env.emulator.setProber(() => 'HEALTHY');
      const started = [...procs].map((p) => p.child.pid).filter((p): p is number => p !== undefined);
      await Promise.all([...procs].map((p) => p.stop()));
      for (const ns of await namespacesOf(process.pid)) await deleteNs(ns);
      process.removeListener('exit', exitHandler);
      const leftoverNamespaces = await namespacesOf(process.pid);
      const leftoverPids = started.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
      return { leftoverNamespaces, leftoverPids };
    })());

  try {
    // ---- vpc and client ----
    await createNs(vpcNs, { 'net.ipv4.ip_forward': '1' });
    await createNs(clientNs);
    await veth({ ns: clientNs, ifname: 'eth0' }, { ns: vpcNs, ifname: 'c0' });
    await p2p({ ns: clientNs, ifname: 'eth0', ip: clientIp }, { ns: vpcNs, ifname: 'c0', gw: VPC_GW });
    // Every cluster's apiserver on the client's loopback too (same port): a test program running in
    // the client namespace (the conformance suite) reads and writes the clusters with their kubeconfigs.
    // A Set: the config cluster may be its own member (the conformance run), one relay per port.
    for (const c of new Set([env.fleet.config, ...env.fleet.members])) {
      const port = new URL(c.server).port;
      const relay = track(startProc(`relay client ${c.name}`, dp, ['relay', '--netns', `/run/netns/${clientNs}`, '--listen', `127.0.0.1:${port}`, '--to', `127.0.0.1:${port}`], verbose));
      await relay.waitLine(/^READY$/, 10_000);
    }

    // ---- the EndpointSlice controller's identity ----
    // Its bootstrap role (system:controller:endpointslice-controller) reads Services and creates and
    // updates slices; the harness writes them with server-side apply and merge patches, which also
    // need `patch` (granted here, on the test fleet only).
    for (const member of members.keys()) {
      const rules = [
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
      ];
      await kube(member).apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'fleet-datapath-endpointslices' }, rules }, SLICE_MANAGER);
      await kube(member).apply(
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'fleet-datapath-endpointslices' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'fleet-datapath-endpointslices' },
          subjects: [{ kind: 'ServiceAccount', name: 'endpointslice-controller', namespace: 'kube-system' }],
        },
        SLICE_MANAGER,
      );
    }

    // ---- nodes ----
    let index = 0;
    for (const [member, cluster] of members) {
      const port = new URL(cluster.server).port;
      const kubeconfigPath = join(env.fleet.dir, `datapath-${member}.kubeconfig`);
      // kube-proxy reads the member's admin kubeconfig; the relay makes 127.0.0.1:PORT inside the
      // node namespace reach the apiserver on the root namespace's loopback.
      await writeFile(kubeconfigPath, await (await import('node:fs/promises')).readFile(cluster.kubeconfigPath, 'utf8'));
      for (const n of (await kube(member).list<NodeObj>('v1', 'Node')).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
        const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
        if (ip === undefined) continue;
        index++;
        const node: NodeInfo = { name: n.metadata.name, ip, index, member, zone: n.metadata.labels?.[ZONE_LABEL] ?? '', ns: `${NS_PREFIX}n${index}`, mode: modeOf(member) };
        nodes.push(node);
        const cidr = /^(\d+)\.(\d+)\.(\d+)\.0\/24$/.exec(n.spec?.podCIDR ?? '');
        podCidrs.set(node.name, { base: cidr === null ? [10, 200, index, 0] : [Number(cidr[1]), Number(cidr[2]), Number(cidr[3]), 0], next: 100 });
        await createNs(node.ns, { 'net.ipv4.ip_forward': '1' });
        await veth({ ns: node.ns, ifname: 'eth0' }, { ns: vpcNs, ifname: vpcIfOf(index) });
        await p2p({ ns: node.ns, ifname: 'eth0', ip }, { ns: vpcNs, ifname: vpcIfOf(index), gw: VPC_GW });
        // The load balancer's choice and the health probes reach this node by policy routing in the vpc.
        await inNs(vpcNs, 'ip', ['route', 'add', 'default', 'via', ip, 'dev', vpcIfOf(index), 'onlink', 'table', String(tableOf(index))]);
        await inNs(vpcNs, 'ip', ['rule', 'add', 'fwmark', String(markOf(index)), 'lookup', String(tableOf(index)), 'pref', '100']);
        for (const src of [...probeSources(index), directSource(index)]) {
          await inNs(vpcNs, 'ip', ['addr', 'add', `${src}/32`, 'dev', 'lo']);
          await inNs(vpcNs, 'ip', ['rule', 'add', 'from', src, 'lookup', String(tableOf(index)), 'pref', '101']);
        }
        const relay = track(startProc(`relay ${node.name}`, dp, ['relay', '--netns', `/run/netns/${node.ns}`, '--listen', `127.0.0.1:${port}`, '--to', `127.0.0.1:${port}`], verbose));
        await relay.waitLine(/^READY$/, 10_000);
      }
    }
    // kube-proxy: one per node, after its Node object exists (it reads it for the node IP).
    await Promise.all(
      nodes.map(async (node) => {
        const kp = track(
          startProc(
            `kube-proxy ${node.name}`,
            dp,
            [
              'supervise', '--', 'ip', 'netns', 'exec', node.ns, binaries.kubeProxy,
              `--kubeconfig=${join(env.fleet.dir, `datapath-${node.member}.kubeconfig`)}`,
              `--hostname-override=${node.name}`,
              `--proxy-mode=${node.mode}`,
              // Inside a namespace the conntrack table size and TCP timeouts are the host's: leave them.
              '--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=0s', '--conntrack-tcp-timeout-close-wait=0s',
              '--healthz-bind-address=0.0.0.0:10256', '--metrics-bind-address=127.0.0.1:10249',
              '--v=1',
            ],
            verbose,
          ),
        );
        await waitFor(async () => (await inNs(node.ns, dp, ['get', 'http://127.0.0.1:10256/healthz']).catch(() => '')).trim() === '200', 90_000, `kube-proxy ${node.name} healthz`, () => kp.tail());
      }),
    );
    log(`${nodes.length} nodes with kube-proxy (${[...members.keys()].map((m) => `${m}: ${modeOf(m)}`).join(', ')})`);

    // ---- pods from the existing EndpointSlices ----
    if (opts.podsFromSlices !== false) {
      for (const member of members.keys()) {
        const services = await kube(member).list<SvcObj>('v1', 'Service');
        for (const slice of await kube(member).list<SliceObj>('discovery.k8s.io/v1', 'EndpointSlice')) {
          const svc = services.find((s) => s.metadata.name === slice.metadata.labels?.['kubernetes.io/service-name'] && s.metadata.namespace === slice.metadata.namespace);
          if (svc?.spec?.selector === undefined) continue;
          for (const [k, ep] of (slice.endpoints ?? []).entries()) {
            const ip = ep.addresses[0];
            if (ip === undefined || ep.nodeName === undefined || !nodes.some((n) => n.name === ep.nodeName)) continue;
            if ([...pods.values()].some((p) => p.member === member && p.ip === ip)) continue;
            const ports = slice.ports ?? [];
            await addPodInternal({
              member,
              namespace: slice.metadata.namespace ?? 'default',
              name: ep.targetRef?.name ?? `${slice.metadata.name}-${k}`,
              node: ep.nodeName,
              ip,
              labels: svc.spec.selector,
              ready: ep.conditions?.ready !== false,
              tcp: ports.filter((p) => (p.protocol ?? 'TCP') === 'TCP' && p.port !== undefined).map((p) => p.port!),
              udp: ports.filter((p) => p.protocol === 'UDP' && p.port !== undefined).map((p) => p.port!),
            });
          }
        }
      }
      log(`${pods.size} pods from the members' EndpointSlices`);
    }

    // ---- vpc: prober and the reconcile loop ----
    prober = track(startProc('prober', 'ip', ['netns', 'exec', vpcNs, dp, 'prober'], verbose));
    prober.onLine((line) => {
      let r: { id: string; ok: boolean };
      try {
        r = JSON.parse(line) as { id: string; ok: boolean };
      } catch {
        return;
      }
      const st = states.get(r.id);
      if (st?.feed(r.ok) === true) {
        log(`health ${r.id}: ${st.state}`);
        kick();
      }
    });
    env.emulator.setProber((t: EmulatorProbe) => {
      if (t.forwardingRuleIp === undefined || t.port === undefined) return 'UNHEALTHY';
      return states.get(probeId(t.ipAddress, t.forwardingRuleIp, t.port))?.state ?? 'UNHEALTHY';
    });
    await syncOnce();
    loop = setInterval(kick, opts.syncIntervalMs ?? 250);
    loop.unref();
  } catch (e) {
    const report = await stopAll().catch(() => undefined);
    throw new Error(`startDataPath: ${(e as Error).message}${report !== undefined && report.leftoverNamespaces.length > 0 ? ` (left: ${report.leftoverNamespaces.join(' ')})` : ''}`, { cause: e });
  }

  // ---- reconcile loops ----
  function kick(): void {
    if (stopped !== undefined) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = syncOnce()
      .catch((e: unknown) => log(`datapath sync: ${(e as Error).message}`))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  }

  async function syncOnce(): Promise<void> {
    // EndpointSlices follow Service changes (the controller's VIP Services) within a second; pod
    // changes sync them directly. The vpc follows the emulator on every tick and every health change.
    if (performance.now() - slicesAt > 1000) {
      slicesAt = performance.now();
      await syncSlices();
    }
    const inv = env.emulator.inventory();
    const plan = planVpc(inv, nodes);
    const targets: ProbeTarget[] = plan.targets;
    for (const t of targets) {
      const st = states.get(t.id);
      if (st === undefined) states.set(t.id, new HealthState(t.healthyThreshold, t.unhealthyThreshold));
      else st.retune(t.healthyThreshold, t.unhealthyThreshold);
    }
    for (const id of [...states.keys()]) if (!targets.some((t) => t.id === id)) states.delete(id);
    const targetsJson = JSON.stringify(targets.map(({ id, srcs, dst, port, type, path, host, intervalMs, timeoutMs }) => ({ id, srcs, dst, port, type, path, host, intervalMs, timeoutMs })));
    if (targetsJson !== lastTargets) {
      prober?.child.stdin?.write(`${targetsJson}\n`);
      lastTargets = targetsJson;
    }
    const ruleset = vpcRuleset(plan, (id) => states.get(id)?.state === 'HEALTHY', nodes, inv.firewalls, inv.instances);
    if (ruleset !== lastRuleset) {
      // One nft transaction: the old table goes and the new one comes atomically.
      await inNs(vpcNs, 'nft', ['-f', '-'], `table ip gce {}\ndelete table ip gce\n${ruleset}`);
      lastRuleset = ruleset;
    }
    lastPlan = plan;
    if (opts.guestAgentRoute === true) {
      for (const n of nodes) {
        const want = new Set(plan.localIps.get(n.index) ?? []);
        const have = localRoutes.get(n.index) ?? new Set<string>();
        // The guest agent adds each forwarding rule IP of the VM's load balancers as a local route
        // (`ip route add to local VIP/32 dev eth0 proto 66 table local`).
        for (const ip of want) if (!have.has(ip)) await inNs(n.ns, 'ip', ['route', 'replace', 'local', `${ip}/32`, 'dev', 'eth0', 'proto', '66', 'table', 'local']);
        for (const ip of have) if (!want.has(ip)) await inNs(n.ns, 'ip', ['route', 'del', 'local', `${ip}/32`, 'dev', 'eth0', 'table', 'local']).catch(() => undefined);
        localRoutes.set(n.index, want);
      }
    }
  }

  /** The EndpointSlice controller's job for the harness pods: one slice per Service with a selector. */
  async function syncSlices(): Promise<void> {
    for (const member of members.keys()) {
      const k = sliceKube(member);
      const [services, slices] = await Promise.all([k.list<SvcObj>('v1', 'Service'), k.list<SliceObj>('discovery.k8s.io/v1', 'EndpointSlice')]);
      for (const svc of services) {
        const selector = svc.spec?.selector;
        if (selector === undefined || Object.keys(selector).length === 0) continue;
        const ns = svc.metadata.namespace ?? 'default';
        const mine = [...pods.values()].filter((p) => p.member === member && p.namespace === ns && Object.entries(selector).every(([a, b]) => p.labels[a] === b));
        const own = slices.filter((s) => s.metadata.namespace === ns && s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
        // A named targetPort is the pods' container port of that name (every harness pod has the
        // same names, opts.podPortNames); otherwise the number, or the Service port.
        const ports = (svc.spec?.ports ?? []).map((p) => ({
          ...(p.name === undefined ? {} : { name: p.name }),
          protocol: p.protocol ?? 'TCP',
          port: typeof p.targetPort === 'number' ? p.targetPort : ((p.targetPort === undefined ? undefined : opts.podPortNames?.[p.targetPort]) ?? p.port),
        }));
        const endpoints = mine
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((p) => ({
            addresses: [p.ip],
            nodeName: p.node,
            zone: nodes.find((n) => n.name === p.node)?.zone,
            conditions: { ready: p.ready, serving: p.ready, terminating: false },
            targetRef: { kind: 'Pod', namespace: ns, name: p.name },
          }));
        const first = own[0];
        const name = first?.metadata.name ?? `${svc.metadata.name}-fdp`;
        const desired = JSON.stringify({ ports, endpoints });
        const key = `${member}/${ns}/${name}`;
        if (lastSlices.get(key) === desired && first !== undefined) continue;
        if (first === undefined || JSON.stringify({ ports: first.ports ?? [], endpoints: first.endpoints ?? [] }) !== desired) {
          await k.apply({
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc.metadata.name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
            addressType: 'IPv4',
            ports,
            endpoints,
          }, SLICE_MANAGER);
        }
        for (const extra of own.slice(1)) if ((extra.endpoints ?? []).length > 0) await k.mergePatch({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', name: extra.metadata.name, namespace: ns }, { endpoints: [] });
        lastSlices.set(key, desired);
      }
    }
  }

  async function addPodInternal(spec: PodSpec): Promise<PodInfo> {
    const node = nodes.find((n) => n.name === spec.node && n.member === spec.member);
    if (node === undefined) throw new Error(`addPod: no node ${spec.node} in ${spec.member}`);
    const name = spec.name ?? `pod-${++podSeq}`;
    if (pods.has(name)) throw new Error(`addPod: a pod ${name} exists`);
    const ip = spec.ip ?? nextPodIp(node.name);
    podSeq++;
    const ns = `${NS_PREFIX}p${podSeq}`;
    const info: PodInfo = {
      member: spec.member,
      namespace: spec.namespace,
      name,
      node: node.name,
      ip,
      labels: spec.labels ?? {},
      ready: spec.ready ?? true,
      tcp: spec.tcp ?? [],
      udp: spec.udp ?? [],
      http: [...new Set([...(spec.http ?? []), ...(opts.podHttpPorts ?? [])])],
      ns,
    };
    await createNs(ns);
    const hostIf = `p${podSeq}`;
    await veth({ ns, ifname: 'eth0' }, { ns: node.ns, ifname: hostIf });
    await p2p({ ns, ifname: 'eth0', ip }, { ns: node.ns, ifname: hostIf, gw: POD_GW });
    let proc: Proc;
    if (spec.command !== undefined && spec.command.length > 0) {
      proc = track(startProc(`pod ${name}`, 'ip', ['netns', 'exec', ns, ...spec.command], verbose, spec.env));
      await waitFor(
        async () => {
          const listening = await inNs(ns, 'ss', ['-Hltn']).catch(() => '');
          return info.tcp.every((port) => listening.split('\n').some((l) => new RegExp(`:${port}\\s`).test(l)));
        },
        30_000,
        `pod ${name} listening on ${info.tcp.join(', ')}`,
        () => proc.tail(),
      );
    } else {
      const args = ['netns', 'exec', ns, binaries.datapath, 'echo', '--name', name];
      if (info.tcp.length > 0) args.push('--tcp', info.tcp.join(','));
      if (info.udp.length > 0) args.push('--udp', info.udp.join(','));
      if (info.http.length > 0) args.push('--http', info.http.join(','));
      proc = track(startProc(`pod ${name}`, 'ip', args, verbose));
      await proc.waitLine(/^READY$/, 10_000);
    }
    pods.set(name, { ...info, proc });
    await writePod(info);
    return info;
  }

  function nextPodIp(node: string): string {
    const c = podCidrs.get(node)!;
    for (;;) {
      const ip = [...c.base.slice(0, 3), c.next++].join('.');
      if (![...pods.values()].some((p) => p.ip === ip)) return ip;
    }
  }

  async function writePod(p: PodInfo): Promise<void> {
    const k = kube(p.member);
    const named = new Map(Object.entries(opts.podPortNames ?? {}).map(([name, port]) => [port, name]));
    const tcp = (n: number): { containerPort: number; protocol: string; name?: string } => ({ containerPort: n, protocol: 'TCP', ...(named.has(n) ? { name: named.get(n)! } : {}) });
    const ports = [...p.tcp.map(tcp), ...p.udp.map((n) => ({ containerPort: n, protocol: 'UDP' })), ...p.http.map(tcp)];
    const uniq = [...new Map(ports.map((x) => [`${x.containerPort}/${x.protocol}`, x])).values()];
    await k.apply(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
        spec: { nodeName: p.node, containers: [{ name: 'echo', image: 'fleet-datapath', ports: uniq }] },
      },
      SLICE_MANAGER,
    );
    await k.mergePatch(
      { apiVersion: 'v1', kind: 'Pod', name: p.name, namespace: p.namespace },
      {
        status: {
          phase: 'Running',
          podIP: p.ip,
          podIPs: [{ ip: p.ip }],
          hostIP: nodes.find((n) => n.name === p.node)?.ip,
          conditions: [
            { type: 'PodScheduled', status: 'True' },
            { type: 'Ready', status: p.ready ? 'True' : 'False' },
            { type: 'ContainersReady', status: p.ready ? 'True' : 'False' },
          ],
        },
      },
      'status',
    );
  }

  const getPod = (name: string): PodInfo & { proc: Proc } => {
    const p = pods.get(name);
    if (p === undefined) throw new Error(`no pod ${name}`);
    return p;
  };

  /** No kubelet confirms a graceful deletion: delete at once (gracePeriodSeconds=0), as `kubectl delete --force`. */
  async function deletePodObject(p: PodInfo): Promise<void> {
    const k = kube(p.member);
    try {
      await k.request('DELETE', await k.objectPath('v1', 'Pod', p.name, p.namespace), { query: { gracePeriodSeconds: '0' } });
    } catch (e) {
      if ((e as { status?: number }).status !== 404) throw e;
    }
  }

  async function removePod(name: string, deleteObject: boolean): Promise<PodInfo & { killedAt: number }> {
    const p = getPod(name);
    pods.delete(name);
    // The pod dies first (its process, then its namespace: its IP is gone from the node); the API
    // objects follow, as when a node loses a pod and the kubelet reports it.
    await p.proc.stop(500);
    await deleteNs(p.ns);
    const killedAt = performance.now();
    if (deleteObject) await deletePodObject(p);
    await syncSlices();
    return { ...p, killedAt };
  }

  const clientArgs = (proto: 'tcp' | 'udp', ip: string, port: number, o: TrafficOptions = {}): string[] => {
    const a = ['client', '--proto', proto, '--to', `${ip}:${port}`, '--timeout', `${o.timeoutMs ?? 1000}ms`];
    if (o.count !== undefined) a.push('--count', String(o.count));
    if (o.concurrency !== undefined) a.push('--concurrency', String(o.concurrency));
    if (o.intervalMs !== undefined) a.push('--interval', `${o.intervalMs}ms`);
    if (o.durationMs !== undefined) a.push('--duration', `${o.durationMs}ms`);
    if (o.flow === true) a.push('--flow');
    return a;
  };
  const parseAttempts = (text: string): Attempt[] =>
    text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Attempt)
      .sort((a, b) => a.i - b.i);

  const startTraffic = (proto: 'tcp' | 'udp', ip: string, port: number, o: TrafficOptions = {}): Traffic => {
    const got: Attempt[] = [];
    // The client's t=0 in performance.now() terms: each line arrives right after its attempt ended
    // (t + ms); the earliest arrival bounds the offset best.
    let offset = Number.POSITIVE_INFINITY;
    const p = track(startProc(`client ${proto} ${ip}:${port}`, 'ip', ['netns', 'exec', clientNs, binaries.datapath, ...clientArgs(proto, ip, port, o)], verbose));
    p.onLine((l) => {
      if (!l.startsWith('{')) return;
      const a = JSON.parse(l) as Attempt;
      offset = Math.min(offset, performance.now() - a.t - a.ms);
      got.push(a);
    });
    const done = p.exited.then(() => [...got]);
    return { attempts: () => [...got], clientTime: (now) => now - offset, done, stop: async () => (await p.stop(), [...got]) };
  };

  return {
    binaries,
    client: { ns: clientNs, ip: clientIp },
    vpcNs,
    nodes,
    pods: () => [...pods.values()].map(({ proc: _p, ...info }) => info),
    pod: (name) => {
      const { proc: _p, ...info } = getPod(name);
      return info;
    },
    addPod: async (spec) => {
      const p = await addPodInternal(spec);
      await syncSlices();
      return p;
    },
    killPod: async (name) => (await removePod(name, true)).killedAt,
    setReady: async (name, ready) => {
      const p = getPod(name);
      p.ready = ready;
      await writePod(p);
      await syncSlices();
    },
    movePod: async (name, node) => {
      const old = await removePod(name, true);
      return addPodInternal({ member: old.member, namespace: old.namespace, name: old.name, node, labels: old.labels, ready: old.ready, tcp: old.tcp, udp: old.udp, http: old.http }).then(async (p) => (await syncSlices(), p));
    },
    runInClient: (cmd, args) => inNs(clientNs, cmd, args),
    spawnInClient: (cmd, args) => track(startProc(`client ${cmd}`, 'ip', ['netns', 'exec', clientNs, cmd, ...args], verbose)),
    connectTcp: async (ip, port, o) => parseAttempts(await inNs(clientNs, binaries.datapath, clientArgs('tcp', ip, port, { count: 1, ...o }))),
    sendUdp: async (ip, port, o) => parseAttempts(await inNs(clientNs, binaries.datapath, clientArgs('udp', ip, port, { count: 1, ...o }))),
    startTraffic,
    connectViaNode: async (nodeName, proto, ip, port, timeoutMs = 1000) => {
      const n = nodes.find((x) => x.name === nodeName);
      if (n === undefined) throw new Error(`no node ${nodeName}`);
      const out = await inNs(vpcNs, binaries.datapath, [...clientArgs(proto, ip, port, { count: 1, timeoutMs }), '--src', directSource(n.index)]);
      const a = parseAttempts(out)[0];
      if (a === undefined) throw new Error(`connectViaNode: no result: ${out}`);
      return a;
    },
    health: () => new Map([...states].map(([k, v]) => [k, v.state])),
    plan: () => lastPlan,
    sync: async () => {
      slicesAt = 0;
      await running;
      kick();
      await running;
    },
    proxyRules: async (nodeName) => {
      const n = nodes.find((x) => x.name === nodeName);
      if (n === undefined) throw new Error(`no node ${nodeName}`);
      return n.mode === 'nftables' ? inNs(n.ns, 'nft', ['list', 'table', 'ip', 'kube-proxy']).catch(() => '') : inNs(n.ns, 'iptables-save', ['-t', 'nat']);
    },
    waitProgrammed: async (ip, o = {}) => {
      const targets = nodes.filter((n) => o.member === undefined || n.member === o.member);
      await Promise.all(
        targets.map(async (n) => {
          const rules = async (): Promise<string> => (n.mode === 'nftables' ? inNs(n.ns, 'nft', ['list', 'table', 'ip', 'kube-proxy']).catch(() => '') : inNs(n.ns, 'iptables-save', ['-t', 'nat']));
          await waitFor(async () => (await rules()).includes(ip), o.timeoutMs ?? 30_000, `kube-proxy on ${n.name} programs ${ip}`);
        }),
      );
    },
    stop: stopAll,
  };
}

async function waitFor(fn: () => Promise<boolean>, ms: number, what: string, detail?: () => string): Promise<void> {
  const end = performance.now() + ms;
  let delay = 50;
  while (performance.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${detail === undefined ? '' : `:\n${detail()}`}`);
}

export { sh };
