// SPDX-License-Identifier: Apache-2.0
//
// Backend health (health.ts) and the BackendsHealthy condition (status/health.ts): the verdicts,
// the per-member counts, and the reader's pacing — urgent reads first, a pass spread over the
// period, and onChange only when the rendered condition changes.
import { describe, expect, it } from 'vitest';
import type { GceCloud, IHealthStatus } from './cloud/client.ts';
import { BackendHealthMonitor, endpointState, endpointsOf, healthPassPeriodMs, healthTargets, memberCounts, type GatewayHealth, type GatewayHealthTargets } from './health.ts';
import type { DesiredGce } from './desired.ts';
import type { GatewayIR } from '../../ir/types.ts';
import { backendsHealthyCondition, renderBackendsHealthy, withBackendsHealthy } from '../../status/health.ts';

const NEG = (zone: string, name: string): string => `https://www.googleapis.com/compute/v1/projects/p/zones/${zone}/networkEndpointGroups/${name}`;
const st = (instance: string, healthState: string, fr = 'fr1'): IHealthStatus => ({
  instance: `https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/${instance}`,
  ipAddress: '10.0.0.1',
  healthState,
  forwardingRule: fr,
});

function health(services: Array<{ listeners: string[]; backends: Array<{ cluster: string; states?: string[] }> }>): GatewayHealth {
  return {
    services: services.map((s, i) => ({
      backendService: `bs${i}`,
      listeners: s.listeners,
      backends: s.backends.map((b, j) => ({
        group: NEG('z', `neg${i}-${j}`),
        project: 'p',
        zone: 'z',
        neg: `neg${i}-${j}`,
        cluster: b.cluster,
        ...(b.states === undefined ? {} : { endpoints: b.states.map((state, k) => ({ instance: `${b.cluster}-${k}`, ipAddress: '10.0.0.1', state: state as 'HEALTHY' })) }),
      })),
    })),
  };
}

describe('endpoint verdicts', () => {
  it('HEALTHY only when every forwarding rule says so; UNKNOWN until GCE judged; TIMEOUT and DRAINING are not healthy', () => {
    expect(endpointState(['HEALTHY', 'HEALTHY'])).toBe('HEALTHY');
    expect(endpointState(['HEALTHY', 'UNHEALTHY'])).toBe('UNHEALTHY');
    expect(endpointState(['TIMEOUT'])).toBe('UNHEALTHY');
    expect(endpointState(['DRAINING'])).toBe('UNHEALTHY');
    expect(endpointState(['UNKNOWN', 'HEALTHY'])).toBe('UNKNOWN');
    expect(endpointState([])).toBe('UNKNOWN');
  });

  it('groups getHealth entries (endpoint x forwarding rule) by instance', () => {
    const eps = endpointsOf([st('b', 'HEALTHY', 'fr1'), st('a', 'HEALTHY', 'fr1'), st('b', 'UNHEALTHY', 'fr2'), st('a', 'HEALTHY', 'fr2')]);
    expect(eps).toEqual([
      { instance: 'a', ipAddress: '10.0.0.1', state: 'HEALTHY' },
      { instance: 'b', ipAddress: '10.0.0.1', state: 'UNHEALTHY', detail: ['HEALTHY', 'UNHEALTHY'] },
    ]);
  });
});

describe('what to read', () => {
  it('each desired backend service with its listeners, each NEG backend with its member and the instances apply put there', () => {
    const ir = { groups: [{ backendService: 'bs-a', listeners: ['b', 'a'] }, { backendService: 'bs-c', listeners: ['c'] }] } as unknown as GatewayIR;
    const neg = (project: string | undefined, zone: string, name: string, cluster: string, instances: string[]): DesiredGce['negs'][number] =>
      ({ zone, cluster, neg: { name }, endpoints: instances.map((instance) => ({ instance, ipAddress: '10.0.0.1' })), frozen: false, ...(project === undefined ? {} : { project }) }) as DesiredGce['negs'][number];
    const desired = {
      project: 'p',
      region: 'r',
      negs: [neg(undefined, 'z1', 'n1', 'west', ['w2', 'w1']), neg('svc-proj', 'z2', 'n2', 'east', ['e1'])],
      backendServices: [
        { name: 'bs-a', backends: [{ group: NEG('z1', 'n1') }, { group: 'https://www.googleapis.com/compute/v1/projects/svc-proj/zones/z2/networkEndpointGroups/n2' }] },
        { name: 'bs-c', backends: [] },
      ],
    } as unknown as DesiredGce;
    expect(healthTargets(ir, desired)).toEqual({
      project: 'p',
      region: 'r',
      services: [
        {
          backendService: 'bs-a',
          listeners: ['a', 'b'],
          backends: [
            { group: NEG('z1', 'n1'), project: 'p', zone: 'z1', neg: 'n1', cluster: 'west', instances: ['w1', 'w2'] },
            { group: 'https://www.googleapis.com/compute/v1/projects/svc-proj/zones/z2/networkEndpointGroups/n2', project: 'svc-proj', zone: 'z2', neg: 'n2', cluster: 'east', instances: ['e1'] },
          ],
        },
        { backendService: 'bs-c', listeners: ['c'], backends: [] },
      ],
    });
  });
});

describe('fleetilb.io/BackendsHealthy', () => {
  it('True with per-member healthy/total summed over backend services', () => {
    const h = health([
      { listeners: ['store'], backends: [{ cluster: 'west', states: ['HEALTHY', 'HEALTHY'] }, { cluster: 'east', states: ['HEALTHY'] }] },
      { listeners: ['store-west-1'], backends: [{ cluster: 'west', states: ['HEALTHY'] }] },
    ]);
    expect(memberCounts(h)).toEqual([
      { cluster: 'east', healthy: 1, unhealthy: 0, total: 1 },
      { cluster: 'west', healthy: 3, unhealthy: 0, total: 3 },
    ]);
    expect(backendsHealthyCondition(h)).toEqual({ type: 'fleetilb.io/BackendsHealthy', status: 'True', reason: 'BackendsHealthy', message: 'east 1/1, west 3/3' });
  });

  it('False, naming the listener, when one listener has no healthy endpoint although another member is healthy', () => {
    const h = health([
      { listeners: ['store'], backends: [{ cluster: 'west', states: ['HEALTHY'] }, { cluster: 'east', states: ['UNHEALTHY'] }] },
      { listeners: ['store-east-1'], backends: [{ cluster: 'east', states: ['UNHEALTHY', 'UNHEALTHY'] }] },
    ]);
    expect(backendsHealthyCondition(h)).toMatchObject({ status: 'False', reason: 'NoHealthyBackends', message: 'no healthy endpoint for listener(s) store-east-1: east 0/3, west 1/1' });
  });

  it('Unknown/Pending while a listener without a healthy endpoint has a backend not read yet or not judged yet', () => {
    expect(backendsHealthyCondition(health([{ listeners: ['l'], backends: [{ cluster: 'a' }] }]))).toMatchObject({ status: 'Unknown', reason: 'Pending' });
    expect(backendsHealthyCondition(health([{ listeners: ['l'], backends: [{ cluster: 'a', states: ['UNKNOWN'] }] }]))).toMatchObject({ status: 'Unknown', reason: 'Pending' });
    // One healthy endpoint is enough, whatever else is unread.
    expect(backendsHealthyCondition(health([{ listeners: ['l'], backends: [{ cluster: 'a', states: ['HEALTHY'] }, { cluster: 'b' }] }]))).toMatchObject({ status: 'True' });
  });

  it('a listener whose backend service has no NEG at all is False (nothing can serve it); no backend service: no condition', () => {
    expect(backendsHealthyCondition(health([{ listeners: ['l'], backends: [] }]))).toMatchObject({ status: 'False', message: 'no healthy endpoint for listener(s) l: no endpoints' });
    expect(backendsHealthyCondition({ services: [] })).toBeUndefined();
  });

  it('withBackendsHealthy keeps lastTransitionTime while the status stays, and removes the condition without health', () => {
    const h = health([{ listeners: ['l'], backends: [{ cluster: 'a', states: ['HEALTHY'] }] }]);
    const first = withBackendsHealthy({ conditions: [] }, h, undefined, 3, 't1');
    expect(first.conditions).toEqual([{ type: 'fleetilb.io/BackendsHealthy', status: 'True', reason: 'BackendsHealthy', message: 'a 1/1', observedGeneration: 3, lastTransitionTime: 't1' }]);
    const h2 = health([{ listeners: ['l'], backends: [{ cluster: 'a', states: ['HEALTHY', 'UNHEALTHY'] }] }]);
    expect(withBackendsHealthy({ conditions: [] }, h2, first, 3, 't2').conditions?.[0]).toMatchObject({ message: 'a 1/2', lastTransitionTime: 't1' });
    expect(withBackendsHealthy({ conditions: first.conditions! }, undefined, first, 3, 't3').conditions).toEqual([]);
    // Nothing read yet (a restart): the published condition stands.
    const unread = health([{ listeners: ['l'], backends: [{ cluster: 'a' }] }]);
    expect(withBackendsHealthy({ conditions: [] }, unread, first, 4, 't4').conditions).toEqual([{ ...first.conditions![0], observedGeneration: 4 }]);
    expect(withBackendsHealthy({ conditions: [] }, unread, undefined, 4, 't4').conditions?.[0]).toMatchObject({ status: 'Unknown', reason: 'Pending' });
  });
});

/** A GceCloud that answers getHealth from a table and records each call with its time. */
function fakeCloud(answer: (bs: string, group: string) => IHealthStatus[]): { cloud: GceCloud; calls: Array<{ bs: string; group: string; at: number }> } {
  const calls: Array<{ bs: string; group: string; at: number }> = [];
  const cloud = {
    forProject: () => cloud,
    getBackendHealth: (_region: string, bs: string, group: string) => {
      calls.push({ bs, group, at: Date.now() });
      return Promise.resolve(answer(bs, group));
    },
  };
  return { cloud: cloud as unknown as GceCloud, calls };
}

function targets(n: number, instances = ['a']): GatewayHealthTargets {
  return {
    project: 'p',
    region: 'r',
    services: [{ backendService: 'bs', listeners: ['l'], backends: Array.from({ length: n }, (_, i) => ({ group: NEG('z', `n${i}`), project: 'p', zone: 'z', neg: `n${i}`, cluster: `m${i}`, instances })) }],
  };
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('BackendHealthMonitor', () => {
  it('reads new backends at once, then spreads a pass over the period; onChange only when the rendered condition changes', async () => {
    let state = 'HEALTHY';
    const { cloud, calls } = fakeCloud(() => [st('a', state)]);
    const changes: string[] = [];
    const m = new BackendHealthMonitor({ cloud, render: (_k, h) => renderBackendsHealthy(h), onChange: (k) => changes.push(k) });
    const ctl = new AbortController();
    m.track('ns/gw', targets(4));
    const period = 400;
    const running = m.run(period, ctl.signal);
    try {
      // The four new backends are read first, back to back (urgent), and the verdict changes once.
      await until(() => calls.length >= 4);
      expect(backendsHealthyCondition(m.health('ns/gw')!)).toMatchObject({ status: 'True', message: 'm0 1/1, m1 1/1, m2 1/1, m3 1/1' });
      expect(changes).toEqual(['ns/gw']);
      // The next pass re-reads each backend once, spaced about period / 4 apart (not a burst).
      await until(() => calls.length >= 8, 3_000);
      const gaps = calls.slice(4, 8).map((c, i, a) => (i === 0 ? 0 : c.at - a[i - 1]!.at)).slice(1);
      for (const g of gaps) expect(g).toBeGreaterThanOrEqual(period / 4 - 20);
      expect(changes).toEqual(['ns/gw']); // same health, same condition: nothing queued
      state = 'UNHEALTHY';
      // Each re-read backend changes a count (a new message: a new reconcile); the last one flips the verdict.
      await until(() => backendsHealthyCondition(m.health('ns/gw')!)?.status === 'False', 3_000);
      expect(backendsHealthyCondition(m.health('ns/gw')!)?.message).toBe('no healthy endpoint for listener(s) l: m0 0/1, m1 0/1, m2 0/1, m3 0/1');
      expect(changes).toHaveLength(5);
    } finally {
      ctl.abort();
      await running;
    }
  });

  it('a backend whose instances changed is read ahead of the pass; a failed read keeps the last good one', async () => {
    let fail = false;
    const { cloud, calls } = fakeCloud(() => {
      if (fail) throw new Error('boom');
      return [st('a', 'HEALTHY'), st('b', 'HEALTHY')];
    });
    const errors: string[] = [];
    const m = new BackendHealthMonitor({ cloud, onError: (_k, _b, e) => errors.push(e) });
    const ctl = new AbortController();
    m.track('ns/gw', targets(1, ['a', 'b']));
    const running = m.run(60_000, ctl.signal);
    try {
      await until(() => calls.length === 1);
      // The same instances again: nothing urgent; the pass is a minute away.
      m.track('ns/gw', targets(1, ['a', 'b']));
      // Another instance: read at once.
      fail = true;
      m.track('ns/gw', targets(1, ['a', 'b', 'c']));
      await until(() => calls.length === 2);
      await until(() => errors.length === 1);
      const b = m.health('ns/gw')!.services[0]!.backends[0]!;
      expect(b.endpoints?.map((e) => e.instance)).toEqual(['a', 'b']);
      expect(b.error).toBe('boom');
      m.forget('ns/gw');
      expect(m.health('ns/gw')).toBeUndefined();
    } finally {
      ctl.abort();
      await running;
    }
  });

  it('takes a bounded share of the read budget: reads (urgent ones too) at most maxReadsPerMinute, the pass stretched past the period to fit', async () => {
    // 1,000 Gateways × 2 backend services × 9 NEGs at the default bound (187.5 reads/min): 96 min, not 60 s.
    expect(healthPassPeriodMs(60_000, 18_000, 187.5)).toBe(5_760_000);
    expect(healthPassPeriodMs(60_000, 100, 187.5)).toBe(60_000); // fits: the configured period
    expect(healthPassPeriodMs(60_000, 18_000)).toBe(60_000); // no bound
    const { cloud, calls } = fakeCloud(() => [st('a', 'HEALTHY')]);
    const passes: Array<{ reads: number; periodMs: number }> = [];
    // 600 reads/min = one read per 100 ms; 4 backends in a 100 ms period would be 2,400/min.
    const m = new BackendHealthMonitor({ cloud, maxReadsPerMinute: 600, onPass: (p) => passes.push(p) });
    const ctl = new AbortController();
    m.track('ns/gw', targets(4));
    const running = m.run(100, ctl.signal);
    try {
      await until(() => calls.length >= 8, 3_000);
      // The urgent first reads and the pass alike start >= 100 ms apart (timer slack: -10 ms).
      const gaps = calls.slice(0, 8).map((c, i, a) => (i === 0 ? 100 : c.at - a[i - 1]!.at));
      for (const g of gaps) expect(g).toBeGreaterThanOrEqual(90);
      // The pass says how long it takes: 4 reads at 600/min = 400 ms, not the 100 ms asked for.
      expect(passes[0]).toEqual({ reads: 4, periodMs: 400 });
    } finally {
      ctl.abort();
      await running;
    }
  });
});
