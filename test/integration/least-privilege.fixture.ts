// SPDX-License-Identifier: Apache-2.0
//
// Running the controller the way a real install does, for the least-privilege tests: as the
// ServiceAccount identity deploy/config binds (a minted client certificate for
// system:serviceaccount:fleet-ilb-system:fleet-ilb with its ServiceAccount groups), against the
// scenario's emulator, with every log line kept so a test can look for what the apiservers refused.

import { Writable } from 'node:stream';
import type { ControllerOptions, RunningController } from '../../controller/main.ts';
import type { Identity } from '../harness/fleet.ts';
import type { Scenario } from '../fixtures/scenario.ts';

/** One pino JSON line. */
export interface LogLine {
  level: string;
  msg?: string;
  [k: string]: unknown;
}

/** A pino destination that keeps every line (JSON-parsed) in memory. */
export class LogCapture extends Writable {
  #lines: LogLine[] = [];
  #partial = '';

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const text = this.#partial + chunk.toString();
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    for (const p of parts) {
      if (p.trim() === '') continue;
      try {
        this.#lines.push(JSON.parse(p) as LogLine);
      } catch {
        this.#lines.push({ level: 'unparsed', msg: p });
      }
    }
    done();
  }

  lines(): readonly LogLine[] {
    return this.#lines;
  }

  /** The warn/error lines (and forbidden ones) as text, for a failure message. */
  summary(max = 40): string {
    const keep = this.#lines.filter((l) => l.level === 'warn' || l.level === 'error' || FORBIDDEN.test(flat(l)));
    return keep.slice(-max).map((l) => flat(l).slice(0, 600)).join('\n');
  }

  clear(): void {
    this.#lines = [];
  }

  /**
   * Lines that report an authorization failure: HTTP 403 or the apiserver's "forbidden" message
   * (`User "system:serviceaccount:…" cannot list resource "…"`), in any field.
   */
  forbidden(): LogLine[] {
    return this.#lines.filter((l) => FORBIDDEN.test(flat(l)));
  }

  /**
   * Forbidden lines about `resource` (`secrets`, `services/status`, `leases`, ...) of API group
   * `group` (absent = core): the apiserver's message says `cannot <verb> resource "<resource>" in
   * API group "<group>"` (subresources as `resource/subresource`); a line without the message still
   * names the request path (`/api/v1/.../<resource>` or `/apis/<group>/<version>/.../<resource>`).
   * Errors that embed a response body come JSON-escaped several times over: backslashes are
   * dropped before matching.
   */
  forbiddenFor(resource: string, group = ''): LogLine[] {
    const message = `resource "${resource}" in API group "${group}"`;
    const prefix = group === '' ? '/api/v1/' : `/apis/${group.replaceAll('.', '\\.')}/[^/"]+/`;
    const [res, sub] = resource.split('/');
    // The path ends at a query, a quote, a space or the end of the text.
    const tail = sub === undefined ? `${res}(?:/[^/"?\\s]+)?(?=[?"\\s]|$)` : `${res}/[^/"?\\s]+/${sub}(?=[?"\\s]|$)`;
    const path = new RegExp(`${prefix}(?:namespaces/[^/"]+/)?${tail}`);
    return this.forbidden().filter((l) => {
      const s = flat(l);
      return s.includes(message) || path.test(s);
    });
  }
}

/** A log line as one string without JSON escaping. */
function flat(l: LogLine): string {
  return JSON.stringify(l).replace(/\\+/g, '');
}

const FORBIDDEN = /\b403\b|forbidden|cannot (get|list|watch|create|update|patch|delete) resource/i;

/** Options of {@link startControllerAs}. */
export interface StartAsOptions extends Partial<ControllerOptions> {
  /** Where the log goes (a new capture when absent). */
  capture?: LogCapture;
}

/**
 * Starts the controller in this process as `identity` (its kubeconfig is the controller's config
 * cluster credential), pointed at the scenario's emulator. Members are reached with the kubeconfigs
 * in their FleetMember Secrets, as in production.
 */
export async function startControllerAs(s: Scenario, identity: Identity, opts: StartAsOptions = {}): Promise<{ ctl: RunningController; capture: LogCapture }> {
  const { capture = new LogCapture(), ...over } = opts;
  const [{ startController }, { createLogger }] = await Promise.all([import('../../controller/main.ts'), import('../../controller/telemetry/logger.ts')]);
  const ctlOpts: ControllerOptions = {
    kubeconfig: identity.kubeconfigPath,
    computeEndpoint: s.emulator.url,
    project: s.gcp.project,
    metricsAddr: '127.0.0.1:0',
    sweepMinAgeMs: 0,
    logLevel: 'debug',
    ...over,
  };
  const ctl = await startController(ctlOpts, createLogger({ level: ctlOpts.logLevel ?? 'debug', destination: capture }));
  return { ctl, capture };
}
