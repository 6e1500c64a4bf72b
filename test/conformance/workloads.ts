// SPDX-License-Identifier: Apache-2.0
//
// The Deployment controller of the conformance run. fleet-apiserver runs no kube-controller-manager
// and no kubelet; the data-path harness (test/datapath/harness.ts) runs pods as network namespaces
// and plays the kubelet (Pod objects, readiness) and the EndpointSlice controller. This adds what
// the suite also relies on: every Deployment of a conformance namespace gets `spec.replicas` pods
// named `<deployment>-<template hash>-<id>` (the suite tells backends apart by that prefix:
// tcp/udp ExpectedResponse.Backend), running the program its image stands for with the container's
// env (`valueFrom.fieldRef` metadata.name / metadata.namespace resolved, as the kubelet does):
//   * registry.k8s.io/gateway-api/echo-basic -> echo-basic, built from the conformance module;
//   * registry.k8s.io/coredns/coredns       -> fleet-dns (answers every A query, forwards nothing).
// A changed template replaces the pods, a deleted Deployment removes them (the garbage collector's part).

import { createHash } from 'node:crypto';
import type { Kube, KObject } from '../fixtures/kube.ts';

/** One pod to run. */
export interface PodToRun {
  namespace: string;
  name: string;
  node: string;
  labels: Record<string, string>;
  /** argv of the process. */
  command: string[];
  env: Record<string, string>;
  /** Ports the process listens on (TCP: the pod counts as started once they listen). */
  tcp: number[];
  udp: number[];
}

/** Runs pods (the data-path harness: a network namespace each, Pod object, EndpointSlices). */
export interface PodRuntime {
  start(pod: PodToRun): Promise<void>;
  stop(name: string): Promise<void>;
}

/** The programs behind the images of the conformance manifests. */
export interface Programs {
  echoBasic: string;
  dns: string;
}

interface Container {
  name?: string;
  image?: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }>;
  ports?: Array<{ containerPort: number; protocol?: string }>;
}

interface Deployment extends KObject {
  spec?: { replicas?: number; template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: Container[] } } };
}

/** Keeps the pods of the Deployments of matching namespaces running. */
export class Workloads {
  readonly #kube: Kube;
  readonly #nodes: readonly string[];
  readonly #runtime: PodRuntime;
  readonly #programs: Programs;
  readonly #namespaceMatch: (ns: string) => boolean;
  readonly #log: (msg: string) => void;
  /** `ns/deployment` -> template hash and pod names. */
  readonly #owned = new Map<string, { hash: string; pods: string[] }>();
  readonly #accounts = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;
  #placed = 0;
  readonly #reported = new Map<string, string>();

  constructor(kube: Kube, nodes: readonly string[], runtime: PodRuntime, programs: Programs, opts: { namespaces: (ns: string) => boolean; log?: (msg: string) => void }) {
    if (nodes.length === 0) throw new Error('Workloads needs at least one node');
    this.#kube = kube;
    this.#nodes = nodes;
    this.#runtime = runtime;
    this.#programs = programs;
    this.#namespaceMatch = opts.namespaces;
    this.#log = opts.log ?? (() => {});
  }

  /** Reconciles every `intervalMs` until stop(). */
  start(intervalMs = 300): void {
    const tick = (): void => {
      if (this.#stopped) return;
      this.#busy = this.pass()
        .catch((e: unknown) => this.#report('pass', e))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  /** Stops reconciling and every pod it started. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#busy;
    for (const o of this.#owned.values()) for (const p of o.pods) await this.#runtime.stop(p).catch(() => undefined);
    this.#owned.clear();
  }

  /** One pass: every Deployment of a matching namespace has its pods, and nothing else has any. */
  async pass(): Promise<void> {
    const deployments = (await this.#kube.list<Deployment>('apps/v1', 'Deployment')).filter((d) => this.#namespaceMatch(d.metadata.namespace ?? '') && d.metadata.deletionTimestamp === undefined);
    const live = new Map(deployments.map((d) => [`${d.metadata.namespace}/${d.metadata.name}`, d]));
    for (const [key, o] of [...this.#owned]) {
      const d = live.get(key);
      if (d !== undefined && templateHash(d) === o.hash) continue;
      for (const p of o.pods) await this.#runtime.stop(p);
      this.#owned.delete(key);
      this.#log(`pods of Deployment ${key} removed (${d === undefined ? 'deleted' : 'template changed'})`);
    }
    for (const [key, d] of live) {
      const ns = d.metadata.namespace ?? 'default';
      const o = this.#owned.get(key) ?? { hash: templateHash(d), pods: [] };
      this.#owned.set(key, o);
      const want = d.spec?.replicas ?? 1;
      while (o.pods.length > want) await this.#runtime.stop(o.pods.pop()!);
      while (o.pods.length < want) {
        try {
          o.pods.push(await this.#startPod(ns, d, o.hash));
        } catch (e) {
          this.#report(key, e);
          break;
        }
      }
    }
  }

  async #startPod(ns: string, d: Deployment, hash: string): Promise<string> {
    if (!this.#accounts.has(ns)) {
      // The ServiceAccount admission plugin wants `default` (the serviceaccount controller makes it).
      await this.#kube.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } });
      this.#accounts.add(ns);
    }
    const c = d.spec?.template?.spec?.containers?.[0] ?? {};
    const id = createHash('sha256').update(`${ns}/${d.metadata.name}/${process.hrtime.bigint()}`).digest('hex').slice(0, 5);
    const name = `${d.metadata.name}-${hash}-${id}`;
    const node = this.#nodes[this.#placed++ % this.#nodes.length]!;
    const pod: PodToRun = { namespace: ns, name, node, labels: d.spec?.template?.metadata?.labels ?? {}, ...this.#program(c, ns, name) };
    await this.#runtime.start(pod);
    this.#log(`pod ${ns}/${name} on ${node}: ${pod.command.map((a) => a.split('/').pop()).join(' ')} tcp [${pod.tcp.join(',')}] udp [${pod.udp.join(',')}]`);
    return name;
  }

  /** The process of a container, its env and the ports it will listen on. */
  #program(c: Container, ns: string, pod: string): Pick<PodToRun, 'command' | 'env' | 'tcp' | 'udp'> {
    const image = c.image ?? '';
    if (image.includes('/coredns')) return { command: [this.#programs.dns, '--listen', ':53'], env: {}, tcp: [], udp: [53] };
    if (!image.includes('/echo-basic')) throw new Error(`no program for image ${image} (only echo-basic and coredns are run)`);
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = ns;
    }
    // The TLS certificates come from a Secret volume in upstream's manifests; a pod here has no
    // volumes, and only the TLS tests (not in the TCP/UDP profiles) use them.
    for (const k of Object.keys(env)) if (k.startsWith('TLS_')) delete env[k];
    const declared = (proto: string): number[] => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === proto).map((p) => p.containerPort);
    let tcp: number[];
    let udp: number[] = [];
    if (env['UDP_ECHO_SERVER'] !== undefined) {
      tcp = [];
      udp = [Number(env['UDP_PORT'] ?? 8080)];
    } else if (env['TCP_ECHO_SERVER'] !== undefined) {
      tcp = [Number(env['TCP_PORT'] ?? 3000)];
    } else if (env['GRPC_ECHO_SERVER'] !== undefined) {
      tcp = [3000];
    } else {
      tcp = [Number(env['HTTP_PORT'] ?? 3000), Number(env['H2C_PORT'] ?? 3001)];
    }
    for (const p of declared('TCP')) if (!tcp.includes(p)) tcp.push(p);
    for (const p of declared('UDP')) if (!udp.includes(p)) udp.push(p);
    return { command: [this.#programs.echoBasic], env, tcp, udp };
  }

  #report(what: string, e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    if (this.#reported.get(what) === msg) return;
    this.#reported.set(what, msg);
    this.#log(`workloads: ${what}: ${msg}`);
  }
}

/** Hash of what a pod is made from (a changed template replaces the pods, as a rollout would). */
function templateHash(d: Deployment): string {
  return createHash('sha256').update(JSON.stringify(d.spec?.template ?? {})).digest('hex').slice(0, 9);
}
