// SPDX-License-Identifier: Apache-2.0
//
// Classification of errors talking to a cluster, so the runtime can tell "the member is down"
// (freeze it, docs/failure-rules.md) from "its credentials are wrong" (AuthFailed) from "our RBAC
// is short" (Forbidden) from "the kubeconfig cannot even be used" (InvalidKubeconfig). Errors reach
// us in several shapes with @kubernetes/client-node 2.x on undici:
//   * generated API calls: `ApiException` with `.code` (HTTP status) and `.body` (Status JSON text);
//   * `Watch.watch` non-200: an `Error` with `.statusCode`;
//   * our own LIST (clusters/http.ts): `KubeHttpError` with `.statusCode` and the parsed Status;
//   * transport failures: undici `TypeError('fetch failed')` whose `.cause` carries a Node/undici
//     `code` (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT, ...), TLS verification codes, or a
//     `DOMException` named `TimeoutError`/`AbortError`.

/** What went wrong with a cluster connection. */
export type ClusterErrorKind =
  /** Nothing answered, or it answered 5xx / timed out: freeze, retry with backoff. */
  | 'Unreachable'
  /** 401, or the server's TLS identity could not be verified. */
  | 'AuthFailed'
  /** 403: authenticated but not allowed (RBAC). */
  | 'Forbidden'
  /** The kubeconfig cannot produce a request (no cluster, bad URL, unparsable, bad key material). */
  | 'InvalidKubeconfig'
  /** 410 Gone: a resourceVersion or continue token expired (relist). */
  | 'Gone'
  /** Anything else (4xx validation, 404, 409, 429 ...): the caller decides. */
  | 'Other';

/** A classified error. */
export interface ClassifiedClusterError {
  kind: ClusterErrorKind;
  /** HTTP status, when there was a response. */
  statusCode?: number;
  /** The Status `reason` (e.g. `Expired`, `Forbidden`), when the server sent one. */
  reason?: string;
  /** A one-line message for conditions and logs (never contains credentials). */
  message: string;
}

/** The subset of a metav1.Status we read. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

/** A non-2xx response from an apiserver (clusters/http.ts). */
export class KubeHttpError extends Error {
  readonly statusCode: number;
  readonly status: KubeStatus | undefined;
  constructor(statusCode: number, status: KubeStatus | undefined, what: string) {
    super(`${what}: HTTP ${statusCode}${status?.reason ? ` ${status.reason}` : ''}${status?.message ? `: ${status.message}` : ''}`);
    this.name = 'KubeHttpError';
    this.statusCode = statusCode;
    this.status = status;
  }
}

/** Raised when a kubeconfig (file, Secret, in-cluster) cannot be turned into a client. */
export class InvalidKubeconfigError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'InvalidKubeconfigError';
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_ABORTED',
]);

// Node's TLS verification failures: the server could not prove it is the cluster we were told about.
const TLS_VERIFY_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
]);

function prop(x: unknown, name: string): unknown {
  return typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[name] : undefined;
}

/** The HTTP status carried by any of client-node's error shapes, if any. */
export function statusCodeOf(err: unknown): number | undefined {
  for (const name of ['statusCode', 'code']) {
    const v = prop(err, name);
    if (typeof v === 'number' && v >= 100 && v < 600) return v;
  }
  return undefined;
}

/** The Status object carried by an error (KubeHttpError, or ApiException's JSON `.body`). */
export function kubeStatusOf(err: unknown): KubeStatus | undefined {
  if (err instanceof KubeHttpError) return err.status;
  const body = prop(err, 'body');
  if (typeof body === 'string' && body.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === 'object' && parsed !== null) return parsed;
    } catch {
      return undefined;
    }
  }
  if (typeof body === 'object' && body !== null) return body;
  return undefined;
}

/** Walk `err`, `err.cause`, ... (bounded) and return the first string `code`. */
function causeCode(err: unknown): { code?: string; name?: string; message?: string } {
  let e: unknown = err;
  let name: string | undefined;
  let message: string | undefined;
  for (let i = 0; i < 6 && e !== undefined && e !== null; i++) {
    const code = prop(e, 'code');
    const n = prop(e, 'name');
    const m = prop(e, 'message');
    if (typeof n === 'string' && (n === 'TimeoutError' || n === 'AbortError')) name = n;
    if (typeof m === 'string' && m) message = m;
    if (typeof code === 'string') return { code, ...(name ? { name } : {}), message: typeof m === 'string' && m ? m : (message ?? '') };
    e = prop(e, 'cause');
  }
  return { ...(name ? { name } : {}), ...(message ? { message } : {}) };
}

function fromStatus(statusCode: number, status: KubeStatus | undefined, fallback: string): ClassifiedClusterError {
  const reason = status?.reason;
  const message = status?.message ?? fallback;
  const base = { statusCode, ...(reason ? { reason } : {}), message: `HTTP ${statusCode}: ${message}` };
  if (statusCode === 401) return { kind: 'AuthFailed', ...base };
  if (statusCode === 403) return { kind: 'Forbidden', ...base };
  if (statusCode === 410) return { kind: 'Gone', ...base };
  if (statusCode >= 500 || statusCode === 408) return { kind: 'Unreachable', ...base };
  return { kind: 'Other', ...base };
}

/** Classify any error from a request to a cluster (see the file comment for the shapes). */
export function classifyClusterError(err: unknown): ClassifiedClusterError {
  if (err instanceof InvalidKubeconfigError) return { kind: 'InvalidKubeconfig', message: err.message };
  const statusCode = statusCodeOf(err);
  if (statusCode !== undefined) {
    const msg = err instanceof Error ? err.message : String(err);
    return fromStatus(statusCode, kubeStatusOf(err), msg);
  }
  const { code, name, message } = causeCode(err);
  const msg = message ?? (err instanceof Error ? err.message : String(err));
  if (code !== undefined) {
    if (NETWORK_CODES.has(code)) return { kind: 'Unreachable', message: `${code}: ${msg}` };
    if (TLS_VERIFY_CODES.has(code)) return { kind: 'AuthFailed', message: `TLS: ${code}: ${msg}` };
    // Bad key material / PEM in the kubeconfig surfaces from OpenSSL when the agent connects.
    if (code.startsWith('ERR_OSSL') || code === 'ERR_INVALID_URL' || code === 'ERR_INVALID_ARG_TYPE') {
      return { kind: 'InvalidKubeconfig', message: `${code}: ${msg}` };
    }
  }
  if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'Unreachable', message: `${name}: ${msg}` };
  if (/No currently active cluster|Invalid URL|HTTP protocol is not allowed/.test(msg)) {
    return { kind: 'InvalidKubeconfig', message: msg };
  }
  return { kind: 'Other', message: msg };
}

/** True when a watch/list error means the resourceVersion is too old (HTTP 410 or a Status code 410). */
export function isGone(err: unknown): boolean {
  return statusCodeOf(err) === 410 || kubeStatusOf(err)?.code === 410;
}
