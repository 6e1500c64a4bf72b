// SPDX-License-Identifier: Apache-2.0
//
// Pure render: GatewayIR -> the member-side VIP Services (+ mirrored EndpointSlices) per member
// cluster (docs/architecture.md "What a Gateway becomes"). Each Service:
// * `type: LoadBalancer` with `loadBalancerClass: fleetilb.io/vip`, so no cloud controller, MetalLB or
//   Cilium LB-IPAM acts on it (https://kubernetes.io/docs/concepts/services-networking/service/#load-balancer-class), while kube-proxy and Cilium still program
//   its ingress IP (neither filters on the class);
// * `externalTrafficPolicy: Local` (client IP kept, node-local endpoints only, healthCheckNodePort),
//   `allocateLoadBalancerNodePorts: false` (GCE sends to VIP:port, no NodePort needed);
// * port = listener port; selector + targetPort copied from the exported Service, or selectorless with
//   mirrored EndpointSlices (several backendRefs, or a selectorless backend);
// * a UDP listener checked through its pods (translate/DECISIONS.md 8) gets a second port, TCP
//   `health` = its pinned healthCheckNodePort, target = the pods' health port: GCE's TCP probe to
//   VIP:health (probes go to the forwarding rule's IP,
//   https://cloud.google.com/load-balancing/docs/health-check-concepts#hc-packet-dest) is translated
//   by kube-proxy / Cilium like the traffic, to a ready local pod or nowhere (ETP Local);
// * desired `status.loadBalancer.ingress = [{ip: VIP, ipMode: VIP}]` once the VIP is known (written
//   by fleet-ilb through the status subresource);
// * labels `fleetilb.io/*` (pruning only touches objects carrying fleetilb.io/managed-by), plus the
//   Gateway's `spec.infrastructure` labels and annotations.
import type { EndpointSlice, Service } from '../../api/index.ts';
import type { GatewayIR, MirroredSliceIR, VipServiceIR } from '../../ir/types.ts';
import {
  ENDPOINTSLICE_MANAGED_BY,
  LABEL_ENDPOINTSLICE_MANAGED_BY,
  LABEL_FLEET,
  LABEL_GATEWAY_NAME,
  LABEL_GATEWAY_NAMESPACE,
  LABEL_GATEWAY_UID,
  LABEL_LISTENER,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  MANAGED_BY_VALUE,
  VIP_LOAD_BALANCER_CLASS,
} from '../../naming/labels.ts';
import { labelValue } from '../../naming/names.ts';

/** The VIP Services and slices one member must hold for one Gateway. */
export interface DesiredVipMember {
  cluster: string;
  /** Member unreachable: apply leaves its objects as they are (docs/failure-rules.md). */
  frozen: boolean;
  services: Service[];
  endpointSlices: EndpointSlice[];
}

export interface DesiredVip {
  gateway: { namespace: string; name: string; uid: string };
  /** Labels selecting everything this Gateway owns in a member (for pruning). */
  ownerLabels: Record<string, string>;
  /** Sorted by cluster id; only members that hold at least one VIP Service. */
  members: DesiredVipMember[];
}

/** Labels identifying objects of one Gateway (selector for pruning). */
export function ownerLabels(ir: GatewayIR): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY_VALUE,
    [LABEL_FLEET]: labelValue(ir.fleetId),
    [LABEL_GATEWAY_UID]: labelValue(ir.gateway.uid),
  };
}

function labelsFor(ir: GatewayIR, listener: string): Record<string, string> {
  return {
    ...ir.infrastructure.labels,
    ...ownerLabels(ir),
    [LABEL_GATEWAY_NAMESPACE]: labelValue(ir.gateway.namespace),
    [LABEL_GATEWAY_NAME]: labelValue(ir.gateway.name),
    [LABEL_LISTENER]: labelValue(listener),
  };
}

function portName(v: VipServiceIR): string {
  return v.protocol.toLowerCase();
}

/** Name of the VIP Service's TCP health port (UDP listeners checked through their pods). */
export const HEALTH_PORT_NAME = 'health';

function healthPorts(v: VipServiceIR): NonNullable<Service['spec']['ports']> {
  if (v.healthPort === undefined) return [];
  const p: NonNullable<Service['spec']['ports']>[number] = { name: HEALTH_PORT_NAME, protocol: 'TCP', port: v.healthPort.port };
  if (v.healthPort.targetPort !== undefined) p.targetPort = v.healthPort.targetPort;
  return [p];
}

function renderService(ir: GatewayIR, v: VipServiceIR, vip: string | undefined): Service {
  const port: NonNullable<Service['spec']['ports']>[number] = { name: portName(v), protocol: v.protocol, port: v.port };
  if (v.targetPort !== undefined) port.targetPort = v.targetPort;
  const svc: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: v.name, namespace: v.namespace, labels: labelsFor(ir, v.listener) },
    spec: {
      type: 'LoadBalancer',
      loadBalancerClass: VIP_LOAD_BALANCER_CLASS,
      externalTrafficPolicy: 'Local',
      allocateLoadBalancerNodePorts: false,
      ports: [port, ...healthPorts(v)],
      sessionAffinity: v.sessionAffinity,
    },
  };
  if (Object.keys(ir.infrastructure.annotations).length > 0) svc.metadata.annotations = { ...ir.infrastructure.annotations };
  if (v.selector !== undefined) svc.spec.selector = { ...v.selector };
  if (v.healthCheckNodePort !== undefined) svc.spec.healthCheckNodePort = v.healthCheckNodePort;
  if (vip !== undefined) svc.status = { loadBalancer: { ingress: [{ ip: vip, ipMode: 'VIP' }] } };
  return svc;
}

function renderSlice(ir: GatewayIR, v: VipServiceIR, m: MirroredSliceIR): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: m.name,
      namespace: v.namespace,
      labels: {
        ...labelsFor(ir, v.listener),
        [LABEL_SERVICE_NAME]: v.name,
        [LABEL_ENDPOINTSLICE_MANAGED_BY]: ENDPOINTSLICE_MANAGED_BY,
      },
      annotations: { 'fleetilb.io/source': m.source },
    },
    addressType: m.addressType,
    endpoints: m.endpoints.map((e) => {
      const out: EndpointSlice['endpoints'][number] = { addresses: [...e.addresses], conditions: { ...e.conditions } };
      if (e.nodeName !== undefined) out.nodeName = e.nodeName;
      if (e.zone !== undefined) out.zone = e.zone;
      return out;
    }),
    ports: [{ name: portName(v), protocol: m.protocol, port: m.port }, ...(v.healthPort === undefined || m.healthPort === undefined ? [] : [{ name: HEALTH_PORT_NAME, protocol: 'TCP' as const, port: m.healthPort }])],
  };
}

/**
 * Renders one Gateway's VIP Services and mirrored slices, grouped per member. `vip`: the VIP (a GCE
 * fact, or the requested IP); without it the Services carry no status. Pure.
 */
export function renderVip(ir: GatewayIR, vip: string | undefined = ir.address.vip): DesiredVip {
  const byCluster = new Map<string, DesiredVipMember>();
  for (const v of ir.vipServices) {
    const m = byCluster.get(v.cluster) ?? { cluster: v.cluster, frozen: v.frozen, services: [], endpointSlices: [] };
    m.services.push(renderService(ir, v, vip));
    for (const s of v.mirroredSlices ?? []) m.endpointSlices.push(renderSlice(ir, v, s));
    byCluster.set(v.cluster, m);
  }
  return {
    gateway: { namespace: ir.gateway.namespace, name: ir.gateway.name, uid: ir.gateway.uid },
    ownerLabels: ownerLabels(ir),
    members: [...byCluster.keys()].sort().map((c) => byCluster.get(c)).filter((m): m is DesiredVipMember => m !== undefined),
  };
}
