// SPDX-License-Identifier: Apache-2.0
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../runtime/workqueue.ts';
import { runWorkers } from '../runtime/workers.ts';
import { createLogger } from './logger.ts';
import { createMetrics, gceCallObserver, queueMetrics, reconcileObserver, reflectorMetrics } from './metrics.ts';

describe('metrics', () => {
  it('registries are independent and expose the controller metric names', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.leader.set(1);
    const text = await a.registry.metrics();
    for (const name of [
      'fleetilb_reconcile_duration_seconds',
      'fleetilb_workqueue_depth',
      'fleetilb_gce_calls_total',
      'fleetilb_neg_endpoints',
      'fleetilb_member_reachable',
      'fleetilb_leader',
      'fleetilb_watch_restarts_total',
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
    expect(text).toContain('fleetilb_leader 1');
    expect(await b.registry.metrics()).toContain('fleetilb_leader 0');
  });

  it('queue and reconcile adapters record what the runtime does', async () => {
    const m = createMetrics();
    const q = new WorkQueue({ metrics: queueMetrics(m, 'gateways') });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(await m.registry.getSingleMetricAsString('fleetilb_workqueue_depth')).toContain('fleetilb_workqueue_depth{queue="gateways"} 2');
    expect(await m.registry.getSingleMetricAsString('fleetilb_workqueue_adds_total')).toContain('fleetilb_workqueue_adds_total{queue="gateways"} 2');
    let bRuns = 0;
    const w = runWorkers({
      queue: q,
      observe: reconcileObserver(m),
      // 'b' fails twice (retried after 5 and 10 ms), then succeeds.
      reconcile: (k) => (k === 'b' && ++bRuns <= 2 ? Promise.reject(new Error('boom')) : Promise.resolve()),
    });
    await new Promise((r) => setTimeout(r, 200));
    q.shutDown();
    await w.finished;
    const rec = await m.registry.getSingleMetricAsString('fleetilb_reconcile_duration_seconds');
    expect(rec).toContain('fleetilb_reconcile_duration_seconds_count{result="success"} 2');
    expect(rec).toContain('fleetilb_reconcile_duration_seconds_count{result="error"} 2');
    expect(await m.registry.getSingleMetricAsString('fleetilb_workqueue_retries_total')).toContain('{queue="gateways"} 2');
    expect(await m.registry.getSingleMetricAsString('fleetilb_workqueue_depth')).toContain('{queue="gateways"} 0');
  });

  it('reflector and GCE adapters label by cluster/resource and method/outcome', async () => {
    const m = createMetrics();
    const r = reflectorMetrics(m, 'member-a', 'nodes');
    r.watchRestart?.('idle');
    r.listed?.(10, 250);
    gceCallObserver(m)({ method: 'ForwardingRules.insert', outcome: 'rateLimited', latencyMs: 120 });
    gceCallObserver(m)({ method: 'Addresses.list', outcome: 'ok', latencyMs: 12, priority: 'low' });
    const text = await m.registry.metrics();
    expect(text).toContain('fleetilb_watch_restarts_total{cluster="member-a",resource="nodes",reason="idle"} 1');
    expect(text).toContain('fleetilb_reflector_synced{cluster="member-a",resource="nodes"} 1');
    expect(text).toContain('fleetilb_gce_calls_total{method="ForwardingRules.insert",outcome="rateLimited",priority="high"} 1');
    expect(text).toContain('fleetilb_gce_calls_total{method="Addresses.list",outcome="ok",priority="low"} 1');
  });
});

describe('createLogger', () => {
  it('writes one JSON object per line with level labels, bindings, and redacted credentials', () => {
    const lines: string[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const log = createLogger({ level: 'debug', base: { replica: 'pod-1' }, destination: dest });
    log.child({ cluster: 'member-a' }).warn({ user: { token: 'sekret', name: 'admin' } }, 'watch failed');
    log.debug({}, 'dbg');
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ level: 'warn', name: 'fleet-ilb', replica: 'pod-1', cluster: 'member-a', msg: 'watch failed', user: { token: '[redacted]', name: 'admin' } });
    expect(typeof first.time).toBe('string');
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).not.toContain('sekret');
  });
});
