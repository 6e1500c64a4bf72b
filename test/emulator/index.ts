// SPDX-License-Identifier: Apache-2.0
//
// The Compute API emulator: a local HTTP server that answers like compute.googleapis.com for everything fleet-ilb
// touches (test/emulator/README.md). Point `@google-cloud/compute` at it with
// `emulator.clientOptions()`, gcloud with `CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=${emulator.url}/compute/v1/`.

import { readFileSync } from 'node:fs';
import { PassThroughClient } from 'google-auth-library';
import { parse as parseYaml } from 'yaml';
import { EmulatorServer } from './server.ts';
import type { AuditEntry, FaultSpec, FaultState, Inventory, Prober, ProberRules, Seed } from './types.ts';

export type * from './types.ts';

/** Options of {@link startEmulator}. */
export interface EmulatorOptions {
  /** TCP port on 127.0.0.1; 0 or absent = a free one. */
  port?: number;
  /** Seed object, or the path of a YAML/JSON seed file. */
  seed?: Seed | string;
  /** Time from PENDING to DONE of every operation (default 0: operations are DONE when returned). */
  operationLatencyMs?: number;
  /** Seed of the PRNG behind probabilistic faults and generated ids (default 1). */
  randomSeed?: number;
  /** Upper bound of `operations.wait` (default 120 000 ms, like the real API's ~2 minutes). */
  waitTimeoutMs?: number;
}

/** A running emulator. */
export interface Emulator {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** The PRNG seed in use (replay a failing run with it). */
  randomSeed: number;
  /** Options for any `@google-cloud/compute` client: `new RegionBackendServicesClient(emulator.clientOptions())`. */
  clientOptions(): { apiEndpoint: string; port: number; protocol: 'http'; authClient: PassThroughClient };
  /** Adds networks/subnetworks/instances (same shape as the YAML seed file). */
  seed(s: Seed): void;
  /** Replaces the health prober (default: everything HEALTHY). */
  setProber(p: Prober): void;
  /** Static prober rules (what the admin endpoint sets). */
  setProberRules(r: ProberRules): void;
  setOperationLatency(ms: number): void;
  setWaitTimeout(ms: number): void;
  /** How long a requestId replays its (possibly failed) operation (default 60 min). */
  setRequestIdTtl(ms: number): void;
  faults: { inject(f: FaultSpec): string; clear(id?: string): void; list(): FaultState[] };
  audit(): AuditEntry[];
  resetAudit(): void;
  counters(): Record<string, { reads: number; writes: number }>;
  inventory(): Inventory;
  stop(): Promise<void>;
}

/** Reads a YAML (or JSON) seed file. */
export function loadSeed(path: string): Seed {
  return parseYaml(readFileSync(path, 'utf8')) as Seed;
}

/** Starts an emulator on 127.0.0.1. */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const randomSeed = opts.randomSeed ?? 1;
  const server = new EmulatorServer({
    operationLatencyMs: opts.operationLatencyMs ?? 0,
    waitTimeoutMs: opts.waitTimeoutMs ?? 120_000,
    randomSeed,
  });
  if (opts.seed !== undefined) server.seed(typeof opts.seed === 'string' ? loadSeed(opts.seed) : opts.seed);
  const port = await server.listen(opts.port ?? 0);
  const url = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    randomSeed,
    clientOptions: () => ({ apiEndpoint: '127.0.0.1', port, protocol: 'http', authClient: new PassThroughClient() }),
    seed: (s) => server.seed(s),
    setProber: (p) => {
      server.engine.prober = p;
    },
    setProberRules: (r) => server.setProberRules(r),
    setOperationLatency: (ms) => {
      server.engine.latencyMs = ms;
    },
    setWaitTimeout: (ms) => {
      server.engine.waitTimeoutMs = ms;
    },
    setRequestIdTtl: (ms) => {
      server.engine.requestIdTtlMs = ms;
    },
    faults: {
      inject: (f) => server.faults.inject(f),
      clear: (id) => server.faults.clear(id),
      list: () => server.faults.list(),
    },
    audit: () => server.audit(),
    resetAudit: () => server.resetAudit(),
    counters: () => server.counters(),
    inventory: () => server.inventory(),
    stop: () => (stopped ??= server.close()),
  };
}
