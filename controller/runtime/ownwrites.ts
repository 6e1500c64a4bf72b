// SPDX-License-Identifier: Apache-2.0
//
// The resourceVersions the controller's own writes of member objects produced (its VIP Services
// and mirrored EndpointSlices, infra/vip/apply.ts). The watch event that echoes such a write
// carries the same resourceVersion: it is not news (the reconcile that wrote it knew that state),
// so keys.ts queues nothing for it. Anything else on those objects — another writer's change, a
// delete (its event carries a new resourceVersion) — has another version and still reaches the
// owning Gateway (drift repair). An echo that arrives before the write's response is recorded is
// queued as before: one extra reconcile that writes nothing, never a missed change.
// Without this every Gateway was reconciled twice on create, the second time only because of its
// own writes, re-reading each GCE resource the first one had written (bench:scale: ~8 GETs per
// Gateway, most of the create phase's reads).

/** How many versions of one object are remembered: our writes of it within one reconcile (apply, status). */
const VERSIONS = 4;

/**
 * One entry per object written whose echo has not arrived yet: the versions its recent writes
 * produced, oldest first. A reconcile writes a VIP Service twice in a row (apply, then the status
 * subresource), so the echo of the first write arrives after the second write's version was
 * recorded: both must be known. A resourceVersion is unique across the cluster's objects and writes
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions), so no other
 * writer's change can carry one of ours. The entry goes when the echo of the latest version arrives,
 * so the map holds only writes in flight.
 */
export class OwnWrites {
  readonly #rv = new Map<string, string[]>();

  /** A write of `key` (`namespace/name`) in `cluster` left it at `resourceVersion`. */
  record(cluster: string, resource: string, key: string, resourceVersion: string | undefined): void {
    const k = `${cluster}|${resource}|${key}`;
    // A write whose version we did not learn: its echo is not recognised (one extra reconcile).
    if (resourceVersion === undefined || resourceVersion === '') {
      this.#rv.delete(k);
      return;
    }
    const vs = this.#rv.get(k) ?? [];
    vs.push(resourceVersion);
    if (vs.length > VERSIONS) vs.shift();
    this.#rv.set(k, vs);
  }

  /** True when this version of the object is one our recent writes of it produced. */
  isOwn(cluster: string, resource: string, key: string, resourceVersion: string | undefined): boolean {
    if (resourceVersion === undefined || resourceVersion === '') return false;
    const k = `${cluster}|${resource}|${key}`;
    const vs = this.#rv.get(k);
    if (vs === undefined || !vs.includes(resourceVersion)) return false;
    // Watch events come in resourceVersion order: after the latest write's echo nothing older follows.
    if (vs[vs.length - 1] === resourceVersion) this.#rv.delete(k);
    return true;
  }

  /** Objects with an echo outstanding (tests, metrics). */
  get size(): number {
    return this.#rv.size;
  }
}
