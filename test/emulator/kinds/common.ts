// SPDX-License-Identifier: Apache-2.0
//
// What every resource handler shares: the call context, list paging/filtering, aggregated lists, generic get.

import { createHash } from 'node:crypto';
import { type Engine, type Mutation, type OpRecord, type Res } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { compileFilter } from '../filter.ts';
import { type Scope, scopePath, url, str } from '../model.ts';
import { normalizeOut } from '../proto.ts';

/** One API call as a handler sees it. */
export interface Call {
  engine: Engine;
  method: string;
  project: string;
  scope: Scope;
  /** Path parameters (lowerCamelCase), e.g. `backendService`. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The request body, already checked against its proto message. */
  body: Record<string, unknown>;
  requestId?: string;
}

/** A synchronous answer (typed by its proto message) or a mutation to run through an operation. */
export type Outcome =
  | { value: Record<string, unknown>; type: string }
  | { mutation: Mutation }
  /** operations.wait: the server waits (bounded) and then answers with the operation. */
  | { waitOp: OpRecord };

/** A method implementation. */
export type Handler = (c: Call) => Outcome;

/** Static facts about one resource kind. */
export interface KindDef {
  /** REST collection name (`backendServices`). */
  collection: string;
  /** `compute#backendService`. */
  kind: string;
  /** Proto message name (`BackendService`). */
  type: string;
  /** The resource type word real in-use errors use (`backend_service`). */
  typeWord: string;
  /** Adds computed output fields (address users/status, NEG size). */
  render?: (engine: Engine, res: Res) => Record<string, unknown>;
}

/** The API representation of a stored resource, with exact JSON types. */
export function render(engine: Engine, def: KindDef, res: Res): Record<string, unknown> {
  const data = def.render === undefined ? { ...res.data } : def.render(engine, res);
  return normalizeOut(def.type, data);
}

/** The path parameter holding the resource name for a kind's methods (`backendService`, `resource`, …). */
export function nameParam(c: Call, ...candidates: string[]): string {
  for (const k of candidates) {
    const v = c.params[k];
    if (v !== undefined) return v;
  }
  throw new Error(`emulator bug: no path parameter among ${candidates.join(',')}`);
}

/** Generic `get`. */
export function getHandler(def: KindDef, param: string): Handler {
  return (c) => {
    const res = c.engine.must(`projects/${c.project}/${scopePath(c.scope)}/${def.collection}/${c.params[param]!}`);
    return { value: render(c.engine, def, res), type: def.type };
  };
}

/** Parses `maxResults` (0–500, default 500, compute.proto) and `pageToken`. */
function paging(q: URLSearchParams): { max: number; offset: number } {
  const raw = q.get('maxResults');
  let max = 500;
  if (raw !== null && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw ApiError.invalid('maxResults', raw, 'Must be a non-negative integer.');
    // [U] wording; compute.proto: "Acceptable values are 0 to 500, inclusive. (Default: 500)".
    if (n > 500) throw ApiError.invalid('maxResults', raw, 'Must be less than or equal to 500');
    if (n > 0) max = n;
  }
  const token = q.get('pageToken');
  let offset = 0;
  if (token !== null && token !== '') {
    const m = /^o(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
    if (m === null) throw ApiError.invalid('pageToken', token, 'Invalid page token.');
    offset = Number(m[1]);
  }
  return { max, offset };
}

function pageToken(offset: number): string {
  return Buffer.from(`o${offset}`).toString('base64url');
}

/** Sorts by `orderBy` (`name` or `creationTimestamp desc`, the two orders compute.proto documents). */
function order(items: Array<Record<string, unknown>>, orderBy: string | null): Array<Record<string, unknown>> {
  if (orderBy === null || orderBy === '') return items;
  const m = /^\s*(name|creationTimestamp)(?:\s+(asc|desc))?\s*$/.exec(orderBy);
  if (m === null) throw ApiError.invalid('orderBy', orderBy, 'Unsupported order by.');
  const key = m[1]!;
  const dir = m[2] === 'desc' ? -1 : 1;
  return [...items].sort((a, b) => (str(a[key]) < str(b[key]) ? -dir : str(a[key]) > str(b[key]) ? dir : 0));
}

/** Filter, order and page a list of rendered items. */
export function page(
  q: URLSearchParams,
  items: Array<Record<string, unknown>>,
): { items: Array<Record<string, unknown>>; nextPageToken?: string } {
  const pred = compileFilter(q.get('filter') ?? '');
  const filtered = order(items.filter(pred), q.get('orderBy'));
  const { max, offset } = paging(q);
  const slice = filtered.slice(offset, offset + max);
  return offset + max < filtered.length ? { items: slice, nextPageToken: pageToken(offset + max) } : { items: slice };
}

/** A list response `{kind, id, items, nextPageToken, selfLink}` (items omitted when empty, like the API). */
export function listResponse(
  c: Call,
  listKind: string,
  idPath: string,
  items: Array<Record<string, unknown>>,
): Record<string, unknown> {
  const p = page(c.query, items);
  return {
    kind: listKind,
    id: idPath,
    items: p.items,
    ...(p.nextPageToken === undefined ? {} : { nextPageToken: p.nextPageToken }),
    selfLink: url(idPath),
  };
}

/** Generic `list` of one collection in the call's scope. */
export function listHandler(def: KindDef, listType: string, listKind: string): Handler {
  return (c) => {
    const items = c.engine.list(c.project, c.scope, def.collection).map((r) => render(c.engine, def, r));
    const idPath = `projects/${c.project}/${scopePath(c.scope)}/${def.collection}`;
    return { value: listResponse(c, listKind, idPath, items), type: listType };
  };
}

/**
 * An aggregated list: `items` maps every scope key (`regions/r`, `zones/z`, `global`) to `{<field>: [...]}` or, when
 * the scope has nothing on this page, to `{warning: {code: 'NO_RESULTS_ON_PAGE', …}}` (docs/compute-api.md "The Node client on the wire" [O]).
 */
export function aggregated(
  c: Call,
  opts: {
    aggKind: string;
    collection: string;
    field: string;
    scopes: Scope[];
    items: (scope: Scope) => Array<Record<string, unknown>>;
  },
): Record<string, unknown> {
  const flat: Array<{ key: string; item: Record<string, unknown> }> = [];
  const keys = opts.scopes.map(scopePath).sort();
  const byKey = new Map(opts.scopes.map((s) => [scopePath(s), s]));
  for (const key of keys) for (const item of opts.items(byKey.get(key)!)) flat.push({ key, item: { ...item, __key: key } });
  const p = page(
    c.query,
    flat.map((f) => f.item),
  );
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const onPage = p.items.filter((i) => i.__key === key).map(({ __key: _k, ...rest }) => rest);
    out[key] =
      onPage.length > 0
        ? { [opts.field]: onPage }
        : {
            warning: {
              code: 'NO_RESULTS_ON_PAGE',
              message: `There are no results for scope '${key}' on this page.`,
              data: [{ key: 'scope', value: key }],
            },
          };
  }
  const idPath = `projects/${c.project}/aggregated/${opts.collection}`;
  return {
    kind: opts.aggKind,
    id: idPath,
    items: out,
    ...(p.nextPageToken === undefined ? {} : { nextPageToken: p.nextPageToken }),
    selfLink: url(idPath),
  };
}

/** All known region scopes. */
export function regionScopes(e: Engine): Scope[] {
  return [...e.regions].map((name) => ({ kind: 'regions', name }));
}

/** All known zone scopes. */
export function zoneScopes(e: Engine): Scope[] {
  return [...e.zones.keys()].map((name) => ({ kind: 'zones', name }));
}

/** Rejects a change of an immutable field. [U] wording. */
export function immutable(field: string, value: unknown): ApiError {
  return ApiError.invalid(`resource.${field}`, value, 'Field cannot be changed.');
}

/** JSON merge (RFC 7386) as PATCH applies it: objects merge recursively, arrays and scalars replace, null deletes. */
export function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null && !Array.isArray(out[k])) {
      out[k] = mergePatch(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else out[k] = structuredClone(v);
  }
  return out;
}

/** Output-only fields a client may send back (they are ignored on write, as the API does). */
export const OUTPUT_ONLY = ['kind', 'id', 'creationTimestamp', 'selfLink', 'selfLinkWithId', 'region', 'zone'];

/** The body minus output-only fields. */
export function writable(body: Record<string, unknown>, extra: string[] = []): Record<string, unknown> {
  const out = { ...body };
  for (const k of [...OUTPUT_ONLY, ...extra]) delete out[k];
  return out;
}

/** `labelFingerprint` of a label map: a content hash; the API's value for no labels is the well-known `42WmSpB8rSM=`. */
export function labelFingerprint(labels: Record<string, string> | undefined): string {
  if (labels === undefined || Object.keys(labels).length === 0) return '42WmSpB8rSM=';
  const canon = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash('sha256').update(canon).digest().subarray(0, 8).toString('base64');
}
