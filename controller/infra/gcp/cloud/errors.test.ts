// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { isTransientError, isUserError, retryPolicy } from '../../../errors/index.ts';
import { CLOUD_FIX_RECHECK_MS, QUOTA_BACKOFF_MS, addressNotUsable, categorize, classifyCallError, gatewayReasonFor, gceCategory, operationError, userErrorFor, withResource } from './errors.ts';

/** A gax GoogleError as @google-cloud/compute 7.8 / gax 6.17 surfaces it (docs/compute-api.md "Errors as the Node client gives them"). */
function gaxError(status: number, message: string, reason?: string): Error {
  const e = Object.assign(new Error(message), { httpStatusCode: status, code: 3 });
  const body = JSON.stringify({ error: { code: status, message, errors: reason ? [{ message, domain: 'global', reason }] : [] } });
  Object.defineProperty(e, Symbol.for('google-gax.rawHttpResponsePayload'), { value: body, enumerable: false });
  return e;
}

describe('categorize (HTTP status + reason + message)', () => {
  it.each([
    [404, 'notFound', "The resource 'projects/p/regions/r/backendServices/x' was not found", 'notFound'],
    [404, 'notFound', "The resource 'projects/nope' was not found", 'projectNotFound'],
    [409, 'alreadyExists', "The resource 'projects/p/regions/r/backendServices/x' already exists", 'alreadyExists'],
    [409, undefined, 'IP_IN_USE_BY_ANOTHER_RESOURCE: 10.0.0.5', 'ipInUse'],
    // GCE's own wording of the IP conflict also says "being used by": it must not read as in-use (transient).
    [409, 'IP_IN_USE_BY_ANOTHER_RESOURCE', "IP '10.0.0.2' is already being used by another resource.", 'ipInUse'],
    [409, undefined, "IP '10.0.0.2' is already being used by another resource.", 'ipInUse'],
    [412, 'conditionNotMet', 'Invalid fingerprint.', 'fingerprintConflict'],
    [412, undefined, "Constraint constraints/compute.restrictX violated for project p", 'constraint'],
    [400, 'resourceInUseByAnotherResource', "The health_check resource 'x' is already being used by 'y'", 'inUse'],
    [400, 'resourceNotReady', "The resource 'projects/p/zones/z/networkEndpointGroups/n' is not ready", 'notReady'],
    [400, 'invalid', "Invalid value for field 'resource.ports': '1'.", 'invalid'],
    [429, undefined, 'Too Many Requests', 'rateLimited'],
    [403, 'rateLimitExceeded', 'Rate Limit Exceeded', 'rateLimited'],
    [403, 'quotaExceeded', "Quota 'BACKEND_SERVICES' exceeded. Limit: 75.0 globally.", 'quota'],
    [403, 'forbidden', "Required 'compute.firewalls.create' permission for 'projects/host'", 'permission'],
    [500, undefined, 'Internal Error', 'server'],
    [503, undefined, 'Service Unavailable', 'server'],
    [504, undefined, 'Deadline', 'timeout'],
  ] as const)('%i %s -> %s', (status, reason, message, want) => {
    expect(categorize(status, reason, message)).toBe(want);
  });
});

describe('classifyCallError', () => {
  it('400 invalid: UserError (reason Invalid) carrying the GCE message and the raw reason', () => {
    const e = classifyCallError(gaxError(400, "Invalid value for field 'resource.x': 'y'.", 'invalid'), 'RegionBackendServices.insert', {
      kind: 'backendService',
      name: 'bs',
      scope: 'r',
    });
    expect(isUserError(e)).toBe(true);
    expect(e.message).toBe("RegionBackendServices.insert backendService r/bs: Error 400: Invalid value for field 'resource.x': 'y'., invalid");
    expect(e.gce).toMatchObject({ category: 'invalid', httpStatus: 400, reason: 'invalid', fromOperation: false });
    // Its fix may be outside Kubernetes (e.g. a subnetwork created): re-checked, at most 60 s apart.
    expect(retryPolicy(withResource(e))).toEqual({ kind: 'none', reason: 'user', recheckAfterMs: CLOUD_FIX_RECHECK_MS });
  });

  it('404 on the project itself is a user error re-checked (issue 13: a bad ILBConfig project hot-looped as transient)', () => {
    const e = classifyCallError(gaxError(404, "The resource 'projects/nope' was not found", 'notFound'), 'Addresses.list');
    expect(isUserError(e)).toBe(true);
    expect(gceCategory(e)).toBe('projectNotFound');
    expect(gatewayReasonFor(e)).toBe('Invalid');
    expect(retryPolicy(e)).toEqual({ kind: 'none', reason: 'user', recheckAfterMs: CLOUD_FIX_RECHECK_MS });
    // A missing resource of a project that exists stays "absent" (get = undefined, delete = done).
    expect(gceCategory(classifyCallError(gaxError(404, "The resource 'projects/p/global/firewalls/x' was not found", 'notFound'), 'Firewalls.get'))).toBe('notFound');
  });

  it('user errors fleet-ilb finds itself in the spec are not re-checked in a loop (an edit sends an event)', () => {
    const r = { kind: 'networkEndpointGroup', name: 'n', scope: 'z' };
    expect(retryPolicy(userErrorFor(r, 'immutable'))).toEqual({ kind: 'none', reason: 'user' });
    expect(retryPolicy(addressNotUsable({ kind: 'address', name: 'a' }, 'taken'))).toEqual({ kind: 'none', reason: 'user' });
  });

  it('403 rateLimitExceeded is transient even though 403 is otherwise a permission error', () => {
    const e = classifyCallError(gaxError(403, 'Quota exceeded for quota metric', 'rateLimitExceeded'), 'Addresses.insert');
    expect(isTransientError(e)).toBe(true);
    expect(gceCategory(e)).toBe('rateLimited');
  });

  it('network errors without a status are transient timeouts; other local errors are unknown (still transient)', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(gceCategory(classifyCallError(reset, 'X.insert'))).toBe('timeout');
    const bug = new TypeError('cannot read properties of undefined');
    const e = classifyCallError(bug, 'X.insert');
    expect(gceCategory(e)).toBe('unknown');
    expect(isTransientError(e)).toBe(true);
  });
});

describe('operationError', () => {
  it('is undefined for a successful operation', () => {
    expect(operationError({ name: 'op-1' }, 'X.insert')).toBeUndefined();
    expect(operationError({ name: 'op-1', error: { errors: [] } }, 'X.insert')).toBeUndefined();
  });

  it('QUOTA_EXCEEDED: transient with the quota backoff, in the `code - message` form', () => {
    const e = operationError(
      { name: 'op-7', httpErrorStatusCode: 403, error: { errors: [{ code: 'QUOTA_EXCEEDED', message: "Quota 'FORWARDING_RULES' exceeded." }] } },
      'ForwardingRules.insert',
      { kind: 'forwardingRule', name: 'fr', scope: 'r' },
    )!;
    expect(isTransientError(e)).toBe(true);
    expect(e.message).toBe("ForwardingRules.insert forwardingRule r/fr: Error 403: QUOTA_EXCEEDED - Quota 'FORWARDING_RULES' exceeded. (operation op-7)");
    expect(retryPolicy(e)).toEqual({ kind: 'backoff', minDelayMs: QUOTA_BACKOFF_MS });
  });

  it('IP_IN_USE_BY_ANOTHER_RESOURCE in an operation is AddressNotUsable, a user error (no retry loop)', () => {
    const e = operationError(
      { httpErrorStatusCode: 409, error: { errors: [{ code: 'IP_IN_USE_BY_ANOTHER_RESOURCE', message: "IP '10.0.0.2' is already being used by another resource." }] } },
      'Addresses.insert',
      { kind: 'address', name: 'a', scope: 'r' },
    )!;
    expect(gceCategory(e)).toBe('ipInUse');
    expect(isUserError(e)).toBe(true);
    expect((e as { reason?: string }).reason).toBe('AddressNotUsable');
    expect(retryPolicy(e)).toEqual({ kind: 'none', reason: 'user' });
  });

  it('RESOURCE_IN_USE_BY_ANOTHER_RESOURCE in an operation is the in-use category (retry later)', () => {
    const e = operationError(
      { httpErrorStatusCode: 400, error: { errors: [{ code: 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE', message: "The x is already being used by 'y'" }] } },
      'RegionHealthChecks.delete',
    )!;
    expect(gceCategory(e)).toBe('inUse');
    expect(isTransientError(e)).toBe(true);
  });
});
