// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import {
  CloudResourceError,
  FencedError,
  TerminalError,
  TransientError,
  UserError,
  errorMessage,
  isCloudResourceError,
  isFencedError,
  isTerminalError,
  isTransientError,
  isUserError,
  retryPolicy,
} from './index.ts';

describe('error taxonomy', () => {
  it('guards recognise exactly their own kind', () => {
    const all = [
      new UserError('InvalidParameters', 'bad'),
      new TransientError('503'),
      new CloudResourceError('forwardingRule', 'fr-1', 'boom'),
      new TerminalError('nope'),
      new FencedError(),
    ];
    const guards = [isUserError, isTransientError, isCloudResourceError, isTerminalError, isFencedError];
    all.forEach((e, i) => {
      guards.forEach((g, j) => expect(g(e)).toBe(i === j));
    });
    for (const g of guards) {
      expect(g(new Error('plain'))).toBe(false);
      expect(g(undefined)).toBe(false);
      expect(g('UserError')).toBe(false);
    }
  });

  it('brands survive a second copy of the module (Symbol.for, not instanceof)', () => {
    // An object branded by "another copy" of the module: same global symbol, different class.
    const foreign = new Error('from a duplicated package');
    Object.defineProperty(foreign, Symbol.for('fleetilb.io/error'), { value: 'UserError' });
    expect(isUserError(foreign)).toBe(true);
    expect(foreign instanceof UserError).toBe(false);
  });

  it('the brand does not leak into JSON or enumerable keys', () => {
    const e = new UserError('RefNotPermitted', 'no grant');
    const sym = Symbol.for('fleetilb.io/error');
    expect(Object.getOwnPropertySymbols(e)).toContain(sym);
    expect(Object.prototype.propertyIsEnumerable.call(e, sym)).toBe(false);
    // A spread copy (what loggers often do) is not a UserError any more: the brand stays with the original.
    expect(isUserError({ ...e })).toBe(false);
  });

  it('retryPolicy: user/terminal/fenced never requeue; transient and unknown back off', () => {
    expect(retryPolicy(new UserError('Invalid', 'x'))).toEqual({ kind: 'none', reason: 'user' });
    expect(retryPolicy(new TerminalError('x'))).toEqual({ kind: 'none', reason: 'terminal' });
    expect(retryPolicy(new FencedError())).toEqual({ kind: 'none', reason: 'fenced' });
    expect(retryPolicy(new TransientError('x'))).toEqual({ kind: 'backoff' });
    expect(retryPolicy(new TransientError('x', { retryAfterMs: 60_000 }))).toEqual({ kind: 'backoff', minDelayMs: 60_000 });
    expect(retryPolicy(new Error('bug'))).toEqual({ kind: 'backoff' });
    expect(retryPolicy('thrown string')).toEqual({ kind: 'backoff' });
  });

  it('retryPolicy looks through CloudResourceError to its cause', () => {
    const quota = new CloudResourceError('regionBackendService', 'bs-1', 'quota', {
      cause: new UserError('NoResources', 'BACKEND_SERVICES quota exceeded'),
    });
    expect(retryPolicy(quota)).toEqual({ kind: 'none', reason: 'user' });
    expect(quota.message).toBe('regionBackendService bs-1: quota');
    expect(quota.resourceName).toBe('bs-1');
    const flaky = new CloudResourceError('address', 'a', '503', { cause: new TransientError('503') });
    expect(retryPolicy(flaky)).toEqual({ kind: 'backoff' });
  });

  it('errorMessage handles non-Error throwables', () => {
    expect(errorMessage(new Error('x'))).toBe('x');
    expect(errorMessage('s')).toBe('s');
    expect(errorMessage({ a: 1 })).toBe('{"a":1}');
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(errorMessage(cyc)).toBe('[object Object]');
  });
});
