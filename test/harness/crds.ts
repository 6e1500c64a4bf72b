// SPDX-License-Identifier: Apache-2.0
//
// The CRDs every test cluster gets: Gateway API standard channel and MCS API, read from their Go
// modules (pinned in test/apiserver/go.mod, located with `go mod download -json`; README "API":
// installed from upstream, never copied into this repo), plus ours from crds/.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type RequestOptions } from 'node:https';
import {
  ApiextensionsV1Api,
  ApiException,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { repoRoot, upstreamCrdDirs } from './binaries.ts';

/** Everything installed into each cluster. */
export interface FleetManifests {
  crds: V1CustomResourceDefinition[];
  /** Non-CRD objects shipped with the CRDs (Gateway API's safe-upgrades ValidatingAdmissionPolicy). */
  others: KubernetesObject[];
  /** Where they came from, for logs and the README. */
  sources: { gatewayApi: string; mcsApi: string; ours: string };
}

let manifests: Promise<FleetManifests> | undefined;

/** Loads (once per process) the CRDs to install. */
export function fleetManifests(): Promise<FleetManifests> {
  manifests ??= loadManifests();
  manifests.catch(() => {
    manifests = undefined;
  });
  return manifests;
}

async function loadManifests(): Promise<FleetManifests> {
  const dirs = await upstreamCrdDirs();
  const gatewayDir = join(dirs.gatewayApi.dir, 'config', 'crd', 'standard');
  const mcsDir = join(dirs.mcsApi.dir, 'config', 'crd');
  const oursDir = join(repoRoot, 'crds');
  const docs = (await Promise.all([readYamlDir(gatewayDir), readYamlDir(mcsDir), readYamlDir(oursDir)])).flat();
  const crds: V1CustomResourceDefinition[] = [];
  const others: KubernetesObject[] = [];
  for (const d of docs) {
    if (d.kind === 'CustomResourceDefinition') crds.push(d as V1CustomResourceDefinition);
    else others.push(d);
  }
  return { crds, others, sources: { gatewayApi: gatewayDir, mcsApi: mcsDir, ours: oursDir } };
}

async function readYamlDir(dir: string): Promise<KubernetesObject[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
  const out: KubernetesObject[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(await readFile(join(dir, f), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${join(dir, f)}: ${doc.errors[0]?.message ?? 'YAML error'}`);
      const obj = doc.toJS() as KubernetesObject | null;
      if (obj?.kind !== undefined) out.push(obj);
    }
  }
  return out;
}

/**
 * Creates the CRDs (and companion objects) in one cluster, concurrently, then waits until every
 * CRD is Established and every served version is in discovery and answers a list.
 * Objects that already exist (a restarted cluster keeps its data) are left as they are.
 */
export async function installManifests(kc: KubeConfig, m: FleetManifests, timeoutMs = 60_000, log: (msg: string) => void = () => {}): Promise<void> {
  const t0 = performance.now();
  await Promise.all([...m.crds, ...m.others].map((o) => createRaw(kc, o)));
  log(`created ${m.crds.length} CRDs and ${m.others.length} other objects in ${Math.round(performance.now() - t0)} ms`);
  await waitCrdsServed(kc, m.crds, timeoutMs, log);
}

// REST paths of the kinds we install. Raw requests, not client-node's typed APIs: those serialise
// through their generated models, which drop every field they do not know under its wire name
// (`default`, `x-kubernetes-validations`, ... in a CRD schema would silently vanish).
const COLLECTIONS: Record<string, string> = {
  'apiextensions.k8s.io/v1/CustomResourceDefinition': '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
};

/**
 * POSTs a cluster-scoped object exactly as written; an existing one (409) is left as it is. A 5xx or
 * 429 is retried (up to 3 tries): on a loaded machine a big CRD's create can hit the apiserver's
 * request timeout (504) even though it was stored, and the retry then sees 409.
 */
async function createRaw(kc: KubeConfig, obj: KubernetesObject): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await createRawOnce(kc, obj);
      return;
    } catch (e) {
      const status = (e as { status?: number }).status ?? 0;
      if (attempt >= 3 || !(status >= 500 || status === 429)) throw e;
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

async function createRawOnce(kc: KubeConfig, obj: KubernetesObject): Promise<void> {
  const path = COLLECTIONS[`${obj.apiVersion ?? ''}/${obj.kind ?? ''}`];
  if (path === undefined) throw new Error(`harness cannot install ${obj.apiVersion ?? ''} ${obj.kind ?? ''}`);
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('kubeconfig has no current cluster');
  const opts: RequestOptions = { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const body = JSON.stringify(obj);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolvePromise, reject) => {
    const req = request(new URL(path, server), opts, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (t += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text: t }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  if (status === 201 || status === 200 || status === 409) return;
  throw Object.assign(new Error(`creating ${obj.kind ?? ''} ${obj.metadata?.name ?? ''}: HTTP ${status}: ${text.slice(0, 2000)}`), { status });
}

/**
 * Waits until every served version of every CRD is in discovery and answers a list, then checks
 * that each CRD is Established with its names accepted.
 *
 * Discovery is polled per group/version (small documents); the CRDs themselves (the Gateway API
 * ones are hundreds of kB each) are read once, at the end. The apiextensions discovery controller
 * publishes a version only once its CRD is Established, so the final check normally passes at once.
 */
export async function waitCrdsServed(
  kc: KubeConfig,
  crds: readonly V1CustomResourceDefinition[],
  timeoutMs = 60_000,
  log: (msg: string) => void = () => {},
): Promise<void> {
  const t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let pending = crds.flatMap((crd) =>
    crd.spec.versions.filter((v) => v.served).map((v) => ({ group: crd.spec.group, version: v.name, plural: crd.spec.names.plural })),
  );
  let rounds = 0;
  let problem = '';
  const retry = async (): Promise<void> => {
    if (Date.now() > deadline) throw new Error(`CRDs not served after ${timeoutMs} ms: ${problem}`);
    await new Promise((r) => setTimeout(r, 100));
  };
  while (pending.length > 0) {
    rounds++;
    const gvs = [...new Set(pending.map((p) => `${p.group}/${p.version}`))];
    const discovered = new Map(
      await Promise.all(
        gvs.map(async (gv) => {
          const [group = '', version = ''] = gv.split('/');
          const res = await custom.getAPIResources({ group, version }).catch(() => undefined);
          return [gv, new Set(res?.resources.map((r) => r.name) ?? [])] as const;
        }),
      ),
    );
    const results = await Promise.all(
      pending.map(async (p) => {
        if (discovered.get(`${p.group}/${p.version}`)?.has(p.plural) !== true) return `${p.plural}.${p.group}/${p.version} not in discovery`;
        try {
          await custom.listClusterCustomObject({ group: p.group, version: p.version, plural: p.plural, limit: 1 });
          return '';
        } catch (e) {
          return `list ${p.plural}.${p.group}/${p.version}: ${e instanceof ApiException ? `HTTP ${e.code}` : String(e)}`;
        }
      }),
    );
    pending = pending.filter((_, i) => results[i] !== '');
    problem = results.filter((r) => r !== '').join('; ');
    if (pending.length > 0) await retry();
  }
  const names = new Set(crds.map((c) => c.metadata?.name));
  for (;;) {
    const list = await ext.listCustomResourceDefinition();
    const notReady = list.items
      .filter((c) => names.has(c.metadata?.name))
      .filter((c) => !['Established', 'NamesAccepted'].every((t) => c.status?.conditions?.some((x) => x.type === t && x.status === 'True')))
      .map((c) => c.metadata?.name ?? '');
    const missing = [...names].filter((n) => !list.items.some((c) => c.metadata?.name === n));
    if (notReady.length === 0 && missing.length === 0) break;
    problem = `not Established: ${[...notReady, ...missing].join(', ')}`;
    await retry();
  }
  log(`CRDs served after ${Math.round(performance.now() - t0)} ms (${rounds} discovery rounds)`);
}

// ---- GKE MCS's CRDs (test only) ---------------------------------------------------------------
//
// GKE's multi-cluster Services install `net.gke.io` CRDs in every fleet cluster: `ServiceExport`
// (v1alpha1 storage with `spec.superclusterIP`; v1 served, no spec, `status.conditions`) and
// `ServiceImport` v1 (`spec.ips`/`ports`/`sessionAffinity`/`sessionAffinityConfig`/`type`,
// `status.clusters`). GKE publishes no Go module or manifest to install them from, so a GKE-shaped
// stand-in is written here: the versions, names and fields users' manifests and fleet-ilb touch
// (https://cloud.google.com/kubernetes-engine/docs/how-to/multi-cluster-services: `kind:
// ServiceExport`, `apiVersion: net.gke.io/v1`, metadata only). Never shipped: a real GKE fleet has
// GKE's own.

const conditionsSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      lastTransitionTime: { type: 'string', format: 'date-time' },
      message: { type: 'string' },
      reason: { type: 'string' },
      status: { type: 'string' },
      type: { type: 'string' },
    },
  },
};

const servicePortsSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['port'],
    properties: { appProtocol: { type: 'string' }, name: { type: 'string' }, port: { type: 'integer', format: 'int32' }, protocol: { type: 'string' } },
  },
};

function gkeCrd(plural: string, kind: string, versions: unknown[]): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.net.gke.io`, labels: { 'fleetilb.io/test-only': 'gke-mcs' } },
    spec: {
      group: 'net.gke.io',
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions,
    },
  } as V1CustomResourceDefinition;
}

/** GKE-shaped `serviceexports.net.gke.io` and `serviceimports.net.gke.io` (test only; see above). */
export const GKE_MCS_CRDS: readonly V1CustomResourceDefinition[] = [
  gkeCrd('serviceexports', 'ServiceExport', [
    {
      name: 'v1alpha1',
      served: true,
      storage: true,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: { type: 'object', properties: { superclusterIP: { type: 'string' } } },
            status: { type: 'object', properties: { conditions: conditionsSchema, superclusterIP: { type: 'string' } } },
          },
        },
      },
    },
    {
      name: 'v1',
      served: true,
      storage: false,
      subresources: { status: {} },
      schema: { openAPIV3Schema: { type: 'object', properties: { status: { type: 'object', properties: { conditions: conditionsSchema } } } } },
    },
  ]),
  gkeCrd('serviceimports', 'ServiceImport', [
    {
      name: 'v1',
      served: true,
      storage: true,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              required: ['ports', 'type'],
              properties: {
                ips: { type: 'array', maxItems: 1, items: { type: 'string' } },
                ports: servicePortsSchema,
                sessionAffinity: { type: 'string' },
                sessionAffinityConfig: { type: 'object', properties: { clientIP: { type: 'object', properties: { timeoutSeconds: { type: 'integer', format: 'int32' } } } } },
                type: { type: 'string' },
              },
            },
            status: { type: 'object', properties: { clusters: { type: 'array', items: { type: 'object', required: ['cluster'], properties: { cluster: { type: 'string' } } } } } },
          },
        },
      },
    },
  ]),
];

/** Installs the GKE-shaped MCS CRDs into one cluster and waits until they are served. */
export async function installGkeMcsCrds(kc: KubeConfig, log: (msg: string) => void = () => {}): Promise<void> {
  await installManifests(kc, { crds: [...GKE_MCS_CRDS], others: [], sources: { gatewayApi: '', mcsApi: '', ours: 'test/harness/crds.ts (GKE MCS stand-in)' } }, 60_000, log);
}
