// SPDX-License-Identifier: Apache-2.0
//
// The controller as its own OS process for the battery's crash and deposed-leader items (B1/B2,
// C1/C2), spawned by test/fixtures/replica.ts: test/integration/controller-replica-child.ts runs
// `startController` with the options given and reports, one JSON line each, when it started, every
// change of leadership, when its write fence closed, and every non-GET request it sends to an
// apiserver (seen on undici's diagnostics channel as it is sent).
import type { ChildProcess } from 'node:child_process';
import type { ControllerOptions } from '../../controller/main.ts';
import { spawnReplica, type ReplicaLine } from '../fixtures/replica.ts';

/** A Kubernetes write the process sent: Lease writes (the election itself) and Events are left out. */
export interface KubeWrite {
  wall: number;
  what: string;
}

export class ControllerProcess {
  readonly proc: ChildProcess;
  /** Resolves with the exit code (3 = leader election lost, null = killed by a signal). */
  readonly exited: Promise<number | null>;
  readonly identity: string;
  started = false;
  /** Every leadership change, in order. */
  readonly leadership: Array<'leading' | 'not-leading'> = [];
  readonly kubeWrites: KubeWrite[] = [];
  /** Event writes (create/patch of core or events.k8s.io Events), apart. */
  readonly eventWrites: KubeWrite[] = [];
  /** When its write fence last closed (wall ms, as the process computed it), once it has. */
  fenceClosedAt: number | undefined;

  constructor(identity: string, opts: ControllerOptions) {
    this.identity = identity;
    ({ proc: this.proc, exited: this.exited } = spawnReplica(opts, (l) => this.#take(l)));
  }

  #take(l: ReplicaLine): void {
    if (l.ev === 'started') this.started = true;
    if (l.ev === 'fenceClosed' && l.at !== undefined) this.fenceClosedAt = l.at;
    if (l.ev === 'leading' || l.ev === 'not-leading') this.leadership.push(l.ev);
    // Events are a record of the state changes, not part of them: counted apart.
    if (l.ev === 'kubeWrite') (/\/events(\/|$|\?)/.test(l.path ?? '') ? this.eventWrites : this.kubeWrites).push({ wall: l.wall, what: `${l.method ?? ''} ${l.path ?? ''}` });
  }

  leading(): boolean {
    return this.leadership.at(-1) === 'leading';
  }

  alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGKILL (no cleanup, like a node that dies); a stopped process is continued first. */
  async kill(): Promise<void> {
    if (this.alive()) {
      this.proc.kill('SIGCONT');
      this.proc.kill('SIGKILL');
    }
    await this.exited;
  }
}
