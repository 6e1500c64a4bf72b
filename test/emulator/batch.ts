// SPDX-License-Identifier: Apache-2.0
//
// The batch endpoint `POST /batch/compute/v1` (discovery `batchPath: batch/compute/v1`; gcloud derives it from the
// endpoint override's scheme and host, `client_adapter._GetBatchUrl`). The body is `multipart/mixed`; each part has
// `Content-Type: application/http`, a `Content-ID: <base+n>` and wraps one HTTP request. The reply is
// `multipart/mixed` with one `application/http` part per request carrying `Content-ID: <response-base+n>` (apitools
// `batch.py` takes the id after the last `+`, and parses the wrapped status line + headers + body).

/** One request inside a batch. */
export interface InnerRequest {
  contentId: string;
  method: string;
  /** Path with query. */
  target: string;
  headers: Record<string, string>;
  body: string;
}

/** One response to put in a batch reply. */
export interface InnerResponse {
  contentId: string;
  status: number;
  statusText: string;
  body: string;
}

/** The boundary parameter of a multipart content type. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  return m?.[1] ?? m?.[2];
}

function splitHead(text: string): { head: string; rest: string } {
  const m = /\r?\n\r?\n/.exec(text);
  if (m === null) return { head: text, rest: '' };
  return { head: text.slice(0, m.index), rest: text.slice(m.index + m[0].length) };
}

function parseHeaders(head: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Parses a multipart/mixed batch body. Throws on a malformed one. */
export function parseBatch(body: string, boundary: string): InnerRequest[] {
  const delimiter = `--${boundary}`;
  const parts = body.split(delimiter).slice(1);
  const out: InnerRequest[] = [];
  for (const raw of parts) {
    if (raw.startsWith('--')) break;
    const part = raw.replace(/^\r?\n/, '');
    const { head, rest } = splitHead(part);
    const partHeaders = parseHeaders(head);
    const inner = rest.replace(/\r?\n$/, '');
    const lineEnd = inner.search(/\r?\n/);
    const requestLine = lineEnd < 0 ? inner : inner.slice(0, lineEnd);
    const m = /^([A-Z]+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/.exec(requestLine.trim());
    if (m === null) throw new Error(`batch: bad request line ${JSON.stringify(requestLine)}`);
    const afterLine = lineEnd < 0 ? '' : inner.slice(lineEnd).replace(/^\r?\n/, '');
    const { head: innerHead, rest: innerBody } = splitHead(afterLine);
    let target = m[2]!;
    if (/^https?:\/\//.test(target)) target = new URL(target).pathname + new URL(target).search;
    out.push({
      contentId: partHeaders['content-id'] ?? `<${out.length}>`,
      method: m[1]!,
      target,
      headers: parseHeaders(innerHead),
      body: innerBody,
    });
  }
  return out;
}

/** `<base+n>` → `<response-base+n>` (the form Google's batch replies use). */
function responseId(contentId: string): string {
  const inner = contentId.replace(/^<|>$/g, '');
  return `<response-${inner}>`;
}

/** Renders a multipart/mixed batch reply. */
export function formatBatch(responses: InnerResponse[], boundary: string): string {
  const lines: string[] = [];
  for (const r of responses) {
    lines.push(`--${boundary}`);
    lines.push('Content-Type: application/http');
    lines.push(`Content-ID: ${responseId(r.contentId)}`);
    lines.push('');
    lines.push(`HTTP/1.1 ${r.status} ${r.statusText}`);
    lines.push('Content-Type: application/json; charset=UTF-8');
    lines.push(`Content-Length: ${Buffer.byteLength(r.body)}`);
    lines.push('');
    lines.push(r.body);
  }
  lines.push(`--${boundary}--`);
  lines.push('');
  return lines.join('\r\n');
}
