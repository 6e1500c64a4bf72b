// SPDX-License-Identifier: Apache-2.0
//
// What an ILBConfig names in GCE, checked with reads before anything is written (issue 12, battery
// G2-16/G2-17): its VPC network and its subnetwork must exist, the subnetwork must be in `region` and
// belong to that network. A missing one is the user's to fix, so it is a verdict, not a retry: the
// ILBConfig and the GatewayClass that names it say `Accepted=False/InvalidParameters` (Gateway API:
// "the parametersRef ... is invalid or refers to a resource that does not exist"), and the Gateways
// using it are not Accepted and get no cloud call. Without this check such a Gateway made ~30 calls,
// 15 of them writes (health check, NEG, address inserts), each failing reconcile retried.
//
// Reads: `networks.get` and `subnetworks.get` (Compute API v1 reference: a missing resource is HTTP
// 404 `notFound`), at most once per (project, region, network, subnetwork) while the verdict holds:
//   * `ok` is kept for OK_TTL_MS (an ILBConfig edit is a new key; a VPC deleted later shows up as
//     the apply's own 404 meanwhile);
//   * `invalid` is re-read when asked again after INVALID_RECHECK_MS: the fix (creating the network)
//     happens outside Kubernetes and sends no event, so callers requeue at that pace while any
//     verdict is invalid;
//   * a read that failed (5xx, 403, timeout) is `unknown` and blocks nothing: the ILBConfig stays as
//     parsing judged it, and apply meets the same GCE the usual way. Only a 404 is a verdict.
import type { ILBConfig } from '../api/index.ts';
import { errorMessage } from '../errors/index.ts';
import type { GceCloud } from '../infra/gcp/cloud/client.ts';
import { type Log, silentLog } from '../telemetry/logger.ts';
import { parseILBConfigSpec } from './ilbconfig.ts';

/** The few fields of a Compute network and subnetwork the check reads (compute.proto names). */
export interface NetworkFacts {
  selfLink?: string | null;
}
export interface SubnetworkFacts {
  selfLink?: string | null;
  network?: string | null;
  region?: string | null;
  ipCidrRange?: string | null;
}

/** The reads the verifier needs (GceCloud.forProject(p).getNetwork / getSubnetwork); undefined = 404. */
export interface VpcReader {
  getNetwork(project: string, name: string): Promise<NetworkFacts | undefined>;
  getSubnetwork(project: string, region: string, name: string): Promise<SubnetworkFacts | undefined>;
}

/** Where an ILBConfig places the load balancer. */
export interface VpcRef {
  project: string;
  region: string;
  network: string;
  subnetwork: string;
}

export type VpcVerdict =
  | { state: 'ok'; subnetwork: SubnetworkFacts }
  | { state: 'invalid'; message: string }
  | { state: 'unknown'; message: string };

/** How long a good verdict is kept. */
export const OK_TTL_MS = 60 * 60_000;
/** How soon a missing network or subnetwork is looked up again (and how often callers requeue). */
export const INVALID_RECHECK_MS = 30_000;

/** Pure: the verdict from what the two reads returned. */
export function judgeVpc(ref: VpcRef, network: NetworkFacts | undefined, subnetwork: SubnetworkFacts | undefined): VpcVerdict {
  const netPath = `projects/${ref.project}/global/networks/${ref.network}`;
  const subPath = `projects/${ref.project}/regions/${ref.region}/subnetworks/${ref.subnetwork}`;
  const problems: string[] = [];
  if (network === undefined) problems.push(`network ${netPath} does not exist`);
  if (subnetwork === undefined) problems.push(`subnetwork ${subPath} does not exist`);
  else if (network !== undefined && !sameTail(subnetwork.network, `global/networks/${ref.network}`)) {
    // compute.proto ForwardingRule.subnetwork: the subnetwork must belong to the rule's network
    // (the emulator answers "Network must be the network of the subnetwork").
    problems.push(`subnetwork ${subPath} belongs to network ${tail(subnetwork.network)}, not ${ref.network}`);
  }
  if (problems.length > 0) return { state: 'invalid', message: problems.join('; ') };
  return { state: 'ok', subnetwork: subnetwork! };
}

function tail(url: string | null | undefined): string {
  const s = (url ?? '').replace(/\/+$/, '');
  return s.slice(s.lastIndexOf('/') + 1);
}

function sameTail(url: string | null | undefined, suffix: string): boolean {
  // Full URLs (https://…/projects/p/global/networks/n) and partial paths both end in the suffix.
  return (url ?? '').replace(/\/+$/, '').endsWith(`/${suffix}`) || url === suffix;
}

interface Entry {
  verdict: VpcVerdict;
  at: number;
}

export interface ILBConfigVerifierOptions {
  reader: VpcReader;
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
  log?: Log;
}

/** Cached VPC verdicts per (project, region, network, subnetwork), shared by every reconcile. */
export class ILBConfigVerifier {
  readonly #reader: VpcReader;
  readonly #now: () => number;
  readonly #log: Log;
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<VpcVerdict>>();

  constructor(opts: ILBConfigVerifierOptions) {
    this.#reader = opts.reader;
    this.#now = opts.now ?? Date.now;
    this.#log = (opts.log ?? silentLog).child({ component: 'ilbconfig-verify' });
  }

  /** The verdict for one VPC reference: cached, or read now (concurrent askers share one read). */
  async verdict(ref: VpcRef): Promise<VpcVerdict> {
    const key = `${ref.project}/${ref.region}/${ref.network}/${ref.subnetwork}`;
    const hit = this.#cache.get(key);
    const age = hit === undefined ? Number.POSITIVE_INFINITY : this.#now() - hit.at;
    if (hit !== undefined && ((hit.verdict.state === 'ok' && age < OK_TTL_MS) || (hit.verdict.state === 'invalid' && age < INVALID_RECHECK_MS))) {
      return hit.verdict;
    }
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const p = this.#read(ref).then((v) => {
      if (v.state === 'unknown') this.#cache.delete(key);
      else this.#cache.set(key, { verdict: v, at: this.#now() });
      return v;
    });
    this.#inflight.set(key, p);
    try {
      return await p;
    } finally {
      this.#inflight.delete(key);
    }
  }

  async #read(ref: VpcRef): Promise<VpcVerdict> {
    try {
      const [network, subnetwork] = await Promise.all([this.#reader.getNetwork(ref.project, ref.network), this.#reader.getSubnetwork(ref.project, ref.region, ref.subnetwork)]);
      const v = judgeVpc(ref, network, subnetwork);
      if (v.state === 'invalid') this.#log.info({ ...ref, problem: v.message }, 'ILBConfig names a VPC that GCE does not have');
      return v;
    } catch (e) {
      // Not knowing is not a verdict (docs/architecture.md, "Unknown is not empty").
      this.#log.info({ ...ref, error: errorMessage(e) }, 'ILBConfig VPC not verified (read failed); not blocking');
      return { state: 'unknown', message: errorMessage(e) };
    }
  }

  /**
   * GCE-side problems of the given ILBConfigs, keyed `namespace/name` (translate's
   * `ilbConfigProblems`). ILBConfigs that do not parse are translate's to judge and are skipped.
   */
  async problems(configs: readonly ILBConfig[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    await Promise.all(
      configs.map(async (c) => {
        const parsed = parseILBConfigSpec(c.spec);
        if (!parsed.ok) return;
        const { project, region, network, subnetwork } = parsed.spec;
        const v = await this.verdict({ project, region, network, subnetwork });
        if (v.state === 'invalid') out.set(`${c.metadata.namespace ?? ''}/${c.metadata.name}`, v.message);
      }),
    );
    return out;
  }
}

/** The reader on a Compute client (each ILBConfig's project through `forProject`). */
export function cloudVpcReader(cloud: GceCloud): VpcReader {
  return {
    getNetwork: (project, name) => cloud.forProject(project).getNetwork(name),
    getSubnetwork: (project, region, name) => cloud.forProject(project).getSubnetwork(region, name),
  };
}
