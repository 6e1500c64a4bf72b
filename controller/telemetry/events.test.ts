// SPDX-License-Identifier: Apache-2.0
import type { EventsV1Event } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../runtime/clock.ts';
import { closedFence } from '../runtime/fence.ts';
import { type EventSink, EventRecorder, type ObjectReference } from './events.ts';

const clock: Clock = { now: () => Date.now() };

class FakeSink implements EventSink {
  created: { namespace: string; event: EventsV1Event; at: number }[] = [];
  patches: { namespace: string; name: string; count: number; at: number }[] = [];
  createDelayMs = 0;
  failCreate = false;
  async create(namespace: string, event: EventsV1Event): Promise<void> {
    if (this.createDelayMs) await new Promise((r) => setTimeout(r, this.createDelayMs));
    if (this.failCreate) throw new Error('apiserver said no');
    this.created.push({ namespace, event, at: Date.now() });
  }
  patchSeries(namespace: string, name: string, series: { count: number }): Promise<void> {
    this.patches.push({ namespace, name, count: series.count, at: Date.now() });
    return Promise.resolve();
  }
}

const gw: ObjectReference = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'gw', namespace: 'team-a', uid: 'uid-1' };

describe('EventRecorder', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes an events.k8s.io/v1 Event with the reporting fields', async () => {
    const sink = new FakeSink();
    const rec = new EventRecorder({ sink, controller: 'fleetilb.io/gateway-controller', instance: 'pod-1', clock });
    rec.record(gw, 'Warning', 'SyncFailed', 'Reconcile', 'forwardingRule fr-1: quota exceeded');
    await rec.flush();
    expect(sink.created).toHaveLength(1);
    const { namespace, event } = sink.created[0]!;
    expect(namespace).toBe('team-a');
    expect(event).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      reportingController: 'fleetilb.io/gateway-controller',
      reportingInstance: 'pod-1',
      type: 'Warning',
      reason: 'SyncFailed',
      action: 'Reconcile',
      note: 'forwardingRule fr-1: quota exceeded',
      regarding: gw,
    });
    expect(event.metadata?.name).toMatch(/^gw\.[0-9a-f]{16}$/);
    expect(JSON.stringify(event.eventTime)).toMatch(/\.\d{6}Z"$/); // MicroTime
  });

  it('cluster-scoped objects get their events in "default"; long notes are cut to 1 kB', async () => {
    const sink = new FakeSink();
    const rec = new EventRecorder({ sink, controller: 'c', instance: 'i', clock });
    rec.record({ kind: 'FleetMember', name: 'member-a' }, 'Warning', 'Unreachable', 'Connect', 'x'.repeat(5000));
    await rec.flush();
    expect(sink.created[0]!.namespace).toBe('default');
    expect(sink.created[0]!.event.note).toHaveLength(1024);
  });

  it('aggregates identical events into one Event with a series, updated at most every seriesFlushMs', async () => {
    const sink = new FakeSink();
    const rec = new EventRecorder({ sink, controller: 'c', instance: 'i', clock, seriesFlushMs: 30_000 });
    for (let i = 0; i < 100; i++) {
      rec.record(gw, 'Warning', 'SyncFailed', 'Reconcile', 'same note');
      await vi.advanceTimersByTimeAsync(500); // 50 s in total
    }
    expect(sink.created).toHaveLength(1);
    expect(sink.patches.map((p) => p.count)).toEqual([60]); // flushed at t=30 s: records at 0, 0.5 ... 29.5 s
    await rec.flush();
    expect(sink.patches.map((p) => p.count)).toEqual([60, 100]);
    expect(sink.patches.every((p) => p.name === sink.created[0]!.event.metadata!.name)).toBe(true);
    // A different note is a different event.
    rec.record(gw, 'Warning', 'SyncFailed', 'Reconcile', 'other note');
    await rec.flush();
    expect(sink.created).toHaveLength(2);
  });

  it('after the series window an identical event starts a new Event', async () => {
    const sink = new FakeSink();
    const rec = new EventRecorder({ sink, controller: 'c', instance: 'i', clock, seriesWindowMs: 60_000 });
    rec.record(gw, 'Normal', 'Synced', 'Reconcile', 'ok');
    await vi.advanceTimersByTimeAsync(61_000);
    rec.record(gw, 'Normal', 'Synced', 'Reconcile', 'ok');
    await rec.flush();
    expect(sink.created).toHaveLength(2);
  });

  it('series updates never overtake the create of their Event', async () => {
    const sink = new FakeSink();
    sink.createDelayMs = 5_000;
    const rec = new EventRecorder({ sink, controller: 'c', instance: 'i', clock, seriesFlushMs: 1_000 });
    rec.record(gw, 'Warning', 'R', 'A', 'n');
    rec.record(gw, 'Warning', 'R', 'A', 'n');
    await vi.advanceTimersByTimeAsync(6_000);
    expect(sink.created).toHaveLength(1);
    expect(sink.patches).toHaveLength(1);
    expect(sink.patches[0]!.at).toBeGreaterThanOrEqual(sink.created[0]!.at);
  });

  it('rate-limits per object (burst 25, then one per 5 min) and counts drops', async () => {
    const sink = new FakeSink();
    const dropped: string[] = [];
    const rec = new EventRecorder({ sink, controller: 'c', instance: 'i', clock, onDropped: (r) => dropped.push(r) });
    for (let i = 0; i < 30; i++) rec.record(gw, 'Warning', `Reason${i}`, 'A', 'n');
    rec.record({ ...gw, uid: 'uid-2', name: 'gw2' }, 'Warning', 'Other', 'A', 'n'); // another object: own bucket
    await rec.flush();
    expect(sink.created).toHaveLength(26);
    expect(dropped).toEqual(Array(5).fill('rate_limited'));
    await vi.advanceTimersByTimeAsync(300_000);
    rec.record(gw, 'Warning', 'Later', 'A', 'n');
    await rec.flush();
    expect(sink.created).toHaveLength(27);
  });

  it('a fenced (non-leader) replica records nothing', async () => {
    const sink = new FakeSink();
    const dropped: string[] = [];
    const rec = new EventRecorder({ sink, controller: 'c', instance: 'i', clock, fence: closedFence, onDropped: (r) => dropped.push(r) });
    rec.record(gw, 'Normal', 'Synced', 'Reconcile', 'ok');
    await rec.flush();
    expect(sink.created).toHaveLength(0);
    expect(dropped).toEqual(['fenced']);
  });

  it('a failing sink is swallowed (counted), and no series is patched for an Event that was never created', async () => {
    const sink = new FakeSink();
    sink.failCreate = true;
    const dropped: string[] = [];
    const rec = new EventRecorder({ sink, controller: 'c', instance: 'i', clock, onDropped: (r) => dropped.push(r), seriesFlushMs: 10 });
    rec.record(gw, 'Warning', 'R', 'A', 'n');
    rec.record(gw, 'Warning', 'R', 'A', 'n');
    await vi.advanceTimersByTimeAsync(100);
    await rec.flush();
    expect(dropped).toEqual(['error']);
    expect(sink.patches).toHaveLength(0);
  });
});
