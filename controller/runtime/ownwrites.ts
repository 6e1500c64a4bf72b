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

/** One entry per object written (the latest version), so its size is bounded by the objects we own. */
export class OwnWrites {
  readonly #rv = new Map<string, string>();

  /** A write of `key` (`namespace/name`) in `cluster` left it at `resourceVersion`. */
  record(cluster: string, resource: string, key: string, resourceVersion: string | undefined): void {
    const k = `${cluster}|${resource}|${key}`;
    if (resourceVersion === undefined || resourceVersion === '') this.#rv.delete(k);
    else this.#rv.set(k, resourceVersion);
  }

  /** True when this version of the object is the one our last write of it produced. */
  isOwn(cluster: string, resource: string, key: string, resourceVersion: string | undefined): boolean {
    return resourceVersion !== undefined && resourceVersion !== '' && this.#rv.get(`${cluster}|${resource}|${key}`) === resourceVersion;
  }
}
