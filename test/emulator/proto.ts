// SPDX-License-Identifier: Apache-2.0
//
// The Compute API's schema, read from the `compute.proto` descriptor that ships with `@google-cloud/compute`
// (`build/protos/protos.json`). That proto is generated from the Compute discovery document, so its field names are
// the REST JSON names and its `google.api.http` options are the REST paths. The emulator uses it for three things:
//  1. routing: every REST path and verb of the services we serve comes from the proto, not from hand-written tables;
//  2. request validation: unknown fields and wrongly typed values are rejected like the real API does;
//  3. response normalisation: every field is emitted with its exact proto3-JSON type (uint64 as a string, int32 as a
//     number). A wrongly typed field makes the Node client hang forever (docs/compute-api.md "The Node client on the wire" [O]).

import { createRequire } from 'node:module';
import { ApiError } from './errors.ts';

interface ProtoField {
  type: string;
  rule?: 'repeated';
  keyType?: string;
  id: number;
}
interface ProtoMessage {
  fields: Record<string, ProtoField>;
  nested?: Record<string, ProtoMessage | ProtoEnum>;
}
interface ProtoEnum {
  values: Record<string, number>;
}
interface ProtoMethod {
  requestType: string;
  responseType: string;
  options?: Record<string, string>;
}
interface ProtoService {
  methods: Record<string, ProtoMethod>;
}

const require = createRequire(import.meta.url);
const root = require('@google-cloud/compute/build/protos/protos.json') as {
  nested: { google: { nested: { cloud: { nested: { compute: { nested: { v1: { nested: Record<string, unknown> } } } } } } } };
};
const v1 = root.nested.google.nested.cloud.nested.compute.nested.v1.nested;

function isMessage(x: unknown): x is ProtoMessage {
  return typeof x === 'object' && x !== null && 'fields' in x;
}
function isEnum(x: unknown): x is ProtoEnum {
  return typeof x === 'object' && x !== null && 'values' in x && !('fields' in x);
}

/** The message descriptor for a Compute type name, e.g. `BackendService`. */
export function message(name: string): ProtoMessage {
  const m = v1[name];
  if (!isMessage(m)) throw new Error(`compute.proto has no message ${name}`);
  return m;
}

/** The enum descriptor for a field type, resolving nested enums (e.g. `Status` inside `Operation`). */
function enumOf(owner: ProtoMessage, type: string): ProtoEnum | undefined {
  const nested = owner.nested?.[type];
  if (isEnum(nested)) return nested;
  const top = v1[type];
  return isEnum(top) ? top : undefined;
}

const SCALARS = new Set([
  'string', 'bytes', 'bool', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'int64', 'uint64', 'sint64',
  'fixed64', 'sfixed64', 'float', 'double',
]);
const INT32 = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** Well-known types that appear in compute.proto (Duration only). They are JSON strings/objects; accept as is. */
function isOpaque(type: string): boolean {
  return type === 'Duration' || type.startsWith('google.protobuf.');
}

/**
 * The allowed values of a string field whose proto documents an enum (compute.proto declares enum-valued fields as
 * `string` and puts the enum next to the message, named after the field in UpperCamelCase), or undefined.
 */
export function enumValues(messageName: string, field: string): string[] | undefined {
  const m = message(messageName);
  const enumName = field.charAt(0).toUpperCase() + field.slice(1);
  // `IPProtocol` → `IPProtocolEnum` (protoc renames an enum that would clash with its field).
  const e = m.nested?.[enumName] ?? m.nested?.[`${enumName}Enum`];
  return isEnum(e) ? Object.keys(e.values).filter((v) => !v.startsWith('UNDEFINED_')) : undefined;
}

function typeName(f: ProtoField): string {
  if (INT32.has(f.type)) return 'TYPE_INT32';
  if (INT64.has(f.type)) return f.type.startsWith('u') ? 'TYPE_UINT64' : 'TYPE_INT64';
  if (f.type === 'bool') return 'TYPE_BOOL';
  if (f.type === 'float') return 'TYPE_FLOAT';
  if (f.type === 'double') return 'TYPE_DOUBLE';
  if (f.type === 'string') return 'TYPE_STRING';
  return 'TYPE_MESSAGE';
}

/**
 * Rejects a request body the way the real API's JSON front end does: unknown names and wrongly typed values are
 * 400 errors with reason `invalid` and the message forms
 *   `Invalid JSON payload received. Unknown name "foo" at 'resource': Cannot find field.`
 *   `Invalid value at 'resource.timeoutSec' (TYPE_INT32), "abc"`
 * (the classic Google JSON front-end wording; the body is named `resource` in Compute errors, e.g.
 * "Invalid value for field 'resource.ipAddress'" in kubernetes/ingress-gce#1463). `null` means "absent" in proto3 JSON
 * and is dropped. Returns a cleaned deep copy.
 */
export function checkBody(typeName_: string, body: unknown, path = 'resource'): Record<string, unknown> {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw ApiError.badJson(`Invalid JSON payload received. Expected an object at '${path}'.`, path);
  }
  return checkMessage(message(typeName_), body as Record<string, unknown>, path);
}

function checkMessage(m: ProtoMessage, obj: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const f = m.fields[k];
    if (f === undefined) {
      const at = path === '' ? '' : ` at '${path}'`;
      throw ApiError.badJson(`Invalid JSON payload received. Unknown name "${k}"${at}: Cannot find field.`, path);
    }
    if (v === null || v === undefined) continue;
    out[k] = checkField(m, f, v, `${path}.${k}`);
  }
  return out;
}

function checkField(owner: ProtoMessage, f: ProtoField, v: unknown, path: string): unknown {
  if (f.keyType !== undefined) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badValue(f, v, path);
    const out: Record<string, unknown> = {};
    for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
      out[mk] = checkSingle(owner, f, mv, `${path}[${JSON.stringify(mk)}]`);
    }
    return out;
  }
  if (f.rule === 'repeated') {
    if (!Array.isArray(v)) throw badValue(f, v, path);
    return v.map((e, i) => checkSingle(owner, f, e, `${path}[${i}]`));
  }
  // A list where the proto has a single value: the wording seen in public Google API errors.
  if (Array.isArray(v)) {
    throw ApiError.badJson(
      `Invalid JSON payload received. Unknown name "${path.split('.').pop() ?? ''}" at '${path.split('.').slice(0, -1).join('.')}': Proto field is not repeating, cannot start list.`,
      path,
    );
  }
  return checkSingle(owner, f, v, path);
}

function badValue(f: ProtoField, v: unknown, path: string): ApiError {
  const shown = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return ApiError.badJson(`Invalid value at '${path}' (${typeName(f)}), ${shown}`, path);
}

function checkSingle(owner: ProtoMessage, f: ProtoField, v: unknown, path: string): unknown {
  const t = f.type;
  if (INT32.has(t)) {
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw badValue(f, v, path);
    if (t.startsWith('u') && n < 0) throw badValue(f, v, path);
    return n;
  }
  if (INT64.has(t)) {
    if (typeof v === 'number' && Number.isInteger(v)) return String(v);
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
    throw badValue(f, v, path);
  }
  if (t === 'float' || t === 'double') {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
    throw badValue(f, v, path);
  }
  if (t === 'bool') {
    if (typeof v !== 'boolean') throw badValue(f, v, path);
    return v;
  }
  if (t === 'string' || t === 'bytes') {
    if (typeof v !== 'string') throw badValue(f, v, path);
    return v;
  }
  if (isOpaque(t)) return v;
  const e = enumOf(owner, t);
  if (e !== undefined) {
    if (typeof v === 'string' && v in e.values) return v;
    if (typeof v === 'number') {
      const name = Object.entries(e.values).find(([, n]) => n === v)?.[0];
      if (name !== undefined) return name;
    }
    throw badValue(f, v, path);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badValue(f, v, path);
  return checkMessage(message(t), v as Record<string, unknown>, path);
}

/**
 * Normalises an emulator response object to the exact proto3-JSON types of `typeName_`: 64-bit integers become
 * strings, 32-bit integers numbers; empty arrays/maps and undefined values are dropped (the real API omits them).
 * Unknown fields throw: they are emulator bugs, and a client would silently ignore them.
 */
export function normalizeOut(typeName_: string, obj: Record<string, unknown>): Record<string, unknown> {
  return normMessage(message(typeName_), obj, typeName_);
}

function normMessage(m: ProtoMessage, obj: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    const f = m.fields[k];
    if (f === undefined) throw new Error(`emulator bug: ${path}.${k} is not a field of the proto`);
    if (f.keyType !== undefined) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) continue;
      out[k] = Object.fromEntries(entries.map(([mk, mv]) => [mk, normSingle(m, f, mv, `${path}.${k}`)]));
    } else if (f.rule === 'repeated') {
      if (!Array.isArray(v)) throw new Error(`emulator bug: ${path}.${k} must be an array`);
      if (v.length === 0) continue;
      out[k] = v.map((e) => normSingle(m, f, e, `${path}.${k}[]`));
    } else {
      out[k] = normSingle(m, f, v, `${path}.${k}`);
    }
  }
  return out;
}

function normSingle(owner: ProtoMessage, f: ProtoField, v: unknown, path: string): unknown {
  const t = f.type;
  if (INT32.has(t)) {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new Error(`emulator bug: ${path} must be an integer, got ${String(v)}`);
    return n;
  }
  if (INT64.has(t)) return String(v);
  if (t === 'float' || t === 'double') return Number(v);
  if (t === 'bool') {
    if (typeof v !== 'boolean') throw new Error(`emulator bug: ${path} must be a boolean`);
    return v;
  }
  if (SCALARS.has(t)) {
    if (typeof v !== 'string') throw new Error(`emulator bug: ${path} must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
  if (isOpaque(t) || enumOf(owner, t) !== undefined) return v;
  return normMessage(message(t), v as Record<string, unknown>, path);
}

/** One REST route of a Compute method, straight from its `google.api.http` option. */
export interface ProtoRoute {
  /** `regionBackendServices.insert`: the discovery method name (service and rpc in lowerCamelCase). */
  method: string;
  httpMethod: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  template: string;
  regex: RegExp;
  /** Path parameter names in lowerCamelCase, in order. */
  params: string[];
  /** The proto message type of the request body, if the method has one. */
  bodyType?: string;
  responseType: string;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
function camel(s: string): string {
  return s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The REST routes of the given Compute services (proto service names, e.g. `RegionBackendServices`). */
export function routesOf(services: readonly string[]): ProtoRoute[] {
  const out: ProtoRoute[] = [];
  for (const svcName of services) {
    const svc = v1[svcName] as ProtoService | undefined;
    if (svc?.methods === undefined) throw new Error(`compute.proto has no service ${svcName}`);
    for (const [rpc, m] of Object.entries(svc.methods)) {
      const opts = m.options ?? {};
      const verb = (['get', 'post', 'put', 'patch', 'delete'] as const).find((x) => opts[`(google.api.http).${x}`]);
      if (verb === undefined) continue;
      const template = opts[`(google.api.http).${verb}`]!;
      const params: string[] = [];
      const source = template
        .split('/')
        .map((seg) => {
          const pm = /^\{([a-z_]+)\}$/.exec(seg);
          if (pm === null) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          params.push(camel(pm[1]!));
          return '([^/]+)';
        })
        .join('/');
      const bodyField = opts['(google.api.http).body'];
      let bodyType: string | undefined;
      if (bodyField !== undefined) {
        const req = message(m.requestType);
        bodyType = req.fields[camel(bodyField)]?.type;
      }
      out.push({
        method: `${lowerFirst(svcName)}.${lowerFirst(rpc)}`,
        httpMethod: verb.toUpperCase() as ProtoRoute['httpMethod'],
        template,
        regex: new RegExp(`^${source}$`),
        params,
        ...(bodyType === undefined ? {} : { bodyType }),
        responseType: m.responseType,
      });
    }
  }
  return out;
}
